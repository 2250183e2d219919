"""Overview levels picked from the strips: strided views where the picks are regular."""

from __future__ import annotations

import numpy as np
import pytest

from tiandi.eo._overviews import Level, _as_slice, pick


@pytest.mark.parametrize(("previous", "size"), [(1024, 512), (1031, 515), (551, 275), (3, 1)])
def test_a_level_picks_the_same_pixels_with_or_without_slices(previous: int, size: int) -> None:
    idx = pick(previous, size)
    as_slice = _as_slice(idx)
    line = np.arange(previous)
    np.testing.assert_array_equal(line[as_slice], line[idx])
    assert isinstance(as_slice, slice) == (previous == 2 * size and size > 1)


def test_a_levels_rows_of_a_strip_are_those_of_the_whole_image() -> None:
    image = np.arange(2 * 40 * 30).reshape(2, 40, 30)
    level = Level((40, 30), (20, 15))
    whole = image[:, pick(40, 20)][:, :, pick(30, 15)]
    got = [level.take(start, 0, image[:, start : start + 16]) for start in (0, 16, 32)]
    np.testing.assert_array_equal(np.concatenate([g[2] for g in got], axis=1), whole)
    assert [g[:2] for g in got] == [(0, 0), (8, 0), (16, 0)]


@pytest.mark.parametrize(("shape", "level_shape"), [((40, 30), (20, 15)), ((41, 31), (20, 15))])
def test_a_levels_pixels_of_the_blocks_of_a_strip_tile_the_whole_level(
    shape: tuple[int, int], level_shape: tuple[int, int]
) -> None:
    image = np.arange(2 * shape[0] * shape[1]).reshape(2, *shape)
    level = Level(shape, level_shape)
    whole = image[:, pick(shape[0], level_shape[0])][:, :, pick(shape[1], level_shape[1])]
    rebuilt = np.full_like(whole, -1)
    for row in range(0, shape[0], 16):  # blocks of 16 x 12, last ones cut at the edge
        for col in reversed(range(0, shape[1], 12)):  # any order
            i, j, part = level.take(row, col, image[:, row : row + 16, col : col + 12])
            assert (rebuilt[:, i : i + part.shape[1], j : j + part.shape[2]] == -1).all()
            rebuilt[:, i : i + part.shape[1], j : j + part.shape[2]] = part
    np.testing.assert_array_equal(rebuilt, whole)
