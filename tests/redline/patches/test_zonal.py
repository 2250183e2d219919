"""Zonal statistics read per window in one computation, only where the patches are, with
the sums of a whole-window read to the last bit."""

from __future__ import annotations

from typing import Any

import dask
import numpy as np
import shapely
import xarray as xr
from dask.callbacks import Callback
from scipy import ndimage

from tests.fixtures.redline import Scene
from tiandi.redline.patches._grid import grid_of, row_windows
from tiandi.redline.patches._shapes import components
from tiandi.redline.patches._zonal import STAT_NAMES, ZonalStats, _grown, _labels, zonal_stats


def _noisy_scene() -> tuple[xr.Dataset, xr.Dataset, xr.Dataset]:
    """Patches across window borders (a U, two side by side, one on the edge) on noisy
    bands with holes, so the order of the sums matters."""
    scene = Scene(height=60, width=120)
    for rows, cols in [
        (slice(3, 30), slice(5, 8)),
        (slice(3, 30), slice(20, 23)),
        (slice(27, 30), slice(5, 23)),  # the U's base, below a window border
        (slice(40, 52), slice(30, 36)),
        (slice(40, 52), slice(39, 45)),  # 3 px from its neighbour: rings overlap
        (slice(10, 20), slice(114, 120)),  # on the right edge, far from the others
    ]:
        scene.plant(rows, cols, "quarry")
    rng = np.random.default_rng(7)
    for state in (scene.before, scene.after):
        for band, values in state.items():
            noisy = values * rng.uniform(0.7, 1.3, values.shape).astype("float32")
            noisy[rng.random(values.shape) < 0.05] = np.nan
            state[band] = noisy
    scene.prob = rng.uniform(0, 1, scene.prob.shape).astype("float32")
    return scene.datasets()


def _whole_windows(
    comps: list[shapely.Geometry], datasets: tuple[xr.Dataset, ...], rows: int, ring_px: int
) -> ZonalStats:
    """The statistics of every layer read over the whole window, one layer at a time."""
    change, before, after = datasets
    grid = grid_of(change, "change")
    n = len(comps) + 1
    layers = {"prob": change["change_prob"]}
    for prefix, ds in (("before", before), ("after", after)):
        layers |= {f"{prefix}_{v}": ds[v] for v in STAT_NAMES}
    out = ZonalStats({k: np.zeros(n) for k in layers}, {k: np.zeros(n, "int64") for k in layers},
                     np.zeros(n), np.zeros(n))  # fmt: skip
    window = (0, grid.height, 0, grid.width)
    for a, b in row_windows(0, grid.height, rows):
        labels, ring = _labels(comps, shapely.STRtree(comps), grid, (a, b), window, ring_px)
        if labels is None:
            continue
        for key, da in layers.items():
            values = grid.read(da, (a, b), (0, grid.width)).astype("float64")
            ok = (labels > 0) & np.isfinite(values)
            out.sums[key] += np.bincount(labels[ok], weights=values[ok], minlength=n)
            out.counts[key] += np.bincount(labels[ok], minlength=n)
        ndvi, ndwi = (grid.read(before[v], (a, b), (0, grid.width)) for v in ("ndvi", "ndwi"))
        ok = (ring > 0) & np.isfinite(ndvi) & np.isfinite(ndwi)
        out.ring_total += np.bincount(ring[ok], minlength=n)
        out.ring_bare += np.bincount(ring[ok & (ndvi < 0.25) & (ndwi < 0)], minlength=n)
    return out


def test_sums_are_those_of_whole_window_reads_to_the_last_bit() -> None:
    datasets = _noisy_scene()
    lazy = tuple(ds.chunk({"y": 16, "x": 16}) for ds in datasets)
    grid = grid_of(datasets[0], "change")
    window = (0, grid.height, 0, grid.width)
    comps = components(datasets[0]["change_mask"], grid, window, 7)
    assert len(comps) == 4  # the U, the pair, the one on the edge
    expected = _whole_windows(comps, datasets, 7, 2)
    for inputs in (datasets, lazy):
        got = zonal_stats(comps, *inputs, grid, window, 7, 2)
        assert got.sums.keys() == expected.sums.keys()
        for key in expected.sums:
            assert np.array_equal(got.sums[key], expected.sums[key]), key
            assert np.array_equal(got.counts[key], expected.counts[key]), key
        assert np.array_equal(got.ring_total, expected.ring_total)
        assert np.array_equal(got.ring_bare, expected.ring_bare)
        assert expected.ring_total[1:].min() > 0 and expected.counts["prob"][1:].min() > 0


class _Computations(Callback):  # type: ignore[misc]
    """Counts Dask computations."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def _start(self, dsk: object) -> None:
        self.count += 1


def test_one_computation_per_window_and_source_reads_only_the_patches_chunks() -> None:
    change, before, after = (ds.chunk({"y": 10, "x": 10}) for ds in _noisy_scene())
    read: list[tuple[int, int]] = []

    def track(block: np.ndarray, block_info: dict[Any, Any] | None = None) -> np.ndarray:
        if block_info is not None:
            read.append(tuple(block_info[0]["chunk-location"]))
        return block

    prob = change["change_prob"]
    change = change.assign(change_prob=prob.copy(data=prob.data.map_blocks(track)))
    grid = grid_of(change, "change")
    window = (0, grid.height, 0, grid.width)
    comps = components(change["change_mask"].compute(), grid, window, 20)
    # Callbacks and the closure's list see only a local scheduler; in the whole suite a
    # session's distributed client is the default one
    with dask.config.set(scheduler="threads"), _Computations() as seen:
        stats = zonal_stats(comps, change, before, after, grid, window, 20, 2)
    # per window of 20 rows (3, each holds patches), one per source: the change maps,
    # the before composite (with the ring's layers), the after composite
    assert seen.count == 3 * 3
    assert stats.counts["prob"][1:].min() > 0
    # the patches and their rings lie in columns 3-47 and 112-120: of the 12 columns of
    # chunks, those of columns 50-110 are never read
    assert read and {c for _, c in read} <= {0, 1, 2, 3, 4, 11}
    assert len(set(read)) == len(read)  # each chunk read once


def test_rings_grown_near_the_patches_only_equal_the_whole_window_dilation() -> None:
    # labels on the edges, touching, overlapping grown boxes and far apart; every halo
    rng = np.random.default_rng(0)
    for _ in range(200):
        height, width = (int(n) for n in rng.integers(5, 90, 2))
        labels = np.zeros((height, width), dtype=np.int32)
        for k in range(int(rng.integers(0, 10))):
            r, c = rng.integers(0, height), rng.integers(0, width)
            labels[r : r + rng.integers(1, 9), c : c + rng.integers(1, 9)] = k + 1
        halo = int(rng.integers(1, 5))
        whole = ndimage.grey_dilation(labels, size=(2 * halo + 1, 2 * halo + 1))
        np.testing.assert_array_equal(_grown(labels, halo), whole)


def test_a_plane_is_the_layer_as_a_plain_y_x_array_lazy_when_the_layer_is() -> None:
    _, before, _ = _noisy_scene()
    grid = grid_of(before, "before")
    layer = before["B04"].chunk({grid.y_dim: 16, grid.x_dim: 32})
    stored = layer.expand_dims("band").transpose(grid.x_dim, "band", grid.y_dim)
    plane = grid.plane(stored)  # (x, band=1, y) back to (y, x), still lazy
    assert isinstance(plane, dask.array.Array) and plane.shape == layer.shape
    np.testing.assert_array_equal(plane[5:9, 7:20].compute(), layer.values[5:9, 7:20])
