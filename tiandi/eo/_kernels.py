"""Per-chunk numpy kernels of the composite (called through dask ``map_blocks``).

They work on whole chunks with the full time axis: ``(time, rows, cols)`` uint16 digital
numbers and SCL classes. Nothing here knows about dask, xarray or files.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import maximum_filter1d

#: SCL classes never used: 0 no data, 1 saturated/defective, 3 cloud shadow,
#: 8 cloud medium probability, 9 cloud high probability, 10 thin cirrus.
MASKED_SCL = (0, 1, 3, 8, 9, 10)
#: Reflectance = harmonised DN / QUANTIFICATION.
QUANTIFICATION = 10000.0
_SENTINEL = np.uint16(65535)


def upsample(block: NDArray[Any], factor: int, block_info: Any = None) -> NDArray[Any]:
    """Nearest-neighbour upsampling of the last two axes by ``factor``, cropped to fit.

    The crop size comes from dask's ``block_info`` (the output chunk's shape).
    """
    out = block.repeat(factor, axis=-2).repeat(factor, axis=-1) if factor > 1 else block
    if block_info is not None:
        rows, cols = block_info[None]["chunk-shape"][-2:]
        out = out[..., :rows, :cols]
    return out


def bad_from_scl(scl: NDArray[np.uint8], factor: int, block_info: Any = None) -> NDArray[np.bool_]:
    """Masked SCL classes as a boolean array, upsampled to the output resolution."""
    bad = np.isin(scl, MASKED_SCL)
    return upsample(bad, factor, block_info)


def dilate(bad: NDArray[np.bool_], radius: int) -> NDArray[np.bool_]:
    """Square binary dilation by ``radius`` pixels of each time slice (separable, O(n))."""
    if radius <= 0:
        return bad
    size = 2 * radius + 1
    out = maximum_filter1d(bad.view(np.uint8), size, axis=-1, mode="constant", cval=0)
    out = maximum_filter1d(out, size, axis=-2, mode="constant", cval=0)
    result: NDArray[np.bool_] = out.view(np.bool_)
    return result


def composite(
    *arrays: NDArray[Any], offsets: Sequence[int], block_info: Any = None
) -> NDArray[np.float32]:
    """Median of clear observations of every band plus the clear count.

    ``arrays`` are the bands' uint16 DNs ``(time, rows, cols)`` followed by the boolean
    "bad" mask of the same shape. ``offsets`` is the BOA add offset of each time slice
    (0 or -1000). A slice is clear where the mask is False and every band is non-zero.
    Harmonised reflectance is ``max(DN + offset, 1) / 10000``. Returns float32
    ``(bands + 1, rows, cols)``: the medians (NaN where the count is 0) and the count.
    """
    *bands, bad = arrays
    clear = ~bad
    for band in bands:
        clear &= band != 0
    count = clear.sum(axis=0, dtype=np.int16)
    lo_idx = ((count - 1) // 2).clip(0)[None]
    hi_idx = (count // 2)[None]
    off = np.asarray(offsets, dtype=np.int32)[:, None, None]
    out = np.empty((len(bands) + 1, *bad.shape[1:]), dtype=np.float32)
    empty = count == 0
    for i, band in enumerate(bands):
        if np.any(off):
            dn = (band.astype(np.int32) + off).clip(1, 65534).astype(np.uint16)
        else:
            dn = band.clip(1, 65534)
        dn[~clear] = _SENTINEL
        dn.sort(axis=0)
        lo = np.take_along_axis(dn, lo_idx, axis=0)[0].astype(np.float32)
        hi = np.take_along_axis(dn, hi_idx.clip(max=dn.shape[0] - 1), axis=0)[0]
        med = (lo + hi) * np.float32(0.5 / QUANTIFICATION)
        med[empty] = np.nan
        out[i] = med
    out[-1] = count
    return out
