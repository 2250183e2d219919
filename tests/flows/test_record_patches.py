"""detect_changes records its patches in the patch store (identity, screening, audit)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import pytest
from pydantic import SecretStr

from tests.fixtures.flow import Services
from tiandi.flows.detect_changes import detect_changes
from tiandi.redline.run_layout import RunLayout
from tiandi.redline.store.gpkg import GpkgPatchStore
from tiandi.redline.store.open import open_store
from tiandi.redline.store.postgis import PostgisPatchStore
from tiandi.redline.store.recording import record_detections
from tiandi.redline.store.run_folder import run_folder

pytestmark = pytest.mark.slow


def test_flow_records_the_run_and_a_next_period_links_instead_of_duplicating(
    services: Services, tmp_path: Path
) -> None:
    store_path = tmp_path / "home" / "patches.gpkg"
    settings = services.configured.model_copy(update={"patch_store": store_path})
    result = detect_changes(services.request(tmp_path / "period1", record=True), settings)
    store = GpkgPatchStore(store_path)
    stored = store.list_patches()
    written = gpd.read_file(result.out / "patches.gpkg", layer="patches")
    screened = gpd.read_file(result.out / "patches.gpkg", layer="screened")
    assert len(stored) == len(written) + len(screened) > 0
    states = stored.set_index("patch_id")["state"]
    assert set(states[written["patch_id"]]) == {"screened"}
    assert set(states[screened["patch_id"]]) <= {"rejected"}
    ((run, counts),) = store.runs()
    assert run.run_id.startswith("period1-") and run.zone_set_version.startswith("sha256:")
    assert counts["new"] == len(stored)
    assert run_folder(store, run.run_id).root == result.out.resolve()
    assert store.verify_audit().ok
    # The same patches seen again in a next period: linked to themselves, none added.
    next_run = replace(run, run_id="period2", at=run.at.replace(year=run.at.year + 1))
    again = record_detections(store, written, screened, next_run)
    assert (again.new, again.linked, again.enlarged) == (0, len(stored), 0)
    assert len(store.list_patches()) == len(stored)
    assert store.verify_audit().ok


def test_flow_records_into_postgis_when_a_dsn_is_set(
    services: Services, postgres_dsn: str, tmp_path: Path
) -> None:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    settings = services.configured.model_copy(
        update={"patch_dsn": SecretStr(postgres_dsn), "patch_schema": schema}
    )
    # The session's home may hold a GeoPackage store from earlier tests: it must not change.
    gpkg = settings.patch_store_path
    before = gpkg.read_bytes() if gpkg.exists() else None
    result = detect_changes(services.request(tmp_path / "pg-run", record=True), settings)
    store = open_store(settings)
    assert isinstance(store, PostgisPatchStore) and store.schema == schema
    written = gpd.read_file(result.out / "patches.gpkg", layer="patches")
    screened = gpd.read_file(result.out / "patches.gpkg", layer="screened")
    stored = store.list_patches()
    assert len(stored) == len(written) + len(screened) > 0
    assert set(stored["patch_id"]) == set(written["patch_id"]) | set(screened["patch_id"])
    ((run, counts),) = store.runs()
    assert run.run_id == RunLayout(result.out).run_id(result.summary.after)
    assert run_folder(store, run.run_id).root == result.out.resolve()
    assert counts["new"] == len(stored)
    assert store.verify_audit().ok
    after = gpkg.read_bytes() if gpkg.exists() else None
    assert after == before, "recorded into the GeoPackage"
