"""Zonal statistics of patches in windows of rows: means of the change probability and
of every before/after index and band, and the bare share of a ring around each patch.

Per window of rows the patches are rasterised, and only the boxes that hold them (and
their rings) are read: every layer of every box in one computation, so a lazy composite
is decoded once per window, not once per layer. A patch lies whole in one box (boxes are
the patches' column ranges, merged where they overlap), so its pixels are summed in the
same order as over the whole window: the sums are the same to the last bit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dask
import numpy as np
import numpy.typing as npt
import rasterio.features
import shapely
import xarray as xr
from scipy import ndimage
from shapely.geometry.base import BaseGeometry

from tiandi.redline.patches._grid import Grid, row_windows
from tiandi.redline.patches.classify import BAND_NAMES, BARE_BEFORE_NDVI, INDEX_NAMES

STAT_NAMES: tuple[str, ...] = INDEX_NAMES + BAND_NAMES

#: Boxes closer than this many columns are read as one (fewer, larger reads).
_BOX_GAP_PX = 32

_Box = tuple[int, int, int, int]  # rows r0..r1, columns c0..c1, relative to the window


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
    sources: dict[str, xr.DataArray] = {}
    if "change_prob" in change:
        sources["prob"] = change["change_prob"]
    for prefix, ds in (("before", before), ("after", after)):
        sources |= {f"{prefix}_{v}": ds[v] for v in STAT_NAMES if v in ds}
    sources |= dict(layers or {})
    ring_layers = _ring_layers(before) if ring_px > 0 else {}
    stats = ZonalStats(
        sums={k: np.zeros(n) for k in sources},
        counts={k: np.zeros(n, dtype="int64") for k in sources},
        ring_bare=np.zeros(n),
        ring_total=np.zeros(n),
    )
    tree = shapely.STRtree(comps)
    groups = _groups(list(sources), ring_layers)
    planes = {k: grid.plane(v) for k, v in {**sources, **ring_layers}.items()}
    r0, r1, c0, _ = window
    for a, b in row_windows(r0, r1, window_rows):
        labels, ring = _labels(comps, tree, grid, (a, b), window, ring_px)
        if labels is None:
            continue
        boxes = _boxes([labels] if ring is None else [labels, ring])
        for group in groups:  # one source at a time: one composite's boxes in memory
            reads = _read_boxes({k: planes[k] for k in group}, boxes, (a, c0))
            for box, values in zip(boxes, reads, strict=True):
                _add_box(stats, labels, ring, box, values)
    return stats


def _groups(keys: list[str], ring_layers: Mapping[str, xr.DataArray]) -> list[list[str]]:
    """The layers read together: those of the before composite (with the ring's), those
    of the after composite, the others (change maps); a chunk is shared only within its
    file, so reading them apart decodes nothing twice."""
    before = [k for k in keys if k.startswith("before_")] + list(ring_layers)
    after = [k for k in keys if k.startswith("after_")]
    others = [k for k in keys if k not in before and k not in after]
    return [g for g in (others, before, after) if g]


def _add_box(
    stats: ZonalStats,
    labels: npt.NDArray[np.int32],
    ring: npt.NDArray[np.int32] | None,
    box: _Box,
    values: Mapping[str, Any],
) -> None:
    """Add the sums and counts of one box's ``values`` (ring layers: ``ring_*``)."""
    lab = labels[box[0] : box[1], box[2] : box[3]]
    n = len(stats.ring_total)
    # the labelled pixels once, in row-major order (the order of the sums), then each
    # layer's values there only: a box is mostly unlabelled pixels
    where = np.flatnonzero(lab > 0)
    lab_in = lab.ravel()[where]
    for key in (k for k in values if k in stats.sums):
        value = values[key].ravel()[where].astype("float64")
        ok = np.isfinite(value)
        stats.sums[key] += np.bincount(lab_in[ok], weights=value[ok], minlength=n)
        stats.counts[key] += np.bincount(lab_in[ok], minlength=n)
    if ring is not None and ("ring_ndvi" in values or "ring_B03" in values):
        _ring_stats(stats, ring[box[0] : box[1], box[2] : box[3]], values)


def _labels(
    comps: list[BaseGeometry],
    tree: shapely.STRtree,
    grid: Grid,
    rows: tuple[int, int],
    window: tuple[int, int, int, int],
    halo: int,
) -> tuple[Any, Any]:
    """Patch labels (i + 1) on rows ``rows`` of the window's columns and, when ``halo`` >
    0, the ring around each patch (labelled with the nearest patch); ``(None, None)``
    when no patch meets the rows."""
    a, b = rows
    r0, r1, c0, c1 = window
    # labels on the window plus `halo` rows above and below, for the rings
    ha, hb = max(a - halo, r0), min(b + halo, r1)
    t = grid.window_transform(ha, c0)
    x_0, y_0 = t @ (0, 0)
    x_1, y_1 = t @ (c1 - c0, hb - ha)
    box = shapely.box(min(x_0, x_1), min(y_0, y_1), max(x_0, x_1), max(y_0, y_1))
    hits = tree.query(box, predicate="intersects")
    if len(hits) == 0:
        return None, None
    haloed = rasterio.features.rasterize(
        [(comps[i], int(i) + 1) for i in sorted(hits)],
        out_shape=(hb - ha, c1 - c0),
        transform=t,
        fill=0,
        dtype="int32",
    )
    labels = haloed[a - ha : a - ha + (b - a)]
    if halo == 0:
        return labels, None
    grown = _grown(haloed, halo)
    return labels, np.where(haloed == 0, grown, 0)[a - ha : a - ha + (b - a)]


def _grown(labels: npt.NDArray[np.int32], halo: int) -> npt.NDArray[np.int32]:
    """``grey_dilation`` of ``labels`` by a square of ``halo`` around each pixel, computed
    only near the labels: the patches' boxes grown by ``halo`` are joined where they meet,
    each group is dilated within its bounding box, and the result is kept on the group's
    own pixels. A pixel within ``halo`` of a label lies in that label's grown box, so
    every label it sees is in its group and inside the box: the same values as dilating
    the whole window, for the few boxes a window of rows holds."""
    near = np.zeros(labels.shape, dtype=bool)
    for found in ndimage.find_objects(labels):
        if found is not None:
            rs, cs = found
            near[
                max(rs.start - halo, 0) : rs.stop + halo, max(cs.start - halo, 0) : cs.stop + halo
            ] = True
    groups, _ = ndimage.label(near)
    grown = np.zeros_like(labels)
    size = (2 * halo + 1, 2 * halo + 1)
    for g, found in enumerate(ndimage.find_objects(groups), start=1):
        if found is None:
            continue
        mine = groups[found] == g
        grown[found][mine] = ndimage.grey_dilation(labels[found], size=size)[mine]
    return grown


def _boxes(marks: list[npt.NDArray[np.int32]]) -> list[_Box]:
    """Boxes that hold every labelled pixel of ``marks``, each label whole in one box:
    the labels' bounding boxes, merged where their columns overlap (or lie within
    :data:`_BOX_GAP_PX`), so the boxes' columns do not overlap."""
    spans: dict[int, list[int]] = {}
    for mark in marks:
        for label, found in enumerate(ndimage.find_objects(mark), start=1):
            if found is None:
                continue
            rs, cs = found
            old = spans.setdefault(label, [rs.start, rs.stop, cs.start, cs.stop])
            old[0], old[1] = min(old[0], rs.start), max(old[1], rs.stop)
            old[2], old[3] = min(old[2], cs.start), max(old[3], cs.stop)
    merged: list[list[int]] = []
    for r0, r1, c0, c1 in sorted(spans.values(), key=lambda s: s[2]):
        if merged and c0 <= merged[-1][3] + _BOX_GAP_PX:
            last = merged[-1]
            last[:] = [min(last[0], r0), max(last[1], r1), last[2], max(last[3], c1)]
        else:
            merged.append([r0, r1, c0, c1])
    return [(r0, r1, c0, c1) for r0, r1, c0, c1 in merged]


def _read_boxes(
    planes: Mapping[str, Any], boxes: list[_Box], origin: tuple[int, int]
) -> list[dict[str, npt.NDArray[Any]]]:
    """Every layer (a 2-D plane, :meth:`Grid.plane`) in every box (relative to the window
    at ``origin`` = (row, column)), as stored (float32 for the composites), read in one
    computation (a lazy source chunk is decoded once)."""
    a, c = origin
    keys = list(planes)
    subs = [planes[k][a + r0 : a + r1, c + c0 : c + c1] for r0, r1, c0, c1 in boxes for k in keys]
    done = iter(dask.compute(*subs))  # type: ignore[attr-defined,no-untyped-call]
    return [{k: np.asarray(next(done)) for k in keys} for _ in boxes]


def _ring_layers(before: xr.Dataset) -> dict[str, xr.DataArray]:
    """The before layers the ring's bare share needs: NDVI and NDWI, else the bands they
    are made of; none when the composite has neither."""
    if "ndvi" in before and "ndwi" in before:
        return {"ring_ndvi": before["ndvi"], "ring_ndwi": before["ndwi"]}
    if all(b in before for b in ("B03", "B04", "B08")):
        return {f"ring_{b}": before[b] for b in ("B03", "B04", "B08")}
    return {}


def _ring_stats(stats: ZonalStats, ring: npt.NDArray[np.int32], values: Mapping[str, Any]) -> None:
    """Count ring pixels (labelled with the nearest patch) and those bare or built before."""
    where = np.flatnonzero(ring > 0)  # the ring's pixels only
    if not len(where):
        return
    ring_in = ring.ravel()[where]

    def at_ring(key: str) -> npt.NDArray[np.float64]:
        return np.asarray(values[key].ravel()[where], dtype="float64")

    if "ring_ndvi" in values:
        ndvi, ndwi = at_ring("ring_ndvi"), at_ring("ring_ndwi")
    else:
        b03, b04, b08 = (at_ring(f"ring_{b}") for b in ("B03", "B04", "B08"))
        with np.errstate(divide="ignore", invalid="ignore"):
            ndvi, ndwi = (b08 - b04) / (b08 + b04), (b03 - b08) / (b03 + b08)
    ok = np.isfinite(ndvi) & np.isfinite(ndwi)
    bare = ok & (ndvi < BARE_BEFORE_NDVI) & (ndwi < 0.0)
    n = len(stats.ring_total)
    stats.ring_total += np.bincount(ring_in[ok], minlength=n)
    stats.ring_bare += np.bincount(ring_in[bare], minlength=n)
