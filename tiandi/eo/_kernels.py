"""Per-chunk numpy kernels of the composite (called through dask ``map_blocks``).

They work on whole chunks with the full time axis: ``(time, rows, cols)`` uint16 digital
numbers and SCL classes. Nothing here knows about dask, xarray or files.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import maximum_filter1d

#: SCL classes never used: 0 no data, 1 saturated/defective, 3 cloud shadow,
#: 8 cloud medium probability, 9 cloud high probability, 10 thin cirrus.
MASKED_SCL = (0, 1, 3, 8, 9, 10)
_MASKED_LUT = np.zeros(256, dtype=np.bool_)
_MASKED_LUT[list(MASKED_SCL)] = True
#: Reflectance = harmonised DN / QUANTIFICATION.
QUANTIFICATION = 10000.0
_SENTINEL = np.uint16(65535)
#: Longer time series are sorted with np.sort instead of a sorting network.
MAX_NETWORK = 64


def upsample(block: NDArray[Any], factor: int, block_info: Any = None) -> NDArray[Any]:
    """Nearest-neighbour upsampling of the last two axes by ``factor``, cropped to fit.

    The crop size comes from dask's ``block_info`` (the output chunk's shape).
    """
    out = block.repeat(factor, axis=-2).repeat(factor, axis=-1) if factor > 1 else block
    if block_info is not None:
        rows, cols = block_info[None]["chunk-shape"][-2:]
        out = out[..., :rows, :cols]
    return out


def masked_scl(scl: NDArray[Any]) -> NDArray[np.bool_]:
    """Where ``scl`` holds a masked class (:data:`MASKED_SCL`): for uint8 one table lookup
    per pixel (a third of the time of ``np.isin``)."""
    if scl.dtype != np.uint8:
        return np.isin(scl, MASKED_SCL)
    bad: NDArray[np.bool_] = _MASKED_LUT[scl]
    return bad


def bad_from_scl(scl: NDArray[np.uint8], factor: int, block_info: Any = None) -> NDArray[np.bool_]:
    """Masked SCL classes as a boolean array, upsampled to the output resolution."""
    return upsample(masked_scl(scl), factor, block_info)


def dilate(bad: NDArray[np.bool_], radius: int) -> NDArray[np.bool_]:
    """Square binary dilation by ``radius`` pixels of each time slice (separable, O(n))."""
    if radius <= 0:
        return bad
    size = 2 * radius + 1
    out = maximum_filter1d(bad.view(np.uint8), size, axis=-1, mode="constant", cval=0)
    out = maximum_filter1d(out, size, axis=-2, mode="constant", cval=0)
    result: NDArray[np.bool_] = out.view(np.bool_)
    return result


def _oddeven_merge(lo: int, hi: int, r: int) -> list[tuple[int, int]]:
    step = r * 2
    if step < hi - lo:
        return [
            *_oddeven_merge(lo, hi, step),
            *_oddeven_merge(lo + r, hi, step),
            *[(i, i + r) for i in range(lo + r, hi - r, step)],
        ]
    return [(lo, lo + r)]


def _oddeven_sort(lo: int, hi: int) -> list[tuple[int, int]]:
    if hi - lo < 1:
        return []
    mid = lo + (hi - lo) // 2
    return [*_oddeven_sort(lo, mid), *_oddeven_sort(mid + 1, hi), *_oddeven_merge(lo, hi, 1)]


@functools.cache
def sorting_network(n: int) -> tuple[tuple[int, int], ...]:
    """Batcher's odd-even merge sort comparators for ``n`` items.

    Built for the next power of two; comparators that touch the (virtual, +inf) padding
    are dropped, which leaves a valid network for ``n``.
    """
    size = 1 << max(0, (n - 1).bit_length())
    return tuple((i, j) for i, j in _oddeven_sort(0, size - 1) if j < n)


def _sort_planes(planes: list[NDArray[np.uint16]]) -> list[NDArray[np.uint16]]:
    """Sort a list of equally shaped planes element-wise (ascending along the list)."""
    if len(planes) > MAX_NETWORK:
        stacked = np.sort(np.stack(planes), axis=0)
        return list(stacked)
    scratch = np.empty_like(planes[0])
    for i, j in sorting_network(len(planes)):
        a, b = planes[i], planes[j]
        np.minimum(a, b, out=scratch)
        np.maximum(a, b, out=b)
        planes[i], scratch = scratch, a
    return planes


def _harmonised_plane(dn: NDArray[np.uint16], offset: int) -> NDArray[np.uint16]:
    """``max(DN + offset, 1)`` in uint16 (``offset`` <= 0), below the sentinel (a negative
    offset keeps every value below it: only an offset of 0 needs the cap)."""
    if offset < 0:
        out = np.maximum(dn, np.uint16(1 - offset))
        out -= np.uint16(-offset)
        return out
    out = np.maximum(dn, np.uint16(1))
    np.minimum(out, _SENTINEL - 1, out=out)
    return out


def _bits(mask: NDArray[np.bool_]) -> NDArray[np.uint16]:
    """0xFFFF where ``mask`` else 0."""
    bits: NDArray[np.uint16] = mask.view(np.uint8).astype(np.uint16) * np.uint16(0xFFFF)
    return bits


def composite(
    *arrays: NDArray[Any], offsets: Sequence[int], block_info: Any = None
) -> NDArray[np.float32]:
    """Median of clear observations of every band plus the clear count.

    ``arrays`` are the bands' uint16 DNs ``(time, rows, cols)`` followed by the boolean
    "bad" mask of the same shape. ``offsets`` is the BOA add offset of each time slice
    (0 or -1000). A slice is clear where the mask is False and every band is non-zero.
    Harmonised reflectance is ``max(DN + offset, 1) / 10000``. Returns float32
    ``(bands + 1, rows, cols)``: the medians (NaN where the count is 0) and the count.

    The median sorts the time slices with a sorting network of element-wise min/max
    (unusable slices set to a sentinel no valid value exceeds) and picks, per pixel,
    the middle one or two of the ``count`` clear values; no NaN arithmetic.
    """
    *bands, bad = arrays
    n_time = bad.shape[0]
    unusable = bad.copy()
    for band in bands:
        unusable |= band == 0
    count = n_time - unusable.sum(axis=0, dtype=np.int16)
    lo_idx = ((count - 1) // 2).clip(0)
    hi_idx = (count // 2).clip(max=n_time - 1)
    # all-ones uint16 bit masks: OR sets the sentinel, AND/OR selects (no boolean indexing);
    # only the ranks a median can take: lo <= (n - 1) // 2, hi <= n // 2
    sentinel = [_bits(unusable[t]) for t in range(n_time)]
    pick_lo = [_bits(lo_idx == k) for k in range((n_time - 1) // 2 + 1)]
    pick_hi = [_bits(hi_idx == k) for k in range(min(n_time // 2, n_time - 1) + 1)]
    # NaN where no slice is clear, 0 elsewhere: added to each median (x + 0 is x)
    nan_or_zero = np.where(count == 0, np.float32(np.nan), np.float32(0))
    # one offset for every slice (the usual case): harmonising is monotonic, so it is
    # applied to the two picked planes instead of every slice (the same medians)
    uniform = len(set(int(o) for o in offsets)) == 1
    scratch = np.empty(bad.shape[1:], dtype=np.uint16)
    out = np.empty((len(bands) + 1, *bad.shape[1:]), dtype=np.float32)
    for i, band in enumerate(bands):
        if uniform:
            planes = [band[t] | sentinel[t] for t in range(n_time)]
        else:
            planes = [_harmonised_plane(band[t], int(offsets[t])) for t in range(n_time)]
            for t in range(n_time):
                planes[t] |= sentinel[t]
        planes = _sort_planes(planes)
        lo = planes[0] & pick_lo[0]
        hi = planes[0] & pick_hi[0]
        for k in range(1, len(pick_lo)):
            lo |= np.bitwise_and(planes[k], pick_lo[k], out=scratch)
        for k in range(1, len(pick_hi)):
            hi |= np.bitwise_and(planes[k], pick_hi[k], out=scratch)
        if uniform:
            lo = _harmonised_plane(lo, int(offsets[0]))
            hi = _harmonised_plane(hi, int(offsets[0]))
        med = out[i]  # written in place: (lo + hi) / 2 / 10^4 in float32
        np.add(lo, hi, out=med, dtype=np.float32)
        med *= np.float32(0.5 / QUANTIFICATION)
        med += nan_or_zero
    out[-1] = count
    return out
