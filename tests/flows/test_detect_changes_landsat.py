"""detect_changes on a Landsat Collection 2 Level-2 series: QA_PIXEL masks, bands mapped.

Four tiny Landsat 9 scenes (64 x 64 px at 30 m) shaped like the USGS / Planetary
Computer ``landsat-c2-l2`` items: surface-reflectance assets ``SR_B2`` .. ``SR_B7`` as
stored (uint16 DN, ``raster:bands`` scale 0.0000275 and offset -0.2) and ``QA_PIXEL``,
registered in the embedded catalog as they come. The flow must choose the QA_PIXEL mask
from the items, map SR_B2..SR_B7 onto B02..B12 and rescale them. Vegetation everywhere,
one before-scene cloudy on its left half (QA bit 3), and a 16 x 16 px block cleared to
bare soil in the after period: the change found is that block, on a 30 m grid.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pystac
import pytest
import rasterio
import shapely
from affine import Affine

from tiandi.catalog.items import item_from_rasters
from tiandi.catalog.providers.normalise import mask_kind
from tiandi.catalog.store import GeoParquetCatalog
from tiandi.eo.storage import read_composite
from tiandi.flows.detect_changes import DetectChangesRequest, detect_changes
from tiandi.redline.run_layout import RunLayout

pytestmark = pytest.mark.slow

SIZE, RES, X0, Y0 = 64, 30.0, 500_010.0, 4_430_010.0
TRANSFORM = Affine(RES, 0.0, X0, 0.0, -RES, Y0)
COLLECTION = "landsat-c2-l2"
# surface reflectance of SR_B2 (blue) .. SR_B7 (SWIR 2): vegetation and bare soil
VEGETATION = {"SR_B2": 0.03, "SR_B3": 0.06, "SR_B4": 0.04, "SR_B5": 0.35, "SR_B6": 0.18,
              "SR_B7": 0.09}  # fmt: skip
BARE = {"SR_B2": 0.12, "SR_B3": 0.15, "SR_B4": 0.19, "SR_B5": 0.24, "SR_B6": 0.32,
        "SR_B7": 0.27}  # fmt: skip
CLEAR_QA, CLOUD_QA = 21824, 22280  # USGS C2 QA_PIXEL: clear land; high-confidence cloud
BLOCK = (slice(24, 40), slice(24, 40))
DATES = {"before": ((2024, 6, 1, True), (2024, 6, 17, False)),
         "after": ((2025, 6, 4, False), (2025, 6, 20, False))}  # fmt: skip


def _tif(path: Path, data: np.ndarray) -> Path:  # type: ignore[type-arg]
    with rasterio.open(
        path, "w", driver="GTiff", width=SIZE, height=SIZE, count=1, dtype="uint16",
        crs="EPSG:32650", transform=TRANSFORM, nodata=None if "QA" in path.name else 0,
        tiled=True, blockxsize=16, blockysize=16,
    ) as dst:  # fmt: skip
        dst.write(data, 1)
    return path


def _scene(folder: Path, when: datetime, cloudy_left: bool, changed: bool) -> pystac.Item:
    scene_id = f"LC09_L2SP_123032_{when:%Y%m%d}_02_T1"
    folder = folder / scene_id
    folder.mkdir(parents=True)
    files: dict[str, Path] = {}
    for key, refl in VEGETATION.items():
        dn = np.full((SIZE, SIZE), round((refl + 0.2) / 2.75e-5), dtype=np.uint16)
        if changed:
            dn[BLOCK] = round((BARE[key] + 0.2) / 2.75e-5)
        files[key] = _tif(folder / f"{scene_id}_{key}.TIF", dn)
    qa = np.full((SIZE, SIZE), CLEAR_QA, dtype=np.uint16)
    if cloudy_left:
        qa[:, : SIZE // 2] = CLOUD_QA
    files["QA_PIXEL"] = _tif(folder / f"{scene_id}_QA_PIXEL.TIF", qa)
    item = item_from_rasters(
        scene_id, files, datetime=when, collection=COLLECTION,
        properties={"platform": "landsat-9", "instruments": ["oli", "tirs"],
                    "eo:cloud_cover": 50.0 if cloudy_left else 0.0,
                    "view:sun_azimuth": 130.0, "view:sun_elevation": 65.0},
    )  # fmt: skip
    for key in VEGETATION:  # as USGS and Planetary Computer state them
        item.assets[key].extra_fields["raster:bands"][0].update(scale=2.75e-05, offset=-0.2)
    return item


@pytest.fixture(scope="module")
def landsat(services: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("landsat")
    items = [
        _scene(tmp / "scenes", datetime(y, m, d, 2, 50, tzinfo=UTC), cloudy, period == "after")
        for period, dates in DATES.items()
        for y, m, d, cloudy in dates
    ]
    settings = services.settings.model_copy(update={"home": tmp / "home"})
    GeoParquetCatalog(settings.catalog_path).add(items)
    inner = shapely.box(X0 + 8 * RES, Y0 - 56 * RES, X0 + 56 * RES, Y0 - 8 * RES)
    zones = gpd.GeoDataFrame({"zone_id": ["LS-1"], "name": ["landsat zone"]},
                             geometry=[inner], crs="EPSG:32650").to_crs("EPSG:4326")  # fmt: skip
    zones.to_file(tmp / "zones.gpkg", layer="zones")
    request = DetectChangesRequest(
        zones=tmp / "zones.gpkg", before="2024-05-01/2024-07-31", after="2025-05-01/2025-07-31",
        out=tmp / "out", collection=COLLECTION, max_cloud_cover=100.0, chunk=256,
        min_mapping_unit_m2=5000.0,
    )  # fmt: skip
    return {"items": items, "result": detect_changes(request, settings)}


def test_flow_masks_with_qa_pixel_and_finds_the_cleared_block(landsat: dict[str, Any]) -> None:
    assert mask_kind(landsat["items"]) == "qa_pixel"
    result = landsat["result"]
    layout = RunLayout(result.out)
    with rasterio.open(layout.change_mask) as src:
        assert src.res == (RES, RES)  # Landsat stays on its 30 m grid
    before = read_composite(layout.composite("before"), 256)
    count = before["clear_count"].values
    # the cloudy half of 2024-06-01 is masked: one clear observation there, two elsewhere
    assert set(np.unique(count[count > 0])) == {1, 2}
    red = before["B04"].values
    np.testing.assert_allclose(np.nanmedian(red), VEGETATION["SR_B4"], atol=2e-3)
    assert len(result.patches) == 1, result.patches
    area = float(result.patches.to_crs("EPSG:32650").area.sum())
    assert area == pytest.approx(16 * 16 * RES * RES, rel=0.15)
