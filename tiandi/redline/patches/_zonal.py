"""Zonal statistics of patches in windows of rows: means of the change probability and
of every before/after index and band, and the bare share of a ring around each patch."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import rasterio.features
import shapely
import xarray as xr
from scipy import ndimage
from shapely.geometry.base import BaseGeometry

from tiandi.redline.patches._grid import Grid, row_windows
from tiandi.redline.patches.classify import BAND_NAMES, BARE_BEFORE_NDVI, INDEX_NAMES

STAT_NAMES: tuple[str, ...] = INDEX_NAMES + BAND_NAMES


@dataclass
class ZonalStats:
    """Per-patch sums and counts (index 0: background; patch i at i + 1)."""

    sums: dict[str, np.ndarray]
    counts: dict[str, np.ndarray]
    ring_bare: np.ndarray
    ring_total: np.ndarray

    def mean(self, key: str, i: int) -> float:
        """Mean of ``key`` over patch ``i`` (0-based), NaN without values."""
        if key not in self.sums or self.counts[key][i + 1] == 0:
            return math.nan
        return float(self.sums[key][i + 1] / self.counts[key][i + 1])


def zonal_stats(
    comps: list[BaseGeometry],
    change: xr.Dataset,
    before: xr.Dataset,
    after: xr.Dataset,
    grid: Grid,
    window: tuple[int, int, int, int],
    window_rows: int,
    ring_px: int,
    layers: Mapping[str, xr.DataArray] | None = None,
) -> ZonalStats:
    """Sums and counts per patch of ``change_prob`` (as ``prob``), of every before/after
    index and band (``before_<name>``, ``after_<name>``) and of ``layers`` (by their
    keys; NaN values are not counted), and the ring's bare share."""
    n = len(comps) + 1
    sources: list[tuple[str, xr.DataArray]] = []
    if "change_prob" in change:
        sources.append(("prob", change["change_prob"]))
    for prefix, ds in (("before", before), ("after", after)):
        sources += [(f"{prefix}_{v}", ds[v]) for v in STAT_NAMES if v in ds]
    sources += list((layers or {}).items())
    stats = ZonalStats(
        sums={k: np.zeros(n) for k, _ in sources},
        counts={k: np.zeros(n, dtype="int64") for k, _ in sources},
        ring_bare=np.zeros(n),
        ring_total=np.zeros(n),
    )
    tree = shapely.STRtree(comps)
    halo = ring_px
    r0, r1, c0, c1 = window
    for a, b in row_windows(r0, r1, window_rows):
        # labels on the window plus `halo` rows above and below, for the rings
        ha, hb = max(a - halo, r0), min(b + halo, r1)
        t = grid.window_transform(ha, c0)
        x_0, y_0 = t @ (0, 0)
        x_1, y_1 = t @ (c1 - c0, hb - ha)
        box = shapely.box(min(x_0, x_1), min(y_0, y_1), max(x_0, x_1), max(y_0, y_1))
        hits = tree.query(box, predicate="intersects")
        if len(hits) == 0:
            continue
        haloed = rasterio.features.rasterize(
            [(comps[i], int(i) + 1) for i in sorted(hits)],
            out_shape=(hb - ha, c1 - c0),
            transform=t,
            fill=0,
            dtype="int32",
        )
        labels = haloed[a - ha : a - ha + (b - a)]
        for key, da in sources:
            values = grid.read(da, (a, b), (c0, c1)).astype("float64")
            ok = (labels > 0) & np.isfinite(values)
            stats.sums[key] += np.bincount(labels[ok], weights=values[ok], minlength=n)
            stats.counts[key] += np.bincount(labels[ok], minlength=n)
        if halo > 0:
            grown = ndimage.grey_dilation(haloed, size=(2 * halo + 1, 2 * halo + 1))
            ring = np.where(haloed == 0, grown, 0)[a - ha : a - ha + (b - a)]
            _ring_stats(stats, ring, before, grid, (a, b), (c0, c1))
    return stats


def _ring_stats(
    stats: ZonalStats,
    ring: Any,
    before: xr.Dataset,
    grid: Grid,
    rows: tuple[int, int],
    cols: tuple[int, int],
) -> None:
    """Count ring pixels (labelled with the nearest patch) and those bare or built before."""
    if not ring.any():
        return
    if "ndvi" in before and "ndwi" in before:
        ndvi = grid.read(before["ndvi"], rows, cols).astype("float64")
        ndwi = grid.read(before["ndwi"], rows, cols).astype("float64")
    elif all(b in before for b in ("B03", "B04", "B08")):
        b03, b04, b08 = (
            grid.read(before[b], rows, cols).astype("float64") for b in ("B03", "B04", "B08")
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            ndvi, ndwi = (b08 - b04) / (b08 + b04), (b03 - b08) / (b03 + b08)
    else:
        return
    ok = (ring > 0) & np.isfinite(ndvi) & np.isfinite(ndwi)
    bare = ok & (ndvi < BARE_BEFORE_NDVI) & (ndwi < 0.0)
    n = len(stats.ring_total)
    stats.ring_total += np.bincount(ring[ok], minlength=n)
    stats.ring_bare += np.bincount(ring[bare], minlength=n)
