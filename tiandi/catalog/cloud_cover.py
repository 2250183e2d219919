"""Scene cloud cover (``eo:cloud_cover``, %) from a scene's own mask band.

- Sentinel-2 L2A ``SCL`` (Sen2Cor scene classification): cloudy = classes 3 (cloud
  shadow), 8 and 9 (cloud, medium and high probability) and 10 (thin cirrus); class 0 (no
  data) is left out of the count, so the figure is the share of the *valid* pixels.
- Landsat Collection 2 ``QA_PIXEL``: cloudy = bits 1 (dilated cloud), 2 (cirrus), 3 (cloud)
  and 4 (cloud shadow); pixels with bit 0 (fill) are left out.

The mask is read at a decimated level (at most :data:`MAX_SIDE` pixels a side, nearest
neighbour), so GDAL uses the file's overviews (JPEG 2000 resolution levels, COG overviews)
when it has them: a 5490 x 5490 SCL band is read as about 550 x 550 pixels. The result is
rounded to 0.01 %; it is None when the mask has no valid pixel.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.errors
from rasterio.enums import Resampling

from tiandi.errors import InputError

__all__ = [
    "MAX_SIDE",
    "cloud_cover_of_assets",
    "qa_cloud_cover",
    "resolve_cloud_cover",
    "scl_cloud_cover",
]

MAX_SIDE = 1024
SCL_NO_DATA = 0
SCL_CLOUDY = (3, 8, 9, 10)
QA_FILL = 1 << 0
QA_CLOUDY = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4)
_SCL_KEY = re.compile(r"(^|_)SCL(_\d+m)?$", re.IGNORECASE)
_QA_KEY = re.compile(r"(^|_)QA_PIXEL$", re.IGNORECASE)


def scl_cloud_cover(source: Path | str) -> float | None:
    """Cloud cover (%) of the valid pixels of a Sentinel-2 SCL raster (path or GDAL name)."""
    scl = _read_decimated(source, "SCL")
    valid = scl != SCL_NO_DATA
    return _percent(np.isin(scl, SCL_CLOUDY) & valid, valid)


def qa_cloud_cover(source: Path | str) -> float | None:
    """Cloud cover (%) of the non-fill pixels of a Landsat Collection 2 QA_PIXEL raster."""
    qa = _read_decimated(source, "QA_PIXEL")
    if not np.issubdtype(qa.dtype, np.integer):
        raise InputError(
            f"QA_PIXEL raster {source} holds {qa.dtype} values; expected the bit-packed "
            "integer band of the *_QA_PIXEL.TIF file"
        )
    bits = qa.astype(np.int64)
    valid = (bits & QA_FILL) == 0
    return _percent(((bits & QA_CLOUDY) != 0) & valid, valid)


def cloud_cover_of_assets(assets: Mapping[str, Path | str]) -> float | None:
    """Cloud cover from the scene's mask asset: ``SCL`` (or ``*_SCL_20m``), else ``QA_PIXEL``.

    None when no asset is a mask band or the mask has no valid pixel.
    """
    for key, source in assets.items():
        if _SCL_KEY.search(key):
            return scl_cloud_cover(source)
    for key, source in assets.items():
        if _QA_KEY.search(key):
            return qa_cloud_cover(source)
    return None


def resolve_cloud_cover(
    assets: Mapping[str, Path | str], given: float | None = None
) -> float | None:
    """The ``eo:cloud_cover`` to register: ``given`` when set (0..100), else from the assets.

    None when neither tells it (searches then keep the item with a warning).
    """
    if given is None:
        return cloud_cover_of_assets(assets)
    if isinstance(given, bool) or not isinstance(given, int | float) or not 0 <= given <= 100:
        raise InputError(
            f"cloud cover {given!r} must be a percentage between 0 and 100 "
            "(e.g. --cloud-cover 12.5)"
        )
    return float(given)


def _read_decimated(source: Path | str, what: str) -> npt.NDArray[np.generic]:
    try:
        with rasterio.open(source) as src:
            factor = max(1, math.ceil(max(src.width, src.height) / MAX_SIDE))
            shape = (math.ceil(src.height / factor), math.ceil(src.width / factor))
            data: npt.NDArray[np.generic] = src.read(
                1, out_shape=shape, resampling=Resampling.nearest
            )
            return data
    except rasterio.errors.RasterioError as exc:
        raise InputError(
            f"{what} raster {source} cannot be read ({exc}); check that the file is "
            "complete, or give the cloud cover yourself (--cloud-cover)"
        ) from exc


def _percent(cloudy: npt.NDArray[np.bool_], valid: npt.NDArray[np.bool_]) -> float | None:
    n_valid = int(valid.sum())
    if n_valid == 0:
        return None
    return round(100.0 * int(cloudy.sum()) / n_valid, 2)
