"""Cloud-free period composites of Sentinel-2 L2A items, lazily, on one grid.

How (one task per output chunk, see :mod:`tiandi.eo._fused`):

1. Every band of every date is read as uint16 with a rasterio window of its file (no
   warping when the file is on the grid, which :func:`tiandi.eo.grid.grid_for_zones`
   arranges; reprojected with nearest neighbour otherwise); bands whose native pixel is
   an integer multiple of the grid's (B11, B12 and SCL at 20 m) are read at their own
   resolution and upsampled in numpy (nearest neighbour).
2. SCL classes {0, 1, 3, 8, 9, 10} mark a slice unusable; the mask is dilated by
   ``dilate_px`` grid pixels (square element) from SCL read with a halo of that width,
   so it is seamless across chunks. A slice is also unusable where any band is 0.
3. In the same task, one numpy step harmonises the processing baseline (per item: DN +
   ``s2:boa_add_offset``, clipped at 1, then / 10000) and takes the median of the clear
   observations (sort with a sentinel, no NaN arithmetic) plus their count.

Dask only schedules the chunks (threads, processes or a distributed cluster); the graph
has one task per chunk. The result is a lazy ``xr.Dataset``; nothing is read until it is
computed (in strips, see :func:`tiandi.eo.cog.write_cog`). Only the no-data check reads
eagerly, the 20 m SCL band, and stops at the first clear pixel.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np
import pystac
import xarray as xr
from dask.base import tokenize
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

import tiandi.eo._fused as _fused
import tiandi.eo._kernels as _kernels
from tiandi.eo._harmonise import boa_offset
from tiandi.errors import InputError, NoDataError

__all__ = ["DEFAULT_BANDS", "DILATE_PX", "composite_period"]

DEFAULT_BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")
#: Square dilation (grid pixels) of the SCL cloud mask of a composite, unless asked otherwise.
DILATE_PX = 2


def _native_resolution(item: pystac.Item, band: str) -> float | None:
    asset = item.assets[band]
    for rb in asset.extra_fields.get("raster:bands", []) or []:
        if rb.get("spatial_resolution"):
            return float(rb["spatial_resolution"])
    tr = asset.extra_fields.get("proj:transform") or item.properties.get("proj:transform")
    return abs(float(tr[0])) if tr else None


def _factor(item: pystac.Item, band: str, grid: GeoBox) -> int:
    """How many grid pixels one native pixel of ``band`` spans (1 when not a clean ratio)."""
    res = _native_resolution(item, band)
    if res is None:
        return 1
    ratio = res / grid.resolution.x
    factor = round(ratio)
    if factor < 2 or abs(ratio - factor) > 1e-6:
        return 1
    return factor


def _check_items(items: Sequence[pystac.Item], bands: Sequence[str], scl_band: str) -> None:
    for item in items:
        missing = [b for b in (*bands, scl_band) if b not in item.assets]
        if missing:
            raise InputError(
                f"STAC item {item.id!r} has no asset(s) {missing} (it has "
                f"{sorted(item.assets)}); composites need L2A items with these bands and "
                f"the {scl_band} scene classification"
            )


def _period_text(items: Sequence[pystac.Item]) -> str:
    days = sorted(i.datetime.date().isoformat() for i in items if i.datetime is not None)
    ids = ", ".join(i.id for i in items[:5]) + (" ..." if len(items) > 5 else "")
    span = f"{days[0]}..{days[-1]}" if days else "unknown dates"
    return f"the period {span} ({len(items)} items: {ids})"


def composite_period(
    items: Sequence[pystac.Item],
    grid: GeoBox,
    *,
    bands: Sequence[str] = DEFAULT_BANDS,
    chunk: int = 1024,
    dilate_px: int = DILATE_PX,
    scl_band: str = "SCL",
) -> xr.Dataset:
    """Median composite of the clear observations of ``items`` on ``grid`` (lazy).

    Returns a Dataset with one float32 reflectance (0-1) variable per band, NaN where a
    pixel has no clear observation, and ``clear_count`` (uint8), chunked ``chunk`` x
    ``chunk`` (keep it a multiple of the COG tiles, 512). Items may mix processing
    baselines; each is harmonised with its ``s2:boa_add_offset``.

    Raises :class:`InputError` when an item lacks a band or the SCL asset, and
    :class:`NoDataError` when the items hold no clear observation at all on the grid;
    that check computes one reduction of the 20 m SCL band (cheap) and skips it entirely
    when every item reports 100 % cloud cover.
    """
    _check_args(items, grid, chunk, dilate_px)
    _check_items(items, bands, scl_band)
    ordered = sorted(items, key=lambda i: (i.datetime.isoformat() if i.datetime else "", i.id))
    offsets = [boa_offset(i) for i in ordered]
    _all_cloudy_check(ordered)
    spec = _fused.GridSpec(grid.transform, str(grid.crs), (int(grid.shape[0]), int(grid.shape[1])))
    files = [_band_files(ordered, b, grid) for b in bands]
    scl = _band_files(ordered, scl_band, grid)
    _no_clear_check(scl, spec, ordered)
    target = _target_chunks(len(bands) + 1, grid, chunk)
    stack = da.map_blocks(  # type: ignore[no-untyped-call]
        _fused.composite_chunk,
        files,
        scl,
        offsets,
        spec,
        dilate_px,
        chunks=target,
        dtype=np.float32,
        meta=np.empty((0, 0, 0), dtype=np.float32),
        name=f"composite-{tokenize(files, scl, offsets, spec, dilate_px, chunk)}",
    )
    coords = {str(k): v for k, v in xr_coords(grid, crs_coord_name="spatial_ref").items()}
    return _as_dataset(stack, bands, coords, _attrs(ordered, grid, dilate_px))


def _check_args(items: Sequence[pystac.Item], grid: GeoBox, chunk: int, dilate_px: int) -> None:
    if not items:
        raise NoDataError(
            f"no imagery items for the composite on grid {tuple(grid.boundingbox)} ({grid.crs}); "
            "widen the period or raise the maximum cloud cover of the search"
        )
    if chunk < 16 or chunk % 2:
        raise InputError(f"chunk={chunk} must be an even number of pixels >= 16 (e.g. 1024)")
    if dilate_px < 0:
        raise InputError(f"dilate_px={dilate_px} must be >= 0")


def _all_cloudy_check(items: Sequence[pystac.Item]) -> None:
    """Raise NoDataError if every item reports 100 % cloud cover (reads nothing)."""
    if all(float(i.properties.get("eo:cloud_cover", 0.0)) >= 100.0 for i in items):
        raise NoDataError(
            f"no clear observation in {_period_text(items)}: every item is 100 % cloudy; "
            "widen the period or raise the maximum cloud cover"
        )


def _target_chunks(layers: int, grid: GeoBox, chunk: int) -> tuple[tuple[int, ...], ...]:
    """Dask chunks ``(layer, y, x)`` of the composite stack on ``grid``."""
    rows, cols = grid.shape
    return da.core.normalize_chunks(  # type: ignore[no-any-return, no-untyped-call]
        (layers, chunk, chunk), (layers, rows, cols)
    )


def _band_files(items: Sequence[pystac.Item], band: str, grid: GeoBox) -> _fused.BandFiles:
    """The files of ``band`` of ``items`` (in order) and its pixel size in grid pixels."""
    paths = tuple(_href(item, band) for item in items)
    return _fused.BandFiles(paths, _factor(items[0], band, grid))


def _href(item: pystac.Item, band: str) -> str:
    """What rasterio opens for the asset: a local path for ``file://`` and plain paths
    (relative ones resolved against the item's self link), else the URL as is."""
    href = item.assets[band].get_absolute_href() or item.assets[band].href
    if href.startswith("file://"):
        return urllib.parse.unquote(urllib.parse.urlparse(href).path)
    return href


def _attrs(items: Sequence[pystac.Item], grid: GeoBox, dilate_px: int) -> dict[str, Any]:
    days = [i.datetime.isoformat() for i in items if i.datetime is not None]
    return {
        "items": [i.id for i in items],
        "start": min(days) if days else "",
        "end": max(days) if days else "",
        "crs": str(grid.crs),
        "dilate_px": dilate_px,
        "masked_scl_classes": list(_kernels.MASKED_SCL),
    }


def _as_dataset(
    stack: da.Array, bands: Sequence[str], coords: dict[str, Any], attrs: dict[str, Any]
) -> xr.Dataset:
    """The Dataset of one reflectance variable per band and ``clear_count``."""
    data_vars: dict[str, Any] = {
        b: (("y", "x"), stack[i], {"long_name": f"{b} BOA reflectance", "units": "1"})
        for i, b in enumerate(bands)
    }
    data_vars["clear_count"] = (
        ("y", "x"),
        stack[len(bands)].astype(np.uint8),
        {"long_name": "clear observations in the period"},
    )
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def _no_clear_check(
    scl: _fused.BandFiles, grid: _fused.GridSpec, items: Sequence[pystac.Item]
) -> None:
    """Raise NoDataError if no SCL pixel of any item is clear (stops at the first clear one)."""
    if not _fused.any_clear(scl, grid):
        raise NoDataError(
            f"no clear observation in {_period_text(items)}: every pixel is cloud, shadow, "
            "cirrus or no data in every item; widen the period or raise the maximum cloud "
            "cover"
        )
