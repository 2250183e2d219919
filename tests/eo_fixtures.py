"""Tiny Sentinel-2-like L2A items written on the fly for the eo/ and models/ tests.

Each item is a folder of small tiled uint16 GeoTIFFs (10 m bands ``size`` x ``size``,
B11/B12 and SCL at 20 m) in EPSG:32650 with a hand-built pystac Item carrying
``proj:code/shape/transform`` and ``raster:bands`` so odc-stac loads it lazily as uint16.
Reflectances are given as floats (BOA reflectance); baseline "04.00" items get the +1000
DN offset written into the files, as ESA does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pystac
import rasterio
from affine import Affine
from pyproj import Transformer

X0, Y0 = 400000.0, 4460000.0
CRS = "EPSG:32650"
BANDS10 = ("B02", "B03", "B04", "B08")
BANDS20 = ("B11", "B12")
BANDS = BANDS10 + BANDS20
PROJ_EXT = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
RASTER_EXT = "https://stac-extensions.github.io/raster/v1.1.0/schema.json"
EO_EXT = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"

# forest-like reflectance (B02 B03 B04 B08 B11 B12)
FOREST = {"B02": 0.03, "B03": 0.05, "B04": 0.03, "B08": 0.32, "B11": 0.16, "B12": 0.08}


@dataclass
class Scene:
    """One acquisition: reflectance per band (scalar or array at the band's resolution)."""

    date: str
    reflectance: Mapping[str, float | np.ndarray] = field(default_factory=lambda: dict(FOREST))
    scl: np.ndarray | None = None  # uint8 at 20 m; default all 4 (vegetation)
    baseline: str = "03.01"
    cloud_cover: float = 0.0


def _write(path: Path, data: np.ndarray, res: float, nodata: int) -> None:
    rows, cols = data.shape
    block = 16 if min(rows, cols) >= 16 else None
    profile = {
        "driver": "GTiff",
        "width": cols,
        "height": rows,
        "count": 1,
        "dtype": str(data.dtype),
        "crs": CRS,
        "transform": Affine(res, 0, X0, 0, -res, Y0),
        "nodata": nodata,
        "compress": "deflate",
    }
    if block:
        profile.update(tiled=True, blockxsize=block, blockysize=block)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


def _dn(value: float | np.ndarray, shape: tuple[int, int], offset: int) -> np.ndarray:
    arr = np.broadcast_to(np.asarray(value, dtype="float64"), shape)
    dn = np.round(arr * 10000).astype("int64") + offset
    out: np.ndarray = np.where(arr == 0, 0, np.clip(dn, 1, 65535)).astype("uint16")
    return out


def make_item(root: Path, scene: Scene, size: int = 64, tile: str = "T50TMK") -> pystac.Item:
    """Write one scene's rasters under ``root`` and return its pystac Item."""
    day = datetime.fromisoformat(scene.date).replace(tzinfo=UTC)
    item_id = f"S2B_MSIL2A_{day:%Y%m%d}_{tile}"
    folder = root / item_id
    folder.mkdir(parents=True, exist_ok=True)
    offset = 1000 if scene.baseline >= "04.00" else 0
    half = size // 2
    x1, y1 = X0 + size * 10, Y0 - size * 10
    to4326 = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform
    lon0, lat0 = to4326(X0, y1)
    lon1, lat1 = to4326(x1, Y0)
    geometry = {
        "type": "Polygon",
        "coordinates": [[[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]],
    }
    item = pystac.Item(
        id=item_id,
        geometry=geometry,
        bbox=[lon0, lat0, lon1, lat1],
        datetime=day,
        properties={
            "platform": "sentinel-2b",
            "eo:cloud_cover": scene.cloud_cover,
            "s2:processing_baseline": scene.baseline,
            "s2:boa_add_offset": -offset,
            "proj:code": CRS,
            "proj:shape": [size, size],
            "proj:transform": [10.0, 0.0, X0, 0.0, -10.0, Y0],
        },
        collection="sentinel-2-l2a",
        stac_extensions=[PROJ_EXT, RASTER_EXT, EO_EXT],
    )
    for band in BANDS:
        res, n = (10.0, size) if band in BANDS10 else (20.0, half)
        path = folder / f"{band}.tif"
        value = scene.reflectance.get(band, FOREST[band])
        _write(path, _dn(value, (n, n), offset), res, 0)
        extra: dict[str, object] = {
            "raster:bands": [{"data_type": "uint16", "nodata": 0, "spatial_resolution": res}]
        }
        if res != 10.0:
            extra["proj:shape"] = [n, n]
            extra["proj:transform"] = [res, 0.0, X0, 0.0, -res, Y0]
        item.add_asset(
            band,
            pystac.Asset(
                str(path), media_type=pystac.MediaType.COG, roles=["data"], extra_fields=extra
            ),
        )
    scl = scene.scl if scene.scl is not None else np.full((half, half), 4, dtype="uint8")
    path = folder / "SCL.tif"
    _write(path, scl.astype("uint8"), 20.0, 0)
    item.add_asset(
        "SCL",
        pystac.Asset(
            str(path),
            media_type=pystac.MediaType.COG,
            roles=["data"],
            extra_fields={
                "raster:bands": [{"data_type": "uint8", "nodata": 0, "spatial_resolution": 20}],
                "proj:shape": [half, half],
                "proj:transform": [20.0, 0.0, X0, 0.0, -20.0, Y0],
            },
        ),
    )
    return item


def make_items(root: Path, scenes: list[Scene], size: int = 64) -> list[pystac.Item]:
    """Items for several scenes (one folder each under ``root``)."""
    return [make_item(root, s, size=size) for s in scenes]


def full_grid(size: int = 64):  # type: ignore[no-untyped-def]
    """The GridSpec covering the whole fixture tile."""
    from tiandi.eo.grid import GridSpec

    return GridSpec(CRS, 10.0, (X0, Y0 - size * 10, X0 + size * 10, Y0))
