"""The per-chunk composite kernel against numpy's nanmedian."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tiandi.eo import _kernels


@pytest.mark.parametrize("n_time", [1, 2, 3, 5, 8, 13, 70])
def test_median_of_clear_harmonised_values_matches_nanmedian(n_time: int) -> None:
    rng = np.random.default_rng(n_time)
    shape = (n_time, 9, 11)
    bands = [rng.integers(0, 3000, shape).astype(np.uint16) for _ in range(2)]
    bad = rng.random(shape) > 0.6
    offsets = [int(o) for o in rng.choice([0, -1000], n_time)]
    out = _kernels.composite(*bands, bad, offsets=offsets)

    unusable = bad | (bands[0] == 0) | (bands[1] == 0)
    np.testing.assert_array_equal(out[-1], (~unusable).sum(axis=0))
    off = np.asarray(offsets)[:, None, None]
    for i, band in enumerate(bands):
        ref = np.maximum(band.astype(float) + off, 1)
        ref[unusable] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels
            expected = np.nanmedian(ref, axis=0) / 10000
        np.testing.assert_allclose(out[i], expected, rtol=1e-6, equal_nan=True)


EDGE_DN = np.array([0, 1, 2, 999, 1000, 1001, 1002, 5000, 65533, 65534, 65535], dtype=np.uint16)


@pytest.mark.parametrize("n_time", [2, 4, 7])
@pytest.mark.parametrize("offset", [0, -1000, None])
def test_medians_at_the_edges_of_the_harmonisation(n_time: int, offset: int | None) -> None:
    # one offset for all slices (harmonised after the pick) or mixed ones (per slice),
    # with DNs at the clamps: 0 (unusable), <= 1000, the 65535 sentinel value
    rng = np.random.default_rng(n_time)
    shape = (n_time, 12, 10)
    band = rng.choice(EDGE_DN, shape)
    bad = rng.random(shape) > 0.7
    offsets = [offset if offset is not None else (0, -1000)[t % 2] for t in range(n_time)]
    out = _kernels.composite(band, bad, offsets=offsets)

    off = np.asarray(offsets)[:, None, None]
    ref = np.minimum(np.maximum(band.astype(float) + off, 1), 65534)
    ref[bad | (band == 0)] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels
        expected = np.nanmedian(ref, axis=0) / 10000
    np.testing.assert_allclose(out[0], expected.astype(np.float32), rtol=1e-7, equal_nan=True)


def test_sorting_network_sorts_every_small_size() -> None:
    rng = np.random.default_rng(0)
    for n in range(1, 18):
        for _ in range(50):
            values = rng.integers(0, 4, n)
            planes = [np.array([[v]], dtype=np.uint16) for v in values]
            got = [int(p[0, 0]) for p in _kernels._sort_planes(planes)]
            assert got == sorted(values.tolist())


def test_dilation_is_a_square_of_the_radius() -> None:
    bad = np.zeros((1, 9, 9), dtype=bool)
    bad[0, 4, 4] = True
    out = _kernels.dilate(bad, 2)
    expected = np.zeros((9, 9), dtype=bool)
    expected[2:7, 2:7] = True
    np.testing.assert_array_equal(out[0], expected)


def test_masked_scl_is_isin_of_the_masked_classes_for_every_value() -> None:
    every = np.arange(256, dtype=np.uint8).reshape(16, 16)
    expect = np.isin(every, _kernels.MASKED_SCL)
    np.testing.assert_array_equal(_kernels.masked_scl(every), expect)
    wide = np.array([0, 4, 9, 300, 10], dtype=np.uint16)  # not uint8: no table
    assert _kernels.masked_scl(wide).tolist() == [True, False, True, False, True]
