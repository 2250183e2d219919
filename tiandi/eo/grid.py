"""The pixel grid every layer of a run is computed on: an :class:`odc.geo.geobox.GeoBox`.

:func:`grid_for_zones` derives it from the zones to monitor and the imagery found for them:
the imagery's own CRS (no reprojection of Sentinel-2 tiles), the zones' extent buffered a
little, snapped outward to the imagery's coarsest band grid (20 m for Sentinel-2, so that
20 m bands and SCL are read pixel for pixel) and clipped to the imagery's footprint.
:func:`geobox_for_bounds` builds a north-up GeoBox from a CRS, a pixel size and bounds.
A band read on a grid ``factor`` times coarser uses ``geobox.zoom_out(factor)`` (same
upper-left corner, covers the whole grid).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pystac
import rasterio.windows
from affine import Affine
from odc.geo.geobox import GeoBox
from pyproj import CRS, Transformer
from shapely.geometry import box, shape
from shapely.ops import transform as shp_transform
from shapely.ops import unary_union

from tiandi.errors import InputError, NoDataError

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = ["geobox_for_bounds", "grid_for_zones", "item_crs", "item_footprint"]

DEFAULT_BUFFER_PX = 10

Bounds = tuple[float, float, float, float]


def geobox_for_bounds(crs: str, resolution: float, bounds: Bounds) -> GeoBox:
    """The north-up GeoBox of square ``resolution`` pixels from the corner ``(x0, y1)`` of
    ``bounds = (x0, y0, x1, y1)`` (map units of ``crs``).

    What it adds over ``GeoBox.from_bbox(bounds, crs, resolution=..., tight=True)``:
    :class:`InputError` for a non-positive resolution or empty bounds (``from_bbox``
    accepts both), and a partial pixel at the right/bottom edge counts as one whenever it
    exceeds 1e-6 of a pixel (``from_bbox`` drops up to 1 % of a pixel), so the shape is
    ``ceil(round(span / resolution, 6))`` per axis, at least 1.
    """
    x0, y0, x1, y1 = bounds
    if not resolution > 0:
        raise InputError(f"grid resolution {resolution!r} must be positive")
    if not (x1 > x0 and y1 > y0):
        raise InputError(
            f"grid bounds {bounds!r} are empty: need x0 < x1 and y0 < y1 (order is x0, y0, x1, y1)"
        )
    rows = max(1, math.ceil(round((y1 - y0) / resolution, 6)))
    cols = max(1, math.ceil(round((x1 - x0) / resolution, 6)))
    return GeoBox((rows, cols), Affine(resolution, 0.0, x0, 0.0, -resolution, y1), crs)


def item_crs(item: pystac.Item) -> str | None:
    """The item's CRS as ``"EPSG:n"`` (or WKT) from ``proj:code``/``proj:epsg``, if any."""
    props = item.properties
    code = props.get("proj:code")
    if code:
        return str(code)
    epsg = props.get("proj:epsg")
    if epsg:
        return f"EPSG:{int(epsg)}"
    for asset in item.assets.values():
        extra = asset.extra_fields
        if extra.get("proj:code"):
            return str(extra["proj:code"])
        if extra.get("proj:epsg"):
            return f"EPSG:{int(extra['proj:epsg'])}"
    wkt = props.get("proj:wkt2")
    return str(wkt) if wkt else None


def _asset_grids(item: pystac.Item) -> list[tuple[Affine, tuple[int, int]]]:
    """``(transform, shape)`` of every asset (or the item) that declares proj data."""
    grids: list[tuple[Affine, tuple[int, int]]] = []
    sources: list[dict[str, Any]] = [item.properties] + [
        a.extra_fields for a in item.assets.values()
    ]
    for src in sources:
        tr, shp = src.get("proj:transform"), src.get("proj:shape")
        if tr and shp and len(tr) >= 6:
            grids.append((Affine(*tr[:6]), (int(shp[0]), int(shp[1]))))
    return grids


def item_footprint(item: pystac.Item, crs: str) -> Any:
    """The item's footprint as a shapely polygon in ``crs``.

    Uses the native grid (``proj:transform``/``proj:shape``) when the item is in ``crs``,
    otherwise its geometry (EPSG:4326) reprojected.
    """
    native = item_crs(item)
    grids = _asset_grids(item)
    if native is not None and grids and CRS.from_user_input(native) == CRS.from_user_input(crs):
        polys = []
        for tr, (rows, cols) in grids:
            xa, ya = tr * (0, 0)
            xb, yb = tr * (cols, rows)
            polys.append(box(min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb)))
        return unary_union(polys)
    if item.geometry is None:
        raise InputError(
            f"STAC item {item.id!r} has neither proj:transform/proj:shape in {crs} nor a "
            "geometry; re-ingest it with tiandi.catalog.items.item_from_rasters"
        )
    to_crs = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform
    return shp_transform(to_crs, shape(item.geometry))


def _snap_unit(
    items: Sequence[pystac.Item], crs: str, resolution: float
) -> tuple[float, float, float]:
    """Snapping step and anchor ``(step, x_anchor, y_anchor)`` from the items' band grids."""
    step = resolution
    anchor_x = anchor_y = 0.0
    for item in items:
        if item_crs(item) != crs:
            continue
        for tr, _ in _asset_grids(item):
            res = abs(tr.a)
            ratio = res / resolution
            if abs(ratio - round(ratio)) < 1e-6 and 1 <= round(ratio) <= 6:
                step = max(step, res)
                anchor_x, anchor_y = tr.c, tr.f
        break
    return step, anchor_x, anchor_y


def _check_grid_inputs(zones: gpd.GeoDataFrame, items: Sequence[pystac.Item]) -> None:
    if not items:
        raise NoDataError(
            "no imagery items were given to build a grid on; search a wider period or area"
        )
    if zones.crs is None:
        raise InputError("the zones have no CRS; set one (e.g. EPSG:4490) before building a grid")
    if len(zones) == 0 or zones.geometry.is_empty.all():
        raise InputError("the zones layer is empty; give at least one zone polygon")


def _imagery_crs(items: Sequence[pystac.Item]) -> str:
    """The most common CRS of ``items``."""
    crss = [c for c in (item_crs(i) for i in items) if c is not None]
    if not crss:
        raise InputError(
            f"none of the {len(items)} items declares a CRS (proj:code or proj:epsg); "
            "re-ingest them with tiandi.catalog.items.item_from_rasters"
        )
    return Counter(crss).most_common(1)[0][0]


def _zones_on_imagery(
    zones: gpd.GeoDataFrame, items: Sequence[pystac.Item], crs: str
) -> tuple[Any, Any]:
    """``(zone union, imagery footprint)`` in ``crs``; InputError when they do not overlap."""
    zones_native = zones.to_crs(crs)
    footprint = unary_union([item_footprint(i, crs) for i in items])
    zone_union = unary_union(list(zones_native.geometry))
    if not zone_union.intersects(footprint) or zone_union.intersection(footprint).area <= 0:
        zb = tuple(round(v, 1) for v in zones_native.total_bounds)
        fb = tuple(round(v, 1) for v in footprint.bounds)
        raise InputError(
            f"the zones (bounds {zb} in {crs}) lie outside the imagery footprint "
            f"(bounds {fb} in {crs}, {len(items)} items); search imagery for the zones' area "
            "or check the zones' CRS"
        )
    return zone_union, footprint


def _snapped_bounds(
    zone: Bounds, footprint: Bounds, buf: float, snap: tuple[float, float, float]
) -> Bounds:
    """``zone`` buffered by ``buf``, snapped outward to ``snap = (step, x_anchor, y_anchor)``
    and clipped to ``footprint`` (snapped inward); unsnapped when that leaves nothing."""
    step, ax, ay = snap
    zx0, zy0, zx1, zy1 = zone
    fx0, fy0, fx1, fy1 = footprint

    def down(v: float, a: float) -> float:
        return a + math.floor(round((v - a) / step, 6)) * step

    def up(v: float, a: float) -> float:
        return a + math.ceil(round((v - a) / step, 6)) * step

    x0 = max(down(zx0 - buf, ax), up(fx0, ax))
    y0 = max(down(zy0 - buf, ay), up(fy0, ay))
    x1 = min(up(zx1 + buf, ax), down(fx1, ax))
    y1 = min(up(zy1 + buf, ay), down(fy1, ay))
    if not (x1 > x0 and y1 > y0):
        # Footprint narrower than one snapping step: fall back to the resolution.
        return (max(zx0 - buf, fx0), max(zy0 - buf, fy0), min(zx1 + buf, fx1), min(zy1 + buf, fy1))
    return (x0, y0, x1, y1)


def grid_for_zones(
    zones: gpd.GeoDataFrame,
    items: Sequence[pystac.Item],
    resolution: float = 10.0,
    *,
    buffer_px: int = DEFAULT_BUFFER_PX,
) -> GeoBox:
    """The grid covering ``zones`` (buffered by ``buffer_px`` pixels) on the imagery.

    What it adds over GeoBox's own constructors (``from_bbox``, ``from_geopolygon``):
    the choice of grid from the zones *and* the imagery. CRS: the most common CRS of
    ``items``. Bounds: the zones' total bounds in that CRS, buffered, snapped outward to the
    items' coarsest band grid (a multiple of ``resolution`` aligned with the items' pixels,
    not with the CRS origin) and clipped to the union of the items' footprints. Raises
    :class:`NoDataError` when there are no items and :class:`InputError` when the zones
    have no CRS, are empty, or overlap no item.
    """
    _check_grid_inputs(zones, items)
    crs = _imagery_crs(items)
    zone_union, footprint = _zones_on_imagery(zones, items, crs)
    buf = buffer_px * resolution
    bounds = _snapped_bounds(
        zone_union.intersection(footprint.buffer(buf)).bounds,
        footprint.bounds,
        buf,
        _snap_unit(items, crs, resolution),
    )
    return geobox_for_bounds(crs, float(resolution), bounds)


def outward_window(win: rasterio.windows.Window) -> rasterio.windows.Window:
    """The smallest whole-pixel window containing ``win``."""
    c0, r0 = math.floor(win.col_off), math.floor(win.row_off)
    c1 = math.ceil(win.col_off + win.width - 1e-9)
    r1 = math.ceil(win.row_off + win.height - 1e-9)
    return rasterio.windows.Window(c0, r0, c1 - c0, r1 - r0)
