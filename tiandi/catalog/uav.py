"""UAV orthophotos as STAC items (collection ``uav``).

An orthophoto is accepted when it is a georeferenced, north-up raster of 3 (RGB) or 4
(RGBA) bands of 8- or 16-bit integers with pixels no coarser than ``MAX_GSD_M`` (HJ 1156
confirms patches on imagery finer than 2 m), in any CRS. The acquisition time comes
from the caller or the TIFF tag ``TIFFTAG_DATETIME``, with the EXIF offset tag
``OffsetTime`` when the file has one, else read in China Standard Time (UTC+08:00,
:data:`UAV_TIME_ZONE`): UAVs and photogrammetry software in China write local time, and
a TIFF time has no zone of its own. The item's asset ``visual`` is the
file itself (read by :func:`tiandi.catalog.items.item_from_rasters`); co-registration
results go into its properties (``tiandi:coreg_*``), added by the caller.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime as Datetime
from pathlib import Path
from typing import Any

import pystac
import rasterio
import rasterio.errors
from rasterio.enums import ColorInterp

from tiandi._io import sha256_file
from tiandi._time import CHINA_STANDARD_TIME, exif_datetime
from tiandi.catalog.items import item_from_rasters
from tiandi.errors import InputError

UAV_COLLECTION = "uav"
MAX_GSD_M = 2.0
#: The zone of an orthophoto's ``TIFFTAG_DATETIME`` when no EXIF offset tag gives one.
UAV_TIME_ZONE = CHINA_STANDARD_TIME


@dataclass(frozen=True)
class OrthophotoInfo:
    """What :func:`check_orthophoto` found: CRS, pixel size in metres, bands."""

    path: Path
    crs: str
    gsd_m: float
    width: int
    height: int
    rgb: tuple[int, int, int]  # 1-based band indexes of red, green, blue
    alpha: int | None  # 1-based band index of the alpha band
    dtype: str
    acquired: Datetime | None


def check_orthophoto(path: Path) -> OrthophotoInfo:
    """Validate an orthophoto and describe it; ``InputError`` saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"orthophoto {path} does not exist")
    try:
        with rasterio.open(path) as src:
            return _describe(path, src)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(
            f"orthophoto {path} cannot be read as a raster ({exc}); pass a GeoTIFF orthomosaic"
        ) from exc


def _describe(path: Path, src: Any) -> OrthophotoInfo:
    what = f"orthophoto {path}"
    if src.crs is None:
        raise InputError(f"{what} has no CRS; it must be a georeferenced orthomosaic")
    if src.count not in (3, 4) or src.dtypes[0] not in ("uint8", "uint16"):
        raise InputError(
            f"{what} has {src.count} band(s) of {src.dtypes[0]}; an orthophoto is RGB or RGBA "
            "of 8- or 16-bit integers (export it as such from the photogrammetry software)"
        )
    t = src.transform
    if t.b != 0 or t.d != 0 or t.e >= 0:
        raise InputError(f"{what} is rotated or not north-up ({t}); export it north-up")
    gsd = math.sqrt(abs(t.a * t.e))
    if src.crs.is_geographic:
        gsd *= 111_320.0 * math.cos(math.radians(src.xy(src.height // 2, src.width // 2)[1]))
    else:
        gsd *= src.crs.linear_units_factor[1]
    if gsd > MAX_GSD_M:
        raise InputError(
            f"{what} has {gsd:.2f} m pixels; a UAV orthophoto for detail survey must be finer "
            f"than {MAX_GSD_M:g} m (is this a satellite scene?)"
        )
    interp = list(src.colorinterp)
    rgb = tuple(
        interp.index(c) + 1 if c in interp else i + 1
        for i, c in enumerate((ColorInterp.red, ColorInterp.green, ColorInterp.blue))
    )
    alpha = interp.index(ColorInterp.alpha) + 1 if ColorInterp.alpha in interp else None
    if alpha is None and src.count == 4:
        alpha = 4
    return OrthophotoInfo(
        path.resolve(),
        str(src.crs.to_string()),
        gsd,
        src.width,
        src.height,
        (rgb[0], rgb[1], rgb[2]),
        alpha,
        src.dtypes[0],
        # GDAL gives TIFFTAG_DATETIME and, in the EXIF domain, the matching OffsetTime.
        exif_datetime(
            src.tags().get("TIFFTAG_DATETIME"),
            src.tags(ns="EXIF").get("EXIF_OffsetTime"),
            UAV_TIME_ZONE,
        ),
    )


def uav_item_id(info: OrthophotoInfo) -> str:
    """``uav-<file stem>-<8 hex of the file's SHA-256>``: stable for the same file."""
    digest = sha256_file(info.path)[:8]
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", info.path.stem).strip("-") or "orthophoto"
    return f"uav-{stem}-{digest}"


def uav_item(
    info: OrthophotoInfo,
    *,
    asset: Path | None = None,
    item_id: str | None = None,
    datetime: Datetime | None = None,
    properties: Mapping[str, Any] | None = None,
) -> pystac.Item:
    """The STAC item of an orthophoto (asset ``visual``: ``asset`` or the file itself).

    ``InputError`` when no acquisition time is known (pass ``datetime``).
    """
    when = datetime or info.acquired
    if when is None:
        raise InputError(
            f"orthophoto {info.path} carries no acquisition time (TIFFTAG_DATETIME); pass it "
            "with --datetime, e.g. 2025-08-20T03:00:00Z"
        )
    props = {"platform": "uav", "gsd": round(info.gsd_m, 4), **dict(properties or {})}
    return item_from_rasters(
        item_id or uav_item_id(info),
        {"visual": Path(asset or info.path)},
        datetime=when,
        collection=UAV_COLLECTION,
        properties=props,
    )
