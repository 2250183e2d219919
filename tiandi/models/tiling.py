"""Tiled inference of a two-date change network over arrays of any size, lazy or not.

Tiles lie on one *global* grid: tile ``k`` of an axis starts at ``k * stride`` (``stride =
tile - overlap``), the last one is cut at the array's end. Each tile's change probability
is weighted by a window that is 0 over its outer ``margin`` pixels (the pixels zero
padding disturbs), ramps up (cosine² or linear) over the rest of the overlap and is 1 in
between; at the array's own borders the window stays 1. Two neighbouring tiles' ramps
add up to 1, so the blend is a partition of unity and shows no seams; the result is the
weighted mean of the tiles covering a pixel.

Lazy inputs (dask-backed) are cut into blocks of about ``block`` pixels, a whole number
of strides. A block's task reads the input window of the tiles that touch it (its core
plus up to one tile around it) itself, predicts those tiles and keeps its core. A tile on
a block border is predicted once per process and shared by the blocks it touches
(:mod:`tiandi.models.tiling_shared`; blocks computed in different processes predict it
each, with the same numbers), and every block blends its tiles in grid order, so the
result does not depend on the block size, the input's chunks or where a block ran (no
seams between blocks). Without the sharing a grid of blocks of ``K`` strides predicts up
to ``((K + 1) / K)²`` times the tiles (1.56 for the default blocks of 4 strides). Memory
is bounded by one block's input window per running task, never the whole scene: the
window is read inside the task, so no scheduler reads windows ahead of the blocks that
use them.

No data: a pixel with NaN in any band of either date is NaN in the output; a tile
without a single valid pixel is not predicted; the network sees NaN as the band mean.
Tiles of equal shape go through the network in batches of ``batch_size`` (a short last
batch filled up with zeros, so that a tile's probabilities do not depend on the tiles it
ran with: the same bytes wherever and with whatever it was predicted); torch's
intra-op threads are set to ``num_threads`` in every block (a process-wide setting; with
a threaded Dask scheduler the blocks run side by side, so 1 is the default). The forward
passes run in ``precision`` (:mod:`tiandi.models.precision`: bfloat16 where the CPU has it).
Tile starts are multiples of the network's ``2**depth``, so pooling grids line up.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

import dask
import dask.array as da
import numpy as np
import numpy.typing as npt
import torch
import xarray as xr
from torch import nn

from tiandi.errors import InputError
from tiandi.models.precision import compute_in
from tiandi.models.tiling_grid import FloatArray, TileAxis, TileConfig, tiles_touching, window_of
from tiandi.models.tiling_shared import Key, PredictionTiles


def network_alignment(model: nn.Module) -> int:
    """The multiple tile starts must keep: ``2**depth`` for a SiameseDiffUNet, else 1."""
    config = getattr(model, "config", None)
    depth = getattr(config, "depth", 0)
    return int(2 ** int(depth))


def _check(model: nn.Module, config: TileConfig) -> None:
    align = network_alignment(model)
    if config.stride % align:
        raise InputError(
            f"TileConfig: tile - overlap = {config.stride} must be a multiple of {align} "
            f"(2**depth of the network), so every tile sees the same pooling grid; "
            f"e.g. tile {config.tile} with overlap {config.tile % align or align}"
        )


class _Batcher:
    """Collects tiles of equal shape and runs them through the network in batches."""

    def __init__(
        self,
        model: nn.Module,
        bands: int,
        batch_size: int,
        sink: Callable[[tuple[int, int], FloatArray], None],
    ) -> None:
        self.model = model
        self.bands = bands
        self.batch_size = batch_size
        self.sink = sink
        self.queues: dict[tuple[int, ...], list[tuple[tuple[int, int], FloatArray]]] = {}

    def add(self, key: tuple[int, int], data: FloatArray) -> None:
        """Queue tile ``key`` (its row and column index); run a batch when one is full."""
        queue = self.queues.setdefault(data.shape, [])
        queue.append((key, data))
        if len(queue) >= self.batch_size:
            self._run(data.shape)

    def flush(self) -> None:
        """Run every tile still queued."""
        for shape in list(self.queues):
            self._run(shape)

    def _run(self, shape: tuple[int, ...]) -> None:
        queue = self.queues.pop(shape, [])
        if not queue:
            return
        tiles = [d for _, d in queue]
        # a short last batch is filled up with zeros: oneDNN's sums depend on the batch's
        # size (by float32 rounding), so every tile runs in a batch of the same size and
        # its probabilities do not depend on which tiles it was batched with
        tiles += [np.zeros_like(tiles[0])] * (self.batch_size - len(tiles))
        x = torch.from_numpy(np.stack(tiles))
        # channels-last (NHWC): oneDNN's convolutions run 1.3-1.6x faster on this layout
        # than on NCHW, the same sums to float32 rounding (bench/README.md, "Inference")
        before, after = (
            t.contiguous(memory_format=torch.channels_last)
            for t in (x[:, : self.bands], x[:, self.bands :])
        )
        logits = self.model(before, after)
        probs = torch.sigmoid(logits[:, 0].float()).numpy()
        for (key, _), prob in zip(queue, probs[: len(queue)], strict=True):
            self.sink(key, prob)


def _valid(window: FloatArray) -> npt.NDArray[np.bool_]:
    """Pixels finite in every band (band by band: no temporary of the window's size)."""
    valid: npt.NDArray[np.bool_] = np.isfinite(window[0])
    for band in window[1:]:
        valid &= np.isfinite(band)
    return valid


def _tile(
    window: FloatArray, origin: tuple[int, int], rows: TileAxis, cols: TileAxis, key: Key
) -> FloatArray:
    """Tile ``key``'s input, cut from the block's window (a contiguous float32 copy)."""
    (ty0, ty1), (tx0, tx1) = rows.span(key[0]), cols.span(key[1])
    oy, ox = origin
    sl = (slice(None), slice(ty0 - oy, ty1 - oy), slice(tx0 - ox, tx1 - ox))
    return np.ascontiguousarray(window[sl], dtype=np.float32)


def _predict_tiles(
    model: nn.Module,
    window: FloatArray,
    origin: tuple[int, int],
    tiles: Sequence[Key],
    rows: TileAxis,
    cols: TileAxis,
    config: TileConfig,
    shared: PredictionTiles | None,
) -> dict[Key, FloatArray]:
    """Each tile's probabilities: predicted here, or taken from the block that claimed it
    (border tiles, when ``shared``); a claimed tile is put there for the other blocks."""
    probs: dict[Key, FloatArray] = {}
    claimed: dict[Key, Future[FloatArray]] = {}
    waiting: dict[Key, Future[FloatArray]] = {}
    # one array for the block's tiles: the network's outputs are freed batch by batch
    store = np.empty((len(tiles), config.tile, config.tile), dtype=np.float32)
    slot = {key: i for i, key in enumerate(tiles)}

    def keep(key: Key, prob: FloatArray) -> None:
        kept = store[slot[key], : prob.shape[0], : prob.shape[1]]
        kept[...] = prob
        probs[key] = kept
        if shared is not None and key in claimed:  # a copy: the store goes with the block
            shared.put(key, claimed[key], kept.copy())

    batcher = _Batcher(model, window.shape[0] // 2, config.batch_size, keep)
    try:
        for key in tiles:
            future, mine = shared.claim(key) if shared is not None else (None, True)
            if future is not None:
                (claimed if mine else waiting)[key] = future
            if mine:
                batcher.add(key, _tile(window, origin, rows, cols, key))
        batcher.flush()
    except BaseException as exc:
        if shared is not None:
            shared.fail(claimed, exc)
        raise
    # only after every own tile is done: no two blocks wait on each other
    probs.update({key: future.result() for key, future in waiting.items()})
    if shared is not None:
        shared.taken([*claimed, *waiting])
    return probs


def predict_block(
    model: nn.Module,
    window: FloatArray,
    origin: tuple[int, int],
    shape: tuple[int, int],
    core: tuple[int, int, int, int],
    config: TileConfig,
    shared: PredictionTiles | None = None,
) -> FloatArray:
    """Change probability over ``core`` = (row0, row1, col0, col1) of the global grid.

    ``window``: (2 * bands, h, w) before and after stacked on the first axis, covering
    every tile that touches the core; ``origin``: the window's (row, col) in the whole
    array of size ``shape``. NaN where any band of either date is NaN. ``shared``: the
    prediction's border tiles are predicted once in this process (:mod:`.tiling_shared`).
    The tiles are blended in grid order, so the sums do not depend on which block
    predicted a tile or on the order batches ran in.
    """
    rows, cols = TileAxis(shape[0], config), TileAxis(shape[1], config)
    r0, r1, c0, c1 = core
    oy, ox = origin
    valid = _valid(window)
    acc = np.zeros((r1 - r0, c1 - c0), dtype=np.float32)
    total = np.zeros_like(acc)
    out = np.full_like(acc, np.nan)
    if not valid[r0 - oy : r1 - oy, c0 - ox : c1 - ox].any():
        return out
    torch.set_num_threads(config.num_threads)
    tiles = []
    for ky, kx in tiles_touching(rows, cols, core):
        ty0, ty1 = rows.span(ky)
        tx0, tx1 = cols.span(kx)
        if valid[ty0 - oy : ty1 - oy, tx0 - ox : tx1 - ox].any():
            tiles.append((ky, kx))
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), compute_in(config.precision):
            probs = _predict_tiles(model, window, origin, tiles, rows, cols, config, shared)
    finally:
        model.train(was_training)
    for ky, kx in tiles:
        w = np.outer(rows.weights(ky), cols.weights(kx))
        ty0, ty1 = rows.span(ky)
        tx0, tx1 = cols.span(kx)
        # the part of the tile inside the core
        a0, a1 = max(ty0, r0), min(ty1, r1)
        b0, b1 = max(tx0, c0), min(tx1, c1)
        tw = w[a0 - ty0 : a1 - ty0, b0 - tx0 : b1 - tx0]
        tp = probs[(ky, kx)][a0 - ty0 : a1 - ty0, b0 - tx0 : b1 - tx0]
        acc[a0 - r0 : a1 - r0, b0 - c0 : b1 - c0] += tw * tp
        total[a0 - r0 : a1 - r0, b0 - c0 : b1 - c0] += tw
    np.divide(acc, total, out=out, where=total > 0)
    out[~valid[r0 - oy : r1 - oy, c0 - ox : c1 - ox]] = np.nan
    return out


def _check_pair(before: Any, after: Any, model: nn.Module) -> None:
    bands = len(getattr(getattr(model, "config", None), "bands", ())) or before.shape[0]
    if before.ndim != 3 or before.shape != after.shape or before.shape[0] != bands:
        raise InputError(
            f"tiled inference needs before and after as (bands, rows, cols) arrays of the "
            f"same shape with {bands} bands; got {tuple(before.shape)} and "
            f"{tuple(after.shape)}"
        )


def predict_array(
    model: nn.Module,
    before: npt.NDArray[np.floating[Any]],
    after: npt.NDArray[np.floating[Any]],
    config: TileConfig = TileConfig(),
) -> FloatArray:
    """Change probability (rows, cols) of two in-memory (bands, rows, cols) reflectance
    arrays, tile by tile (the whole array is one block). NaN where there is no data."""
    _check_pair(before, after, model)
    _check(model, config)
    window = np.concatenate([before, after], axis=0).astype(np.float32, copy=False)
    h, w = window.shape[1:]
    return predict_block(model, window, (0, 0), (h, w), (0, h, 0, w), config)


class LazyWindow:
    """The input window of one block, read inside that block's task.

    Opaque to dask's graph traversal on purpose: the window's reading is not a task of
    the outer graph, so no scheduler can read windows ahead of the blocks that use them
    (memory stays at one window per running block). The two dates are stored straight
    into one (2 * bands, h, w) float32 array, without a concatenated copy.
    """

    def __init__(self, before: da.Array, after: da.Array) -> None:
        self.before = before
        self.after = after

    def __dask_tokenize__(self) -> tuple[str, str]:
        return (str(self.before.name), str(self.after.name))

    def read(self) -> FloatArray:
        """The window's values, read with the synchronous scheduler of this task."""
        n = int(self.before.shape[0])
        out = np.empty((2 * n, *self.before.shape[1:]), dtype=np.float32)
        da.store(  # type: ignore[no-untyped-call]
            [self.before, self.after], [out[:n], out[n:]], lock=False, scheduler="sync"
        )
        return out


def _predict_lazy_block(
    model: nn.Module,
    window: LazyWindow,
    origin: tuple[int, int],
    shape: tuple[int, int],
    core: tuple[int, int, int, int],
    config: TileConfig,
    token: str,
) -> FloatArray:
    rows, cols = TileAxis(shape[0], config), TileAxis(shape[1], config)
    shared = PredictionTiles(token, rows, cols)
    return predict_block(model, window.read(), origin, shape, core, config, shared)


def predict_lazy(
    model: nn.Module,
    before: da.Array,
    after: da.Array,
    config: TileConfig = TileConfig(),
) -> da.Array:
    """Lazy change probability (rows, cols) of two dask (bands, rows, cols) arrays.

    One task per block, which reads only that block's input window (``LazyWindow``);
    nothing is computed here. The network is put into the graph once and shared by every
    block's task. Feed it stored or cheap inputs (e.g. composites read back from COGs):
    windows overlap, so their reading is repeated at block borders.
    """
    _check_pair(before, after, model)
    _check(model, config)
    h, w = (int(n) for n in before.shape[1:])
    rows, cols = TileAxis(h, config), TileAxis(w, config)
    network = dask.delayed(model, pure=False)  # type: ignore[attr-defined]
    token = uuid.uuid4().hex  # this prediction's border tiles (tiling_shared)
    grid: list[list[da.Array]] = []
    for r0, r1 in rows.blocks():
        line = []
        for c0, c1 in cols.blocks():
            core = (r0, r1, c0, c1)
            ys, xs = window_of(rows, cols, core)
            window = LazyWindow(before[:, ys, xs], after[:, ys, xs])
            task = dask.delayed(_predict_lazy_block, pure=True)(  # type: ignore[attr-defined]
                network, window, (ys.start, xs.start), (h, w), core, config, token
            )
            line.append(
                da.from_delayed(  # type: ignore[no-untyped-call]
                    task, shape=(r1 - r0, c1 - c0), dtype=np.float32
                )
            )
        grid.append(line)
    result: da.Array = da.block(grid)  # type: ignore[no-untyped-call]
    return result


def stack_dataset(ds: xr.Dataset, bands: Sequence[str]) -> xr.DataArray:
    """The variables ``bands`` of ``ds`` as one float32 (band, y, x) DataArray (lazy if
    they are)."""
    return xr.concat([ds[b].astype(np.float32) for b in bands], dim="band").assign_coords(
        band=list(bands)
    )


def _as_dask(data: Any) -> da.Array:
    if isinstance(data, da.Array):
        return data
    lazy: da.Array = da.from_array(data, chunks=-1)  # type: ignore[no-untyped-call]
    return lazy


def predict_dataset(
    model: nn.Module,
    before: xr.Dataset,
    after: xr.Dataset,
    bands: Sequence[str],
    config: TileConfig = TileConfig(),
) -> xr.DataArray:
    """Change probability (y, x) of two Datasets holding ``bands``: lazy when the inputs
    are dask-backed, computed otherwise. Coordinates come from ``before``."""
    b = stack_dataset(before, bands)
    a = stack_dataset(after, bands)
    if isinstance(b.data, da.Array) or isinstance(a.data, da.Array):
        data: Any = predict_lazy(model, _as_dask(b.data), _as_dask(a.data), config)
    else:
        data = predict_array(model, np.asarray(b.data), np.asarray(a.data), config)
    dims = b.dims[1:]
    coords = {k: v for k, v in before.coords.items() if set(v.dims) <= set(dims)}
    return xr.DataArray(data, dims=dims, coords=coords, name="change_prob")
