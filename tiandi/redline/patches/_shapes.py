"""Patch shapes: vectorising the change mask in windows, simplifying, areas in metres."""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pyproj
import rasterio.features
import shapely
import shapely.affinity
import xarray as xr
from shapely.geometry.base import BaseGeometry

from tiandi.redline.patches._grid import Grid, row_windows


def components(
    mask_da: xr.DataArray, grid: Grid, window: tuple[int, int, int, int], window_rows: int
) -> list[BaseGeometry]:
    r0, r1, c0, c1 = window
    done: list[BaseGeometry] = []
    border: list[BaseGeometry] = []
    tol = abs(grid.transform.e) * 1e-6
    for a, b in row_windows(r0, r1, window_rows):
        mask = grid.read(mask_da, (a, b), (c0, c1)) == 1
        if not mask.any():
            continue
        edges = [grid.transform.f + r * grid.transform.e for r in (a, b) if r not in (r0, r1)]
        shapes = rasterio.features.shapes(
            mask.astype("uint8"),
            mask=mask,
            connectivity=4,
            transform=grid.window_transform(a, c0),
        )
        for geojson, _ in shapes:
            poly = shapely.geometry.shape(geojson)
            _, ymin, _, ymax = poly.bounds
            touches = any(abs(ymin - e) < tol or abs(ymax - e) < tol for e in edges)
            (border if touches else done).append(poly)
    if border:
        merged = shapely.unary_union(border)
        done.extend(polygon_parts(merged))
    return sorted(done, key=lambda g: (-g.bounds[3], g.bounds[0], g.bounds[1], g.bounds[2]))


def polygon_parts(geom: BaseGeometry) -> list[BaseGeometry]:
    if isinstance(geom, shapely.Polygon):
        return [] if geom.is_empty else [geom]
    if isinstance(geom, shapely.MultiPolygon | shapely.GeometryCollection):
        return [p for sub in geom.geoms for p in polygon_parts(sub)]
    return []


def simplify(geoms: list[BaseGeometry], tolerance: float) -> list[BaseGeometry]:
    out = []
    for geom in geoms:
        simple = shapely.simplify(geom, tolerance, preserve_topology=True) if tolerance else geom
        if not simple.is_valid:
            simple = shapely.make_valid(simple)
        parts = polygon_parts(simple)
        if not parts:
            continue
        out.append(parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts))
    return out


def overlaps(geom: BaseGeometry, zones: gpd.GeoDataFrame) -> bool:
    return bool(len(zones.sindex.query(geom, predicate="intersects")))


def equal_area_crs(crs: pyproj.CRS, geoms: Sequence[BaseGeometry]) -> pyproj.CRS:
    x0, y0, x1, y1 = shapely.total_bounds(np.asarray(geoms, dtype=object))
    lon, lat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(
        (x0 + x1) / 2, (y0 + y1) / 2
    )
    return pyproj.CRS.from_proj4(f"+proj=laea +lat_0={lat:.4f} +lon_0={lon:.4f} +ellps=GRS80")


def _metre_factor(crs: pyproj.CRS) -> float:
    return float(crs.axis_info[0].unit_conversion_factor) if crs.axis_info else 1.0


def metric_geoms(geoms: Sequence[BaseGeometry], crs: pyproj.CRS) -> list[BaseGeometry]:
    """Geometries in metres: the grid CRS when projected, else a local equal-area CRS."""
    if crs.is_projected:
        factor = _metre_factor(crs)
        if factor == 1.0:
            return list(geoms)
        return [shapely.affinity.scale(g, factor, factor, origin=(0, 0)) for g in geoms]
    target = equal_area_crs(crs, geoms)
    return list(gpd.GeoSeries(list(geoms), crs=crs).to_crs(target).values)


def areas_m2(geoms: Sequence[BaseGeometry], crs: pyproj.CRS) -> list[float]:
    return [float(g.area) for g in metric_geoms(geoms, crs)]


def as_polygonal(geom: BaseGeometry) -> BaseGeometry | None:
    parts = polygon_parts(geom)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)
