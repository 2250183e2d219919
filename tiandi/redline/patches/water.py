"""Water extent per zone and coastlines of coastal zones, from a water detector's masks.

From ``water_before`` / ``water_after`` (0 land, 1 water, 255 no data; see
:mod:`tiandi.models.water`):

- :func:`water_by_zone`: per zone, the water area before and after, the share of the
  zone's part on the grid with data in both periods (``valid_share``), and a
  ``status``: ``ok``; ``no water`` (no water in either period: the zone's water change
  is not zero but undefined, so a caller asking for water change gets this instead of a
  silent 0 ha); ``no data`` (no pixel with data in both periods, e.g. clouded out).
- :func:`coastlines`: for coastal zones
  (:func:`tiandi.redline.patches.disturbance.coastal_zone_ids`), the land/water
  boundary of each period as lines: the boundary of the water bodies of at least
  ``sea_min_m2`` (the sea, not ponds) inside the zone, less the edges of the zone and
  of the grid. Per zone (``coastline_change``): the length of each line, the
  mean distance from the after line to the before line (``mean_shift_m``) and the net
  seaward advance ``(land gained - land lost) / mean length`` in metres (positive:
  the land grew into the sea, as with reclamation).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import shapely
import xarray as xr
from shapely.geometry.base import BaseGeometry

from tiandi.errors import InputError
from tiandi.redline.patches._grid import Grid, grid_of, zones_in
from tiandi.redline.patches._shapes import areas_m2, metric_geoms
from tiandi.redline.patches.disturbance import coastal_zone_ids
from tiandi.redline.vocabulary import M2_PER_HA, STORE_CRS

__all__ = ["NO_DATA_STATUS", "NO_WATER", "coastlines", "water_by_zone", "write_water_report"]

NO_WATER = "no water"
NO_DATA_STATUS = "no data"


def _need(change: xr.Dataset) -> None:
    missing = [n for n in ("water_before", "water_after") if n not in change]
    if missing:
        raise InputError(
            f"the change dataset lacks {', '.join(missing)}; pass the output of the water "
            "detector (load_detector('water'))"
        )


def _zone_pixels(zone: BaseGeometry, grid: Grid) -> tuple[tuple[int, int, int, int], Any] | None:
    inv = ~grid.transform
    x0, y0, x1, y1 = zone.bounds
    cs, rs = zip(*(inv @ (x, y) for x in (x0, x1) for y in (y0, y1)), strict=True)
    r0, r1 = max(math.floor(min(rs)), 0), min(math.ceil(max(rs)), grid.height)
    c0, c1 = max(math.floor(min(cs)), 0), min(math.ceil(max(cs)), grid.width)
    if r0 >= r1 or c0 >= c1:
        return None
    inside = rasterio.features.geometry_mask(
        [zone], (r1 - r0, c1 - c0), grid.window_transform(r0, c0), invert=True
    )
    return (r0, r1, c0, c1), inside


def water_by_zone(change: xr.Dataset, zones: gpd.GeoDataFrame) -> pd.DataFrame:
    """Water area per zone before and after, with a ``status`` (module docstring)."""
    _need(change)
    grid = grid_of(change, "change")
    local = zones_in(zones, grid)
    px_m2 = _pixel_m2(grid)
    rows = []
    for zone_id, zone in zip(local["zone_id"], local.geometry.values, strict=True):
        row: dict[str, Any] = {"zone_id": str(zone_id), "water_before_ha": math.nan,
                               "water_after_ha": math.nan, "valid_share": 0.0}  # fmt: skip
        found = _zone_pixels(zone, grid)
        if found is None:
            rows.append({**row, "status": NO_DATA_STATUS})
            continue
        (r0, r1, c0, c1), inside = found
        before = grid.read(change["water_before"], (r0, r1), (c0, c1))[inside]
        after = grid.read(change["water_after"], (r0, r1), (c0, c1))[inside]
        valid = (before <= 1) & (after <= 1)
        row["valid_share"] = round(float(valid.mean()) if valid.size else 0.0, 4)
        if not valid.any():
            rows.append({**row, "status": NO_DATA_STATUS})
            continue
        row["water_before_ha"] = round(float((before[valid] == 1).sum()) * px_m2 / M2_PER_HA, 4)
        row["water_after_ha"] = round(float((after[valid] == 1).sum()) * px_m2 / M2_PER_HA, 4)
        none = row["water_before_ha"] == 0 and row["water_after_ha"] == 0
        rows.append({**row, "status": NO_WATER if none else "ok"})
    return pd.DataFrame(rows, columns=[
        "zone_id", "water_before_ha", "water_after_ha", "valid_share", "status"])  # fmt: skip


def _pixel_m2(grid: Grid) -> float:
    t = grid.transform
    cell = shapely.box(t.c, t.f + t.e, t.c + t.a, t.f)
    return float(areas_m2([cell], grid.crs)[0])


def _sea(
    layer: xr.DataArray, zone: BaseGeometry, grid: Grid, sea_min_m2: float
) -> BaseGeometry | None:
    """The water bodies of at least ``sea_min_m2`` inside ``zone`` (grid CRS)."""
    found = _zone_pixels(zone, grid)
    if found is None:
        return None
    (r0, r1, c0, c1), inside = found
    water = (grid.read(layer, (r0, r1), (c0, c1)) == 1) & inside
    if not water.any():
        return None
    shapes = rasterio.features.shapes(
        water.astype("uint8"), mask=water, transform=grid.window_transform(r0, c0)
    )
    polys = [shapely.geometry.shape(g) for g, _ in shapes]
    areas = areas_m2(polys, grid.crs)
    big = [p for p, a in zip(polys, areas, strict=True) if a >= sea_min_m2]
    return shapely.unary_union(big) if big else None


def coastlines(
    change: xr.Dataset,
    zones: gpd.GeoDataFrame,
    coastal_zones: Collection[str] = (),
    sea_min_m2: float = 1_000_000.0,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """(lines, change per zone) of the coastal zones (module docstring); lines in the
    grid CRS with ``zone_id``, ``period``, ``length_m``."""
    _need(change)
    grid = grid_of(change, "change")
    local = zones_in(zones, grid)
    coastal = coastal_zone_ids(zones, coastal_zones)
    frame = _grid_box(grid)
    lines: list[dict[str, Any]] = []
    shifts: list[dict[str, Any]] = []
    for zone_id, zone in zip(local["zone_id"], local.geometry.values, strict=True):
        if str(zone_id) not in coastal:
            continue
        inner = zone.intersection(frame).buffer(-1.5 * grid.pixel)
        seas = {p: _sea(change[f"water_{p}"], zone, grid, sea_min_m2) for p in ("before", "after")}
        period_lines = {}
        for period, sea in seas.items():
            line = (
                sea.boundary.intersection(inner) if sea is not None else shapely.MultiLineString()
            )
            line = shapely.line_merge(line) if not line.is_empty else line
            period_lines[period] = line
            length = _length_m(line, grid)
            lines.append({"zone_id": str(zone_id), "period": period, "length_m": round(length, 1),
                          "geometry": line})  # fmt: skip
        shifts.append(_shift(str(zone_id), seas, period_lines, grid))
    out = gpd.GeoDataFrame(
        pd.DataFrame(lines, columns=["zone_id", "period", "length_m", "geometry"]),
        geometry="geometry",
        crs=grid.crs,
    )
    columns = ["zone_id", "length_before_m", "length_after_m", "mean_shift_m", "net_seaward_m"]
    return out, pd.DataFrame(shifts, columns=columns)


def _grid_box(grid: Grid) -> BaseGeometry:
    t = grid.transform
    xs = (t.c, t.c + t.a * grid.width)
    ys = (t.f, t.f + t.e * grid.height)
    return shapely.box(min(xs), min(ys), max(xs), max(ys))


def _area(geom: BaseGeometry, grid: Grid) -> float:
    return 0.0 if geom.is_empty else float(areas_m2([geom], grid.crs)[0])


def _length_m(line: BaseGeometry, grid: Grid) -> float:
    if line.is_empty:
        return 0.0
    return float(metric_geoms([line], grid.crs)[0].length)


def _shift(
    zone_id: str,
    seas: dict[str, BaseGeometry | None],
    lines: dict[str, BaseGeometry],
    grid: Grid,
) -> dict[str, Any]:
    before_len, after_len = _length_m(lines["before"], grid), _length_m(lines["after"], grid)
    row: dict[str, Any] = {"zone_id": zone_id, "length_before_m": round(before_len, 1),
                           "length_after_m": round(after_len, 1), "mean_shift_m": math.nan,
                           "net_seaward_m": math.nan}  # fmt: skip
    if lines["before"].is_empty or lines["after"].is_empty:
        return row
    before_m, after_m = metric_geoms([lines["before"], lines["after"]], grid.crs)
    n = max(int(after_m.length // (grid.pixel if grid.crs.is_projected else 10.0)), 2)
    points = shapely.line_interpolate_point(after_m, np.linspace(0, after_m.length, n))
    row["mean_shift_m"] = round(float(np.mean(shapely.distance(points, before_m))), 1)
    sea_b, sea_a = seas["before"], seas["after"]
    if sea_b is not None and sea_a is not None:
        gained, lost = (_area(a.difference(b), grid) for a, b in ((sea_b, sea_a), (sea_a, sea_b)))
        row["net_seaward_m"] = round((gained - lost) / ((before_len + after_len) / 2), 1)
    return row


def write_water_report(
    change: xr.Dataset,
    zones: gpd.GeoDataFrame,
    path: Path,
    coastal_zones: Collection[str] = (),
) -> pd.DataFrame:
    """Write ``path`` (GeoPackage, EPSG:4490): layer ``zones`` (:func:`water_by_zone` with
    the zone polygons), ``coastline`` and ``coastline_change`` (:func:`coastlines`, the
    latter with the zone polygons); returns the per-zone water table. Atomic."""
    from tiandi.redline.patches.extract import write_gpkg_layers

    table = water_by_zone(change, zones)
    lines, shifts = coastlines(change, zones, coastal_zones)
    shapes = zones.set_index(zones["zone_id"].astype(str)).geometry
    layers = {
        "zones": gpd.GeoDataFrame(
            table, geometry=shapes.loc[table["zone_id"]].values, crs=zones.crs
        ),
        "coastline": lines,
        "coastline_change": gpd.GeoDataFrame(
            shifts, geometry=shapes.loc[shifts["zone_id"]].values, crs=zones.crs
        ),
    }
    out = {name: frame.to_crs(STORE_CRS) for name, frame in layers.items()}
    kinds = {"zones": "MultiPolygon", "coastline": "MultiLineString",
             "coastline_change": "MultiPolygon"}  # fmt: skip
    write_gpkg_layers(out, path, kinds)
    return table
