"""The strata of an accuracy sample, pixel by pixel, in windows of rows.

A pixel of the change map is ``no_change``, ``buffer`` (within ``buffer_px`` of mapped
change, or flagged change that no patch kept) or a change stratum (``change``, or one per
HJ 1156 class when sampling by class), and carries the index of the zone it lies in.
:class:`StrataLayers` computes both for a window of rows from the map, the patches and
the zones; :func:`count_pixels` counts them over the whole map (pass 1 of the design).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.errors
import rasterio.features
import rasterio.windows
from affine import Affine
from scipy import ndimage

from tiandi.errors import InputError
from tiandi.redline.run_layout import RunLayout
from tiandi.redline.vocabulary import HJ1156Class
from tiandi.redline.zones.read import read_zones

NO_CHANGE = "no_change"
BUFFER = "buffer"
CHANGE = "change"
ZONE_COLUMNS = ("zone_id", "zone_name", "zone_type", "functional_zone")


@dataclass(frozen=True)
class ChangeMap:
    """The change map raster: where it is, its grid and its no-data value."""

    path: Path
    crs: Any
    transform: Affine
    height: int
    width: int
    nodata: int | None


def open_map(path: Path) -> ChangeMap:
    """The grid of the change map at ``path``; ``InputError`` unless an integer mask."""
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
            return ChangeMap(path, src.crs, src.transform, src.height, src.width, nodata)
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


def class_codes(patches: gpd.GeoDataFrame | None, by_class: bool) -> dict[str, int]:
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


def row_windows(height: int, step: int) -> Iterator[tuple[int, int]]:
    """Row ranges of at most ``step`` rows covering the map."""
    for r0 in range(0, height, step):
        yield r0, min(r0 + step, height)


def _rasterize(
    shapes: list[tuple[Any, int]], rows: tuple[int, int], grid: ChangeMap, fill: int
) -> npt.NDArray[np.int32]:
    out_shape = (rows[1] - rows[0], grid.width)
    if not shapes:
        return np.full(out_shape, fill, dtype=np.int32)
    transform = grid.transform @ Affine.translation(0, rows[0])
    burned: npt.NDArray[np.int32] = rasterio.features.rasterize(
        shapes, out_shape=out_shape, transform=transform, fill=fill, dtype="int32"
    )
    return burned


def _in_rows(frame: gpd.GeoDataFrame, grid: ChangeMap, rows: tuple[int, int]) -> gpd.GeoDataFrame:
    x0, y_top = grid.transform @ (0, rows[0])
    x1, y_bottom = grid.transform @ (grid.width, rows[1])
    lo_x, hi_x = sorted((x0, x1))
    lo_y, hi_y = sorted((y_top, y_bottom))
    return frame.iloc[frame.sindex.query(_box(lo_x, lo_y, hi_x, hi_y), predicate="intersects")]


def _box(x0: float, y0: float, x1: float, y1: float) -> Any:
    from shapely.geometry import box

    return box(x0, y0, x1, y1)


@dataclass(frozen=True)
class StrataLayers:
    """The map, the patches and the zones that define the strata of each pixel."""

    grid: ChangeMap
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


def metres_per_unit(crs: Any) -> float:
    """Metres per unit of a projected CRS (``InputError`` for a geographic one)."""
    if crs.is_geographic:
        raise InputError(
            "change map is in a geographic CRS; sampling needs a projected grid (the flow "
            "writes change maps in the UTM grid of the imagery)"
        )
    factor = crs.linear_units_factor[1] if crs.linear_units_factor else 1.0
    return float(factor)


def prepare_patches(
    patches: Path | gpd.GeoDataFrame | None, grid: ChangeMap, by_class: bool
) -> gpd.GeoDataFrame | None:
    """The patches in the map CRS (read from a GeoPackage path), or None."""
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


def prepare_zones(
    zones: Path | gpd.GeoDataFrame | None, grid: ChangeMap
) -> gpd.GeoDataFrame | None:
    """The zones in the map CRS with :data:`ZONE_COLUMNS`, sorted by zone id, or None."""
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


def count_pixels(layers: StrataLayers, n_codes: int, n_zones: int) -> npt.NDArray[np.int64]:
    """Pass 1: pixels per (zone + 1, stratum); row 0 is 'no zone'."""
    counts = np.zeros((n_zones + 1, n_codes), dtype=np.int64)
    for rows in row_windows(layers.grid.height, layers.window_rows):
        strata, zone = layers.strata(rows)
        keep = strata >= 0
        flat = (zone[keep].astype(np.int64) + 1) * n_codes + strata[keep]
        counts += np.bincount(flat, minlength=counts.size).reshape(counts.shape)
    return counts


def check_counts(path: Path, per_stratum: npt.NDArray[np.int64], codes: dict[str, int]) -> None:
    """``InputError`` when the domain holds no valid pixel or no mapped change."""
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
