"""Operators start detect_changes through a real Prefect server (started here, PREFECT_HOME
in a temporary folder; no worker: the run stays Scheduled) and list the flow runs; a
Prefect API that does not answer is a 503 naming it; bad bodies create nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.service import ServiceHome, bearer, make_home
from tiandi._children import free_port
from tiandi.service.app import create_app
from tiandi.settings import Settings

POOL = "tiandi-test-process"
BODY = {
    "zones": "/data/zones.gpkg",
    "before": "2025-01-01/2025-06-30",
    "after": "2025-07-01/2025-12-31",
    "out": "/data/runs/r1",
    "detector": "baseline",
}


def _deploy(url: str) -> None:
    """A process work pool and the deployment ``detect_changes/on-demand`` in it, made
    with the client (as ``prefect deploy`` would with the project's prefect.yaml)."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.actions import WorkPoolCreate

    with SyncPrefectClient(api=url) as client:
        client.create_work_pool(WorkPoolCreate(name=POOL, type="process"))
        flow_id = client.create_flow_from_name("detect_changes")
        client.create_deployment(
            flow_id=flow_id,
            name="on-demand",
            work_pool_name=POOL,
            entrypoint="tiandi/flows/detect_changes.py:detect_changes",
        )


@pytest.fixture(scope="module")
def prefect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tiandi.flows.runtime import prefect_api

    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("PREFECT_API_URL", raising=False)
        home = tmp_path_factory.mktemp("prefect-home")
        with prefect_api(Settings(home=home)) as url:
            _deploy(url)
            yield url


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> ServiceHome:
    return make_home(tmp_path_factory.mktemp("operators"))


@pytest.fixture
def client(home: ServiceHome, prefect_url: str) -> Iterator[TestClient]:
    settings = home.settings.model_copy(update={"prefect_api_url": prefect_url})
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _runs(client: TestClient, home: ServiceHome) -> list[dict[str, Any]]:
    answer = client.get("/api/v1/flow-runs", headers=bearer(home.tokens["operator"]))
    assert answer.status_code == 200, answer.text
    runs: list[dict[str, Any]] = answer.json()["flow_runs"]
    return runs


def test_an_operator_starts_a_run_and_sees_it_scheduled(
    client: TestClient, home: ServiceHome, prefect_url: str
) -> None:
    started = client.post("/api/v1/runs", json=BODY, headers=bearer(home.tokens["operator"]))
    assert started.status_code == 201, started.text
    run = started.json()
    assert (
        run["state"] in ("Scheduled", "Pending") and run["deployment"] == "detect_changes/on-demand"
    )
    ui = prefect_url.removesuffix("/api")
    assert run["ui_url"] == f"{ui}/runs/flow-run/{run['flow_run_id']}"
    assert run["parameters"]["request"]["zones"] == "/data/zones.gpkg"
    assert run["requested_by"] == "operator holder"
    (listed,) = [r for r in _runs(client, home) if r["flow_run_id"] == run["flow_run_id"]]
    assert listed["flow"] == "detect_changes"
    assert listed["state"] in ("Scheduled", "Pending") and listed["ui_url"] == run["ui_url"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"before": "2025-13-01/2025-06-30"}, "is not a period"),
        ({"after": "2025-12-31/2025-07-01"}, "ends before it starts"),
        ({"zones": "zones.gpkg"}, "absolute path"),
        ({"zones": None}, "zones"),
        ({"max_cloud_cover": 140}, "max_cloud_cover"),
        ({"settings": {"patch_dsn": "postgresql://x"}}, "settings"),
        ({"detector": "magic-net"}, "detector 'magic-net' is unknown"),
        ({"detector": "integrated-high@magic-net"}, "is unknown"),
    ],
)
def test_a_bad_body_is_422_and_starts_nothing(
    client: TestClient, home: ServiceHome, change: dict[str, Any], words: str
) -> None:
    before = len(_runs(client, home))
    body = {k: v for k, v in {**BODY, **change}.items() if v is not None}
    answer = client.post("/api/v1/runs", json=body, headers=bearer(home.tokens["operator"]))
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] in ("invalid_request", "invalid_input")
    assert words in answer.json()["message"]
    assert len(_runs(client, home)) == before


def test_other_roles_cannot_start_or_list_runs(client: TestClient, home: ServiceHome) -> None:
    for role in ("platform", "ecologist", "field"):
        token = bearer(home.tokens[role])
        assert client.post("/api/v1/runs", json=BODY, headers=token).status_code == 403
        assert client.get("/api/v1/flow-runs", headers=token).status_code == 403
    assert client.post("/api/v1/runs", json=BODY).status_code == 401


def test_a_prefect_api_that_does_not_answer_is_503_naming_it(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    down = f"http://127.0.0.1:{free_port()}/api"
    settings = home.settings.model_copy(update={"prefect_api_url": down})
    with TestClient(create_app(settings)) as client:
        for method, path in (("POST", "/api/v1/runs"), ("GET", "/api/v1/flow-runs")):
            answer = client.request(
                method, path, json=BODY, headers=bearer(home.tokens["operator"])
            )
            assert answer.status_code == 503, answer.text
            body = answer.json()
            assert body["error"] == "service_unavailable" and down in body["message"]
            assert "TIANDI_PREFECT_API_URL" in body["message"]


def test_the_prefect_api_setting_falls_back_to_prefect_api_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://prefect:4200/api")
    assert Settings(home=tmp_path).prefect_api_url == "http://prefect:4200/api"
    monkeypatch.setenv("TIANDI_PREFECT_API_URL", "http://tiandi-prefect:4200/api")
    assert Settings(home=tmp_path).prefect_api_url == "http://tiandi-prefect:4200/api"
    monkeypatch.delenv("PREFECT_API_URL")
    monkeypatch.delenv("TIANDI_PREFECT_API_URL")
    home = make_home(tmp_path)
    with TestClient(create_app(home.settings.model_copy(update={"prefect_api_url": None}))) as c:
        answer = c.get("/api/v1/flow-runs", headers=bearer(home.tokens["operator"]))
    assert answer.status_code == 503 and "no Prefect API is configured" in answer.json()["message"]
