"""Sampling design for accuracy assessment of a change map (Olofsson et al. 2014).

Strata (one code per pixel of the change map's grid, built window by window):

- ``change`` — mapped change. Without patches: ``change_mask == 1``. With the run's
  ``patches.gpkg`` the delivered product is the patches, so mapped change is the pixels
  whose centre lies in a patch; with ``by_class`` each HJ 1156 class present is its own
  stratum (``mining``, ``industry``, ...; map class = that class).
- ``buffer`` — mapped as no change, but where omission errors hide: a ring of
  ``buffer_px`` pixels around mapped change (square neighbourhood), plus change-mask
  pixels that did not become a patch (under the minimum mapping unit, screened out).
  Its map class is ``no_change`` (Olofsson et al. 2014, section 4.2; the estimators for
  strata that differ from map classes are Stehman 2014's, see ``accuracy_report``).
- ``no_change`` — every other valid pixel.

Pixels equal to the mask's nodata (255) are never sampled. When zones are given, the
sampling domain is the union of the zones and every pixel carries the zone it lies in
(first zone by ``zone_id`` where zones overlap), so areas can be reported per zone.

Sample size: :func:`tiandi.redline.accuracy.estimates.sample_size` from the target standard error
of overall accuracy and conjectured user's accuracies per stratum; allocation:
:func:`tiandi.redline.accuracy.estimates.allocate` with a minimum per stratum (never more than a
stratum has pixels). Drawing is done in two windowed passes over the map (memory bounded
by one window of rows, whatever the map size): pass 1 counts the pixels of each stratum,
then ``n_h`` distinct ranks are drawn per stratum from ``0 .. N_h-1``; pass 2 walks the
pixels in row-major order and keeps those whose rank in their stratum was drawn. So the
sample depends on the seed only, never on the window size.

Output (:func:`write_samples`): GeoPackage with layer ``samples`` (Point, EPSG:4490:
``sample_id, stratum, map_class, reference_class`` (empty, for the crew),
``reference_notes``, zone attributes, ``row, col, lon, lat``) and an attribute table
``strata`` (pixels and area of every stratum in every zone, the design parameters), plus
a GeoJSON of the points (EPSG:4326) beside it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyogrio
import rasterio
import rasterio.errors
import rasterio.features
import rasterio.windows
from affine import Affine
from scipy import ndimage

from tiandi._io import atomic_path
from tiandi.errors import InputError
from tiandi.redline.accuracy.estimates import allocate, sample_size
from tiandi.redline.patches.extract import PATCH_CRS, write_gpkg_layers
from tiandi.redline.run_layout import RunLayout
from tiandi.redline.vocabulary import HJ1156Class
from tiandi.redline.zones.read import read_zones

NO_CHANGE = "no_change"
BUFFER = "buffer"
CHANGE = "change"
ZONE_COLUMNS = ("zone_id", "zone_name", "zone_type", "functional_zone")
SAMPLE_COLUMNS = (
    "sample_id",
    "stratum",
    "map_class",
    "reference_class",
    "reference_notes",
    *ZONE_COLUMNS,
    "row",
    "col",
    "lon",
    "lat",
)
STRATA_COLUMNS = ("stratum", "code", "map_class", *ZONE_COLUMNS, "pixels", "area_m2", "n_samples")


@dataclass(frozen=True)
class SamplingParams:
    """Parameters of the design (see the module docstring).

    ``expected_users`` are the conjectured user's accuracies for eq. 13 of Olofsson et
    al. (2014) by stratum kind (``change`` for every change stratum); ``n_total`` fixes
    the total sample size instead of deriving it from ``target_se``.
    """

    target_se: float = 0.01
    expected_users: Mapping[str, float] = field(
        default_factory=lambda: {CHANGE: 0.8, BUFFER: 0.85, NO_CHANGE: 0.95}
    )
    minimum: int = 50
    buffer_px: int = 3
    by_class: bool = False
    seed: int = 0
    window_rows: int = 1024
    n_total: int | None = None

    def __post_init__(self) -> None:
        if self.buffer_px < 0 or self.window_rows < 1 or self.minimum < 0:
            raise InputError(
                f"SamplingParams: buffer_px ({self.buffer_px}) and minimum ({self.minimum}) "
                f"must be ≥ 0, window_rows ({self.window_rows}) ≥ 1"
            )
        missing = {CHANGE, BUFFER, NO_CHANGE} - set(self.expected_users)
        if missing:
            raise InputError(
                f"SamplingParams.expected_users lacks {sorted(missing)}; give a conjectured "
                "user's accuracy for change, buffer and no_change"
            )
        if self.n_total is not None and self.n_total < 1:
            raise InputError(f"SamplingParams.n_total {self.n_total} must be ≥ 1 or None")


@dataclass(frozen=True)
class Stratum:
    """One stratum of the design over the whole sampling domain."""

    code: int
    name: str
    map_class: str
    pixels: int
    area_m2: float
    n_samples: int


@dataclass(frozen=True, eq=False)
class SampleDesign:
    """Result of :func:`design_sample`: the strata, their areas per zone, the points."""

    source: str
    crs: str
    pixel_area_m2: float
    strata: tuple[Stratum, ...]
    strata_table: pd.DataFrame  # STRATA_COLUMNS: one row per (zone, stratum) with pixels
    samples: gpd.GeoDataFrame  # SAMPLE_COLUMNS + geometry, in ``crs``
    params: SamplingParams
    n_target: int  # eq. 13 total before minima and caps


@dataclass(frozen=True)
class _Map:
    path: Path
    crs: Any
    transform: Affine
    height: int
    width: int
    nodata: int | None


# --- inputs ------------------------------------------------------------------------------


def _open_map(path: Path) -> _Map:
    try:
        with rasterio.open(path) as src:
            if src.count < 1 or not np.issubdtype(np.dtype(src.dtypes[0]), np.integer):
                raise InputError(
                    f"change map {path} has {src.count} band(s) of type {src.dtypes[0]}; it "
                    "must be an integer mask (0 no change, 1 change, 255 no data), such as "
                    f"<run>/{RunLayout.CHANGE_MASK}"
                )
            if src.crs is None:
                raise InputError(f"change map {path} has no CRS; it must be georeferenced")
            nodata = None if src.nodata is None else int(src.nodata)
            return _Map(path, src.crs, src.transform, src.height, src.width, nodata)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(
            f"change map {path} cannot be read as a raster ({exc}); pass the run's "
            f"{RunLayout.CHANGE_MASK}"
        ) from exc


def _read_patches(path: Path) -> gpd.GeoDataFrame:
    try:
        frame = gpd.read_file(path, layer="patches")
    except Exception as exc:  # pyogrio raises several error types for unreadable files
        raise InputError(
            f"patches file {path} cannot be read as a GeoPackage with a 'patches' layer ({exc}); "
            "pass the run's patches.gpkg"
        ) from exc
    return frame


def _class_codes(patches: gpd.GeoDataFrame | None, by_class: bool) -> dict[str, int]:
    """Stratum name → code: 0 no_change, 1 buffer, 2.. change strata."""
    codes = {NO_CHANGE: 0, BUFFER: 1}
    if patches is None or not by_class:
        codes[CHANGE] = 2
        return codes
    present = set(patches["hj1156_class"].astype(str))
    unknown = present - {c.value for c in HJ1156Class}
    if unknown:
        raise InputError(
            f"patches carry unknown HJ 1156 classes {sorted(unknown)}; expected values of "
            "tiandi.redline.vocabulary.HJ1156Class"
        )
    for cls in HJ1156Class:
        if cls.value in present:
            codes[cls.value] = len(codes)
    return codes


# --- windows -----------------------------------------------------------------------------


def _windows(height: int, step: int) -> Iterator[tuple[int, int]]:
    for r0 in range(0, height, step):
        yield r0, min(r0 + step, height)


def _rasterize(
    shapes: list[tuple[Any, int]], rows: tuple[int, int], grid: _Map, fill: int
) -> npt.NDArray[np.int32]:
    out_shape = (rows[1] - rows[0], grid.width)
    if not shapes:
        return np.full(out_shape, fill, dtype=np.int32)
    transform = grid.transform @ Affine.translation(0, rows[0])
    burned: npt.NDArray[np.int32] = rasterio.features.rasterize(
        shapes, out_shape=out_shape, transform=transform, fill=fill, dtype="int32"
    )
    return burned


def _in_rows(frame: gpd.GeoDataFrame, grid: _Map, rows: tuple[int, int]) -> gpd.GeoDataFrame:
    x0, y_top = grid.transform @ (0, rows[0])
    x1, y_bottom = grid.transform @ (grid.width, rows[1])
    lo_x, hi_x = sorted((x0, x1))
    lo_y, hi_y = sorted((y_top, y_bottom))
    return frame.iloc[frame.sindex.query(_box(lo_x, lo_y, hi_x, hi_y), predicate="intersects")]


def _box(x0: float, y0: float, x1: float, y1: float) -> Any:
    from shapely.geometry import box

    return box(x0, y0, x1, y1)


@dataclass(frozen=True)
class _Layers:
    grid: _Map
    codes: dict[str, int]
    patches: gpd.GeoDataFrame | None  # in the map CRS, with column "code"
    zones: gpd.GeoDataFrame | None  # in the map CRS, sorted by zone_id, index 0..k-1
    buffer_px: int
    window_rows: int

    def strata(self, rows: tuple[int, int]) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.int32]]:
        """Stratum code per pixel of ``rows`` (-1 outside the domain) and zone index (-1)."""
        r0, r1 = rows
        h0, h1 = max(0, r0 - self.buffer_px), min(self.grid.height, r1 + self.buffer_px)
        with rasterio.open(self.grid.path) as src:
            mask = src.read(1, window=rasterio.windows.Window(0, h0, self.grid.width, h1 - h0))
        valid = np.ones(mask.shape, bool) if self.grid.nodata is None else mask != self.grid.nodata
        flagged = mask == 1
        if self.patches is not None:
            part = _in_rows(self.patches, self.grid, (h0, h1))
            shapes = list(zip(part.geometry, part["code"].astype(int), strict=True))
            mapped = _rasterize(shapes, (h0, h1), self.grid, 0)
        else:
            mapped = np.where(flagged, self.codes[CHANGE], 0).astype(np.int32)
        change = (mapped > 0) & valid
        if self.buffer_px:
            size = 2 * self.buffer_px + 1
            near = ndimage.maximum_filter(change.astype(np.uint8), size=size, mode="constant") > 0
        else:
            near = change
        strata = np.full(mask.shape, -1, dtype=np.int16)
        strata[valid] = self.codes[NO_CHANGE]
        strata[valid & ((near & ~change) | (flagged & ~change))] = self.codes[BUFFER]
        strata[change] = mapped[change]
        strata = strata[r0 - h0 : r0 - h0 + (r1 - r0)]
        if self.zones is None:
            return strata, np.full(strata.shape, -1, dtype=np.int32)
        part = _in_rows(self.zones, self.grid, rows)
        # reversed so that the first zone (lowest zone_id) is burned last and wins overlaps
        shapes = [(g, int(i)) for g, i in zip(part.geometry[::-1], part.index[::-1], strict=True)]
        zone = _rasterize(shapes, rows, self.grid, -1)
        strata[zone < 0] = -1
        return strata, zone


# --- design ------------------------------------------------------------------------------


def design_sample(
    change_mask: Path,
    *,
    patches: Path | gpd.GeoDataFrame | None = None,
    zones: Path | gpd.GeoDataFrame | None = None,
    params: SamplingParams | None = None,
) -> SampleDesign:
    """Build the strata over ``change_mask``, size and allocate the sample, draw it.

    Raises ``InputError`` when the map is unreadable, holds no valid pixel in the domain
    (empty map), or maps no change at all (nothing to assess).
    """
    params = params or SamplingParams()
    grid = _open_map(Path(change_mask))
    patch_frame = _prepare_patches(patches, grid, params.by_class)
    codes = _class_codes(patch_frame, params.by_class)
    if patch_frame is not None:
        key = "hj1156_class" if params.by_class else None
        patch_frame = patch_frame.assign(
            code=[codes[str(v)] for v in patch_frame[key]]
            if key
            else np.full(len(patch_frame), codes[CHANGE])
        )
    zone_frame = _prepare_zones(zones, grid)
    layers = _Layers(grid, codes, patch_frame, zone_frame, params.buffer_px, params.window_rows)
    counts = _count(layers, len(codes), 0 if zone_frame is None else len(zone_frame))
    per_stratum = counts.sum(axis=0)
    _check_counts(grid.path, per_stratum, codes)
    pixel_area = abs(grid.transform.a * grid.transform.e - grid.transform.b * grid.transform.d)
    pixel_area *= _metres_per_unit(grid.crs) ** 2
    names = {code: name for name, code in codes.items()}
    present = [c for c in sorted(names) if per_stratum[c] > 0]
    weights = [float(per_stratum[c]) for c in present]
    users = [params.expected_users[_kind(names[c])] for c in present]
    n_target = sample_size(weights, users, params.target_se)
    n_total = params.n_total or n_target
    n_total = max(n_total, params.minimum * len(present))
    alloc = dict(zip(present, allocate(n_total, weights, minimum=params.minimum), strict=True))
    alloc = {c: min(n, int(per_stratum[c])) for c, n in alloc.items()}
    points = _draw(layers, per_stratum, alloc, params)
    strata = tuple(
        Stratum(
            c,
            names[c],
            _map_class(names[c]),
            int(per_stratum[c]),
            float(per_stratum[c] * pixel_area),
            alloc[c],
        )
        for c in present
    )
    table = _strata_table(counts, names, zone_frame, pixel_area, alloc)
    samples = _samples_frame(points, names, zone_frame, grid)
    return SampleDesign(
        str(grid.path), str(grid.crs), pixel_area, strata, table, samples, params, n_target
    )


def _kind(name: str) -> str:
    return name if name in (NO_CHANGE, BUFFER) else CHANGE


def _map_class(name: str) -> str:
    return NO_CHANGE if name in (NO_CHANGE, BUFFER) else name


def _metres_per_unit(crs: Any) -> float:
    if crs.is_geographic:
        raise InputError(
            "change map is in a geographic CRS; sampling needs a projected grid (the flow "
            "writes change maps in the UTM grid of the imagery)"
        )
    factor = crs.linear_units_factor[1] if crs.linear_units_factor else 1.0
    return float(factor)


def _prepare_patches(
    patches: Path | gpd.GeoDataFrame | None, grid: _Map, by_class: bool
) -> gpd.GeoDataFrame | None:
    if patches is None:
        return None
    frame = _read_patches(patches) if isinstance(patches, Path) else patches
    if by_class and "hj1156_class" not in frame.columns:
        raise InputError("patches have no hj1156_class column; they cannot split change by class")
    frame = frame[~frame.geometry.is_empty & frame.geometry.notna()]
    if len(frame) and frame.crs is None:
        raise InputError("patches have no CRS; write them with write_patches (EPSG:4490)")
    out = frame.to_crs(grid.crs) if len(frame) else frame.set_crs(grid.crs, allow_override=True)
    return out.reset_index(drop=True)


def _prepare_zones(zones: Path | gpd.GeoDataFrame | None, grid: _Map) -> gpd.GeoDataFrame | None:
    if zones is None:
        return None
    frame = read_zones(zones) if isinstance(zones, Path) else zones
    if frame.empty:
        raise InputError("zones hold no features; pass the zones the run was made for")
    if "zone_id" not in frame.columns:
        raise InputError("zones have no zone_id column; read them with tiandi.redline.zones.read")
    frame = frame.copy()
    if "zone_name" not in frame.columns and "name" in frame.columns:  # read_zones' column
        frame = frame.rename(columns={"name": "zone_name"})
    for column in ZONE_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    frame = frame.to_crs(grid.crs).sort_values("zone_id", kind="stable").reset_index(drop=True)
    return frame[[*ZONE_COLUMNS, "geometry"]]


def _count(layers: _Layers, n_codes: int, n_zones: int) -> npt.NDArray[np.int64]:
    """Pass 1: pixels per (zone + 1, stratum); row 0 is 'no zone'."""
    counts = np.zeros((n_zones + 1, n_codes), dtype=np.int64)
    for rows in _windows(layers.grid.height, layers.window_rows):
        strata, zone = layers.strata(rows)
        keep = strata >= 0
        flat = (zone[keep].astype(np.int64) + 1) * n_codes + strata[keep]
        counts += np.bincount(flat, minlength=counts.size).reshape(counts.shape)
    return counts


def _check_counts(path: Path, per_stratum: npt.NDArray[np.int64], codes: dict[str, int]) -> None:
    if per_stratum.sum() == 0:
        raise InputError(
            f"change map {path} has no valid pixel in the sampling domain (all no data, or "
            "no overlap with the zones); there is nothing to sample"
        )
    change = sum(int(per_stratum[c]) for n, c in codes.items() if n not in (NO_CHANGE, BUFFER))
    if change == 0:
        raise InputError(
            f"change map {path} maps no change in the sampling domain (no pixel = 1, or no "
            "patch); an accuracy assessment of change needs mapped change. Check the run"
        )


def _draw(
    layers: _Layers,
    per_stratum: npt.NDArray[np.int64],
    alloc: Mapping[int, int],
    params: SamplingParams,
) -> list[tuple[int, int, int, int, int]]:
    """Pass 2: (code, rank, row, col, zone index) of the drawn pixels."""
    ranks = {
        c: np.sort(np.random.default_rng([params.seed, c]).choice(per_stratum[c], n, replace=False))
        for c, n in alloc.items()
    }
    seen = dict.fromkeys(alloc, 0)
    out: list[tuple[int, int, int, int, int]] = []
    for rows in _windows(layers.grid.height, layers.window_rows):
        strata, zone = layers.strata(rows)
        flat_strata = strata.ravel()
        for c, wanted in ranks.items():
            idx = np.flatnonzero(flat_strata == c)
            lo, hi = np.searchsorted(wanted, [seen[c], seen[c] + idx.size])
            for rank in wanted[lo:hi]:
                pixel = int(idx[rank - seen[c]])
                r, col = divmod(pixel, layers.grid.width)
                out.append((c, int(rank), rows[0] + r, col, int(zone[r, col])))
            seen[c] += idx.size
    out.sort()
    return out


def _zone_values(zones: gpd.GeoDataFrame | None, index: int) -> list[Any]:
    if zones is None or index < 0:
        return [None] * len(ZONE_COLUMNS)
    return [_clean(zones.iloc[index][c]) for c in ZONE_COLUMNS]


def _clean(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _strata_table(
    counts: npt.NDArray[np.int64],
    names: Mapping[int, str],
    zones: gpd.GeoDataFrame | None,
    pixel_area: float,
    alloc: Mapping[int, int],
) -> pd.DataFrame:
    rows = []
    for z in range(counts.shape[0]):
        for code, name in sorted(names.items()):
            if counts[z, code] == 0:
                continue
            rows.append(
                [
                    name,
                    code,
                    _map_class(name),
                    *_zone_values(zones, z - 1),
                    int(counts[z, code]),
                    float(counts[z, code] * pixel_area),
                    int(alloc.get(code, 0)),
                ]
            )
    return pd.DataFrame(rows, columns=list(STRATA_COLUMNS))


def _samples_frame(
    points: list[tuple[int, int, int, int, int]],
    names: Mapping[int, str],
    zones: gpd.GeoDataFrame | None,
    grid: _Map,
) -> gpd.GeoDataFrame:
    records, xs, ys = [], [], []
    counter: dict[int, int] = {}
    for code, _rank, row, col, zone in points:
        counter[code] = counter.get(code, 0) + 1
        x, y = grid.transform @ (col + 0.5, row + 0.5)
        xs.append(x)
        ys.append(y)
        records.append(
            [
                f"{names[code]}-{counter[code]:04d}",
                names[code],
                _map_class(names[code]),
                "",
                "",
                *_zone_values(zones, zone),
                row,
                col,
            ]
        )
    frame = pd.DataFrame(records, columns=list(SAMPLE_COLUMNS[:-2]))
    geometry = gpd.points_from_xy(xs, ys, crs=grid.crs)
    lonlat = gpd.GeoSeries(geometry, crs=grid.crs).to_crs(PATCH_CRS)
    frame["lon"] = np.round(lonlat.x.to_numpy(), 8) if len(frame) else []
    frame["lat"] = np.round(lonlat.y.to_numpy(), 8) if len(frame) else []
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=grid.crs)


# --- output ------------------------------------------------------------------------------


def write_samples(design: SampleDesign, path: Path) -> tuple[Path, Path]:
    """Write the sample as field tasks: ``path`` (GeoPackage) and ``path.geojson``.

    GeoPackage layers: ``samples`` (Point, EPSG:4490) and the attribute table ``strata``
    (areas per zone and stratum) with the design parameters in ``design`` (one row of
    JSON). Atomic, byte-identical for the same design.
    """
    path = Path(path)
    if path.suffix.lower() != ".gpkg":
        raise InputError(f"sample file {path} must end in .gpkg (a GeoPackage for the crew)")
    samples = design.samples.to_crs(PATCH_CRS)
    meta = {
        "source": design.source,
        "crs": design.crs,
        "pixel_area_m2": design.pixel_area_m2,
        "n_target": design.n_target,
        "params": {**asdict(design.params), "expected_users": dict(design.params.expected_users)},
        "reference_classes": reference_vocabulary(design.strata_table["map_class"]),
    }
    info = pd.DataFrame({"key": ["design"], "value": [json.dumps(meta, sort_keys=True)]})
    write_gpkg_layers(
        {"samples": samples, "strata": design.strata_table, "design": info},
        path,
        {"samples": "Point", "strata": "Unknown", "design": "Unknown"},
    )
    geojson = path.with_suffix(".geojson")
    with atomic_path(geojson) as tmp:
        pyogrio.write_dataframe(
            samples.to_crs("EPSG:4326"),
            tmp,
            layer="samples",
            driver="GeoJSON",
            layer_options={"RFC7946": "YES", "WRITE_NAME": "NO"},
        )
    return path, geojson


def reference_vocabulary(map_classes: Any) -> list[str]:
    """Values the crew may enter as ``reference_class`` for a design with these map classes."""
    if CHANGE in set(map_classes):
        return [CHANGE, NO_CHANGE]
    return [*(c.value for c in HJ1156Class), NO_CHANGE]


def read_samples(path: Path) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Read a sample GeoPackage written by :func:`write_samples` (after field work).

    Returns the ``samples`` layer and the ``strata`` table. ``InputError`` if the file is
    not such a GeoPackage.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"sample file {path} does not exist; pass the .gpkg from 'accuracy sample'"
        )
    try:
        layers = {str(name) for name, _ in pyogrio.list_layers(path)}
        if not {"samples", "strata"} <= layers:
            raise InputError(
                f"sample file {path} has layers {sorted(layers)}; expected 'samples' and "
                "'strata' as written by 'tiandi accuracy sample'"
            )
        samples = gpd.read_file(path, layer="samples")
        strata = pd.DataFrame(pyogrio.read_dataframe(path, layer="strata", read_geometry=False))
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"sample file {path} cannot be read as a GeoPackage ({exc})") from exc
    return samples, strata
