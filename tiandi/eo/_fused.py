"""One composite chunk in one task: windowed reads of every date's bands, SCL mask, median.

Each output chunk of :func:`tiandi.eo.composite.composite_period` is produced by
:func:`composite_chunk`, a plain function of plain arguments (file paths, the grid's
transform and CRS, offsets), so Dask schedules one task per chunk on threads, processes
or a distributed cluster and nothing but the finished chunk leaves the task.

Reading: a band whose file is on the grid (same CRS, pixel size ``factor`` times the
grid's, integer pixel offset) is read with a rasterio window of the file, no warping;
bands at 20 m (``factor`` 2) are read at 20 m and upsampled in numpy (nearest). Pixels
outside the file are 0 (no data). A file that is not on the grid is reprojected (nearest
neighbour) into the chunk's window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import rasterio
import rasterio.warp
from affine import Affine
from numpy.typing import NDArray
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.windows import Window

import tiandi.eo._kernels as _kernels
import tiandi.eo._readers as _readers

__all__ = ["BandFiles", "GridSpec", "any_clear", "coarser", "composite_chunk", "read_window"]

#: Offsets closer than this to a whole pixel count as whole (file on the grid).
_TOL = 1e-6


@dataclass(frozen=True)
class GridSpec:
    """The output grid: affine transform, CRS (WKT or ``EPSG:n``) and ``(rows, cols)``."""

    transform: Affine
    crs: str
    shape: tuple[int, int]


@dataclass(frozen=True)
class BandFiles:
    """One band of every date (paths in time order) and its pixel size in grid pixels."""

    paths: tuple[str, ...]
    factor: int


def coarser(grid: GridSpec, factor: int) -> GridSpec:
    """The grid of pixels ``factor`` times larger with the same corner (a 20 m band's grid
    of a 10 m grid): every grid pixel lies in one of its pixels."""
    height, width = grid.shape
    return GridSpec(
        grid.transform * Affine.scale(factor),
        grid.crs,
        (math.ceil(height / factor), math.ceil(width / factor)),
    )


def _aligned_offset(src: Any, transform: Affine, crs: str) -> tuple[int, int] | None:
    """``(col, row)`` of ``transform``'s origin in the file when the file is on that grid."""
    st = src.transform
    if src.crs is None or st.b != 0 or st.d != 0 or src.crs != CRS.from_user_input(crs):
        return None
    for mine, theirs in ((st.a, transform.a), (st.e, transform.e)):
        if abs(mine - theirs) > _TOL * abs(theirs):
            return None
    col, row = (transform.c - st.c) / st.a, (transform.f - st.f) / st.e
    if abs(col - round(col)) > _TOL or abs(row - round(row)) > _TOL:
        return None
    return round(col), round(row)


def _read_inside(
    kept: _readers.Opened, row: int, col: int, h: int, w: int, dtype: str
) -> NDArray[Any]:
    """Band 1's pixels ``[row, row + h) x [col, col + w)``, inside the file: from its tiles
    when it is a local tiled GeoTIFF, else through rasterio."""
    tiles = kept.tiles
    if tiles is not None:
        return tiles.read(row, col, h, w).astype(dtype, copy=False)
    out: NDArray[Any] = kept.dataset.read(1, window=Window(col, row, w, h), out_dtype=dtype)
    return out


def _read_aligned(
    kept: _readers.Opened, col: int, row: int, shape: tuple[int, int], dtype: str
) -> NDArray[Any]:
    """The file's pixels ``[row, row + h) x [col, col + w)``; 0 outside the file."""
    h, w = shape
    src = kept.dataset
    r0, c0 = max(row, 0), max(col, 0)
    r1, c1 = min(row + h, src.height), min(col + w, src.width)
    if (r0, c0, r1, c1) == (row, col, row + h, col + w):  # inside the file: no padding
        return _read_inside(kept, row, col, h, w, dtype)
    out = np.zeros(shape, dtype=dtype)
    if r1 > r0 and c1 > c0:
        out[r0 - row : r1 - row, c0 - col : c1 - col] = _read_inside(
            kept, r0, c0, r1 - r0, c1 - c0, dtype
        )
    return out


def _read_coarse(
    path: str, transform: Affine, crs: str, rows: tuple[int, int], cols: tuple[int, int], dtype: str
) -> NDArray[Any]:
    """Rows/cols ``[a, b)`` of the grid ``transform`` (in ``crs``) read from ``path``."""
    shape = (rows[1] - rows[0], cols[1] - cols[0])
    with _readers.opened_tiled(path) as kept:
        src = kept.dataset
        offset = _aligned_offset(src, transform, crs)
        if offset is not None:
            return _read_aligned(kept, offset[0] + cols[0], offset[1] + rows[0], shape, dtype)
        out = np.zeros(shape, dtype=dtype)
        with rasterio.Env():  # without one, reproject warns that the array has no transform
            rasterio.warp.reproject(
                rasterio.band(src, 1),
                out,
                dst_transform=transform * Affine.translation(cols[0], rows[0]),
                dst_crs=crs,
                dst_nodata=0,
                resampling=Resampling.nearest,
            )
        return out


def read_window(
    path: str, grid: GridSpec, factor: int, rows: tuple[int, int], cols: tuple[int, int], dtype: str
) -> NDArray[Any]:
    """Grid rows/cols ``[a, b)`` of the file ``path`` whose pixel is ``factor`` grid pixels:
    read on the ``factor`` times coarser grid (same corner) and upsampled (nearest)."""
    if factor == 1:
        return _read_coarse(path, grid.transform, grid.crs, rows, cols, dtype)
    r0, c0 = rows[0] // factor, cols[0] // factor
    r1, c1 = math.ceil(rows[1] / factor), math.ceil(cols[1] / factor)
    coarse = _read_coarse(
        path, coarser(grid, factor).transform, grid.crs, (r0, r1), (c0, c1), dtype
    )
    up = coarse.repeat(factor, axis=0).repeat(factor, axis=1)
    dr, dc = rows[0] - r0 * factor, cols[0] - c0 * factor
    return up[dr : dr + rows[1] - rows[0], dc : dc + cols[1] - cols[0]]


def _stack(
    band: BandFiles, grid: GridSpec, rows: tuple[int, int], cols: tuple[int, int], dtype: str
) -> NDArray[Any]:
    """``(time, rows, cols)`` of one band."""
    return np.stack([read_window(p, grid, band.factor, rows, cols, dtype) for p in band.paths])


def _bad(
    scl: BandFiles, grid: GridSpec, rows: tuple[int, int], cols: tuple[int, int], dilate_px: int
) -> NDArray[np.bool_]:
    """Unusable observations ``(time, rows, cols)``: masked SCL classes dilated by
    ``dilate_px`` (a halo of that width read around the chunk, inside the grid).

    A coarser SCL (20 m) whose pixel divides ``dilate_px`` is masked and dilated on its own
    grid and then upsampled: the same pixels as dilating the upsampled mask (a square of
    ``dilate_px`` around a grid pixel covers exactly the coarse pixels within
    ``dilate_px / factor`` of its own), for a quarter of the work."""
    factor = scl.factor
    if factor > 1 and dilate_px % factor == 0:
        crows = (rows[0] // factor, math.ceil(rows[1] / factor))
        ccols = (cols[0] // factor, math.ceil(cols[1] / factor))
        own = BandFiles(scl.paths, 1)
        coarse = _bad(own, coarser(grid, factor), crows, ccols, dilate_px // factor)
        up = coarse.repeat(factor, axis=1).repeat(factor, axis=2)
        dr, dc = rows[0] - crows[0] * factor, cols[0] - ccols[0] * factor
        return up[:, dr : dr + rows[1] - rows[0], dc : dc + cols[1] - cols[0]]
    height, width = grid.shape
    hr = (max(rows[0] - dilate_px, 0), min(rows[1] + dilate_px, height))
    hc = (max(cols[0] - dilate_px, 0), min(cols[1] + dilate_px, width))
    bad = _kernels.masked_scl(_stack(scl, grid, hr, hc, "uint8"))
    bad = _kernels.dilate(bad, dilate_px)
    return bad[:, rows[0] - hr[0] : rows[1] - hr[0], cols[0] - hc[0] : cols[1] - hc[0]]


def composite_chunk(
    bands: Sequence[BandFiles],
    scl: BandFiles,
    offsets: Sequence[int],
    grid: GridSpec,
    dilate_px: int,
    block_info: Any = None,
) -> NDArray[np.float32]:
    """The composite of one chunk (``block_info`` from ``dask.array.map_blocks``): float32
    ``(bands + 1, rows, cols)``, the medians and the clear count (see
    :func:`tiandi.eo._kernels.composite`)."""
    _, rows, cols = block_info[None]["array-location"]
    rows, cols = (int(rows[0]), int(rows[1])), (int(cols[0]), int(cols[1]))
    arrays = [_stack(b, grid, rows, cols, "uint16") for b in bands]
    bad = _bad(scl, grid, rows, cols, dilate_px)
    return _kernels.composite(*arrays, bad, offsets=offsets)


def any_clear(scl: BandFiles, grid: GridSpec, strip: int = 1024) -> bool:
    """Whether any SCL pixel on the grid is of a clear class; reads strip by strip and
    stops at the first clear pixel (usually within the first strip of the first date)."""
    coarse = coarser(grid, scl.factor)
    for path in scl.paths:
        for r0 in range(0, coarse.shape[0], strip):
            rows = (r0, min(r0 + strip, coarse.shape[0]))
            block = read_window(path, coarse, 1, rows, (0, coarse.shape[1]), "uint8")
            if not _kernels.masked_scl(block).all():
                return True
    return False
