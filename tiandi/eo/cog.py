"""Cloud-optimised GeoTIFF output and lazy input.

:func:`write_cog` computes a lazy array strip by strip (one row of chunks at a time, so
the scheduler never holds the whole scene), writes the strips into a temporary tiled
GeoTIFF, converts that with GDAL's COG driver (DEFLATE with predictor, 512 px tiles,
overviews) into ``<name>.tmp-<pid>`` beside the target and renames it into place. The bytes
depend only on the data, the tags and the options: re-running gives an identical file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import odc.geo.xr  # noqa: F401  (registers the .odc accessor)
import rasterio
import rasterio.shutil
import rioxarray
import xarray as xr
from numpy.typing import NDArray
from odc.geo.geobox import GeoBox

from tiandi.errors import InputError

__all__ = ["read_cog", "read_cog_dataset", "write_cog"]

BLOCKSIZE = 512
#: GDAL block cache while writing (MB): keeps memory bounded on large scenes.
GDAL_CACHE_MB = 256


def _layers(data: xr.DataArray | xr.Dataset) -> list[tuple[str, xr.DataArray]]:
    if isinstance(data, xr.Dataset):
        layers = [(str(k), v) for k, v in data.data_vars.items()]
    elif data.ndim == 3:
        dim = data.dims[0]
        layers = [(str(data[dim].values[i]), data.isel({dim: i})) for i in range(data.shape[0])]
    else:
        layers = [(str(data.name or "band_1"), data)]
    if not layers:
        raise InputError("write_cog got a Dataset without variables; nothing to write")
    for name, layer in layers:
        if layer.dims[-2:] != ("y", "x") or layer.ndim != 2:
            raise InputError(
                f"layer {name!r} has dims {layer.dims}; write_cog needs 2-D (y, x) layers "
                "(or a (band, y, x) array)"
            )
    return layers


def _strips(layer: xr.DataArray) -> list[slice]:
    rows = layer.shape[0]
    chunks = layer.chunks[0] if layer.chunks else (rows,)
    out, start = [], 0
    for size in chunks:
        out.append(slice(start, start + size))
        start += size
    return out


def _to_dtype(block: NDArray[Any], dtype: np.dtype[Any], nodata: float | None) -> NDArray[Any]:
    if np.issubdtype(block.dtype, np.floating) and not np.issubdtype(dtype, np.floating):
        if nodata is None:
            raise InputError(
                f"cannot write float data as {dtype} without a nodata value for NaN; pass nodata"
            )
        block = np.where(np.isnan(block), nodata, block)
    return block.astype(dtype, copy=False)


def write_cog(
    data: xr.DataArray | xr.Dataset,
    path: Path,
    *,
    nodata: float | None,
    dtype: str,
    tags: Mapping[str, str] | None = None,
    overview_resampling: str = "nearest",
) -> Path:
    """Write ``data`` (lazy or not) as a COG at ``path`` atomically; return ``path``.

    A Dataset becomes one band per variable (band descriptions = variable names), a
    ``(band, y, x)`` array one band per band label. Values are cast to ``dtype``; NaN
    becomes ``nodata`` for integer types. Computation runs one row of chunks at a time
    under the active Dask scheduler. On any failure the target is left untouched and no
    temporary file remains.
    """
    path = Path(path)
    layers = _layers(data)
    gbox, crs_wkt = _geobox(layers[0][1], path)
    np_dtype = np.dtype(dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    strips_tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-strips.tif")
    final_tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        profile = _strips_profile(gbox, crs_wkt, layers[0][1].shape, len(layers), np_dtype, nodata)
        _write_strips(strips_tmp, profile, layers, tags, nodata)
        _translate_to_cog(strips_tmp, final_tmp, overview_resampling)
        os.replace(final_tmp, path)
    finally:
        for tmp in (strips_tmp, final_tmp):
            tmp.unlink(missing_ok=True)
    return path


def _geobox(layer: xr.DataArray, path: Path) -> tuple[GeoBox, str]:
    """The layer's GeoBox and its CRS as WKT; InputError when it has no grid or no CRS."""
    try:
        gbox = layer.odc.geobox
    except Exception as exc:  # odc raises various errors for missing spatial coords
        raise InputError(f"cannot write {path}: the data has no grid/CRS ({exc})") from exc
    if gbox is None or gbox.crs is None:
        raise InputError(f"cannot write {path}: the data has no CRS; keep its spatial_ref")
    return gbox, str(gbox.crs.to_wkt())


def _strips_profile(
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
    }


def _write_strips(
    target: Path,
    profile: dict[str, Any],
    layers: list[tuple[str, xr.DataArray]],
    tags: Mapping[str, str] | None,
    nodata: float | None,
) -> None:
    """Compute the layers one row of chunks at a time into the GeoTIFF ``target``."""
    np_dtype = np.dtype(profile["dtype"])
    cols = profile["width"]
    with (
        rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB),
        rasterio.open(target, "w", **profile) as dst,
    ):
        if tags:
            dst.update_tags(**dict(tags))
        for i, (name, _) in enumerate(layers, start=1):
            dst.set_band_description(i, name)
        for strip in _strips(layers[0][1]):
            blocks = da.compute(  # type: ignore[no-untyped-call]
                *[layer.isel(y=strip).data for _, layer in layers],
                optimize_graph=False,  # same task keys in every strip (distributed)
            )
            window = rasterio.windows.Window(0, strip.start, cols, strip.stop - strip.start)
            stack = np.stack([_to_dtype(np.asarray(b), np_dtype, nodata) for b in blocks])
            dst.write(stack, window=window)


def _translate_to_cog(source: Path, target: Path, overview_resampling: str) -> None:
    """GDAL's COG driver: DEFLATE with predictor, 512 px tiles, overviews."""
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
        )


def read_cog(path: Path, chunk: int = 1024) -> xr.DataArray:
    """Open a (COG) GeoTIFF lazily as a ``(band, y, x)`` DataArray chunked ``chunk``².

    The ``band`` coordinate holds the band descriptions when the file has them (as
    :func:`write_cog` writes), else 1..n. Values are left as stored (no masking).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"raster {path} does not exist; write it first or fix the path")
    try:
        arr = rioxarray.open_rasterio(path, chunks={"band": -1, "y": chunk, "x": chunk})
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"raster {path} is unreadable ({exc}); re-create it") from exc
    if not isinstance(arr, xr.DataArray):
        raise InputError(f"raster {path} has subdatasets; give one GeoTIFF")
    with rasterio.open(path) as src:
        names = list(src.descriptions)
    if all(names) and len(set(names)) == len(names):
        arr = arr.assign_coords(band=[str(n) for n in names])
    return arr


def read_cog_dataset(path: Path, chunk: int = 1024) -> xr.Dataset:
    """Open a GeoTIFF lazily as a Dataset with one ``(y, x)`` variable per band."""
    arr = read_cog(path, chunk)
    names = [str(b) for b in arr["band"].values]
    return xr.Dataset({n: arr.isel(band=i, drop=True) for i, n in enumerate(names)})
