"""Simulated field crews of the demo's full cycle: they edit copies of the field packages as
a field app (QField, Mergin Maps) does — results, classes, notes, site photos with EXIF GPS
and times, an added point — on a "device copy" of each package.
"""

from __future__ import annotations

import io
import shutil
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
from PIL import Image
from PIL.TiffImagePlugin import IFDRational
from shapely.geometry import Point

from tiandi._gpkg import register_gpkg_functions
from tiandi._time import CHINA_STANDARD_TIME
from tiandi.demo.cycle_script import FieldFinding
from tiandi.errors import InputError
from tiandi.redline.field.schema import OBSERVATIONS_LAYER, PHOTOS_LAYER, TASKS_LAYER
from tiandi.redline.vocabulary import STORE_CRS as PATCH_CRS


def _rational(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    deg = int(value)
    minutes = int((value - deg) * 60)
    seconds = round(((value - deg) * 60 - minutes) * 60 * 10000)
    return (IFDRational(deg, 1), IFDRational(minutes, 1), IFDRational(seconds, 10000))


def site_photo(lon: float, lat: float, taken: datetime, seed: int = 0) -> bytes:
    """A small JPEG as a phone writes it: EXIF GPS (degrees) and DateTimeOriginal (CST)."""
    image = Image.new("RGB", (48, 32), (60 + seed * 37 % 150, 110, 70))
    exif = Image.Exif()
    local = taken.astimezone(CHINA_STANDARD_TIME)
    exif.get_ifd(0x8769)[0x9003] = local.strftime("%Y:%m:%d %H:%M:%S")
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = ("N" if lat >= 0 else "S"), _rational(abs(lat))
    gps[3], gps[4] = ("E" if lon >= 0 else "W"), _rational(abs(lon))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes(), quality=80)
    return buffer.getvalue()


def _field_app_connection(gpkg: Path) -> sqlite3.Connection:
    """A connection with the ST_* functions GDAL registers (the R-tree triggers use them)."""
    con = sqlite3.connect(gpkg)
    register_gpkg_functions(con, f"field package {gpkg}")
    return con


def device_copy(package_folder: Path, where: Path) -> Path:
    """Copy a package folder as it goes onto a tablet; returns the copy's .gpkg."""
    target = where / package_folder.name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(package_folder, target)
    found = sorted(target.glob("*.gpkg"))
    if not found:
        raise InputError(f"package folder {package_folder} holds no .gpkg; dispatch it again")
    return found[0]


def edit_field_package(
    gpkg: Path, findings: Sequence[FieldFinding], *, crew: str, checked_at: datetime
) -> int:
    """Fill in ``findings`` in the package ``gpkg`` as a field app does; returns the number
    of tasks edited. Adds one photo per task (EXIF GPS at the site), one extra photo row
    and one ``field_points`` feature at the first task."""
    mine = [f for f in findings if _has_task(gpkg, f.task_id)]
    if not mine:
        return 0
    _fill_in_tasks(gpkg, mine, crew=crew, checked_at=checked_at)
    _add_extra_photo_and_point(gpkg, mine[0], crew=crew, taken=checked_at + timedelta(minutes=5))
    return len(mine)


def _fill_in_tasks(
    gpkg: Path, mine: Sequence[FieldFinding], *, crew: str, checked_at: datetime
) -> None:
    """One photo per task (taken 10 minutes apart) and the task's result columns."""
    con = _field_app_connection(gpkg)
    with closing(con):
        for i, f in enumerate(mine):
            rel = f"DCIM/{f.task_id}_1.jpg"
            taken = checked_at + timedelta(minutes=10 * i)
            photo = site_photo(f.lon + f.photo_offset_deg, f.lat, taken, seed=i)
            (gpkg.parent / rel).write_bytes(photo)
            con.execute(
                f"UPDATE {TASKS_LAYER} SET field_result = ?, field_class = ?, field_notes = ?, "
                "photo = ?, checked_at = ?, crew = ? WHERE task_id = ?",
                (
                    f.outcome,
                    f.field_class,
                    f.notes,
                    rel,
                    taken.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    crew,
                    f.task_id,
                ),
            )
        con.commit()


def _add_extra_photo_and_point(
    gpkg: Path, first: FieldFinding, *, crew: str, taken: datetime
) -> None:
    """A second photo row and an ``access`` observation point near the first task."""
    extra = f"DCIM/{first.task_id}_2.jpg"
    (gpkg.parent / extra).write_bytes(site_photo(first.lon, first.lat, taken, seed=99))
    where = Point(first.lon + 0.0004, first.lat + 0.0003)
    _append(
        gpkg,
        PHOTOS_LAYER,
        {
            "photo_id": [f"{first.task_id}-2"],
            "task_id": [first.task_id],
            "path": [extra],
            "note": ["入口 gate"],
            "crew": [crew],
            "taken_at": [taken],
        },
        where,
    )
    _append(
        gpkg,
        OBSERVATIONS_LAYER,
        {
            "point_id": [f"{first.task_id}-access"],
            "task_id": [first.task_id],
            "kind": ["access"],
            "note": ["车辆入口 vehicle access"],
            "photo": [None],
            "crew": [crew],
            "observed_at": [taken],
        },
        where,
    )


def _has_task(gpkg: Path, task_id: str) -> bool:
    con = sqlite3.connect(gpkg)
    with closing(con):
        sql = f"SELECT 1 FROM {TASKS_LAYER} WHERE task_id = ?"
        return con.execute(sql, (task_id,)).fetchone() is not None


def _append(gpkg: Path, layer: str, rows: dict[str, list[object]], where: Point) -> None:
    frame = gpd.GeoDataFrame(rows, geometry=[where], crs=PATCH_CRS)
    for col in ("taken_at", "observed_at"):
        if col in frame:
            frame[col] = pd.to_datetime(frame[col], utc=True).astype("datetime64[ms, UTC]")
    pyogrio.write_dataframe(frame, gpkg, layer=layer, driver="GPKG", append=True)
