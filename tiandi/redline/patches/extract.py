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
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import rasterio.features
import shapely
import shapely.affinity
import xarray as xr
from affine import Affine
from scipy import ndimage
from shapely.geometry.base import BaseGeometry

from tiandi._gpkg import finish_gpkg
from tiandi._io import atomic_path
from tiandi.errors import InputError
from tiandi.redline.patches.classify import (
    BAND_NAMES,
    BARE_BEFORE_NDVI,
    INDEX_NAMES,
    ShapeMetrics,
    classify_patch,
    spectral_indices,
)
from tiandi.redline.vocabulary import M2_PER_HA, MU_M2, STORE_CRS, ChangeType, HJ1156Class
from tiandi.redline.zones.read import content_hash

_Y_DIMS = ("y", "latitude", "lat")
_X_DIMS = ("x", "longitude", "lon")
STAT_NAMES: tuple[str, ...] = INDEX_NAMES + BAND_NAMES

PATCH_COLUMNS: tuple[str, ...] = (
    "patch_id",
    "zone_id",
    "zone_name",
    "zone_type",
    "functional_zone",
    "area_m2",
    "area_ha",
    "area_mu",
    "change_type",
    "change_type_zh",
    "hj1156_class",
    "hj1156_zh",
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


@dataclass(frozen=True)
class _Grid:
    crs: pyproj.CRS
    transform: Affine
    height: int
    width: int
    y_dim: str
    x_dim: str

    @property
    def pixel(self) -> float:
        return math.sqrt(abs(self.transform.a * self.transform.e))

    def window_transform(self, row: int, col: int) -> Affine:
        return self.transform @ Affine.translation(col, row)


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
        _check_same_grid(grid, ds, name)
    zones_g = _zones_in(zones, grid)
    if zones_g.empty:
        return _empty(grid.crs)
    window = _window_of(zones_g, grid)
    if window is None:
        return _empty(grid.crs)
    comps = _components(change["change_mask"], grid, window, params)
    if not comps:
        return _empty(grid.crs)
    areas = _areas_m2(comps, grid.crs)
    comps = [g for g, a in zip(comps, areas, strict=True) if a >= params.min_mapping_unit_m2]
    comps = _simplify(comps, params.simplify_px * grid.pixel)
    comps = [g for g in comps if _overlaps(g, zones_g)]
    if not comps:
        return _empty(grid.crs)
    stats = _zonal_stats(comps, change, before, after, grid, window, params)
    metric = _metric_geoms(comps, grid.crs)
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


# --- grid ------------------------------------------------------------------------------


def grid_of(ds: xr.Dataset | xr.DataArray, what: str) -> _Grid:
    """CRS, affine transform and size of a dataset on a regular x/y grid."""
    y_dim = next((d for d in _Y_DIMS if d in ds.dims), None)
    x_dim = next((d for d in _X_DIMS if d in ds.dims), None)
    if y_dim is None or x_dim is None:
        raise InputError(
            f"{what} dataset has dims {tuple(ds.dims)}; it needs y/x (or latitude/longitude) "
            "dimensions with coordinates"
        )
    xs = np.asarray(ds[x_dim].values, dtype="float64")
    ys = np.asarray(ds[y_dim].values, dtype="float64")
    if xs.size < 2 or ys.size < 2:
        raise InputError(f"{what} dataset is smaller than 2×2 pixels; nothing to vectorise")
    dx, dy = (xs[-1] - xs[0]) / (xs.size - 1), (ys[-1] - ys[0]) / (ys.size - 1)
    transform = Affine(dx, 0.0, xs[0] - dx / 2, 0.0, dy, ys[0] - dy / 2)
    return _Grid(_crs_of(ds, what), transform, int(ys.size), int(xs.size), y_dim, x_dim)


def _crs_of(ds: xr.Dataset | xr.DataArray, what: str) -> pyproj.CRS:
    candidates: list[Any] = []
    try:
        import rioxarray  # noqa: F401  (registers the .rio accessor)

        candidates.append(ds.rio.crs)
    except Exception:
        pass
    if "spatial_ref" in ds.coords:
        attrs = ds.coords["spatial_ref"].attrs
        candidates += [attrs.get("crs_wkt"), attrs.get("spatial_ref")]
    candidates.append(ds.attrs.get("crs"))
    with contextlib.suppress(Exception):
        candidates.append(ds.odc.geobox.crs)
    for cand in candidates:
        if cand is None:
            continue
        try:
            return pyproj.CRS.from_user_input(cand.to_wkt() if hasattr(cand, "to_wkt") else cand)
        except pyproj.exceptions.CRSError:
            continue
    raise InputError(
        f"{what} dataset has no CRS (no spatial_ref coordinate, .rio.crs or crs attribute); "
        "write it with rioxarray (ds.rio.write_crs('EPSG:32650')) or load it with odc-stac"
    )


def _check_same_grid(grid: _Grid, ds: xr.Dataset, name: str) -> None:
    shape = (ds.sizes.get(grid.y_dim), ds.sizes.get(grid.x_dim))
    if shape != (grid.height, grid.width):
        raise InputError(
            f"{name} dataset grid {shape} differs from the change grid "
            f"{(grid.height, grid.width)} (dims {grid.y_dim}/{grid.x_dim}); composite both "
            "periods and the change map on the same GridSpec"
        )


def _zones_in(zones: gpd.GeoDataFrame, grid: _Grid) -> gpd.GeoDataFrame:
    if zones.crs is None:
        raise InputError("zones have no CRS; read them with tiandi.redline.zones.read.read_zones")
    out = zones.to_crs(grid.crs)
    geoms = [shapely.make_valid(g) if not g.is_valid else g for g in out.geometry.values]
    out = out.set_geometry(gpd.GeoSeries(geoms, crs=grid.crs).values)
    return out[~out.geometry.is_empty].reset_index(drop=True)


def _window_of(zones: gpd.GeoDataFrame, grid: _Grid) -> tuple[int, int, int, int] | None:
    """Row/column range (r0, r1, c0, c1) of the grid that the zones cover."""
    x0, y0, x1, y1 = zones.total_bounds
    inv = ~grid.transform
    cols, rows = zip(*(inv @ (x, y) for x in (x0, x1) for y in (y0, y1)), strict=True)
    r0, r1 = max(math.floor(min(rows)) - 1, 0), min(math.ceil(max(rows)) + 1, grid.height)
    c0, c1 = max(math.floor(min(cols)) - 1, 0), min(math.ceil(max(cols)) + 1, grid.width)
    return (r0, r1, c0, c1) if r0 < r1 and c0 < c1 else None


def _row_windows(r0: int, r1: int, step: int) -> Iterator[tuple[int, int]]:
    for start in range(r0, r1, step):
        yield start, min(start + step, r1)


def _read(da: xr.DataArray, grid: _Grid, rows: tuple[int, int], cols: tuple[int, int]) -> Any:
    sub = da.isel({grid.y_dim: slice(*rows), grid.x_dim: slice(*cols)})
    extra = [d for d in sub.dims if d not in (grid.y_dim, grid.x_dim)]
    for d in extra:
        if sub.sizes[d] != 1:
            raise InputError(
                f"variable {da.name!r} has an extra dimension {d!r} of size {sub.sizes[d]}; "
                "pass one 2-D layer per variable"
            )
    sub = sub.isel({d: 0 for d in extra}).transpose(grid.y_dim, grid.x_dim)
    return np.asarray(sub.values)


# --- vectorising -----------------------------------------------------------------------


def _components(
    mask_da: xr.DataArray, grid: _Grid, window: tuple[int, int, int, int], params: PatchParams
) -> list[BaseGeometry]:
    r0, r1, c0, c1 = window
    done: list[BaseGeometry] = []
    border: list[BaseGeometry] = []
    tol = abs(grid.transform.e) * 1e-6
    for a, b in _row_windows(r0, r1, params.window_rows):
        mask = _read(mask_da, grid, (a, b), (c0, c1)) == 1
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
        done.extend(_polygon_parts(merged))
    return sorted(done, key=lambda g: (-g.bounds[3], g.bounds[0], g.bounds[1], g.bounds[2]))


def _polygon_parts(geom: BaseGeometry) -> list[BaseGeometry]:
    if isinstance(geom, shapely.Polygon):
        return [] if geom.is_empty else [geom]
    if isinstance(geom, shapely.MultiPolygon | shapely.GeometryCollection):
        return [p for sub in geom.geoms for p in _polygon_parts(sub)]
    return []


def _simplify(geoms: list[BaseGeometry], tolerance: float) -> list[BaseGeometry]:
    out = []
    for geom in geoms:
        simple = shapely.simplify(geom, tolerance, preserve_topology=True) if tolerance else geom
        if not simple.is_valid:
            simple = shapely.make_valid(simple)
        parts = _polygon_parts(simple)
        if not parts:
            continue
        out.append(parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts))
    return out


def _overlaps(geom: BaseGeometry, zones: gpd.GeoDataFrame) -> bool:
    return bool(len(zones.sindex.query(geom, predicate="intersects")))


# --- areas and metric shapes -----------------------------------------------------------


def _equal_area_crs(crs: pyproj.CRS, geoms: Sequence[BaseGeometry]) -> pyproj.CRS:
    x0, y0, x1, y1 = shapely.total_bounds(np.asarray(geoms, dtype=object))
    lon, lat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(
        (x0 + x1) / 2, (y0 + y1) / 2
    )
    return pyproj.CRS.from_proj4(f"+proj=laea +lat_0={lat:.4f} +lon_0={lon:.4f} +ellps=GRS80")


def _metre_factor(crs: pyproj.CRS) -> float:
    return float(crs.axis_info[0].unit_conversion_factor) if crs.axis_info else 1.0


def _metric_geoms(geoms: Sequence[BaseGeometry], crs: pyproj.CRS) -> list[BaseGeometry]:
    """Geometries in metres: the grid CRS when projected, else a local equal-area CRS."""
    if crs.is_projected:
        factor = _metre_factor(crs)
        if factor == 1.0:
            return list(geoms)
        return [shapely.affinity.scale(g, factor, factor, origin=(0, 0)) for g in geoms]
    target = _equal_area_crs(crs, geoms)
    return list(gpd.GeoSeries(list(geoms), crs=crs).to_crs(target).values)


def _areas_m2(geoms: Sequence[BaseGeometry], crs: pyproj.CRS) -> list[float]:
    return [float(g.area) for g in _metric_geoms(geoms, crs)]


# --- zonal statistics ------------------------------------------------------------------


@dataclass
class _Stats:
    sums: dict[str, np.ndarray]
    counts: dict[str, np.ndarray]
    ring_bare: np.ndarray
    ring_total: np.ndarray

    def mean(self, key: str, i: int) -> float:
        if key not in self.sums or self.counts[key][i + 1] == 0:
            return math.nan
        return float(self.sums[key][i + 1] / self.counts[key][i + 1])


def _zonal_stats(
    comps: list[BaseGeometry],
    change: xr.Dataset,
    before: xr.Dataset,
    after: xr.Dataset,
    grid: _Grid,
    window: tuple[int, int, int, int],
    params: PatchParams,
) -> _Stats:
    n = len(comps) + 1
    sources: list[tuple[str, xr.DataArray]] = []
    if "change_prob" in change:
        sources.append(("prob", change["change_prob"]))
    for prefix, ds in (("before", before), ("after", after)):
        sources += [(f"{prefix}_{v}", ds[v]) for v in STAT_NAMES if v in ds]
    stats = _Stats(
        sums={k: np.zeros(n) for k, _ in sources},
        counts={k: np.zeros(n, dtype="int64") for k, _ in sources},
        ring_bare=np.zeros(n),
        ring_total=np.zeros(n),
    )
    tree = shapely.STRtree(comps)
    halo = params.ring_px
    r0, r1, c0, c1 = window
    for a, b in _row_windows(r0, r1, params.window_rows):
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
            values = _read(da, grid, (a, b), (c0, c1)).astype("float64")
            ok = (labels > 0) & np.isfinite(values)
            stats.sums[key] += np.bincount(labels[ok], weights=values[ok], minlength=n)
            stats.counts[key] += np.bincount(labels[ok], minlength=n)
        if halo > 0:
            grown = ndimage.grey_dilation(haloed, size=(2 * halo + 1, 2 * halo + 1))
            ring = np.where(haloed == 0, grown, 0)[a - ha : a - ha + (b - a)]
            _ring_stats(stats, ring, before, grid, (a, b), (c0, c1))
    return stats


def _ring_stats(
    stats: _Stats,
    ring: Any,
    before: xr.Dataset,
    grid: _Grid,
    rows: tuple[int, int],
    cols: tuple[int, int],
) -> None:
    """Count ring pixels (labelled with the nearest patch) and those bare or built before."""
    if not ring.any():
        return
    if "ndvi" in before and "ndwi" in before:
        ndvi = _read(before["ndvi"], grid, rows, cols).astype("float64")
        ndwi = _read(before["ndwi"], grid, rows, cols).astype("float64")
    elif all(b in before for b in ("B03", "B04", "B08")):
        b03, b04, b08 = (
            _read(before[b], grid, rows, cols).astype("float64") for b in ("B03", "B04", "B08")
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


# --- rows ---------------------------------------------------------------------------


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
    stats: _Stats,
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
        piece = _as_polygonal(comp.intersection(zones.geoms[int(z)]))
        if piece is None:
            continue
        area = _areas_m2([piece], crs)[0]
        if area < params.min_part_m2:
            continue
        zone_id = str(zone["zone_id"])
        rows.append(
            {
                "patch_id": "TB-" + content_hash(zone_id, piece)[:12],
                "zone_id": zone_id,
                "zone_name": zone.get("name"),
                "zone_type": zone.get("zone_type"),
                "functional_zone": zone.get("functional_zone"),
                "area_m2": round(area, 1),
                "area_ha": round(area / M2_PER_HA, 4),
                "area_mu": round(area / MU_M2, 2),
                "change_type": ctype.value,
                "change_type_zh": ChangeType(ctype).zh,
                "hj1156_class": cls.value,
                "hj1156_zh": HJ1156Class(cls).zh,
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


def _as_polygonal(geom: BaseGeometry) -> BaseGeometry | None:
    parts = _polygon_parts(geom)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


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
