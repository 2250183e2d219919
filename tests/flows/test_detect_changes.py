"""detect_changes end to end on a generated scene, with real rustac, Prefect and Dask."""

from __future__ import annotations

import hashlib
from pathlib import Path

import geopandas as gpd
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from tests.fixtures.flow import Services
from tiandi.catalog.items import asset_path
from tiandi.flows.detect_changes import OUTPUT_COLLECTION, detect_changes

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def first_run(demo_run: Path) -> Path:
    """The session's run (``demo_run`` in tests/conftest.py), shared with other tests that
    only read a baseline run's outputs."""
    return demo_run


def test_flow_writes_every_output_a_person_opens(first_run: Path) -> None:
    for rel in (
        "summary.html",
        "summary.json",
        "map.png",
        "patches.gpkg",
        "change/change_mask.tif",
        "change/change_prob.tif",
        "composites/before.tif",
        "composites/after.tif",
    ):
        assert (first_run / rel).stat().st_size > 0, rel
    packages = sorted((first_run / "tasks").glob("*.gpkg"))
    assert packages, "no station package written"
    assert not list(first_run.parent.glob(".*partial*")), "staging folder left behind"
    with rasterio.open(first_run / "change/change_mask.tif") as src:
        assert src.nodata == 255
    valid, errors, _ = cog_validate(str(first_run / "change/change_mask.tif"))
    assert valid, errors


def test_flow_finds_planted_events(services: Services, first_run: Path) -> None:
    import json

    summary = json.loads((first_run / "summary.json").read_text(encoding="utf-8"))
    scores = summary["scores"]
    assert scores["recall"] >= 0.8, scores
    assert scores["precision"] >= 0.6, scores
    patches = gpd.read_file(first_run / "patches.gpkg")
    assert patches.crs.to_epsg() == 4490
    assert {"zone_id", "area_ha", "area_mu", "hj1156_class", "change_type"} <= set(patches)
    zones = gpd.read_file(services.scene / "zones.gpkg")
    inside = patches.geometry.representative_point().within(zones.union_all().buffer(1e-6))
    assert inside.all(), "a patch lies outside every zone"


def test_outputs_registered_with_checksums(services: Services, first_run: Path) -> None:
    items = services.catalog.search(collections=[OUTPUT_COLLECTION])
    assert items, "no output item registered"
    item = next(i for i in items if i.id.startswith("run1"))
    mask = item.assets["change_mask"]
    digest = hashlib.sha256(asset_path(mask).read_bytes()).hexdigest()
    assert mask.extra_fields["file:checksum"] == "1220" + digest
    assert item.properties["processing:software"]["tiandi"]
    assert item.properties["tiandi:model"] == "baseline-cva"


def test_rerun_gives_byte_identical_outputs(
    services: Services, first_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run2"
    detect_changes(services.request(out), services.configured)
    for rel in ("change/change_mask.tif", "composites/after.tif", "patches.gpkg"):
        assert (out / rel).read_bytes() == (first_run / rel).read_bytes(), rel
