"""detect_changes with the integrated detector on the session's demo scene: the evidence and
level maps are written, every patch carries a confidence level and its evidence into the
run's patches, the summary and the patch store."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
import rasterio

from tests.fixtures.flow import Services
from tiandi.flows.detect_changes import detect_changes
from tiandi.models.evidence import EVIDENCE, LEVELS
from tiandi.redline.store.gpkg import GpkgPatchStore

pytestmark = pytest.mark.slow


def test_integrated_run_grades_its_patches(services: Services, tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = services.configured.model_copy(update={"patch_store": home / "patches.gpkg"})
    out = tmp_path / "run"
    request = services.request(out, detector="integrated", record=True, stations=None)
    result = detect_changes(request, settings)
    assert result.summary.detector == "integrated"
    for name in ("confidence_level", "evidence"):
        with rasterio.open(out / "change" / f"{name}.tif") as src:
            assert src.nodata == 255 and src.dtypes[0] == "uint8"
    patches = gpd.read_file(out / "patches.gpkg", layer="patches")
    assert len(patches) > 0
    assert set(patches["confidence_level"].dropna()) <= set(LEVELS)
    assert patches["confidence_level"].notna().mean() > 0.9  # slivers may have none
    for listed in patches["evidence"].dropna():
        assert set(filter(None, listed.split(","))) <= set(EVIDENCE)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert sum(summary["confidence_levels"].values()) == len(patches)
    assert summary["parameters"]["network_precision"] == "float32"  # the default
    assert "By confidence level" in (out / "summary.html").read_text(encoding="utf-8")
    stored = GpkgPatchStore(home / "patches.gpkg").list_patches()
    kept = stored[stored["screen_reason"].isna()]
    assert sorted(kept["confidence_level"].dropna()) == sorted(patches["confidence_level"].dropna())
