"""``GET /api/v1/patches?period=START/END`` on both store backends: patches whose latest
detection came from a run whose after period overlaps the interval."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.service import bearer, make_home
from tests.fixtures.store import detections, run_info, square
from tiandi.redline.store.gpkg import PatchStore
from tiandi.redline.store.recording import record_detections
from tiandi.service.app import create_app


def _two_halves(store: PatchStore) -> None:
    """run-1 (after 2025 H2): TB-00..02; run-2 (after 2026 H1): TB-02 again and TB-10..11."""
    first = detections([(f"TB-{i:02d}", square(i)) for i in range(3)], zone="ZN-1")
    record_detections(store, first, None, run_info(1))
    again = detections([(f"TB-{i:02d}", square(i)) for i in (2, 10, 11)], zone="ZN-1")
    second = replace(
        run_info(2), period_before="2025-07-01/2025-12-31", period_after="2026-01-01/2026-06-30"
    )
    record_detections(store, again, None, second)


@pytest.mark.parametrize("backend", ["gpkg", "postgis"])
def test_period_selects_patches_by_their_latest_runs_after_period(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "gpkg":
        home = make_home(tmp_path, _two_halves)
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        home = make_home(tmp_path, _two_halves, dsn=dsn, schema=f"p_{uuid.uuid4().hex[:12]}")
    headers = bearer(home.tokens["platform"])
    with TestClient(create_app(home.settings)) as client:

        def runs_of(period: str) -> list[str]:
            got = client.get("/api/v1/patches", params={"period": period}, headers=headers)
            assert got.status_code == 200, got.text
            return sorted(f["properties"]["last_run"] for f in got.json()["features"])

        assert runs_of("2025-08-01/2025-09-30") == ["run-1", "run-1"]
        assert runs_of("2026-02-01T00:00:00Z/2026-02-02T00:00:00Z") == ["run-2"] * 3
        assert runs_of("2025-12-01/2026-01-15") == ["run-1"] * 2 + ["run-2"] * 3
        assert runs_of("2027-01-01/2027-12-31") == []
        both = client.get(
            "/api/v1/patches",
            params={"period": "2026-01-01/2026-06-30", "zone": "ZN-1"},
            headers=headers,
        )
        assert both.json()["numberReturned"] == 3
