"""Cloud-optimised GeoTIFF output and lazy input.

:func:`write_cogs` computes lazy arrays a few chunks at a time (:mod:`tiandi.eo._pieces`:
memory flat with the scene's size) and writes each as a COG (DEFLATE with predictor,
512 px tiles, overviews) into ``<name>.tmp-<pid>``, renamed into place at the end.

With nearest overviews (the default) every chunk's tiles, full resolution and overviews,
are encoded in the Dask task that computes the chunk (:mod:`tiandi.eo._tiles`: the
threads of this process or the workers of a cluster, which then send compressed tiles,
not arrays), appended to a scratch file as they come, and laid out as GDAL's COG driver
lays out a COG once the pass is over (:mod:`tiandi.eo._cogfile`). Other resamplings
(``average``) write the chunks to a temporary tiled GeoTIFF that GDAL's COG driver
converts, building the overviews itself (:mod:`tiandi.eo._gdalcog`). The cast to the
file's dtype runs where the data is computed. :func:`write_cogs` writes several COGs of
one grid in the same pass (e.g. the change probability and mask: their shared inputs are
read and computed once). The bytes depend only on the data, the tags and the options:
re-running gives an identical file.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import odc.geo.xr  # noqa: F401  (registers the .odc accessor)
import rasterio
import rioxarray
import xarray as xr
from dask.core import flatten
from dask.delayed import Delayed, delayed
from numpy.typing import NDArray
from odc.geo.geobox import GeoBox
from rasterio.windows import Window

from tiandi.eo._cogfile import GdalTags, gdal_tags, write_cog_file
from tiandi.eo._gdalcog import (
    BLOCKSIZE,
    GDAL_CACHE_MB,
    cog_from_geotiff,
    strips_profile,
    translate_to_cog,
)
from tiandi.eo._pieces import Piece, culled, min_chunks, row_pieces, slices
from tiandi.eo._pipeline import prefetched, release_pass
from tiandi.eo._tiles import ChunkTiles, TileGrid, TileSink, encode_chunk
from tiandi.errors import InputError

__all__ = [
    "BLOCKSIZE",
    "GDAL_CACHE_MB",
    "CogOutput",
    "cog_from_geotiff",
    "read_cog",
    "read_cog_dataset",
    "write_cog",
    "write_cogs",
]

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


#: DEFLATE levels of an output that names none: GDAL's default, and 1 for floats, whose
#: noisy low mantissa bits compress no better at 6 (bench/README.md, "Float outputs at
#: DEFLATE level 1": the 8192² change probability 1 % larger for 55 % of the CPU).
DEFAULT_LEVEL, FLOAT_LEVEL = 6, 1


@dataclass(frozen=True)
class CogOutput:
    """One COG to write: the data (lazy or not), its path, no-data value, dtype and tags."""

    data: xr.DataArray | xr.Dataset
    path: Path
    nodata: float | None
    dtype: str
    tags: Mapping[str, str] | None = None
    overview_resampling: str = "nearest"
    #: DEFLATE level (1 fastest .. 9 smallest); None: :data:`FLOAT_LEVEL` for a float
    #: dtype, else GDAL's default (6).
    deflate_level: int | None = None

    def level(self) -> int:
        """The DEFLATE level this output is written with."""
        if self.deflate_level is not None:
            return self.deflate_level
        return FLOAT_LEVEL if np.dtype(self.dtype).kind == "f" else DEFAULT_LEVEL


@dataclass(frozen=True)
class _Plan:
    """A :class:`CogOutput` checked: its layers, file profile and temporary files."""

    out: CogOutput
    layers: list[tuple[str, xr.DataArray]]
    profile: dict[str, Any]
    final_tmp: Path
    #: the scratch file of its encoded tiles (nearest overviews), else the strips file
    #: GDAL's COG driver converts
    scratch: Path
    #: the tiling and GDAL's tags of a COG laid out from its tiles; None: GDAL's driver
    tiles: tuple[TileGrid, GdalTags] | None

    def temporaries(self) -> list[Path]:
        """Every temporary file this output may leave before it is renamed into place."""
        return [self.scratch, self.final_tmp]


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
        sinks = _write_pass(plans)
        with ThreadPoolExecutor(min(len(plans), os.cpu_count() or 1)) as pool:
            list(pool.map(_finish, plans, sinks))  # the files laid out side by side
        for plan in plans:
            os.replace(plan.final_tmp, plan.out.path)
    finally:
        for plan in plans:
            for tmp in plan.temporaries():
                tmp.unlink(missing_ok=True)
        release_pass()
    return [plan.out.path for plan in plans]


def _writes_tiles(out: CogOutput) -> bool:
    """Whether ``out``'s tiles are encoded in the pass (nearest overviews: a pick of
    pixels per chunk); other resamplings need GDAL's driver to build the overviews."""
    return out.overview_resampling.lower() == "nearest"


def _plan(out: CogOutput) -> _Plan:
    """Check ``out`` and prepare its files (nothing is written yet)."""
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
    profile = strips_profile(gbox, crs_wkt, shape, len(layers), np_dtype, out.nodata)
    final_tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    if not _writes_tiles(out):
        scratch = path.with_name(f"{path.name}.tmp-{os.getpid()}-strips.tif")
        return _Plan(out, layers, profile, final_tmp, scratch, None)
    grid = TileGrid(
        height=shape[0],
        width=shape[1],
        bands=len(layers),
        dtype=np_dtype.name,
        block=BLOCKSIZE,
        level=out.level(),
        fill=0 if out.nodata is None else out.nodata,
    )
    tags = gdal_tags(grid, profile, out.tags, [name for name, _ in layers])
    scratch = path.with_name(f"{path.name}.tmp-{os.getpid()}-tiles")
    return _Plan(out, layers, profile, final_tmp, scratch, (grid, tags))


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


def _pieces(plans: Sequence[_Plan], stacks: Sequence[Any], budget: int) -> list[Piece]:
    """The pieces the outputs (``stacks``) are computed in (:mod:`tiandi.eo._pieces`)."""
    first = plans[0].layers[0][1]
    rows, cols = _strips(first), slices(first.chunks[1] if first.chunks else (first.shape[1],))
    per_px = sum(len(p.layers) * np.dtype(p.profile["dtype"]).itemsize for p in plans)
    one_chunk = [culled(stack[:, rows[0], cols[0]]) for stack in stacks]
    return row_pieces(rows, cols, per_px, budget, min_chunks(one_chunk))


def _chunk_of(plan: _Plan, stack: Any, piece_rows: slice, cols: slice) -> Any:
    """What the pass computes for one chunk of one output: the encoded tiles (a task of
    :func:`tiandi.eo._tiles.encode_chunk`, where the chunk is computed) or the pixels."""
    part = culled(stack[:, piece_rows, cols])
    if plan.tiles is None:
        return part
    grid = plan.tiles[0]
    if not isinstance(part, da.Array):
        return encode_chunk(grid, piece_rows.start, cols.start, np.asarray(part))
    graph = dict(part.__dask_graph__())  # one chunk's tasks (culled): small
    blocks = [Delayed(key, graph) for key in flatten(part.__dask_keys__())]  # type: ignore[no-untyped-call]
    return delayed(encode_chunk, pure=True)(grid, piece_rows.start, cols.start, *blocks)


def _write_pass(plans: Sequence[_Plan]) -> list[TileSink | None]:
    """Compute every output one piece of a row of chunks at a time (:func:`_pieces`):
    the tiles of each chunk into its output's :class:`TileSink`, or its pixels into the
    strips file GDAL converts."""
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), contextlib.ExitStack() as stack:
        writers: list[Callable[[int, int, Any], None]] = []
        sinks: list[TileSink | None] = []
        for plan in plans:
            if plan.tiles is not None:
                sink = stack.enter_context(TileSink(plan.tiles[0], plan.scratch))
                writers.append(functools.partial(_add_tiles, sink))
                sinks.append(sink)
                continue
            dst = stack.enter_context(rasterio.open(plan.scratch, "w", **plan.profile))
            if plan.out.tags:
                dst.update_tags(**dict(plan.out.tags))
            for i, (name, _) in enumerate(plan.layers, start=1):
                dst.set_band_description(i, name)
            writers.append(functools.partial(_write_window, dst))
            sinks.append(None)
        stacks = [_stacked(p) for p in plans]

        def compute(piece: Piece) -> tuple[Any, ...]:
            # one result per chunk and output: no concatenation of the chunks into a copy
            return da.compute(  # type: ignore[no-untyped-call,no-any-return]
                *[
                    _chunk_of(plan, out, piece.rows, cols)
                    for cols in piece.cols
                    for plan, out in zip(plans, stacks, strict=True)
                ],
                optimize_graph=False,  # same task keys in every piece (distributed)
            )

        # the next piece is computed while this one is written
        for piece, results in prefetched(compute, _pieces(plans, stacks, PIECE_BYTES)):
            per_chunk = [results[k : k + len(plans)] for k in range(0, len(results), len(plans))]
            for cols, outputs in zip(piece.cols, per_chunk, strict=True):
                for write, result in zip(writers, outputs, strict=True):
                    write(piece.rows.start, cols.start, result)
            # freed before the next piece; trimmed once after the pass (a trim per piece: +5 CPU-s)
            del results, per_chunk, outputs, result
    return sinks


def _add_tiles(sink: TileSink, row: int, col: int, tiles: ChunkTiles) -> None:
    sink.add(tiles)


def _write_window(dst: Any, row: int, col: int, block: NDArray[Any]) -> None:
    height, width = block.shape[-2:]
    dst.write(block, window=Window(col, row, width, height))


def _stacked(plan: _Plan) -> Any:
    """The output's layers cast to its dtype as one ``(band, y, x)`` array (lazy when they
    are): a strip of it is assembled once, where it is computed, not layer by layer and
    stacked again by the writer."""
    dtype = np.dtype(plan.profile["dtype"])
    cast = [_cast(layer, dtype, plan.out.nodata) for _, layer in plan.layers]
    if all(isinstance(layer, da.Array) for layer in cast):
        return da.stack(cast)  # type: ignore[no-untyped-call]
    return np.stack([np.asarray(layer) for layer in cast])


def _finish(plan: _Plan, sink: TileSink | None) -> None:
    """The COG of one output at its temporary path: laid out from its tiles, or
    converted by GDAL's COG driver from its strips file."""
    if plan.tiles is None or sink is None:
        out = plan.out
        translate_to_cog(
            plan.scratch,
            plan.final_tmp,
            overview_resampling=out.overview_resampling,
            deflate_level=out.level(),
        )
        return
    sink.check_complete()
    grid, tags = plan.tiles
    write_cog_file(plan.final_tmp, grid, tags, plan.scratch, sink.index)


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
