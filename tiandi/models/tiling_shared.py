"""Tiles on block borders predicted once per process (:func:`tiandi.models.tiling.predict_lazy`).

The blocks of a lazy prediction stay independent tasks (the writer computes them a piece
at a time, on any worker), but a tile on a block border touches two to four blocks. The
first block of this process that reaches such a tile *claims* it and predicts it; the
others take its probabilities from here. A block predicts all of its own tiles before it
waits for any claimed by another block, so two blocks never wait on each other.

An entry is dropped when every block touching its tile has taken it. Entries whose other
blocks never run in this process (another worker computes them, the caller computes part
of the array, a block failed) are dropped oldest first beyond :data:`MAX_BYTES`, and all
of them when a pass ends (:func:`tiandi.eo._pipeline.release_pass`, on every worker
too); a block that finds
no entry predicts the tile itself, as every block did before. Keys carry a token of the
prediction (``predict_lazy`` makes a new one per call), so entries of one prediction are
never taken by another.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tiandi.eo._pipeline import on_release
from tiandi.models.tiling_grid import TileAxis

__all__ = ["MAX_BYTES", "SHARED_TILES", "Key", "PredictionTiles", "SharedTiles"]

#: Probabilities held for blocks not yet run (256² float32 tiles: 256 KiB each; a row
#: of blocks' lower border at 16384² is about 90 of them).
MAX_BYTES = 128 * 2**20

Prob = npt.NDArray[np.float32]
#: A tile's (row, column) index in the grid.
Key = tuple[int, int]


@dataclass
class _Entry:
    future: Future[Prob]
    uses: int  # blocks that have yet to take it
    nbytes: int = 0  # counted against the budget once its result is in


class SharedTiles:
    """Claims and results of border tiles, shared by the threads of one process."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def claim(self, key: Hashable, uses: int) -> tuple[Future[Prob], bool]:
        """The tile's future and whether the caller claimed it (and must :meth:`put` or
        :meth:`fail` it); ``uses``: how many blocks touch the tile, the caller included."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry.future, False
            future: Future[Prob] = Future()
            self._entries[key] = _Entry(future, uses)
            return future, True

    def put(self, key: Hashable, future: Future[Prob], prob: Prob) -> None:
        """The claimed tile's probabilities, for the blocks waiting or still to come."""
        with self._lock:
            future.set_result(prob)
            entry = self._entries.get(key)
            if entry is not None and entry.future is future:
                entry.nbytes = prob.nbytes
                self._bytes += prob.nbytes
                self._evict()

    def fail(self, key: Hashable, future: Future[Prob], exc: BaseException) -> None:
        """The claimed tile will not be predicted: waiting blocks get ``exc``; the entry
        goes, so a later block predicts the tile itself."""
        with self._lock:
            if not future.done():
                future.set_exception(exc)
            entry = self._entries.get(key)
            if entry is not None and entry.future is future:
                self._drop(key)

    def taken(self, key: Hashable) -> None:
        """One block has used the tile; the last one drops the entry."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return
            entry.uses -= 1
            if entry.uses <= 0:
                self._drop(key)

    def clear(self) -> None:
        """Drop every entry (claims in progress too: their blocks still put their results
        into the futures they hold)."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def _drop(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry.nbytes

    def _evict(self) -> None:
        for key in list(self._entries):
            if self._bytes <= self.max_bytes:
                return
            if self._entries[key].nbytes:  # a claim in progress stays
                self._drop(key)


#: The process's shared border tiles (each Dask worker process has its own), emptied at
#: the end of every pass.
SHARED_TILES = SharedTiles()
on_release(SHARED_TILES.clear)


def _uses(axis: TileAxis, k: int, blocks: Sequence[tuple[int, int]]) -> int:
    """How many of ``blocks`` (cores along ``axis``) tile ``k`` touches."""
    start, end = axis.span(k)
    return sum(1 for b0, b1 in blocks if b0 < end and b1 > start)


class PredictionTiles:
    """The border tiles of one lazy prediction (``token``) in :data:`SHARED_TILES`: a
    tile touching more than one block of the grid of ``rows`` × ``cols`` is shared."""

    def __init__(self, token: str, rows: TileAxis, cols: TileAxis) -> None:
        self.token = token
        self.rows, self.cols = rows, cols
        self.row_blocks, self.col_blocks = rows.blocks(), cols.blocks()

    def uses(self, key: Key) -> int:
        """Blocks that touch tile ``key``."""
        ky, kx = key
        return _uses(self.rows, ky, self.row_blocks) * _uses(self.cols, kx, self.col_blocks)

    def claim(self, key: Key) -> tuple[Future[Prob] | None, bool]:
        """``(future, mine)``: ``(None, True)`` for a tile of this block alone; else the
        shared tile's future and whether this block claimed it (and must predict it)."""
        uses = self.uses(key)
        if uses <= 1:
            return None, True
        return SHARED_TILES.claim((self.token, *key), uses)

    def put(self, key: Key, future: Future[Prob], prob: Prob) -> None:
        """A claimed tile's probabilities."""
        SHARED_TILES.put((self.token, *key), future, prob)

    def fail(self, claimed: dict[Key, Future[Prob]], exc: BaseException) -> None:
        """The block failed: its claims not yet predicted fail with ``exc``."""
        for key, future in claimed.items():
            if not future.done():
                SHARED_TILES.fail((self.token, *key), future, exc)

    def taken(self, keys: Iterable[Key]) -> None:
        """The block has used these shared tiles."""
        for key in keys:
            SHARED_TILES.taken((self.token, *key))
