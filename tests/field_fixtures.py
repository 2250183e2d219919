"""Tiny inputs for the field-package tests: composites, tasks, photos with EXIF GPS."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from affine import Affine
from PIL import Image
from PIL.TiffImagePlugin import IFDRational
from shapely.geometry import box

from tiandi.redline.tasks import assign_tasks

X0, Y0, RES, SIZE = 400000.0, 4460000.0, 10.0, 80
CRS = "EPSG:32650"
BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")
DISPATCHED_AT = datetime(2025, 8, 1, 0, 0, tzinfo=UTC)


def write_composites(folder: Path) -> dict[str, Path]:
    """before.tif / after.tif as the flow stores them (uint16 reflectance × 10000, nodata 0,
    bands described B02…B12), forest → quarry in two blocks."""
    folder.mkdir(parents=True, exist_ok=True)
    forest = (0.03, 0.05, 0.03, 0.32, 0.16, 0.08)
    quarry = (0.18, 0.20, 0.24, 0.28, 0.36, 0.32)
    out = {}
    for period in ("before", "after"):
        data = np.empty((len(BANDS), SIZE, SIZE), "float32")
        for b, value in enumerate(forest):
            data[b] = value
        if period == "after":
            for b, value in enumerate(quarry):
                data[b, 10:20, 10:25] = value
                data[b, 50:60, 40:55] = value
        scaled = np.round(data * 10000).astype("uint16")
        scaled[:, 0:3, 0:3] = 0  # no clear observation in a corner
        path = folder / f"{period}.tif"
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=SIZE,
            height=SIZE,
            count=len(BANDS),
            dtype="uint16",
            crs=CRS,
            transform=Affine(RES, 0, X0, 0, -RES, Y0),
            nodata=0,
        ) as dst:
            dst.write(scaled)
            dst.update_tags(scale_factor="0.0001")
            for i, name in enumerate(BANDS, start=1):
                dst.set_band_description(i, name)
        out[period] = path
    return out


def patches() -> gpd.GeoDataFrame:
    """Two patches (UTM) over the quarry blocks, in zone Z1, like extract_patches writes."""

    def block(r0: int, r1: int, c0: int, c1: int) -> object:
        return box(X0 + c0 * RES, Y0 - r1 * RES, X0 + c1 * RES, Y0 - r0 * RES)

    return gpd.GeoDataFrame(
        {
            "patch_id": ["TB-000000000001", "TB-000000000002"],
            "zone_id": ["Z1", "Z1"],
            "zone_name": ["测试保护区", "测试保护区"],
            "zone_type": ["reserve", "reserve"],
            "functional_zone": ["核心区", "缓冲区"],
            "hj1156_class": ["mining", "industry"],
            "hj1156_zh": ["矿产资源开发", "工业开发"],
            "change_type": ["new", "new"],
            "change_type_zh": ["新增", "新增"],
            "area_m2": [15000.0, 15000.0],
            "area_ha": [1.5, 1.5],
            "area_mu": [22.5, 22.5],
            "confidence": [0.9, 0.8],
        },
        geometry=[block(10, 20, 10, 25), block(50, 60, 40, 55)],
        crs=CRS,
    )


def stations(two: bool = True) -> gpd.GeoDataFrame:
    """One or two station jurisdictions (north/south halves) in EPSG:32650."""
    north = box(X0, Y0 - 40 * RES, X0 + SIZE * RES, Y0)
    south = box(X0, Y0 - SIZE * RES, X0 + SIZE * RES, Y0 - 40 * RES)
    if not two:
        return gpd.GeoDataFrame(
            {"station_id": ["S1"], "name": ["北站"]}, geometry=[north.union(south)], crs=CRS
        )
    return gpd.GeoDataFrame(
        {"station_id": ["S1", "S2"], "name": ["北站", "南站"]}, geometry=[north, south], crs=CRS
    )


def tasks(two_stations: bool = False) -> gpd.GeoDataFrame:
    """Tasks of the two patches (one station unless asked)."""
    return assign_tasks(patches(), stations(two_stations))


def _rational(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    deg = int(value)
    minutes_full = (value - deg) * 60
    minutes = int(minutes_full)
    seconds = round((minutes_full - minutes) * 60 * 10000)
    return (IFDRational(deg, 1), IFDRational(minutes, 1), IFDRational(seconds, 10000))


def jpeg(
    lon: float | None = None,
    lat: float | None = None,
    taken: str | None = "2025:08:02 10:15:00",
    colour: tuple[int, int, int] = (90, 120, 60),
) -> bytes:
    """A small JPEG, with EXIF GPS (WGS 84 degrees) and DateTimeOriginal when given."""
    image = Image.new("RGB", (32, 24), colour)
    exif = Image.Exif()
    if taken:
        exif.get_ifd(0x8769)[0x9003] = taken  # DateTimeOriginal
    if lon is not None and lat is not None:
        gps = exif.get_ifd(0x8825)
        gps[1] = "N" if lat >= 0 else "S"
        gps[2] = _rational(abs(lat))
        gps[3] = "E" if lon >= 0 else "W"
        gps[4] = _rational(abs(lon))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes(), quality=80)
    return buffer.getvalue()
