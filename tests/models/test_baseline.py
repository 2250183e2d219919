"""BaselineDetector: planted change found, seasons ignored, no data kept apart."""

from __future__ import annotations

import itertools
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from tests.fixtures.eo import FOREST, Scene, full_grid, make_items
from tiandi.eo.composite import composite_period
from tiandi.errors import InputError
from tiandi.models.base import ChangeDetector
from tiandi.models.baseline import BANDS, BaselineDetector, BaselineParams

QUARRY = dict(zip(BANDS, (0.18, 0.20, 0.24, 0.28, 0.36, 0.32), strict=True))
CROP_LOW = dict(zip(BANDS, (0.06, 0.09, 0.08, 0.18, 0.22, 0.15), strict=True))
CROP_HIGH = {**CROP_LOW, "B08": 0.38}
SIZE = 64
_SEEDS = itertools.count()


def _ds(fill: dict[str, float], chunk: int = 32) -> xr.Dataset:
    rng = np.random.default_rng(next(_SEEDS))  # independent noise per composite
    data = {}
    for b in BANDS:
        arr = np.full((SIZE, SIZE), fill[b], np.float32)
        arr += rng.normal(0, 0.004, arr.shape).astype(np.float32)  # composite noise
        data[b] = (("y", "x"), da.from_array(arr, chunks=chunk))  # type: ignore[no-untyped-call]
    coords = {"y": 4460000 - 5 - 10 * np.arange(SIZE), "x": 400005 + 10 * np.arange(SIZE)}
    return xr.Dataset(data, coords=coords)


def _paint(ds: xr.Dataset, sig: dict[str, float], rows: slice, cols: slice) -> xr.Dataset:
    out = ds.copy()
    for b in BANDS:
        arr = out[b].values.copy()
        arr[rows, cols] = sig[b]
        out[b] = (("y", "x"), da.from_array(arr, chunks=32))  # type: ignore[no-untyped-call]
    return out


def test_planted_quarry_is_found_and_seasonal_crop_is_not() -> None:
    before = _paint(_ds(FOREST), CROP_LOW, slice(40, 64), slice(0, 64))
    after = _paint(_ds(FOREST), CROP_HIGH, slice(40, 64), slice(0, 64))
    after = _paint(after, QUARRY, slice(10, 20), slice(26, 38))  # crosses the chunk border
    result = BaselineDetector().detect(before, after)
    mask = result["change_mask"].values
    assert mask[10:20, 26:38].all() and (mask[10:20, 26:38] == 1).all()
    assert mask.sum() == 120  # nothing else: not the seasonal crop rows, not the noise
    prob = result["change_prob"].values
    assert prob[15, 30] > 0.99 and prob[50, 10] < 0.2 and prob[0, 0] < 0.05
    assert result["change_prob"].dtype == np.float32 and mask.dtype == np.uint8


def test_mild_seasonal_ndvi_shift_of_forest_stays_below_threshold() -> None:
    autumn = {**FOREST, "B08": 0.26, "B04": 0.04, "B11": 0.17}
    result = BaselineDetector().detect(_ds(FOREST), _ds(autumn))
    assert (result["change_mask"].values == 0).all()


def test_no_data_in_either_period_is_255_and_nan() -> None:
    before = _paint(_ds(FOREST), dict.fromkeys(BANDS, np.nan), slice(0, 4), slice(0, 4))
    after = _paint(_ds(FOREST), QUARRY, slice(0, 10), slice(0, 10))
    after = _paint(after, dict.fromkeys(BANDS, np.nan), slice(60, 64), slice(60, 64))
    result = BaselineDetector().detect(before, after)
    mask, prob = result["change_mask"].values, result["change_prob"].values
    assert (mask[:4, :4] == 255).all() and np.isnan(prob[:4, :4]).all()
    assert (mask[60:, 60:] == 255).all() and np.isnan(prob[60:, 60:]).all()
    assert (mask[4:10, 4:10] == 1).all()
    assert np.isfinite(prob[10:60, 10:60]).all()


def test_single_pixel_speck_is_removed_but_a_two_pixel_road_is_kept() -> None:
    after = _paint(_ds(FOREST), QUARRY, slice(5, 6), slice(5, 6))
    after = _paint(after, QUARRY, slice(40, 42), slice(2, 30))  # 2 px wide road
    mask = BaselineDetector().detect(_ds(FOREST), after)["change_mask"].values
    assert mask[5, 5] == 0
    assert (mask[40:42, 2:30] == 1).all()


def test_otsu_threshold_is_computed_from_a_bounded_sample() -> None:
    after = _paint(_ds(FOREST), QUARRY, slice(0, 64), slice(0, 20))
    det = BaselineDetector(BaselineParams(threshold_method="otsu"))
    result = det.detect(_ds(FOREST), after)
    lo, hi = det.params.otsu_bounds
    assert lo <= result.attrs["threshold"] <= hi
    assert (result["change_mask"].values[:, :20] == 1).all()
    assert (result["change_mask"].values[:, 24:] == 0).all()


def test_detection_is_lazy_and_follows_the_protocol(tmp_path: Path) -> None:
    det = BaselineDetector()
    assert isinstance(det, ChangeDetector)
    assert (det.name, det.version) == ("baseline-cva", "0.1.0")
    items = make_items(tmp_path, [Scene("2025-03-01"), Scene("2025-04-01")])
    comp = composite_period(items, full_grid(), chunk=32)
    result = det.detect(comp, comp)
    assert isinstance(result["change_mask"].data, da.Array)
    assert result["change_mask"].chunks == ((32, 32), (32, 32))
    assert (result["change_mask"].values == 0).all()
    assert result.attrs["model"] == "baseline-cva"


def test_inputs_on_different_grids_or_missing_bands_are_rejected() -> None:
    with pytest.raises(InputError, match="same grid"):
        BaselineDetector().detect(_ds(FOREST), _ds(FOREST).isel(x=slice(0, 10)))
    with pytest.raises(InputError, match="B12"):
        BaselineDetector().detect(_ds(FOREST).drop_vars("B12"), _ds(FOREST))
    with pytest.raises(InputError, match="threshold_method"):
        BaselineParams(threshold_method="kmeans")  # type: ignore[arg-type]


def test_change_mask_drops_specks_but_keeps_border_groups_and_marks_nodata() -> None:
    """The one speck filter of the baseline and integrated detectors."""
    from tiandi.models.baseline import change_mask

    change = np.zeros((6, 6), dtype=bool)
    change[1, 1] = True  # inner speck of 1 pixel: dropped
    change[0, 5] = True  # 1 pixel on the border: kept (may go on in the next chunk)
    change[3:5, 3:5] = True  # 4 pixels: kept
    nodata = np.zeros_like(change)
    nodata[5, 0] = True
    out = change_mask(change, nodata, 4)
    assert out.dtype == np.uint8
    assert out[1, 1] == 0 and out[0, 5] == 1 and out[3:5, 3:5].tolist() == [[1, 1], [1, 1]]
    assert out[5, 0] == 255 and int((out == 1).sum()) == 5
    assert (change_mask(change, nodata, 1) == 1).sum() == 6  # min_pixels 1 keeps everything
