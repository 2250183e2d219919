"""Image chips (PNG) of an orthophoto around polygons — evidence attached to patches.

For each polygon that the image's valid area covers, a chip of the polygon's bounds
plus a margin is read (decimated to at most ``max_px`` on a side, averaging), the
polygon is outlined in yellow and the PNG is written to ``<out_dir>/<id>.png``.
``<out_dir>/index.csv`` lists ``patch_id, item_id, chip, coverage`` (share of the
polygon over valid image pixels), ``gsd_m`` (chip pixel size), ``width, height`` and
the chip bounds in the image CRS. PNG files and the index are byte-stable and atomic.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.features
import rasterio.windows
from affine import Affine
from rasterio.enums import ColorInterp, Resampling
from shapely.geometry.base import BaseGeometry

from tiandi._io import atomic_path
from tiandi.eo.grid import outward_window
from tiandi.errors import InputError

INDEX_COLUMNS = (
    "patch_id", "item_id", "chip", "coverage", "gsd_m", "width", "height",
    "minx", "miny", "maxx", "maxy", "crs",
)  # fmt: skip


@dataclass(frozen=True)
class Chip:
    """One chip written by :func:`write_chips` (a row of ``index.csv``)."""

    patch_id: str
    item_id: str
    chip: str
    coverage: float
    gsd_m: float
    width: int
    height: int
    bounds: tuple[float, float, float, float]
    crs: str

    def row(self) -> list[Any]:
        """The CSV row."""
        return [
            self.patch_id, self.item_id, self.chip, f"{self.coverage:.4f}", f"{self.gsd_m:.4f}",
            self.width, self.height, *(f"{v:.3f}" for v in self.bounds), self.crs,
        ]  # fmt: skip


def write_chips(
    image: Path,
    polygons: gpd.GeoDataFrame,
    out_dir: Path,
    *,
    item_id: str,
    id_column: str = "patch_id",
    margin_m: float = 20.0,
    max_px: int = 512,
    min_coverage: float = 0.05,
    rgb: Sequence[int] | None = None,
) -> list[Chip]:
    """Write chips of ``image`` for the ``polygons`` it covers (≥ ``min_coverage``).

    ``rgb``: the 1-based bands shown as red, green, blue (default: the bands whose colour
    interpretation says so, else 1, 2, 3), e.g. ``(3, 2, 1)`` for a blue-green-red-NIR
    satellite image, ``(1, 1, 1)`` for a panchromatic one.
    """
    if id_column not in polygons.columns:
        raise InputError(f"patches have no {id_column} column; pass the run's patches.gpkg")
    if len(polygons) and polygons.crs is None:
        raise InputError("patches have no CRS; they must be georeferenced")
    out_dir = Path(out_dir)
    chips: list[Chip] = []
    with rasterio.open(image) as src:
        local = polygons.to_crs(src.crs) if len(polygons) else polygons
        bands = list(rgb) if rgb is not None else _rgb(src)
        if len(bands) != 3 or not all(1 <= b <= src.count for b in bands):
            raise InputError(
                f"chips of {image}: rgb bands {bands} do not name 3 of its {src.count} bands"
            )
        alpha = _alpha(src)
        for pid, geom in sorted(zip(local[id_column].astype(str), local.geometry, strict=True)):
            if geom is None or geom.is_empty or not geom.intersects(_box(src.bounds)):
                continue
            chip = _chip(src, bands, alpha, pid, geom, out_dir, item_id, margin_m, max_px)
            if chip is not None and chip.coverage >= min_coverage:
                chips.append(chip)
            elif chip is not None:
                (out_dir / chip.chip).unlink(missing_ok=True)
    with (
        atomic_path(out_dir / "index.csv") as tmp,
        tmp.open("w", newline="", encoding="utf-8") as f,
    ):
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(INDEX_COLUMNS)
        writer.writerows(c.row() for c in chips)
    return chips


def read_patches(path: Path) -> gpd.GeoDataFrame:
    """The ``patches`` layer of a run's ``patches.gpkg``; ``InputError`` when unreadable."""
    try:
        return gpd.read_file(path, layer="patches")
    except Exception as exc:  # pyogrio raises several error types for unreadable files
        raise InputError(
            f"patches file {path} cannot be read as a GeoPackage with a 'patches' layer "
            f"({exc}); pass the run's patches.gpkg"
        ) from exc


def _box(bounds: Sequence[float]) -> BaseGeometry:
    from shapely.geometry import box

    return box(*bounds)


def _rgb(src: Any) -> list[int]:
    interp = list(src.colorinterp)
    wanted = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
    if all(c in interp for c in wanted):
        return [interp.index(c) + 1 for c in wanted]
    return [1, 2, 3] if src.count >= 3 else [1, 1, 1]


def _alpha(src: Any) -> int | None:
    interp = list(src.colorinterp)
    return interp.index(ColorInterp.alpha) + 1 if ColorInterp.alpha in interp else None


def _chip(
    src: Any,
    bands: list[int],
    alpha: int | None,
    pid: str,
    geom: BaseGeometry,
    out_dir: Path,
    item_id: str,
    margin_m: float,
    max_px: int,
) -> Chip | None:
    factor = 1.0 if src.crs.is_geographic else float(src.crs.linear_units_factor[1])
    margin = margin_m / factor if not src.crs.is_geographic else margin_m / 111_320.0
    x0, y0, x1, y1 = geom.bounds
    win = rasterio.windows.from_bounds(
        x0 - margin, y0 - margin, x1 + margin, y1 + margin, transform=src.transform
    )
    win = outward_window(win)
    try:
        win = win.intersection(rasterio.windows.Window(0, 0, src.width, src.height))
    except rasterio.errors.WindowError:
        return None
    if win.width < 1 or win.height < 1:
        return None
    scale = max(1.0, max(win.width, win.height) / max_px)
    shape = (max(1, round(win.height / scale)), max(1, round(win.width / scale)))
    rgb = src.read(bands, window=win, out_shape=(3, *shape), resampling=Resampling.average)
    if alpha is not None:
        valid = src.read(alpha, window=win, out_shape=shape, resampling=Resampling.nearest) > 0
    else:
        valid = src.read_masks(bands[0], window=win, out_shape=shape) > 0
    transform = src.window_transform(win) @ Affine.scale(
        win.width / shape[1], win.height / shape[0]
    )
    inside = rasterio.features.geometry_mask([geom], shape, transform, invert=True)
    coverage = float((inside & valid).sum() / max(int(inside.sum()), 1))
    name = f"{pid}.png"
    _write_png(_to_uint8(rgb, valid), geom, transform, out_dir / name)
    bounds = rasterio.windows.bounds(win, src.transform)
    gsd = abs(transform.a) * (111_320.0 if src.crs.is_geographic else factor)
    return Chip(pid, item_id, name, coverage, gsd, shape[1], shape[0], bounds, src.crs.to_string())


def _to_uint8(rgb: npt.NDArray[Any], valid: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint8]:
    data = rgb.astype(np.float64)
    if rgb.dtype != np.uint8:
        top = float(np.percentile(data[:, valid], 99)) if valid.any() else 1.0
        data = data / max(top, 1.0) * 255.0
    out = np.clip(np.round(data), 0, 255).astype(np.uint8)
    out[:, ~valid] = 255  # white outside the flown area
    return np.moveaxis(out, 0, -1)


def _write_png(
    rgb: npt.NDArray[np.uint8], geom: BaseGeometry, transform: Affine, path: Path
) -> None:
    from PIL import Image, ImageDraw

    img = Image.fromarray(rgb, mode="RGB")
    draw = ImageDraw.Draw(img)
    inverse = ~transform
    for poly in getattr(geom, "geoms", [geom]):
        for ring in [poly.exterior, *poly.interiors]:
            pts = [tuple(inverse @ (x, y)) for x, y in ring.coords]
            draw.line(pts, fill=(255, 221, 0), width=max(1, math.ceil(min(img.size) / 200)))
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", optimize=False)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
