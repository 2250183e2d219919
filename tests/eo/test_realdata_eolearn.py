"""catalog -> eo -> detect on real Sentinel-2 L1C frames (eo-learn TestEOPatch, Slovenia).

The five full 13-band frames of ``REFERENCE_SCENES.npy`` are written as per-band GeoTIFFs
with an SCL band from the patch's own cloud mask (two frames fully cloudy, three clear),
registered in a stac-geoparquet catalog, found again through the embedded STAC API
(``rustac serve``) and composited per period on the grid of the patch bbox.

Acquisitions (2015): 07-11 clear, 07-31 cloud, 08-20 cloud, 08-30 clear, 09-09 clear.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pystac
import pytest
import xarray as xr
from odc.geo.geobox import GeoBox
from rasterio.warp import Resampling, reproject

from tests.conftest import shared_data
from tests.realdata import EolearnPatch, eolearn_ndvi, eolearn_patch, write_eolearn_frames
from tiandi.catalog.search import search_items
from tiandi.catalog.server import EmbeddedStacServer
from tiandi.catalog.store import GeoParquetCatalog
from tiandi.eo.composite import composite_period
from tiandi.eo.grid import grid_for_zones
from tiandi.eo.indices import add_indices
from tiandi.errors import NoDataError
from tiandi.models.base import CHANGE, NO_DATA
from tiandi.models.baseline import BaselineDetector

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

COLLECTION = "eolearn-s2-l1c"
JULY = "2015-07-01/2015-08-25"  # 07-11 clear + 07-31, 08-20 fully cloudy
LATE = "2015-08-26/2015-09-30"  # 08-30 and 09-09, both clear
AUG30 = "2015-08-26/2015-09-05"
SEP09 = "2015-09-06/2015-09-30"
CLOUDY = "2015-07-20/2015-08-25"  # only the two fully cloudy frames
PERIODS = (JULY, LATE, AUG30, SEP09, CLOUDY)
FOREST = 2  # LULC class of the patch's land-cover reference (~75 % of the patch)


@dataclass(frozen=True)
class Run:
    """Everything the tests look at, computed once."""

    src: Path
    patch: EolearnPatch
    grid: GeoBox
    found: dict[str, list[pystac.Item]]
    composites: dict[str, xr.Dataset]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    src = shared_data("eolearn-testeopatch")
    tmp = tmp_path_factory.mktemp("eolearn")
    frames = write_eolearn_frames(src, tmp / "frames")
    catalog = GeoParquetCatalog(tmp / "catalog.parquet")
    catalog.add(frame.item(COLLECTION) for frame in frames)
    patch = eolearn_patch(src)
    zones = patch.zones()
    west, south, east, north = (float(v) for v in zones.to_crs("EPSG:4326").total_bounds)
    with EmbeddedStacServer(catalog.path, tmp / "home") as server:
        found = {
            period: search_items(
                server.url,
                collections=[COLLECTION],
                bbox=(west, south, east, north),
                datetime=period,
            )
            for period in PERIODS
        }
    grid = grid_for_zones(zones, found[JULY] + found[LATE])
    composites = {
        period: add_indices(composite_period(found[period], grid)).compute()
        for period in (JULY, LATE, AUG30, SEP09)
    }
    yield Run(src, patch, grid, found, composites)


def _on_grid(run: Run, data: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """A (rows, cols) array of the patch's own grid, nearest-resampled onto the run's grid."""
    out = np.full(run.grid.shape, np.nan, dtype=np.float32)
    reproject(
        data.astype(np.float32),
        out,
        src_transform=run.patch.transform,
        src_crs=run.patch.crs,
        dst_transform=run.grid.transform,
        dst_crs=run.grid.crs,
        resampling=Resampling.nearest,
    )
    return out


def _change_mask(run: Run, before: str, after: str) -> npt.NDArray[np.uint8]:
    change = BaselineDetector().detect(run.composites[before], run.composites[after])
    return np.asarray(change["change_mask"].values)


def test_embedded_api_returns_the_frames_of_each_period(run: Run) -> None:
    days = {p: [i.datetime.date().isoformat() for i in run.found[p] if i.datetime] for p in PERIODS}
    assert days[JULY] == ["2015-07-11", "2015-07-31", "2015-08-20"]
    assert days[LATE] == ["2015-08-30", "2015-09-09"]
    assert days[CLOUDY] == ["2015-07-31", "2015-08-20"]
    assert run.grid.crs == "EPSG:32633"
    assert run.grid.shape == (100, 99)  # the 1 km patch on whole 10 m pixels inside it


def test_period_of_only_cloudy_frames_raises_no_data(run: Run) -> None:
    with pytest.raises(NoDataError, match="no clear observation"):
        composite_period(run.found[CLOUDY], run.grid)


def test_cloudy_frames_are_masked_pixel_by_pixel_without_cloud_cover_metadata(run: Run) -> None:
    # Without eo:cloud_cover the shortcut cannot fire: the SCL pixels must exclude them.
    stripped = []
    for item in run.found[CLOUDY]:
        clone = item.clone()
        clone.properties.pop("eo:cloud_cover", None)
        stripped.append(clone)
    with pytest.raises(NoDataError, match="no clear observation"):
        composite_period(stripped, run.grid)


def test_composite_of_one_clear_and_two_cloudy_frames_is_the_clear_frame(run: Run) -> None:
    july = run.composites[JULY]
    assert (july["clear_count"].values == 1).all()
    for band in ("B02", "B03", "B04", "B08", "B11", "B12"):
        values = july[band].values
        assert np.isfinite(values).all(), band
        assert float(values.min()) > 0.0 and float(values.max()) < 1.0, band
    # The cloudy frames are bright (mean B02 0.30 and 0.15); the clear one is dark (0.076).
    assert float(july["B02"].mean()) == pytest.approx(0.0756, abs=0.002)


def test_two_clear_frames_give_two_clear_observations_everywhere(run: Run) -> None:
    late = run.composites[LATE]
    assert (late["clear_count"].values == 2).all()
    assert all(np.isfinite(late[b].values).all() for b in ("B02", "B04", "B08", "B12"))


@pytest.mark.parametrize(("period", "timestamp_index"), [(JULY, 0), (AUG30, 3), (SEP09, 4)])
def test_composite_ndvi_matches_eolearn_ndvi_of_the_same_date(
    run: Run, period: str, timestamp_index: int
) -> None:
    expected = _on_grid(run, eolearn_ndvi(run.src, timestamp_index))
    ndvi = run.composites[period]["ndvi"].values
    assert np.isfinite(expected).all()
    # The reflectances are L1C DNs / 10000, so the uint16 round trip is exact; what is left
    # is float32 rounding (measured max 2e-7). 1e-4 would catch a wrong frame, band order
    # or a one-pixel shift (neighbouring pixels differ by 0.05 NDVI on average).
    np.testing.assert_allclose(ndvi, expected, rtol=0, atol=1e-4)


def test_change_between_clear_dates_ten_days_apart_is_below_one_percent(run: Run) -> None:
    mask = _change_mask(run, AUG30, SEP09)
    fraction = float((mask == CHANGE).mean())
    print(f"eo-learn change 2015-08-30 -> 2015-09-09: {fraction:.4%} of the patch")
    # Measured 0.20 % (20 grassland pixels): ten days of late summer, no land-use change.
    assert fraction < 0.01


def test_change_between_july_and_late_summer_is_small_and_not_in_the_forest(run: Run) -> None:
    mask = _change_mask(run, JULY, LATE)
    fraction = float((mask == CHANGE).mean())
    lulc = _on_grid(run, np.load(run.src / "TestEOPatch/mask_timeless/LULC.npy")[..., 0])
    forest = lulc == FOREST
    forest_fraction = float((mask[forest] == CHANGE).mean())
    print(
        f"eo-learn change July -> late summer 2015: {fraction:.4%} of the patch, "
        f"{forest_fraction:.4%} of the forest ({int(forest.sum())} px)"
    )
    # Measured 1.56 % overall, almost all of it grassland (136 of 154 px: hay cut between
    # July and late August is real change), and 0.05 % of the forest (4 of 7445 px).
    assert forest.sum() > 7000
    assert fraction < 0.03
    assert forest_fraction < 0.005


@pytest.mark.parametrize(("before", "after"), [(JULY, LATE), (AUG30, SEP09)])
def test_change_mask_has_no_no_data_where_both_periods_are_clear(
    run: Run, before: str, after: str
) -> None:
    change = BaselineDetector().detect(run.composites[before], run.composites[after])
    mask = np.asarray(change["change_mask"].values)
    prob = np.asarray(change["change_prob"].values)
    clear = (run.composites[before]["clear_count"].values > 0) & (
        run.composites[after]["clear_count"].values > 0
    )
    assert clear.all()  # every pixel has a clear observation in both periods here
    assert set(np.unique(mask).tolist()) <= {0, 1}
    assert not (mask[clear] == NO_DATA).any()
    assert np.isfinite(prob[clear]).all()
    assert ((prob >= 0) & (prob <= 1)).all()
