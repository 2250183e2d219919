"""Atomic, byte-stable writers for the demo scene: COG, GeoPackage, JSON.

Every file is written to ``<name>.tmp-<pid>`` (GeoPackages: ``<stem>.tmp-<pid>.gpkg``,
because GDAL wants the extension) in the same folder and moved into place with
``os.replace``, so a failure leaves either the old file or the new one, never half of one.
Nothing time-dependent goes into a file: GeoTIFFs carry no date tag, and GeoPackages are
written with ``OGR_CURRENT_DATE`` fixed so ``gpkg_contents.last_change`` is constant.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyogrio
import rasterio
from rasterio.transform import Affine

from tiandi.errors import InputError

GPKG_DATE = "2025-01-01T00:00:00.000Z"


@contextlib.contextmanager
def _replacing(path: Path, suffix: str = "") -> Iterator[Path]:
    tmp = path.with_name(f"{path.stem if suffix else path.name}.tmp-{os.getpid()}{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc}; check the folder is writable") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_cog(
    path: Path,
    data: npt.NDArray[Any],
    *,
    transform: Affine,
    crs: str,
    nodata: int,
    resampling: str,
    description: str,
) -> None:
    """Write one band as a DEFLATE COG (512 px tiles, predictor 2, overviews)."""
    with _replacing(path) as tmp:
        profile: dict[str, Any] = {
            "driver": "COG",
            "width": data.shape[1],
            "height": data.shape[0],
            "count": 1,
            "dtype": data.dtype.name,
            "crs": crs,
            "transform": transform,
            "nodata": nodata,
            "compress": "DEFLATE",
            "blocksize": 512,
            "predictor": 2,
            "overview_resampling": resampling,
            "bigtiff": "NO",
        }
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(np.ascontiguousarray(data), 1)
            dst.set_band_description(1, description)


def write_gpkg(path: Path, frame: Any, layer: str) -> None:
    """Write a GeoDataFrame as one GeoPackage layer with stable bytes."""
    write_gpkg_layers(path, {layer: frame})


def write_gpkg_layers(path: Path, layers: Mapping[str, Any]) -> None:
    """Write GeoDataFrames as the layers of one GeoPackage (in the given order) with
    stable bytes."""
    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": GPKG_DATE})
    try:
        with _replacing(path, ".gpkg") as tmp:
            for layer, frame in layers.items():
                pyogrio.write_dataframe(frame, tmp, layer=layer, driver="GPKG")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})


def write_json(path: Path, payload: Any) -> None:
    """Write JSON (UTF-8, indented, non-ASCII kept) atomically."""
    with _replacing(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
