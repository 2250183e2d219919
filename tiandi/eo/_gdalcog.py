"""GDAL's COG driver, for the COGs whose overviews GDAL builds itself.

The one pass lays out its nearest-overview COGs from tiles it encodes
(:mod:`tiandi.eo._tiles`); other resamplings (``average``: GF products) and GeoTIFFs
written elsewhere (:func:`cog_from_geotiff`: tiles fetched from an API) are written as a
tiled GeoTIFF first (:func:`strips_profile`: zstd level 1, fast) and converted here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from odc.geo.geobox import GeoBox

__all__ = ["BLOCKSIZE", "GDAL_CACHE_MB", "cog_from_geotiff", "strips_profile", "translate_to_cog"]

BLOCKSIZE = 512
#: GDAL block cache while writing (MB): keeps memory bounded on large scenes.
GDAL_CACHE_MB = 256


def strips_profile(
    gbox: GeoBox,
    crs_wkt: str,
    shape: tuple[int, ...],
    count: int,
    np_dtype: np.dtype[Any],
    nodata: float | None,
) -> dict[str, Any]:
    """rasterio profile of the intermediate tiled GeoTIFF (zstd level 1: fast)."""
    rows, cols = shape
    return {
        "driver": "GTiff",
        "width": cols,
        "height": rows,
        "count": count,
        "dtype": np_dtype.name,
        "crs": crs_wkt,
        "transform": gbox.transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": BLOCKSIZE,
        "blockysize": BLOCKSIZE,
        "compress": "zstd",
        "zstd_level": 1,
        "bigtiff": "if_safer",
        "num_threads": "all_cpus",  # tiles compressed on every core while written
    }


def cog_from_geotiff(source: Path, target: Path, *, overview_resampling: str = "nearest") -> Path:
    """Convert a GeoTIFF written piece by piece elsewhere (e.g. tiles fetched from an API)
    into a COG at ``target`` with :func:`tiandi.eo.cog.write_cog`'s options, atomically;
    return it."""
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    try:
        translate_to_cog(source, tmp, overview_resampling=overview_resampling)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def translate_to_cog(
    source: Path,
    target: Path,
    *,
    overview_resampling: str = "nearest",
    deflate_level: int | None = None,
) -> None:
    """GDAL's COG driver: DEFLATE with predictor, 512 px tiles, overviews built by GDAL."""
    level = {} if deflate_level is None else {"LEVEL": str(deflate_level)}
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
        rasterio.shutil.copy(
            source,
            target,
            driver="COG",
            COMPRESS="DEFLATE",
            PREDICTOR="YES",
            BLOCKSIZE=str(BLOCKSIZE),
            OVERVIEWS="AUTO",
            OVERVIEW_RESAMPLING=overview_resampling.upper(),
            BIGTIFF="IF_SAFER",
            NUM_THREADS="ALL_CPUS",  # tiles compressed in parallel; same bytes
            **level,
        )
