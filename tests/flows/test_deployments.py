"""prefect.yaml: a deployment of every production flow with the monitoring schedules, the
regions of infra/regions.yaml, deployed to a real Prefect server and one run through a real
``prefect worker`` process to completion, then shown by ``tiandi runs list``."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from tiandi._children import Child, run_folder, spawn
from tiandi.cli.app import app
from tiandi.errors import InputError
from tiandi.flows.ingest_field_results import ingest_field_results
from tiandi.flows.monitor_blooms import (
    MonitorBloomsRequest,
    load_bloom_regions,
    monitor_blooms,
    monitor_region_blooms,
    region_bloom_request,
    season_period,
)
from tiandi.flows.monitoring import (
    CADENCE,
    load_regions,
    monitor_zones,
    monitoring_periods,
    region_request,
)
from tiandi.flows.monitoring_dieback import dieback_period, dieback_request, monitor_dieback
from tiandi.flows.runtime import prefect_api, prefect_environment
from tiandi.settings import Settings

REPO = Path(__file__).resolve().parents[2]
POOL = "tiandi-process"
#: The monitoring rules: cron of each kind of region (China Standard Time).
CRON = {"half-year": "0 2 15 1,7 *", "year": ("0 2 15 1 *", "0 4 15 1 *")}
PRODUCTION_FLOWS = {
    "detect_changes": "tiandi/flows/detect_changes.py:detect_changes",
    "monitor_zones": "tiandi/flows/monitoring.py:monitor_zones",
    "ingest_field_results": "tiandi/flows/ingest_field_results.py:ingest_field_results",
    "train_change_model": "tiandi/flows/train_change_model.py:train_change_model",
    "monitor_blooms": "tiandi/flows/monitor_blooms.py:monitor_blooms",
    "monitor_region_blooms": "tiandi/flows/monitor_blooms.py:monitor_region_blooms",
    "monitor_dieback": "tiandi/flows/monitoring_dieback.py:monitor_dieback",
}
#: Algal-bloom screening: weekly (Mondays) in the bloom season, April to October.
BLOOM_CRON = "0 5 * 4-10 1"
#: Dieback deployments: region → cron (after each growing-season half, or the season).
DIEBACK_CRON = {"national-reserves": "0 3 15 7,10 *", "provincial-reserves": "0 3 15 10 *"}


def _deployments() -> dict[str, dict[str, Any]]:
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    flows = {v: k for k, v in PRODUCTION_FLOWS.items()}
    return {f"{flows[d['entrypoint']]}/{d['name']}": d for d in spec["deployments"]}


def test_prefect_yaml_deploys_every_flow_with_the_monitoring_schedules() -> None:
    deployments = _deployments()
    assert {name.split("/")[0] for name in deployments} == set(PRODUCTION_FLOWS)
    assert "detect_changes/on-demand" in deployments
    assert all(d["work_pool"]["name"] == POOL for d in deployments.values())
    regions = load_regions(REPO / "infra/regions.yaml")
    assert {r.kind for r in regions.values()} == set(CADENCE)
    for name, region in regions.items():
        d = deployments[f"monitor_zones/{name}"]
        assert d["parameters"] == {"region": name, "regions_file": "infra/regions.yaml"}
        [schedule] = d["schedules"]
        assert schedule["timezone"] == "Asia/Shanghai"
        assert schedule["cron"] in CRON[region.cadence], (name, schedule)
    [daily] = deployments["ingest_field_results/daily"]["schedules"]
    assert daily["cron"] == "0 6 * * *"
    bloom_regions = load_bloom_regions(REPO / "infra/regions.yaml")
    assert bloom_regions, "no bloom region: the weekly in-season screening has nothing to run"
    for name in bloom_regions:
        d = deployments[f"monitor_region_blooms/{name}"]
        assert d["parameters"] == {"region": name, "regions_file": "infra/regions.yaml"}
        [schedule] = d["schedules"]
        assert (schedule["cron"], schedule["timezone"]) == (BLOOM_CRON, "Asia/Shanghai")
    assert "monitor_blooms/on-demand" in deployments
    for name, cron in DIEBACK_CRON.items():
        d = deployments[f"monitor_dieback/{name}"]
        assert d["parameters"]["region"] in regions and d["parameters"]["baseline_years"] == 3
        [schedule] = d["schedules"]
        assert (schedule["cron"], schedule["timezone"]) == (cron, "Asia/Shanghai")
    scheduled = {n for n, d in deployments.items() if d.get("schedules")}
    assert scheduled == {f"monitor_zones/{n}" for n in regions} | {"ingest_field_results/daily"} | {
        f"monitor_region_blooms/{n}" for n in bloom_regions
    } | {f"monitor_dieback/{n}" for n in DIEBACK_CRON}


def test_dieback_periods_are_the_last_complete_season() -> None:
    assert dieback_period("half-year", date(2027, 7, 15)) == (
        "2027-04-01/2027-06-30",
        "2027-spring",
    )
    assert dieback_period("half-year", date(2027, 10, 15)) == (
        "2027-07-01/2027-09-30",
        "2027-summer",
    )
    assert dieback_period("half-year", date(2027, 1, 15)) == (
        "2026-07-01/2026-09-30",
        "2026-summer",
    )
    assert dieback_period("year", date(2027, 10, 15)) == ("2027-05-01/2027-09-30", "2027-season")
    assert dieback_period("year", date(2027, 3, 1))[0] == "2026-05-01/2026-09-30"
    region = load_regions(REPO / "infra/regions.yaml")["national-reserves"]
    request = dieback_request(region, date(2027, 10, 15))
    assert request.record and request.baseline_years == 3
    assert request.out == region.out_root / "national-reserves" / "dieback" / "2027-summer"


def test_monitoring_periods_follow_the_cadence() -> None:
    assert monitoring_periods("half-year", date(2027, 1, 15)) == (
        "2026-01-01/2026-06-30",
        "2026-07-01/2026-12-31",
        "2026H2",
    )
    assert monitoring_periods("half-year", date(2027, 7, 15))[1:] == (
        "2027-01-01/2027-06-30",
        "2027H1",
    )
    assert monitoring_periods("year", date(2027, 1, 15)) == (
        "2025-01-01/2025-12-31",
        "2026-01-01/2026-12-31",
        "2026",
    )
    region = load_regions(REPO / "infra/regions.yaml")["national-reserves"]
    request = region_request(region, date(2027, 7, 15))
    assert request.record and request.out == Path("/srv/tiandi/monitoring/national-reserves/2027H1")


def test_the_bloom_season_runs_screen_the_last_week() -> None:
    assert season_period(date(2027, 7, 5), 7) == "2027-06-28/2027-07-04"
    region = load_bloom_regions(REPO / "infra/regions.yaml")["lakes"]
    request = region_bloom_request(region, date(2027, 7, 5))
    assert request.record and request.period == "2027-06-28/2027-07-04"
    assert request.out == Path("/srv/tiandi/monitoring/lakes/2027-07-04")
    with pytest.raises(InputError, match="lookback_days=0"):
        season_period(date(2027, 7, 5), 0)


def test_a_bad_bloom_region_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "regions.yaml"
    bad.write_text("bloom_regions:\n  taihu: {collection: s2}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bloom region 'taihu' needs `zones`"):
        load_bloom_regions(bad)


def test_a_bad_regions_file_names_the_region(tmp_path: Path) -> None:
    bad = tmp_path / "regions.yaml"
    bad.write_text("regions:\n  r1: {kind: county, zones: z.gpkg}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"r1.*kind 'county'"):
        load_regions(bad)


@pytest.mark.parametrize(
    ("flow", "parameters"),
    [
        (
            ingest_field_results,
            {"inbox": Path("/srv/inbox"), "update_patches": False, "settings": None},
        ),
        (
            monitor_zones,
            {
                "region": "r1",
                "regions_file": Path("infra/regions.yaml"),
                "on": date(2027, 1, 15),
                "settings": None,
            },
        ),
        (
            monitor_region_blooms,
            {
                "region": "lakes",
                "regions_file": Path("infra/regions.yaml"),
                "on": date(2027, 7, 5),
                "settings": None,
            },
        ),
        (
            monitor_blooms,
            {
                "request": MonitorBloomsRequest(
                    Path("lakes.gpkg"), "2027-04-01/2027-10-31", Path("out"), record=True
                ),
                "settings": None,
            },
        ),
        (
            monitor_dieback,
            {
                "region": "r1",
                "regions_file": Path("infra/regions.yaml"),
                "on": date(2027, 10, 15),
                "baseline_years": 3,
                "settings": None,
            },
        ),
    ],
    ids=[
        "ingest_field_results",
        "monitor_zones",
        "monitor_region_blooms",
        "monitor_blooms",
        "monitor_dieback",
    ],
)
def test_new_flow_parameters_survive_json(flow: Any, parameters: dict[str, Any]) -> None:
    validated = flow.validate_parameters(parameters)
    text = json.dumps(flow.serialize_parameters(validated))
    assert flow.validate_parameters(json.loads(text)) == validated == parameters


# --- live: server, deploy, worker ------------------------------------------------------


def _prefect(*args: str, env: dict[str, str]) -> str:
    bin_ = str(Path(sys.executable).with_name("prefect"))
    proc = subprocess.run(
        [bin_, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def _stop_worker(worker: Child) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.pid, signal.SIGINT)  # a worker shuts down on Ctrl-C, not SIGTERM
    with contextlib.suppress(subprocess.TimeoutExpired):
        worker.process.wait(timeout=5)
    worker.stop(grace_s=2)


def _wait_final(flow_run_id: Any, timeout_s: float) -> str:
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            state = client.read_flow_run(flow_run_id).state
            if state is not None and state.is_final():
                return str(state.name)
            time.sleep(1)
    return "not finished"


@pytest.mark.slow
def test_deployments_run_through_a_process_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    settings = Settings(home=tmp_path / "home")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with prefect_api(settings) as url, temporary_settings(updates={PREFECT_API_URL: url}):
        env = {
            **os.environ,
            **prefect_environment(settings),
            "PREFECT_API_URL": url,
            "PYTHONPATH": str(REPO),
            "TIANDI_HOME": str(settings.home),
            "PREFECT_WORKER_QUERY_SECONDS": "1",
        }
        with get_client(sync_client=True) as client:
            client.create_work_pool(WorkPoolCreate(name=POOL, type="process"))
        log = (tmp_path / "worker.log").open("wb")
        worker = spawn(
            "prefect-worker",
            [str(Path(sys.executable).with_name("prefect")), "worker", "start", "--pool", POOL],
            home=settings.home,
            log=log,
            env=env,
        )
        try:
            _prefect("--no-prompt", "deploy", "--all", env=env)
            with get_client(sync_client=True) as client:
                deployed = {
                    f"{client.read_flow(d.flow_id).name}/{d.name}": d
                    for d in client.read_deployments()
                }
            assert set(deployed) == set(_deployments())
            for name, spec in _deployments().items():
                crons = [s.schedule.cron for s in deployed[name].schedules]  # type: ignore[union-attr]
                assert crons == [s["cron"] for s in spec.get("schedules", [])], name
                assert deployed[name].work_pool_name == POOL
            run = run_deployment(
                "ingest_field_results/daily", parameters={"inbox": str(inbox)}, timeout=0
            )
            final = _wait_final(run.id, timeout_s=300)
            assert final == "Completed", (tmp_path / "worker.log").read_text(errors="replace")
        finally:
            _stop_worker(worker)
            log.close()
        monkeypatch.setenv("PREFECT_API_URL", url)
        listed = CliRunner().invoke(app, ["runs", "list", "--flow", "ingest_field_results"])
        assert listed.exit_code == 0, listed.output
        assert "Completed" in listed.output and "daily" in listed.output, listed.output
    assert not list(run_folder(settings.home).glob("*.json")), "a server or worker was left"


def test_runs_list_without_a_server_is_one_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from tiandi._children import free_port

    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{free_port()}/api")
    listed = CliRunner().invoke(app, ["runs", "list"])
    assert listed.exit_code == 4, listed.output
    assert (
        "Prefect API at http://127.0.0.1:" in listed.output and "PREFECT_API_URL" in listed.output
    )
