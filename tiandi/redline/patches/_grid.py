"""The regular x/y grid a change map lies on, and the windows of it that are read.

:func:`grid_of` finds a dataset's CRS and affine transform; :meth:`Grid.read` reads one
window of a variable, so nothing reads more than a window of rows at a time;
:meth:`Grid.window` is the same window, lazily, to read several in one computation.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import shapely
import xarray as xr
from affine import Affine

from tiandi.errors import InputError

_Y_DIMS = ("y", "latitude", "lat")
_X_DIMS = ("x", "longitude", "lon")


@dataclass(frozen=True)
class Grid:
    """A regular x/y grid: CRS, affine transform, size and the names of its dimensions."""

    crs: pyproj.CRS
    transform: Affine
    height: int
    width: int
    y_dim: str
    x_dim: str

    @property
    def pixel(self) -> float:
        """Pixel size (square root of the pixel area), in CRS units."""
        return math.sqrt(abs(self.transform.a * self.transform.e))

    def window_transform(self, row: int, col: int) -> Affine:
        """The transform of a window whose upper-left pixel is (``row``, ``col``)."""
        return self.transform @ Affine.translation(col, row)

    def read(self, da: xr.DataArray, rows: tuple[int, int], cols: tuple[int, int]) -> Any:
        """The 2-D values of ``da`` in rows ``rows`` and columns ``cols`` of the grid."""
        return np.asarray(self.window(da, rows, cols).values)

    def plane(self, da: xr.DataArray) -> Any:
        """``da`` as a plain 2-D (y, x) array (a Dask array if ``da`` is lazy), for reading
        many windows with plain slicing: xarray's indexing per window cost more than the
        reads of a few small boxes (bench/README.md, "The patch step's boxes")."""
        return self.window(da, (0, self.height), (0, self.width)).data

    def window(
        self, da: xr.DataArray, rows: tuple[int, int], cols: tuple[int, int]
    ) -> xr.DataArray:
        """``da`` in rows ``rows`` and columns ``cols`` as a 2-D (y, x) array, lazy if ``da``
        is (to read several windows or layers in one computation)."""
        sub = da.isel({self.y_dim: slice(*rows), self.x_dim: slice(*cols)})
        extra = [d for d in sub.dims if d not in (self.y_dim, self.x_dim)]
        for d in extra:
            if sub.sizes[d] != 1:
                raise InputError(
                    f"variable {da.name!r} has an extra dimension {d!r} of size {sub.sizes[d]}; "
                    "pass one 2-D layer per variable"
                )
        return sub.isel({d: 0 for d in extra}).transpose(self.y_dim, self.x_dim)


def grid_of(ds: xr.Dataset | xr.DataArray, what: str) -> Grid:
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
    return Grid(_crs_of(ds, what), transform, int(ys.size), int(xs.size), y_dim, x_dim)


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


def check_same_grid(grid: Grid, ds: xr.Dataset, name: str) -> None:
    """``InputError`` when ``ds`` (named ``name``) is not on ``grid``."""
    shape = (ds.sizes.get(grid.y_dim), ds.sizes.get(grid.x_dim))
    if shape != (grid.height, grid.width):
        raise InputError(
            f"{name} dataset grid {shape} differs from the change grid "
            f"{(grid.height, grid.width)} (dims {grid.y_dim}/{grid.x_dim}); composite both "
            "periods and the change map on the same GeoBox"
        )


def zones_in(zones: gpd.GeoDataFrame, grid: Grid) -> gpd.GeoDataFrame:
    """The zones in the grid CRS, repaired, without empty ones."""
    if zones.crs is None:
        raise InputError("zones have no CRS; read them with tiandi.redline.zones.read.read_zones")
    out = zones.to_crs(grid.crs)
    geoms = [shapely.make_valid(g) if not g.is_valid else g for g in out.geometry.values]
    out = out.set_geometry(gpd.GeoSeries(geoms, crs=grid.crs).values)
    return out[~out.geometry.is_empty].reset_index(drop=True)


def window_of(zones: gpd.GeoDataFrame, grid: Grid) -> tuple[int, int, int, int] | None:
    """Row/column range (r0, r1, c0, c1) of the grid that the zones cover."""
    x0, y0, x1, y1 = zones.total_bounds
    inv = ~grid.transform
    cols, rows = zip(*(inv @ (x, y) for x in (x0, x1) for y in (y0, y1)), strict=True)
    r0, r1 = max(math.floor(min(rows)) - 1, 0), min(math.ceil(max(rows)) + 1, grid.height)
    c0, c1 = max(math.floor(min(cols)) - 1, 0), min(math.ceil(max(cols)) + 1, grid.width)
    return (r0, r1, c0, c1) if r0 < r1 and c0 < c1 else None


def row_windows(r0: int, r1: int, step: int) -> Iterator[tuple[int, int]]:
    """Row ranges of at most ``step`` rows covering ``r0``..``r1``."""
    for start in range(r0, r1, step):
        yield start, min(start + step, r1)
