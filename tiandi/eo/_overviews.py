"""Nearest-neighbour overview levels, picked from any window of the image.

GDAL's COG driver, left to build the overviews itself (``OVERVIEWS=AUTO``), decodes the
whole full-resolution file once more and resamples it band by band: at 4096² px with 7
bands that took 16 of the 18 s of the COG translation (bench/README.md). For ``nearest``
the overviews are a pure selection of pixels, so :mod:`tiandi.eo._tiles` picks them from
each chunk while it is in memory, and encodes their tiles with the full resolution's.

Each level picks from the level before it the pixel ``floor(0.5 + i * previous / size)``
along each axis; levels halve the previous level's size (rounding down) while either side
exceeds the block size. That is exactly what GDAL does for a single-band file (the change
maps: the same pixels at every level, checked in ``tests/eo/test_cog.py``). For a
multi-band file GDAL sometimes picks each level straight from the full resolution instead
(depending on its block cache), so a composite's overviews below the first one may differ
from GDAL's by a neighbouring pixel where a side is odd; full-resolution pixels and the
first level are the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["Level", "overview_shapes", "pick"]


def overview_shapes(height: int, width: int, block: int) -> list[tuple[int, int]]:
    """The (rows, columns) of each overview level GDAL's COG driver makes (``AUTO``)."""
    shapes = []
    while height > block or width > block:
        height, width = max(1, height // 2), max(1, width // 2)
        shapes.append((height, width))
    return shapes


def pick(previous: int, size: int) -> NDArray[np.intp]:
    """Indices along one axis of the level before that GDAL's nearest resampling keeps."""
    ratio = previous / size
    idx = np.floor(0.5 + np.arange(size) * ratio).astype(np.intp)
    out: NDArray[np.intp] = np.minimum(idx, previous - 1)
    return out


def _as_slice(idx: NDArray[np.intp]) -> slice | NDArray[np.intp]:
    """``idx`` as a slice when it is evenly spaced (an even side halves to every other
    pixel): a view instead of a fancy-indexed copy; the same pixels either way."""
    if len(idx) > 1:
        step = int(idx[1] - idx[0])
        if step > 0 and np.array_equal(np.diff(idx), np.full(len(idx) - 1, step)):
            return slice(int(idx[0]), int(idx[-1]) + 1, step)
    return idx


class Level:
    """One overview level: which rows and columns of the level before it keeps."""

    def __init__(self, prev: tuple[int, int], shape: tuple[int, int]) -> None:
        self.shape = shape
        self.rows = pick(prev[0], shape[0])
        self.cols = pick(prev[1], shape[1])

    def take(self, row: int, col: int, block: NDArray[Any]) -> tuple[int, int, NDArray[Any]]:
        """The pixels of this level that fall in ``block`` (rows ``row..`` and columns
        ``col..`` of the level before), and the row and column of the first of them: the
        levels of a block are windows of each level, so blocks may come in any order."""
        i0, i1 = np.searchsorted(self.rows, [row, row + block.shape[-2]], side="left")
        j0, j1 = np.searchsorted(self.cols, [col, col + block.shape[-1]], side="left")
        rows = _as_slice(self.rows[i0:i1] - row)
        cols = _as_slice(self.cols[j0:j1] - col)
        return int(i0), int(j0), block[:, rows][:, :, cols]
