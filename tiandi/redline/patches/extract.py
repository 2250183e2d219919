"""Change mask → patches (图斑) inside zones, with areas, zonal means and a class guess.

:func:`extract_patches` works in windows of rows so memory stays bounded by one window
(``window_rows`` × grid width), whatever the size of the scene, and only reads the rows
and columns that the zones cover:

1. Vectorise ``change_mask == 1`` per window with ``rasterio.features.shapes``
   (4-connectivity: pixels touching only at a corner are separate patches). Polygons
   that touch an inner window border are merged with their neighbours across it
   (``unary_union``), so a patch does not depend on the window size.
2. Drop connected patches smaller than the minimum mapping unit, ``min_mapping_unit_m2``
   (default 1000 m² = 0.1 ha = 10 Sentinel-2 pixels: the smallest planted event is 1 ha
   and isolated false alarms of a few pixels are the most common noise at 10 m; HJ 1156
   maps finer detail from < 2 m imagery in the confirmation tier, not here).
3. Simplify lightly (Douglas–Peucker, ``simplify_px`` = 0.5 pixel, topology preserved,
   repaired if needed): removes the collinear staircase vertices, keeps the shape.
4. Zonal statistics per patch in a second windowed pass: rasterise patch labels on each
   window and accumulate sums with ``np.bincount`` — means of ``change_prob`` and of every
   before/after index and band present, plus the share of a ring of ``ring_px`` pixels
   around the patch that was bare or built before (for "enlarged").
5. Classify with :func:`tiandi.redline.patches.classify.classify_patch`.
6. Clip to the zones: a patch straddling two zones becomes one row per zone (pieces under
   ``min_part_m2`` are dropped); each row carries its zone's attributes.

Areas are computed in the grid CRS when it is projected (Sentinel-2 UTM), otherwise in a
Lambert azimuthal equal-area projection centred on the grid. ``patch_id`` is ``TB-`` and
12 hex digits of a SHA-256 of the zone id and the rounded geometry, so a re-run gives the
same ids. ``confidence`` = √(mean change probability × rule confidence).

The steps live in private modules: ``_grid`` (the grid and its windows), ``_shapes``
(vectorising, simplifying, areas in metres) and ``_zonal`` (zonal statistics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyproj
import shapely
import xarray as xr
from shapely.geometry.base import BaseGeometry

from tiandi._gpkg import finish_gpkg
from tiandi._io import atomic_path
from tiandi.errors import InputError
from tiandi.redline.patches._grid import check_same_grid, grid_of, window_of, zones_in
from tiandi.redline.patches._rows import HEAD_COLUMNS, patch_head
from tiandi.redline.patches._shapes import (
    areas_m2,
    as_polygonal,
    components,
    metric_geoms,
    overlaps,
    simplify,
)
from tiandi.redline.patches._zonal import STAT_NAMES, ZonalStats, zonal_stats
from tiandi.redline.patches.classify import ShapeMetrics, classify_patch, spectral_indices
from tiandi.redline.vocabulary import STORE_CRS, ChangeType, HJ1156Class
from tiandi.redline.zones.read import content_hash

PATCH_COLUMNS: tuple[str, ...] = (
    *HEAD_COLUMNS,
    "confidence",
    "class_confidence",
    "mean_prob",
    "n_pixels",
    *(f"before_{n.lower()}" for n in STAT_NAMES),
    *(f"after_{n.lower()}" for n in STAT_NAMES),
)


@dataclass(frozen=True)
class PatchParams:
    """Parameters of :func:`extract_patches` (see the module docstring)."""

    min_mapping_unit_m2: float = 1000.0
    min_part_m2: float = 100.0
    simplify_px: float = 0.5
    window_rows: int = 1024
    ring_px: int = 2

    def __post_init__(self) -> None:
        if not (self.min_mapping_unit_m2 >= 0 and self.min_part_m2 >= 0):
            raise InputError(
                "PatchParams: min_mapping_unit_m2 and min_part_m2 must be ≥ 0 m² "
                f"(got {self.min_mapping_unit_m2}, {self.min_part_m2})"
            )
        if self.window_rows < 1 or self.ring_px < 0 or self.simplify_px < 0:
            raise InputError(
                f"PatchParams: window_rows must be ≥ 1, ring_px and simplify_px ≥ 0 "
                f"(got {self.window_rows}, {self.ring_px}, {self.simplify_px})"
            )


def extract_patches(
    change: xr.Dataset,
    before: xr.Dataset,
    after: xr.Dataset,
    zones: gpd.GeoDataFrame,
    params: PatchParams = PatchParams(),
) -> gpd.GeoDataFrame:
    """Patches of ``change_mask == 1`` inside ``zones``, one row per patch and zone.

    ``change`` holds ``change_mask`` (uint8: 0, 1, 255 no data) and ``change_prob`` on a
    grid with x/y coordinates and a CRS (rioxarray ``spatial_ref`` or ``.rio.crs``);
    ``before``/``after`` hold indices and bands on the same grid. Returns a GeoDataFrame
    in the grid CRS with :data:`PATCH_COLUMNS`. Raises :class:`InputError` when the
    change dataset lacks ``change_mask``, a CRS, or its grid differs from before/after.
    """
    grid = grid_of(change, "change")
    if "change_mask" not in change:
        raise InputError(
            "change dataset has no 'change_mask' variable; pass the detector's output "
            "(change_mask uint8 0/1/255 and change_prob)"
        )
    for name, ds in (("before", before), ("after", after)):
        check_same_grid(grid, ds, name)
    zones_g = zones_in(zones, grid)
    if zones_g.empty:
        return _empty(grid.crs)
    window = window_of(zones_g, grid)
    if window is None:
        return _empty(grid.crs)
    comps = components(change["change_mask"], grid, window, params.window_rows)
    if not comps:
        return _empty(grid.crs)
    areas = areas_m2(comps, grid.crs)
    comps = [g for g, a in zip(comps, areas, strict=True) if a >= params.min_mapping_unit_m2]
    comps = simplify(comps, params.simplify_px * grid.pixel)
    comps = [g for g in comps if overlaps(g, zones_g)]
    if not comps:
        return _empty(grid.crs)
    stats = zonal_stats(
        comps, change, before, after, grid, window, params.window_rows, params.ring_px
    )
    metric = metric_geoms(comps, grid.crs)
    zone_list = _ZoneList.of(zones_g)
    rows: list[dict[str, Any]] = []
    for i, comp in enumerate(comps):
        rows.extend(_pieces(comp, i, stats, metric[i], zone_list, grid.crs, params))
    if not rows:
        return _empty(grid.crs)
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=grid.crs)
    out = out.sort_values(["zone_id", "patch_id"], kind="stable").reset_index(drop=True)
    return out[[*PATCH_COLUMNS, "geometry"]]


def write_patches(
    patches: gpd.GeoDataFrame, path: Path, screened: gpd.GeoDataFrame | None = None
) -> Path:
    """Write ``patches`` to the GeoPackage layer ``patches`` (MultiPolygon, EPSG:4490).

    ``screened`` (pseudo-changes removed by screening, with their reasons) goes to a
    second layer ``screened``. Atomic (a failure leaves no file) and byte-identical for
    the same patches.
    """
    layers = (
        {"patches": patches} if screened is None else {"patches": patches, "screened": screened}
    )
    out = {
        name: frame.to_crs(STORE_CRS) if frame.crs is not None else frame.set_crs(STORE_CRS)
        for name, frame in layers.items()
    }
    write_gpkg_layers(out, Path(path), dict.fromkeys(out, "MultiPolygon"))
    return Path(path)


def write_gpkg_layers(
    layers: dict[str, gpd.GeoDataFrame], path: Path, geometry_types: dict[str, str]
) -> None:
    """Write layers into one GeoPackage atomically, with a spatial index, stable bytes.

    ``geometry_types`` fixes each layer's geometry type (e.g. "MultiPolygon", polygons are
    promoted), so the schema does not depend on the data, empty layers included. The file
    is finished with :func:`tiandi._gpkg.finish_gpkg` (fixed ``last_change``, fresh copy)
    so the same data gives the same bytes.
    """
    import pyogrio

    with atomic_path(path) as tmp:
        draft = tmp.with_name(f"{tmp.stem}-draft.gpkg")
        try:
            for i, (name, frame) in enumerate(layers.items()):
                pyogrio.write_dataframe(
                    frame,
                    draft,
                    layer=name,
                    driver="GPKG",
                    append=i > 0,
                    geometry_type=geometry_types[name],
                    promote_to_multi=geometry_types[name].startswith("Multi"),
                    layer_options={"SPATIAL_INDEX": "YES"},
                )
            finish_gpkg(draft, tmp)
        finally:
            draft.unlink(missing_ok=True)


@dataclass(frozen=True)
class _ZoneList:
    geoms: list[BaseGeometry]
    records: list[dict[str, Any]]
    tree: shapely.STRtree

    @classmethod
    def of(cls, zones: gpd.GeoDataFrame) -> _ZoneList:
        geoms = list(zones.geometry.values)
        records = zones.drop(columns=zones.geometry.name).to_dict("records")
        return cls(geoms, records, shapely.STRtree(geoms))


def _pieces(
    comp: BaseGeometry,
    i: int,
    stats: ZonalStats,
    metric: BaseGeometry,
    zones: _ZoneList,
    crs: pyproj.CRS,
    params: PatchParams,
) -> list[dict[str, Any]]:
    before = {v: stats.mean(f"before_{v}", i) for v in STAT_NAMES}
    after = {v: stats.mean(f"after_{v}", i) for v in STAT_NAMES}
    before, after = spectral_indices(before), spectral_indices(after)
    ring_total = stats.ring_total[i + 1]
    context = float(stats.ring_bare[i + 1] / ring_total) if ring_total > 0 else None
    shape = ShapeMetrics.from_geometry(metric, context_bare_fraction=context)
    cls, ctype, class_conf = classify_patch(before, after, shape)
    prob = stats.mean("prob", i)
    confidence = math.sqrt(prob * class_conf) if math.isfinite(prob) else class_conf / 2
    n_pixels = int(max((c[i + 1] for c in stats.counts.values()), default=0))
    rows = []
    for z in sorted(zones.tree.query(comp, predicate="intersects")):
        zone = zones.records[int(z)]
        piece = as_polygonal(comp.intersection(zones.geoms[int(z)]))
        if piece is None:
            continue
        area = areas_m2([piece], crs)[0]
        if area < params.min_part_m2:
            continue
        zone_id = str(zone["zone_id"])
        rows.append(
            {
                **patch_head(
                    "TB-" + content_hash(zone_id, piece)[:12],
                    zone_id,
                    zone,
                    zone.get("name"),
                    area,
                    ChangeType(ctype),
                    HJ1156Class(cls),
                ),
                "confidence": round(min(max(confidence, 0.0), 1.0), 3),
                "class_confidence": round(class_conf, 3),
                "mean_prob": _round(prob),
                "n_pixels": n_pixels,
                **{f"before_{k.lower()}": _round(before.get(k, math.nan)) for k in STAT_NAMES},
                **{f"after_{k.lower()}": _round(after.get(k, math.nan)) for k in STAT_NAMES},
                "geometry": piece,
            }
        )
    return rows


def _round(value: float, digits: int = 4) -> float:
    return round(float(value), digits) if math.isfinite(value) else math.nan


_TEXT_COLUMNS = frozenset(PATCH_COLUMNS[:5] + PATCH_COLUMNS[8:12])


def _empty(crs: pyproj.CRS) -> gpd.GeoDataFrame:
    """No patches, with the columns and dtypes of a non-empty result."""
    data = {
        c: pd.Series([], dtype=object if c in _TEXT_COLUMNS else "float64") for c in PATCH_COLUMNS
    }
    data["n_pixels"] = pd.Series([], dtype="int64")
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=crs), crs=crs)
