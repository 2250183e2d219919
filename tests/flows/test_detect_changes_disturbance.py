"""detect_changes with a disturbance detector: burned patches with severity, written,
recorded in the patch store and served; the human-activity screening does not apply."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import rasterio
from fastapi.testclient import TestClient

from tests.fixtures.flow import Services
from tiandi.flows.detect_changes import detect_changes
from tiandi.redline.store.gpkg import GpkgPatchStore
from tiandi.service.app import create_app
from tiandi.service.auth import TokenStore
from tiandi.settings import Settings

pytestmark = pytest.mark.slow


def test_burned_area_run_gives_burned_patches_in_store_and_service(
    services: Services, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    settings = services.configured.model_copy(update={"patch_store": home / "patches.gpkg"})
    out = tmp_path / "burn-run"
    request = services.request(out, detector="burned-area", record=True, truth=None)
    result = detect_changes(request, settings)
    # the demo's clearings and quarries lose forest NBR like a burn: the detector maps them
    patches = gpd.read_file(out / "patches.gpkg", layer="patches")
    screened = gpd.read_file(out / "patches.gpkg", layer="screened")
    assert len(patches) > 0 and set(patches["change_type"]) == {"burned"}
    assert set(patches["hj1156_class"]) == {"other"}
    assert set(screened["screen_reason"]) <= {"below_mmu", "unburned_dnbr"}
    assert patches["severity"].isin(["low", "moderate-low", "moderate-high", "high"]).all()
    # the learned score decides pixels; a patch whose mean dNBR is Key & Benson's
    # "unburned" (< 0.1) is screened out with its reason
    assert (patches["mean_dnbr"] >= 0.1).all()
    unburned = screened[screened["screen_reason"] == "unburned_dnbr"]
    assert (unburned["mean_dnbr"] < 0.1).all()
    for name, nodata in (("severity", 255), ("dnbr", None)):
        with rasterio.open(out / "change" / f"{name}.tif") as src:
            assert src.nodata == nodata if nodata is not None else src.nodata != src.nodata
    assert result.summary.detector == "burned-area"
    stored = GpkgPatchStore(home / "patches.gpkg").list_patches()
    assert set(stored["change_type"]) == {"burned"} and len(stored) == len(patches) + len(screened)
    served_settings = Settings(home=home, patch_dsn=None, patch_store=None)
    token = TokenStore(served_settings.tokens_path).create("platform", holder="t")[1]
    with TestClient(create_app(served_settings)) as client:
        got = client.get(
            "/api/v1/patches",
            params={"change_type": "burned"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert got.status_code == 200, got.text
    features = got.json()["features"]
    assert len(features) == len(stored)
    assert {f["properties"]["change_type"] for f in features} == {"burned"}


def test_water_run_maps_the_demo_ponds_and_reports_water_per_zone(
    services: Services, tmp_path: Path
) -> None:
    out = tmp_path / "water-run"
    request = services.request(out, detector="water", truth=None, stations=None)
    result = detect_changes(request, services.configured)
    patches = gpd.read_file(out / "patches.gpkg", layer="patches")
    assert "water_gain" in set(patches["change_type"])  # the demo's aquaculture ponds
    assert set(patches["change_type"]) <= {"water_gain", "water_loss"}  # no coastal zone
    zones = gpd.read_file(out / "water.gpkg", layer="zones")
    assert set(zones["status"]) <= {"ok", "no water", "no data"} and len(zones) > 0
    assert result.summary.outputs["water"] == "water.gpkg"
