"""Read fire pairs (``<root>/<fire>/{pre,post,mask}.tif``) onto one grid, by georeference.

Each fire folder holds a pre-fire and a post-fire multi-band chip (Sentinel-2 L2A
reflectance x 10,000, NaN where there is no data) and the fire perimeter rasterised as
``mask.tif`` (uint8, 1 inside, 0 outside). The scoring grid is the mask's: the pre and post
chips are reprojected onto it with rasterio (``nearest`` when their pixel size and CRS
equal the mask's, which copies pixels exactly whatever their offset; ``bilinear``
otherwise), so a chip that is shifted, wider, narrower or in another CRS lands where its
coordinates say, never by array index. Mask pixels a chip does not cover come back NaN
(no data, not scored); a chip that does not overlap the mask at all is an ``InputError``.

Bands are named from the file's band descriptions (``B2``/``B02`` -> ``B02``); a file
without descriptions takes :data:`PAIR_BANDS` in order. The chips of
``s2-burned-areas-california`` are described ``B2 B3 B4 B8 B12`` (blue, green, red, NIR,
SWIR2) and their values agree: blue < green < red over dry land.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.errors
import xarray as xr
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds

from tiandi.errors import InputError

__all__ = ["DN_SCALE", "PAIR_BANDS", "FirePair", "list_fires", "read_fire"]

PAIR_BANDS: tuple[str, ...] = ("B02", "B03", "B04", "B08", "B12")
"""Band order of a chip whose file carries no band descriptions."""
DN_SCALE = 10000.0
"""Chip values are surface reflectance x 10,000."""
FILES = ("pre.tif", "post.tif", "mask.tif")
_DESC_RE = re.compile(r"^B0?(\d{1,2}|8A)$", re.IGNORECASE)


@dataclass(frozen=True)
class _Grid:
    crs: CRS
    transform: Affine
    shape: tuple[int, int]

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        rows, cols = self.shape
        x0, y0 = self.transform * (0, 0)
        x1, y1 = self.transform * (cols, rows)
        return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


@dataclass(frozen=True)
class FirePair:
    """One fire on its mask's grid: ``before``/``after`` reflectance (0-1, NaN no data) with
    one variable per band on dims ``(y, x)``, and ``label`` uint8 0/1 (255 no data)."""

    name: str
    before: xr.Dataset
    after: xr.Dataset
    label: npt.NDArray[np.uint8]
    notes: tuple[str, ...] = field(default=())


def list_fires(root: Path) -> list[str]:
    """Fire folders of ``root`` that hold ``post.tif`` and ``mask.tif``, sorted.

    ``root`` may be the folder of fires or a folder holding ``pairs/``.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(
            f"{root}: no such folder; pass a folder of fires laid out <fire>/pre.tif, "
            "post.tif, mask.tif (or the folder that holds pairs/)"
        )
    fires = sorted(p.name for p in root.iterdir() if (p / "mask.tif").is_file())
    if not fires and (root / "pairs").is_dir():
        return list_fires(root / "pairs")
    if not fires:
        raise InputError(
            f"{root}: no fire folder with a mask.tif; expected <fire>/pre.tif, post.tif and "
            "mask.tif under it"
        )
    return fires


def fire_dir(root: Path, fire: str) -> Path:
    """The folder of ``fire`` under ``root`` (or ``root/pairs``)."""
    root = Path(root)
    if not (root / fire).is_dir() and (root / "pairs" / fire).is_dir():
        return root / "pairs" / fire
    return root / fire


def _band_names(src: rasterio.io.DatasetReader, path: Path) -> list[str]:
    names: list[str] = []
    for i, desc in enumerate(src.descriptions):
        match = _DESC_RE.match(desc or "")
        if match:
            number = match.group(1).upper()
            names.append("B8A" if number == "8A" else f"B{int(number):02d}")
        elif src.count == len(PAIR_BANDS):
            names.append(PAIR_BANDS[i])
        else:
            raise InputError(
                f"{path}: band {i + 1} has no Sentinel-2 band description and the file has "
                f"{src.count} bands, not {len(PAIR_BANDS)} ({' '.join(PAIR_BANDS)}); "
                "describe its bands (B02, B08, ...) or write them in that order"
            )
    return names


def _open(path: Path, fire: str) -> rasterio.io.DatasetReader:
    if not path.is_file():
        raise InputError(
            f"fire {fire!r}: {path} is missing; each fire folder needs pre.tif, post.tif "
            "and mask.tif (a two-date detector cannot score a fire without pre.tif)"
        )
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"fire {fire!r}: cannot read {path} ({exc}); is it a GeoTIFF?") from exc
    if src.crs is None or src.transform == Affine.identity():
        src.close()
        raise InputError(
            f"fire {fire!r}: {path} has no georeference (CRS and transform); chips are "
            "aligned by their coordinates, so write them as georeferenced GeoTIFFs"
        )
    return src


def _check_overlap(src: rasterio.io.DatasetReader, grid: _Grid, path: Path, fire: str) -> None:
    x0, y0, x1, y1 = transform_bounds(src.crs, grid.crs, *src.bounds)
    gx0, gy0, gx1, gy1 = grid.bounds
    if x0 >= gx1 or x1 <= gx0 or y0 >= gy1 or y1 <= gy0:
        raise InputError(
            f"fire {fire!r}: {path} (bounds {x0:.6f}, {y0:.6f}, {x1:.6f}, {y1:.6f}) does not "
            f"overlap mask.tif (bounds {gx0:.6f}, {gy0:.6f}, {gx1:.6f}, {gy1:.6f} in "
            f"{grid.crs}); the chips and the mask must cover the same place"
        )


def _same_pixels(src: rasterio.io.DatasetReader, grid: _Grid) -> bool:
    a, b, _, d, e, _ = tuple(src.transform)[:6]
    ga, gb, _, gd, ge, _ = tuple(grid.transform)[:6]
    tol = 1e-6 * max(abs(ga), abs(ge))
    return bool(src.crs == grid.crs) and all(
        abs(u - v) <= tol for u, v in ((a, ga), (b, gb), (d, gd), (e, ge))
    )


def _read_chip(path: Path, grid: _Grid, fire: str, notes: list[str]) -> xr.Dataset:
    with _open(path, fire) as src:
        _check_overlap(src, grid, path, fire)
        names = _band_names(src, path)
        same = _same_pixels(src, grid)
        if not same or (src.height, src.width) != grid.shape or src.transform != grid.transform:
            how = "pixels copied (same pixel size)" if same else "resampled bilinear"
            notes.append(
                f"{path.name}: {src.height}x{src.width} px in {src.crs} aligned onto the "
                f"mask's {grid.shape[0]}x{grid.shape[1]} grid by georeference ({how})"
            )
        data = np.asarray(src.read(), dtype=np.float32)
        if src.nodata is not None and not np.isnan(src.nodata):
            data[data == np.float32(src.nodata)] = np.nan
        out = np.full((src.count, *grid.shape), np.nan, dtype=np.float32)
        reproject(
            data,
            out,
            src_transform=src.transform,
            src_crs=src.crs,
            src_nodata=np.nan,
            dst_transform=grid.transform,
            dst_crs=grid.crs,
            dst_nodata=np.nan,
            resampling=Resampling.nearest if same else Resampling.bilinear,
        )
    out /= np.float32(DN_SCALE)
    rows, cols = grid.shape
    t = grid.transform
    coords = {"y": t.f + t.e * (np.arange(rows) + 0.5), "x": t.c + t.a * (np.arange(cols) + 0.5)}
    variables = {name: (("y", "x"), out[i]) for i, name in enumerate(names)}
    return xr.Dataset(variables, coords=coords, attrs={"crs": grid.crs.to_string()})


def _read_mask(path: Path, fire: str) -> tuple[npt.NDArray[np.uint8], _Grid]:
    with _open(path, fire) as src:
        data = np.asarray(src.read(1))
        grid = _Grid(src.crs, src.transform, (src.height, src.width))
        nodata = src.nodata
    invalid = ~np.isfinite(data) if data.dtype.kind == "f" else np.zeros(data.shape, bool)
    if nodata is not None:
        invalid |= data == nodata
    values = set(np.unique(data[~invalid]).tolist())
    if not values <= {0, 1}:
        raise InputError(
            f"fire {fire!r}: {path} holds values {sorted(values)[:6]}; a fire mask must be "
            "1 inside the perimeter and 0 outside (no data as the file's nodata value)"
        )
    label = np.where(invalid, 255, np.nan_to_num(data)).astype(np.uint8)
    return label, grid


def read_fire(root: Path, fire: str) -> FirePair:
    """Read ``fire`` under ``root`` with pre and post aligned onto the mask's grid.

    ``InputError`` names the file when one is missing, unreadable, not georeferenced,
    outside the mask's extent or without the expected bands.
    """
    folder = fire_dir(root, fire)
    if not folder.is_dir():
        raise InputError(f"fire {fire!r}: no folder {folder}; fires present: {list_fires(root)}")
    for name in FILES:  # every missing file is reported before any is read
        _open(folder / name, fire).close()
    label, grid = _read_mask(folder / "mask.tif", fire)
    notes: list[str] = []
    before = _read_chip(folder / "pre.tif", grid, fire, notes)
    after = _read_chip(folder / "post.tif", grid, fire, notes)
    for ds, when in ((before, "pre"), (after, "post")):
        ds.attrs.update({"fire": fire, "period": when})
    return FirePair(fire, before, after, label, tuple(notes))
