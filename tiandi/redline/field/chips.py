"""Image chips and basemap of a field package, cut from the run's composite COGs.

Chips: per task, the before and after composites around the patch as true-colour PNG
(B04/B03/B02, found by band description), enlarged by an integer factor with nearest
neighbour (10 m pixels stay visible as pixels: nothing is invented) and the patch
outline drawn in yellow, so a crew can see at a glance what changed and where. PNG because
QField's photo/attachment viewer and every browser show it; the files sit in ``chips/``
next to the GeoPackage and the form references them relatively.

Basemap: the after composite in true colour over the station's tasks (plus a margin), as
RGBA tiles in the GeoPackage raster table ``basemap`` (alpha 0 where the composite has no
clear observation), in the composite's grid CRS — no resampling beyond an optional
averaging decimation when the area exceeds ``basemap_max_px``.

The stretch is fixed (reflectance 0–0.3, gamma 1.5) so before and after chips and every
station's basemap are comparable and bytes are stable.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import rasterio.windows
from PIL import Image, ImageDraw
from rasterio.enums import Resampling
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from tiandi.errors import InputError

TRUE_COLOUR: tuple[str, str, str] = ("B04", "B03", "B02")
STRETCH_MAX = 0.3
GAMMA = 1.5
OUTLINE = (255, 230, 0)


@dataclass(frozen=True)
class ChipOptions:
    """Sizes of chips and basemap (pixels of the composite unless noted)."""

    pad_px: int = 8
    min_px: int = 192  # output size a chip is enlarged to (at least)
    max_px: int = 512  # output size never exceeded
    basemap_pad_m: float = 300.0
    basemap_max_px: int = 4096


def band_indexes(path: Path, bands: Iterable[str] = TRUE_COLOUR) -> list[int]:
    """1-based indexes of ``bands`` in a COG, found by band description."""
    try:
        with rasterio.open(path) as src:
            names = list(src.descriptions)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"composite {path} cannot be read ({exc}); re-run detect-changes") from exc
    missing = [b for b in bands if b not in names]
    if missing:
        raise InputError(
            f"composite {path} has no band(s) {', '.join(missing)} (bands: {names}); "
            "pass the composites written by detect-changes"
        )
    return [names.index(b) + 1 for b in bands]


def read_reflectance(
    src: rasterio.DatasetReader,
    idx: list[int],
    window: rasterio.windows.Window,
    out_shape: tuple[int, int, int] | None = None,
) -> np.ndarray:
    """Reflectance (0–1, NaN no data) of ``idx`` in ``window``, boundless.

    Float composites are reflectance already; integer ones (the flow's uint16 storage)
    are scaled by the file's ``scale_factor`` tag (default 1e-4), their nodata is NaN.
    """
    if np.dtype(src.dtypes[idx[0] - 1]).kind == "f":
        data: np.ndarray = src.read(
            idx,
            window=window,
            boundless=True,
            fill_value=np.nan,
            out_shape=out_shape,
            resampling=Resampling.average,
        )
        return np.asarray(data, dtype="float32")
    nodata = 0 if src.nodata is None else src.nodata
    raw = src.read(
        idx,
        window=window,
        boundless=True,
        fill_value=nodata,
        out_shape=out_shape,
        resampling=Resampling.nearest,
        masked=True,
    )
    scale = float(src.tags().get("scale_factor", 1e-4))
    scaled: np.ndarray = np.ma.filled(raw.astype("float32") * np.float32(scale), np.nan)
    return scaled


def to_rgb8(refl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(3, h, w) reflectance → (h, w, 3) uint8 with the fixed stretch, and a valid mask."""
    valid = np.all(np.isfinite(refl), axis=0)
    scaled = np.clip(np.nan_to_num(refl, nan=0.0) / STRETCH_MAX, 0.0, 1.0) ** (1.0 / GAMMA)
    rgb = np.round(scaled * 255.0).astype("uint8")
    rgb[:, ~valid] = 0
    return np.moveaxis(rgb, 0, -1), valid


def write_chips(
    tasks: gpd.GeoDataFrame,
    composites: dict[str, Path],
    folder: Path,
    options: ChipOptions,
) -> dict[str, dict[str, str]]:
    """PNG chips per task and period; returns ``{task_id: {period: "chips/<file>"}}``.

    ``composites`` maps a period name (``before``, ``after``) to its COG. Paths returned
    are relative to the package folder (``folder`` is ``<package>/chips``).
    """
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, dict[str, str]] = {str(t): {} for t in tasks["task_id"]}
    for period, path in composites.items():
        idx = band_indexes(path)
        with rasterio.open(path) as src:
            if src.crs is None:
                raise InputError(f"composite {path} has no CRS; re-run detect-changes")
            local = tasks.to_crs(src.crs)
            for task_id, geom in zip(local["task_id"], local.geometry, strict=True):
                name = f"{task_id}_{period}.png"
                _chip(src, idx, geom, options).save(folder / name, format="PNG")
                out[str(task_id)][period] = f"{folder.name}/{name}"
    return out


def patch_chip(
    composite: Path, geometry: BaseGeometry, crs: object, options: ChipOptions | None = None
) -> Image.Image:
    """One true-colour chip of ``composite`` around ``geometry`` (in ``crs``), with the
    patch outline in yellow: the picture a field package holds for a task."""
    idx = band_indexes(composite)
    with rasterio.open(composite) as src:
        if src.crs is None:
            raise InputError(f"composite {composite} has no CRS; re-run detect-changes")
        local = gpd.GeoSeries([geometry], crs=crs).to_crs(src.crs).iloc[0]
        return _chip(src, idx, local, options or ChipOptions())


def _chip(
    src: rasterio.DatasetReader, idx: list[int], geom: BaseGeometry, options: ChipOptions
) -> Image.Image:
    res_x, res_y = src.res
    x0, y0, x1, y1 = geom.bounds
    col0 = math.floor((x0 - src.bounds.left) / res_x) - options.pad_px
    col1 = math.ceil((x1 - src.bounds.left) / res_x) + options.pad_px
    row0 = math.floor((src.bounds.top - y1) / res_y) - options.pad_px
    row1 = math.ceil((src.bounds.top - y0) / res_y) + options.pad_px
    width, height = col1 - col0, row1 - row0
    window = rasterio.windows.Window(col0, row0, width, height)
    rgb, _ = to_rgb8(read_reflectance(src, idx, window))
    factor = max(1, math.ceil(options.min_px / max(width, height)))
    factor = max(1, min(factor, options.max_px // max(width, height)))
    image = Image.fromarray(rgb, mode="RGB")
    if factor > 1:
        image = image.resize((width * factor, height * factor), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(image)
    left, top = src.bounds.left + col0 * res_x, src.bounds.top - row0 * res_y
    for ring in _rings(geom):
        pts = [((x - left) / res_x * factor, (top - y) / res_y * factor) for x, y in ring]
        draw.line(pts, fill=OUTLINE, width=max(1, factor // 4))
    return image


def _rings(geom: BaseGeometry) -> list[list[tuple[float, float]]]:
    polys: list[Polygon] = []
    if isinstance(geom, Polygon):
        polys = [geom]
    elif isinstance(geom, MultiPolygon):
        polys = list(geom.geoms)
    rings: list[list[tuple[float, float]]] = []
    for poly in polys:
        rings.append([(float(x), float(y)) for x, y in poly.exterior.coords])
        rings += [[(float(x), float(y)) for x, y in r.coords] for r in poly.interiors]
    return rings


def write_basemap(
    tasks: gpd.GeoDataFrame, after: Path, gpkg: Path, options: ChipOptions, *, table: str
) -> bool:
    """Append the true-colour basemap over ``tasks`` to ``gpkg`` as raster ``table``.

    Returns False (and writes nothing) when the tasks do not overlap the composite.
    """
    idx = band_indexes(after)
    with rasterio.open(after) as src:
        x0, y0, x1, y1 = tasks.to_crs(src.crs).total_bounds
        pad = options.basemap_pad_m
        inv = ~src.transform
        c0, r0 = inv @ (x0 - pad, y1 + pad)
        c1, r1 = inv @ (x1 + pad, y0 - pad)
        col0, row0 = math.floor(c0), math.floor(r0)
        window = rasterio.windows.Window(col0, row0, math.ceil(c1) - col0, math.ceil(r1) - row0)
        full = rasterio.windows.Window(0, 0, src.width, src.height)
        try:
            window = window.intersection(full)
        except rasterio.errors.WindowError:
            return False
        width, height = int(window.width), int(window.height)
        if width < 1 or height < 1:
            return False
        factor = max(1, math.ceil(max(width, height) / options.basemap_max_px))
        shape = (3, math.ceil(height / factor), math.ceil(width / factor))
        refl = read_reflectance(src, idx, window, out_shape=shape)
        transform = src.window_transform(window) @ rasterio.Affine.scale(
            width / shape[2], height / shape[1]
        )
        crs = src.crs
    rgb, valid = to_rgb8(refl)
    alpha = np.where(valid, 255, 0).astype("uint8")
    bands = np.concatenate([np.moveaxis(rgb, -1, 0), alpha[None]], axis=0)
    with rasterio.open(
        gpkg,
        "w",
        driver="GPKG",
        width=shape[2],
        height=shape[1],
        count=4,
        dtype="uint8",
        crs=crs,
        transform=transform,
        RASTER_TABLE=table,
        RASTER_IDENTIFIER=table,
        RASTER_DESCRIPTION="after composite, true colour (B04 B03 B02)",
        APPEND_SUBDATASET="YES",
        TILE_FORMAT="PNG",
    ) as dst:
        dst.write(bands)
    return True
