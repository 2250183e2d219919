"""Cloud-optimised GeoTIFF output and lazy input.

:func:`write_cog` computes a lazy array a few chunks at a time (:mod:`tiandi.eo._pieces`:
memory flat with the scene's size), writes each chunk into a temporary tiled GeoTIFF,
converts that with GDAL's COG driver (DEFLATE with predictor, 512 px tiles, overviews,
tiles compressed on all cores) into ``<name>.tmp-<pid>`` and renames it into place.
Nearest overviews are picked from each chunk while it is in memory
(:mod:`tiandi.eo._overviews`), so GDAL copies them instead of decoding the file again.
The cast to the file's dtype runs where the data is computed (a worker sends it narrow).
:func:`write_cogs` writes several COGs of one grid in the same pass (e.g. the change
probability and mask: their shared inputs are read and computed once). The bytes depend
only on the data, the tags and the options: re-running gives an identical file.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
from rasterio.windows import Window

from tiandi.eo._overviews import StreamedOverviews
from tiandi.eo._pieces import Piece, culled, min_chunks, row_pieces, slices
from tiandi.eo._pipeline import prefetched, release_pass
from tiandi.errors import InputError

__all__ = [
    "CogOutput",
    "cog_from_geotiff",
    "read_cog",
    "read_cog_dataset",
    "write_cog",
    "write_cogs",
]

BLOCKSIZE = 512
#: GDAL block cache while writing (MB): keeps memory bounded on large scenes.
GDAL_CACHE_MB = 256
#: Bytes of output (all files of one pass) computed at a time (:mod:`tiandi.eo._pieces`).
PIECE_BYTES = 64 * 2**20


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


def _strips(layer: xr.DataArray) -> list[slice]:  # the rows of each row of chunks
    return slices(layer.chunks[0] if layer.chunks else (layer.shape[0],))


def _needs_nodata(source: np.dtype[Any], target: np.dtype[Any]) -> bool:
    """Whether NaN can occur in ``source`` and must become a no-data value in ``target``."""
    return bool(np.issubdtype(source, np.floating) and not np.issubdtype(target, np.floating))


def _to_dtype(block: NDArray[Any], dtype: np.dtype[Any], nodata: float | None) -> NDArray[Any]:
    if _needs_nodata(block.dtype, dtype):
        if nodata is None:
            raise InputError(
                f"cannot write float data as {dtype} without a nodata value for NaN; pass nodata"
            )
        block = np.where(np.isnan(block), nodata, block)
    return block.astype(dtype, copy=False)


def _cast(layer: xr.DataArray, dtype: np.dtype[Any], nodata: float | None) -> Any:
    """The layer's data cast to ``dtype`` (lazily, in the graph, when it is a Dask array)."""
    data = layer.data
    if isinstance(data, da.Array):
        return da.map_blocks(  # type: ignore[no-untyped-call]
            functools.partial(_to_dtype, dtype=dtype, nodata=nodata), data, dtype=dtype
        )
    return _to_dtype(np.asarray(data), dtype, nodata)


@dataclass(frozen=True)
class CogOutput:
    """One COG to write: the data (lazy or not), its path, no-data value, dtype and tags."""

    data: xr.DataArray | xr.Dataset
    path: Path
    nodata: float | None
    dtype: str
    tags: Mapping[str, str] | None = None
    overview_resampling: str = "nearest"
    #: DEFLATE level (1 fastest .. 9 smallest); None: GDAL's default (6).
    deflate_level: int | None = None


@dataclass(frozen=True)
class _Plan:
    """A :class:`CogOutput` checked: its layers, intermediate profile and temporary files."""

    out: CogOutput
    layers: list[tuple[str, xr.DataArray]]
    profile: dict[str, Any]
    strips_tmp: Path
    final_tmp: Path
    #: nearest overviews computed from the strips (None: GDAL builds them, e.g. average)
    overviews: StreamedOverviews | None = None

    def temporaries(self) -> list[Path]:
        """Every temporary file this output may leave before it is renamed into place."""
        extra = [] if self.overviews is None else [*self.overviews.paths, self.vrt_tmp]
        return [self.strips_tmp, self.final_tmp, *extra]

    @property
    def vrt_tmp(self) -> Path:
        return self.strips_tmp.with_suffix(".vrt")


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
    ``(band, y, x)`` array one band per band label. Values are cast to ``dtype`` where the
    data is computed (a Dask worker); NaN becomes ``nodata`` for integer types.
    Computation runs a few chunks of a row of chunks at a time under the active Dask
    scheduler. On any
    failure the target is left untouched and no temporary file remains.
    """
    return write_cogs([CogOutput(data, Path(path), nodata, dtype, tags, overview_resampling)])[0]


def write_cogs(outputs: Sequence[CogOutput]) -> list[Path]:
    """Write several COGs of one grid in one pass: each chunk of every output is
    computed together (shared inputs are read once) and written to its own file.

    The outputs must have the same rows and row chunks. Atomic per file, as
    :func:`write_cog`; on any failure no target is touched and no temporary file remains.
    """
    plans = [_plan(out) for out in outputs]
    _check_same_strips(plans)
    try:
        _write_all_strips(plans)
        for plan in plans:
            _translate_plan(plan)
        for plan in plans:
            os.replace(plan.final_tmp, plan.out.path)
    finally:
        for plan in plans:
            for tmp in plan.temporaries():
                tmp.unlink(missing_ok=True)
        release_pass()
    return [plan.out.path for plan in plans]


def _plan(out: CogOutput) -> _Plan:
    """Check ``out`` and prepare its intermediate file (nothing is written yet)."""
    path = Path(out.path)
    layers = _layers(out.data)
    gbox, crs_wkt = _geobox(layers[0][1], path)
    np_dtype = np.dtype(out.dtype)
    for name, layer in layers:
        if _needs_nodata(np.dtype(layer.dtype), np_dtype) and out.nodata is None:
            raise InputError(
                f"cannot write float layer {name!r} to {path} as {np_dtype} without a nodata "
                "value for NaN; pass nodata"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = layers[0][1].shape
    profile = _strips_profile(gbox, crs_wkt, shape, len(layers), np_dtype, out.nodata)
    strips_tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-strips.tif")
    overviews = None
    if out.overview_resampling.lower() == "nearest":
        overviews = StreamedOverviews(profile, strips_tmp.with_suffix(""), BLOCKSIZE)
    return _Plan(
        out,
        layers,
        profile,
        strips_tmp,
        path.with_name(f"{path.name}.tmp-{os.getpid()}"),
        overviews,
    )


def _check_same_strips(plans: Sequence[_Plan]) -> None:
    strips = {tuple((s.start, s.stop) for s in _strips(plan.layers[0][1])) for plan in plans}
    if len(strips) > 1:
        names = ", ".join(str(plan.out.path) for plan in plans)
        raise InputError(
            f"write_cogs got outputs with different rows or row chunks ({names}); "
            "rechunk them alike or write them one by one with write_cog"
        )


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
        "num_threads": "all_cpus",  # tiles compressed on every core while written
    }


def _pieces(plans: Sequence[_Plan], stacks: Sequence[Any], budget: int) -> list[Piece]:
    """The pieces the outputs (``stacks``) are computed in (:mod:`tiandi.eo._pieces`)."""
    first = plans[0].layers[0][1]
    rows, cols = _strips(first), slices(first.chunks[1] if first.chunks else (first.shape[1],))
    per_px = sum(len(p.layers) * np.dtype(p.profile["dtype"]).itemsize for p in plans)
    one_chunk = [culled(stack[:, rows[0], cols[0]]) for stack in stacks]
    return row_pieces(rows, cols, per_px, budget, min_chunks(one_chunk))


def _write_all_strips(plans: Sequence[_Plan]) -> None:
    """Compute every output one piece of a row of chunks at a time (:func:`_pieces`) into
    its intermediate GeoTIFF, chunk by chunk."""
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), contextlib.ExitStack() as stack:
        files = []
        overviews = []
        for plan in plans:
            dst = stack.enter_context(rasterio.open(plan.strips_tmp, "w", **plan.profile))
            overviews.append(
                None if plan.overviews is None else stack.enter_context(plan.overviews)
            )
            if plan.out.tags:
                dst.update_tags(**dict(plan.out.tags))
            for i, (name, _) in enumerate(plan.layers, start=1):
                dst.set_band_description(i, name)
            files.append(dst)
        stacks = [_stacked(p) for p in plans]

        def compute(piece: Piece) -> tuple[Any, ...]:
            # one array per chunk and output: no concatenation of the chunks into a copy
            return da.compute(  # type: ignore[no-untyped-call,no-any-return]
                *[culled(stack[:, piece.rows, cols]) for cols in piece.cols for stack in stacks],
                optimize_graph=False,  # same task keys in every piece (distributed)
            )

        # the next piece is computed while this one is compressed and written
        for piece, blocks in prefetched(compute, _pieces(plans, stacks, PIECE_BYTES)):
            per_chunk = [blocks[k : k + len(files)] for k in range(0, len(blocks), len(files))]
            for cols, outputs in zip(piece.cols, per_chunk, strict=True):
                row, col = piece.rows.start, cols.start
                for dst, ovr, block in zip(files, overviews, outputs, strict=True):
                    height, width = block.shape[-2:]
                    dst.write(block, window=Window(col, row, width, height))
                    if ovr is not None:
                        ovr.add(row, col, block)
            # freed before the next piece; trimmed once after the pass (a trim per piece: +5 CPU-s)
            del blocks, per_chunk, outputs, block


def _stacked(plan: _Plan) -> Any:
    """The output's layers cast to its dtype as one ``(band, y, x)`` array (lazy when they
    are): a strip of it is assembled once, where it is computed, not layer by layer and
    stacked again by the writer."""
    dtype = np.dtype(plan.profile["dtype"])
    cast = [_cast(layer, dtype, plan.out.nodata) for _, layer in plan.layers]
    if all(isinstance(layer, da.Array) for layer in cast):
        return da.stack(cast)  # type: ignore[no-untyped-call]
    return np.stack([np.asarray(layer) for layer in cast])


def _translate_plan(plan: _Plan) -> None:
    """The COG of one output from its strips file and, when computed with the strips, its
    overview levels (GDAL then copies them instead of decoding the strips to build them)."""
    if plan.overviews is None or not plan.overviews.paths:
        _translate_to_cog(plan.strips_tmp, plan.final_tmp, plan.out)
        return
    vrt = plan.overviews.vrt(plan.strips_tmp, plan.vrt_tmp)
    _translate_to_cog(vrt, plan.final_tmp, plan.out, overviews="FORCE_USE_EXISTING")


def cog_from_geotiff(source: Path, target: Path, *, overview_resampling: str = "nearest") -> Path:
    """Convert a GeoTIFF written piece by piece elsewhere (e.g. tiles fetched from an API)
    into a COG at ``target`` with :func:`write_cog`'s options, atomically; return it."""
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    try:
        _translate_to_cog(source, tmp, overview_resampling=overview_resampling)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _translate_to_cog(
    source: Path,
    target: Path,
    out: CogOutput | None = None,
    *,
    overview_resampling: str = "nearest",
    overviews: str = "AUTO",
) -> None:
    """GDAL's COG driver: DEFLATE with predictor, 512 px tiles, overviews (built by GDAL,
    or the source's own with ``overviews="FORCE_USE_EXISTING"``)."""
    deflate = None if out is None else out.deflate_level
    level = {} if deflate is None else {"LEVEL": str(deflate)}
    resampling = overview_resampling if out is None else out.overview_resampling
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
        rasterio.shutil.copy(
            source,
            target,
            driver="COG",
            COMPRESS="DEFLATE",
            PREDICTOR="YES",
            BLOCKSIZE=str(BLOCKSIZE),
            OVERVIEWS=overviews,
            OVERVIEW_RESAMPLING=resampling.upper(),
            BIGTIFF="IF_SAFER",
            NUM_THREADS="ALL_CPUS",  # tiles compressed in parallel; same bytes
            **level,
        )


def read_cog(path: Path, chunk: int = 1024) -> xr.DataArray:
    """Open a (COG) GeoTIFF lazily as a ``(band, y, x)`` DataArray chunked ``chunk``².

    The ``band`` coordinate holds the band descriptions when the file has them (as
    :func:`write_cog` writes), else 1..n, values as stored. ``lock=False``: chunks read
    in parallel (a handle per read), not one thread at a time per file as by default."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"raster {path} does not exist; write it first or fix the path")
    try:
        arr = rioxarray.open_rasterio(path, chunks={"band": -1, "y": chunk, "x": chunk}, lock=False)
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
