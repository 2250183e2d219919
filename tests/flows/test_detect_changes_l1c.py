"""detect_changes on a Sentinel-2 L1C series: s2cloudless masks instead of SCL.

The five real 13-band L1C frames of the eo-learn TestEOPatch (Slovenia, 2015; 07-11 clear,
07-31 and 08-20 fully cloudy, 08-30 and 09-09 clear) are written as COGs and registered
as ``sentinel-2-l1c`` items *without* an SCL asset, so the flow must derive the mask.
Checked: the s2cloudless mask the flow computes agrees with the patch's own cloud mask
(``mask/CLM.npy``), the cloudy frames drop out of the before composite, outputs exist.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.warp import Resampling, reproject

from tests.conftest import shared_data
from tests.realdata import (
    EOLEARN_FRAME_TIMESTAMPS,
    eolearn_patch,
    eolearn_timestamps,
    write_eolearn_frames,
)
from tiandi.catalog.items import asset_path, item_from_rasters
from tiandi.catalog.providers.normalise import mask_kind
from tiandi.catalog.store import GeoParquetCatalog
from tiandi.eo.clouds import mask_agreement
from tiandi.eo.grid import grid_for_zones
from tiandi.eo.masks import with_cloud_masks
from tiandi.eo.storage import read_composite
from tiandi.flows.detect_changes import DetectChangesRequest, detect_changes
from tiandi.redline.run_layout import RunLayout

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

COLLECTION = "sentinel-2-l1c"
JULY = "2015-07-01/2015-08-25"  # 07-11 clear + 07-31, 08-20 fully cloudy
LATE = "2015-08-26/2015-09-30"  # 08-30 and 09-09, both clear
MIN_ACCURACY = 0.99  # measured 2026-12: accuracy 0.9998, recall 0.9990 (10 of 49,500 px differ)


@pytest.fixture(scope="module")
def l1c(services: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    src = shared_data("eolearn-testeopatch")
    tmp = tmp_path_factory.mktemp("l1c")
    frames = write_eolearn_frames(src, tmp / "frames")
    items = [
        item_from_rasters(
            f.item_id.replace("eolearn_", ""),
            {k: v for k, v in f.assets.items() if k != "SCL"},  # L1C has no SCL
            datetime=f.when,
            collection=COLLECTION,
            properties={"eo:cloud_cover": f.cloud_cover, "platform": f.platform},
        )
        for f in frames
    ]
    settings = services.settings.model_copy(update={"home": tmp / "home"})
    GeoParquetCatalog(settings.catalog_path).add(items)
    patch = eolearn_patch(src)
    zones_path = tmp / "zones.gpkg"
    patch.zones().to_file(zones_path, layer="zones")
    request = DetectChangesRequest(
        zones=zones_path, before=JULY, after=LATE, out=tmp / "out",
        collection=COLLECTION, max_cloud_cover=100.0, chunk=256, min_mapping_unit_m2=500.0,
    )  # fmt: skip
    result = detect_changes(request, settings)
    return {"src": src, "patch": patch, "items": items, "result": result, "tmp": tmp}


def test_flow_chooses_s2cloudless_and_writes_outputs(l1c: dict[str, Any]) -> None:
    assert mask_kind(l1c["items"]) == "s2cloudless"
    layout = RunLayout(l1c["result"].out)
    for path in (layout.change_mask, layout.change_prob, layout.patches, layout.summary_json):
        assert path.exists(), path
    before = read_composite(layout.composite("before"), 256)
    count = before["clear_count"].values
    # The two fully cloudy July frames are masked: one clear observation (07-11) remains.
    assert float(np.mean(count == 1)) >= MIN_ACCURACY, np.unique(count, return_counts=True)


def test_s2cloudless_mask_agrees_with_the_patch_cloud_mask(l1c: dict[str, Any]) -> None:
    patch, items = l1c["patch"], l1c["items"]
    grid = grid_for_zones(patch.zones(), items)
    masked = with_cloud_masks(items, grid, "s2cloudless", l1c["tmp"] / "masks")
    clm = np.load(l1c["src"] / "TestEOPatch" / "mask" / "CLM.npy", mmap_mode="r")
    stamps = eolearn_timestamps(l1c["src"])
    order = sorted(EOLEARN_FRAME_TIMESTAMPS, key=lambda t: stamps[t])
    preds, truths = [], []
    for item, t_index in zip(sorted(masked, key=lambda i: i.datetime), order, strict=True):
        with rasterio.open(asset_path(item.assets["SCL"])) as src:
            preds.append(src.read(1) == 9)
        truth = np.zeros(grid.shape, dtype=np.float32)
        reproject(
            np.asarray(clm[t_index, ..., 0], dtype=np.float32), truth,
            src_transform=patch.transform, src_crs=patch.crs,
            dst_transform=grid.transform, dst_crs=grid.crs, resampling=Resampling.nearest,
        )  # fmt: skip
        truths.append(truth > 0)
    scores = mask_agreement(np.stack(preds), np.stack(truths))
    print("s2cloudless vs CLM:", scores)
    assert scores["accuracy"] >= MIN_ACCURACY, scores
    assert scores["recall"] >= MIN_ACCURACY, scores
