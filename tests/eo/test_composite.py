"""composite_period: harmonisation, masking, dilation, no data, laziness."""

from __future__ import annotations

from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pytest
import rasterio
from dask.callbacks import Callback
from pyproj import Transformer
from scipy import ndimage

from tests.fixtures.eo import FOREST, Scene, full_grid, make_items
from tiandi.eo.cog import write_cog
from tiandi.eo.composite import composite_period
from tiandi.eo.grid import geobox_for_bounds
from tiandi.eo.indices import add_indices
from tiandi.errors import InputError, NoDataError
from tiandi.models.baseline import BaselineDetector

SCL_CLEAR = 4


def _scl(fill: int = SCL_CLEAR) -> np.ndarray:
    return np.full((32, 32), fill, dtype="uint8")


class _TaskCounter(Callback):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.tasks = 0

    def _pretask(self, key: object, dsk: object, state: object) -> None:
        self.tasks += 1


def test_mixed_baselines_composite_to_the_true_reflectance(tmp_path: Path) -> None:
    scenes = [
        Scene("2025-03-01", baseline="03.01"),
        Scene("2025-04-01", baseline="04.00"),
        Scene("2025-05-01", baseline="04.00"),
    ]
    ds = composite_period(make_items(tmp_path, scenes), full_grid(), chunk=32).compute()
    for band, value in FOREST.items():
        np.testing.assert_allclose(ds[band].values, value, atol=1e-6, err_msg=band)
    assert (ds["clear_count"].values == 3).all()
    assert ds["B04"].dtype == np.float32 and ds["clear_count"].dtype == np.uint8


def test_unharmonised_offset_would_show_as_a_brighter_median(tmp_path: Path) -> None:
    # Two 04.00 scenes out of three: without harmonisation the median would be +0.1.
    scenes = [
        Scene("2025-03-01"),
        Scene("2025-04-01", baseline="04.00"),
        Scene("2025-05-01", baseline="04.00"),
    ]
    items = make_items(tmp_path, scenes)
    for item in items:
        item.properties["s2:boa_add_offset"] = 0
    ds = composite_period(items, full_grid(), chunk=32).compute()
    np.testing.assert_allclose(ds["B04"].values, FOREST["B04"] + 0.1, atol=1e-6)


def test_clouds_and_shadows_are_excluded_from_the_median(tmp_path: Path) -> None:
    cloudy = _scl()
    cloudy[:, :16] = 9  # cloud on the left half (20 m px)
    shadow = _scl()
    shadow[:, 16:] = 3  # shadow on the right half
    bright = {"B04": 0.5}
    scenes = [
        Scene("2025-03-01", reflectance={**FOREST, **bright}, scl=cloudy),
        Scene("2025-04-01", reflectance={**FOREST, **bright}, scl=shadow),
        Scene("2025-05-01"),
    ]
    ds = composite_period(make_items(tmp_path, scenes), full_grid(), chunk=32, dilate_px=0)
    b04 = ds["B04"].values
    count = ds["clear_count"].values
    # left half: scene 2 (bright, clear there) + scene 3 -> median of 0.5 and 0.03
    np.testing.assert_allclose(b04[:, :32], (0.5 + 0.03) / 2, atol=1e-6)
    np.testing.assert_allclose(b04[:, 32:], (0.5 + 0.03) / 2, atol=1e-6)
    assert (count == 2).all()


def test_dilation_crosses_the_chunk_border(tmp_path: Path) -> None:
    scl = _scl()
    scl[10, 15] = 9  # 10 m rows 20-21, cols 30-31: 1 px left of the chunk border at 32
    scenes = [Scene("2025-03-01", scl=scl), Scene("2025-04-01")]
    ds = composite_period(make_items(tmp_path, scenes), full_grid(), chunk=32, dilate_px=3)
    count = ds["clear_count"].values
    expected = np.full((64, 64), 2)
    expected[17:25, 27:35] = 1  # cloud 20..21 x 30..31 dilated by 3 px (square)
    np.testing.assert_array_equal(count, expected)


@pytest.mark.parametrize(("dilate_px", "chunk"), [(2, 32), (2, 18), (4, 22), (3, 18)])
def test_a_20m_mask_dilated_on_its_own_grid_equals_the_10m_dilation(
    tmp_path: Path, dilate_px: int, chunk: int
) -> None:
    # even dilate_px: masked and dilated at 20 m, then upsampled; odd: at 10 m. Either way
    # the clear count is that of the upsampled mask dilated at 10 m, chunk borders anywhere
    rng = np.random.default_rng(dilate_px * 100 + chunk)
    scls = [np.where(rng.random((32, 32)) < 0.03, 9, SCL_CLEAR).astype("uint8") for _ in range(3)]
    scenes = [Scene(f"2025-0{i + 3}-01", scl=s) for i, s in enumerate(scls)]
    ds = composite_period(
        make_items(tmp_path, scenes), full_grid(), chunk=chunk, dilate_px=dilate_px
    )
    square = np.ones((2 * dilate_px + 1, 2 * dilate_px + 1), dtype=bool)
    bad = [
        ndimage.binary_dilation((s == 9).repeat(2, axis=0).repeat(2, axis=1), square) for s in scls
    ]
    np.testing.assert_array_equal(ds["clear_count"].values, 3 - np.sum(bad, axis=0))


def test_pixel_clear_in_no_scene_is_nan_with_count_zero(tmp_path: Path) -> None:
    a, b = _scl(), _scl()
    a[0:4, 0:4] = 8
    b[0:4, 0:4] = 10
    scenes = [Scene("2025-03-01", scl=a), Scene("2025-04-01", scl=b)]
    ds = composite_period(make_items(tmp_path, scenes), full_grid(), chunk=32, dilate_px=0)
    assert np.isnan(ds["B02"].values[:8, :8]).all()
    assert (ds["clear_count"].values[:8, :8] == 0).all()
    assert np.isfinite(ds["B02"].values[8:, 8:]).all()


def test_dn_zero_is_no_data(tmp_path: Path) -> None:
    b08 = np.full((64, 64), 0.32)
    b08[:5, :5] = 0.0
    scenes = [Scene("2025-03-01", reflectance={**FOREST, "B08": b08}), Scene("2025-04-01")]
    ds = composite_period(make_items(tmp_path, scenes), full_grid(), chunk=32, dilate_px=0)
    assert (ds["clear_count"].values[:5, :5] == 1).all()
    np.testing.assert_allclose(ds["B08"].values[:5, :5], 0.32, atol=1e-6)


def test_a_period_without_clear_observation_raises_nodata(tmp_path: Path) -> None:
    scenes = [Scene("2025-03-01", scl=_scl(9)), Scene("2025-04-01", scl=_scl(3))]
    items = make_items(tmp_path, scenes)
    with pytest.raises(NoDataError, match=r"2025-03-01\.\.2025-04-01.*widen the period"):
        composite_period(items, full_grid(), chunk=32)


def test_all_items_fully_cloudy_raise_without_reading(tmp_path: Path) -> None:
    items = make_items(tmp_path, [Scene("2025-03-01", cloud_cover=100.0)])
    with (
        dask.config.set(scheduler="threads"),
        _TaskCounter() as counter,
        pytest.raises(NoDataError, match="cloud cover"),
    ):
        composite_period(items, full_grid(), chunk=32)
    assert counter.tasks == 0


def test_no_items_raise_nodata() -> None:
    with pytest.raises(NoDataError, match="widen the period"):
        composite_period([], full_grid())


def test_missing_scl_asset_is_an_input_error(tmp_path: Path) -> None:
    items = make_items(tmp_path, [Scene("2025-03-01")])
    del items[0].assets["SCL"]
    with pytest.raises(InputError, match="SCL"):
        composite_period(items, full_grid())


def test_composite_is_lazy_until_computed(tmp_path: Path) -> None:
    items = make_items(tmp_path, [Scene("2025-03-01"), Scene("2025-04-01")])
    ds = composite_period(items, full_grid(), chunk=32)
    with dask.config.set(scheduler="threads"), _TaskCounter() as counter:
        ds = add_indices(ds)
        assert isinstance(ds["B04"].data, da.Array)
        assert isinstance(ds["ndvi"].data, da.Array)
        assert ds["B04"].chunks == ((32, 32), (32, 32))
    assert counter.tasks == 0
    # The local scheduler, so the callback sees the tasks even when another test left a
    # distributed client as the default.
    with dask.config.set(scheduler="threads"), _TaskCounter() as counter:
        ds["ndvi"].compute()
    assert counter.tasks > 0


def test_composite_of_part_of_the_tile_on_an_odd_grid(tmp_path: Path) -> None:
    items = make_items(tmp_path, [Scene("2025-03-01")])
    grid = geobox_for_bounds("EPSG:32650", 10.0, (400020.0, 4459450.0, 400350.0, 4459980.0))
    ds = composite_period(items, grid, chunk=16).compute()
    assert ds["B11"].shape == (53, 33)
    np.testing.assert_allclose(ds["B11"].values, FOREST["B11"], atol=1e-6)


def test_composite_cog_and_detection_work_under_a_distributed_client(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    items = make_items(tmp_path, [Scene("2025-03-01"), Scene("2025-04-01", baseline="04.00")])
    with distributed.Client(processes=False, n_workers=2, threads_per_worker=1):
        # used three times: persist once, as the flow does by writing it. Recomputing the lazy
        # graph in separate calls can race in the scheduler (dask "different run_spec for
        # key" between consecutive update_graph calls: KeyError), seen once in CI.
        ds = composite_period(items, full_grid(), chunk=32).persist()
        values = ds["B03"].compute().values
        change = BaselineDetector().detect(ds, ds)
        out = write_cog(change["change_mask"], tmp_path / "m.tif", nodata=255, dtype="uint8")
        write_cog(ds, tmp_path / "c.tif", nodata=np.nan, dtype="float32")
    np.testing.assert_allclose(values, FOREST["B03"], atol=1e-6)
    with rasterio.open(out) as src:
        assert (src.read(1) == 0).all()


def test_one_task_per_chunk_reads_and_composites_it(tmp_path: Path) -> None:
    items = make_items(tmp_path, [Scene("2025-03-01"), Scene("2025-04-01", baseline="04.00")])
    ds = composite_period(items, full_grid(), chunk=32)
    stack = ds["B04"].data.dask.layers  # the composite layer + the per-band selections
    composite_layers = [name for name in stack if name.startswith("composite-")]
    assert len(composite_layers) == 1
    assert len(stack[composite_layers[0]]) == 4  # 64 x 64 px in 32 px chunks


def test_items_off_the_grid_are_reprojected_to_it(tmp_path: Path) -> None:
    # Grid in the neighbouring UTM zone: no file is on it, so every read is a warp.
    items = make_items(tmp_path, [Scene("2025-03-01"), Scene("2025-04-01", baseline="04.00")])
    x, y = 400160.0, 4459680.0  # the tile's centre area in EPSG:32650
    x51, y51 = Transformer.from_crs("EPSG:32650", "EPSG:32651", always_xy=True).transform(x, y)
    grid = geobox_for_bounds("EPSG:32651", 10.0, (x51 - 100, y51 - 100, x51 + 100, y51 + 100))
    ds = composite_period(items, grid, chunk=16, dilate_px=1).compute()
    for band, value in FOREST.items():
        np.testing.assert_allclose(ds[band].values, value, atol=1e-6, err_msg=band)
    assert (ds["clear_count"].values == 2).all()
