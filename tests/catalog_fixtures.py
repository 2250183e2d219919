"""Tiny test data for the catalog tests: 32x32 GeoTIFFs and hand-made STAC items."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import rasterio
from affine import Affine

# The demo grid: WGS 84 / UTM 50N, upper-left corner 400000, 4460000.
X0, Y0 = 400_000.0, 4_460_000.0


def write_raster(
    path: Path,
    *,
    size: int = 32,
    resolution: float = 10.0,
    dtype: str = "uint16",
    crs: str = "EPSG:32650",
    origin: tuple[float, float] = (X0, Y0),
    nodata: float | None = 0,
    count: int = 1,
    scale: float | None = None,
    offset: float | None = None,
) -> Path:
    """Write a small deterministic tiled GeoTIFF and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (np.arange(count * size * size, dtype="float64").reshape(count, size, size) % 200) + 1
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=size,
        height=size,
        count=count,
        dtype=dtype,
        crs=crs,
        transform=Affine(resolution, 0.0, origin[0], 0.0, -resolution, origin[1]),
        nodata=nodata,
        tiled=True,
        blockxsize=16,
        blockysize=16,
        compress="deflate",
    ) as dst:
        dst.write(data.astype(dtype))
        if scale is not None:
            dst.scales = (scale,) * count
        if offset is not None:
            dst.offsets = (offset,) * count
    return path


def sentinel2_assets(folder: Path) -> dict[str, Path]:
    """B02 and B08 at 10 m (32 px), B11 at 20 m (16 px) and SCL (uint8, 20 m)."""
    return {
        "B02": write_raster(folder / "B02.tif"),
        "B08": write_raster(folder / "B08.tif"),
        "B11": write_raster(folder / "B11.tif", size=16, resolution=20.0),
        "SCL": write_raster(folder / "SCL.tif", size=16, resolution=20.0, dtype="uint8"),
    }


def make_item(
    item_id: str,
    *,
    when: datetime,
    bbox: tuple[float, float, float, float] = (116.0, 40.0, 116.1, 40.1),
    collection: str = "sentinel-2-l2a",
    cloud: float | None = 10.0,
    extra: Mapping[str, Any] | None = None,
) -> pystac.Item:
    """A STAC item with a rectangular footprint and one asset, without files behind it."""
    x0, y0, x1, y1 = bbox
    geometry = {
        "type": "Polygon",
        "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]],
    }
    properties: dict[str, Any] = dict(extra or {})
    if cloud is not None:
        properties["eo:cloud_cover"] = cloud
    item = pystac.Item(item_id, geometry, list(bbox), when, properties, collection=collection)
    item.add_asset(
        "B04",
        pystac.Asset(
            f"/data/{item_id}/B04.tif",
            media_type=pystac.MediaType.COG,
            roles=["data"],
            extra_fields={"raster:bands": [{"data_type": "uint16", "nodata": 0}]},
        ),
    )
    return item


def utc(year: int, month: int, day: int, hour: int = 3) -> datetime:
    """An aware UTC datetime."""
    return datetime(year, month, day, hour, tzinfo=UTC)
