"""Overview levels picked from the strips: strided views where the picks are regular."""

from __future__ import annotations

import numpy as np
import pytest

from tiandi.eo._overviews import _as_slice, _Level, pick


@pytest.mark.parametrize(("previous", "size"), [(1024, 512), (1031, 515), (551, 275), (3, 1)])
def test_a_level_picks_the_same_pixels_with_or_without_slices(previous: int, size: int) -> None:
    idx = pick(previous, size)
    as_slice = _as_slice(idx)
    line = np.arange(previous)
    np.testing.assert_array_equal(line[as_slice], line[idx])
    assert isinstance(as_slice, slice) == (previous == 2 * size and size > 1)


def test_a_levels_rows_of_a_strip_are_those_of_the_whole_image() -> None:
    image = np.arange(2 * 40 * 30).reshape(2, 40, 30)
    level = _Level((40, 30), (20, 15))
    whole = image[:, pick(40, 20)][:, :, pick(30, 15)]
    got = [level.take(start, image[:, start : start + 16]) for start in (0, 16, 32)]
    np.testing.assert_array_equal(np.concatenate([g[1] for g in got], axis=1), whole)
    assert [g[0] for g in got] == [0, 8, 16]
