"""The crew's photos: EXIF location and time, distance to the patch, files kept.

:func:`check_photo` describes one attached photo and gives the reasons to reject it
(outside or missing from the package folder, taken before dispatch, too far from the
dispatched patch); :func:`keep_files` hashes the files of rejected items so they are
kept too.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from pathlib import Path, PurePosixPath
from typing import Any

import pyproj
import shapely
import shapely.ops
from PIL import Image, UnidentifiedImageError
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from tiandi._io import sha256_file
from tiandi._time import exif_datetime
from tiandi.redline.field._returned import Dispatched, ReturnedPackage
from tiandi.redline.field.records import ImportOptions


def read_exif(path: Path, default_tz: tzinfo) -> tuple[tuple[float, float] | None, datetime | None]:
    """(lon, lat) from EXIF GPS and the time from DateTimeOriginal (see
    :func:`tiandi._time.exif_datetime`), each None when the image lacks it."""
    try:
        with Image.open(path) as image:
            exif = image.getexif()
    except (UnidentifiedImageError, OSError):
        return None, None
    gps = exif.get_ifd(0x8825)
    where = None
    try:
        if 2 in gps and 4 in gps:
            lat = _dms(gps[2]) * (-1 if str(gps.get(1, "N")).upper().startswith("S") else 1)
            lon = _dms(gps[4]) * (-1 if str(gps.get(3, "E")).upper().startswith("W") else 1)
            where = (lon, lat)
    except (TypeError, ValueError, ZeroDivisionError):
        where = None
    info = exif.get_ifd(0x8769)
    # DateTimeOriginal (else DateTime) with OffsetTimeOriginal; without an offset the
    # time is read in ``default_tz`` (ImportOptions.exif_timezone, China Standard Time).
    when = exif_datetime(info.get(0x9003) or exif.get(0x0132), info.get(0x9011), default_tz)
    return where, when


def _dms(values: Any) -> float:
    d, m, s = (float(v) for v in values)
    return d + m / 60.0 + s / 3600.0


def distance_m(geom: BaseGeometry, lon: float, lat: float) -> float:
    """Metres from (lon, lat) to ``geom`` (both CGCS2000/WGS 84 degrees), 0 inside."""
    zone = min(60, max(1, int((lon + 180.0) // 6.0) + 1))
    epsg = (32600 if lat >= 0 else 32700) + zone
    tf = pyproj.Transformer.from_crs("EPSG:4490", f"EPSG:{epsg}", always_xy=True)
    local = shapely.ops.transform(tf.transform, geom)
    return float(local.distance(Point(tf.transform(lon, lat))))


def inside_folder(folder: Path, rel: str) -> Path | None:
    """The file a relative attachment path names, when it stays inside ``folder``."""
    pure = PurePosixPath(rel.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts:
        return None
    return folder.joinpath(*pure.parts)


def check_photo(
    pkg: ReturnedPackage,
    rel: str,
    target: Dispatched | None,
    row_geom: BaseGeometry | None,
    opts: ImportOptions,
) -> tuple[dict[str, Any], list[str], list[str]]:
    """Description of one photo, reasons to reject it, warnings."""
    info: dict[str, Any] = {"path": rel}
    reasons: list[str] = []
    warnings: list[str] = []
    file = inside_folder(pkg.folder, rel)
    if file is None:
        return info, [f"photo path {rel!r} points outside the package folder"], warnings
    if not file.is_file():
        reasons.append(
            f"photo {rel} is missing from the package folder {pkg.folder}; copy the whole "
            "folder back from the device (the photos are files beside the .gpkg)"
        )
        return info, reasons, warnings
    digest = sha256_file(file)
    pkg.files[digest] = file
    info["sha256"] = digest
    where, when = read_exif(file, opts.exif_timezone)
    source = "exif"
    if where is None and isinstance(row_geom, Point):
        where, source = (float(row_geom.x), float(row_geom.y)), "photo point"
    if when is not None:
        info["taken_at"] = when.isoformat()
        if when < pkg.dispatched_at:
            reasons.append(
                f"photo {rel} was taken {when.isoformat()}, before the dispatch "
                f"{pkg.dispatched_at.isoformat()}: take a new photo at the site"
            )
    if where is None:
        warnings.append(f"photo {rel} has no location (no EXIF GPS, no photo point)")
        return info, reasons, warnings
    info.update(lon=round(where[0], 7), lat=round(where[1], 7), located_by=source)
    if target is not None:
        dist = distance_m(target.geometry, where[0], where[1])
        info["distance_m"] = round(dist, 1)
        if dist > opts.photo_tolerance_m:
            reasons.append(
                f"photo {rel} was taken {dist:,.0f} m from patch {target.patch_id} (tolerance "
                f"{opts.photo_tolerance_m:,.0f} m): take photos at the patch, or attach the "
                "right photo"
            )
    return info, reasons, warnings


def keep_files(pkg: ReturnedPackage, rels: list[str | None]) -> list[dict[str, Any]]:
    """Hash and keep the files named (those that exist inside the package)."""
    kept = []
    for rel in rels:
        file = inside_folder(pkg.folder, rel) if rel else None
        if file is not None and file.is_file():
            digest = sha256_file(file)
            pkg.files[digest] = file
            kept.append({"path": rel, "sha256": digest})
    return kept
