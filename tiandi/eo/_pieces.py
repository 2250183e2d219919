"""Pieces of a row of chunks: what :func:`tiandi.eo.cog.write_cogs` computes at a time.

A piece is consecutive chunks of one row of chunks whose outputs hold at most a byte
budget, and at least one chunk per Dask thread (so the cores stay busy): the writer's
memory does not grow with the width of the scene. Each chunk of a piece is computed as its
own array and written to its own window.

:func:`culled` keeps, of a piece's graph, only the tasks its chunks need: Dask computes a
slice with ``optimize_graph=False`` from the whole scene's graph, so without it every piece
handed the scheduler a graph as large as the scene (time per piece ∝ the scene's chunks,
the pass ∝ their square: bench/README.md).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import dask
import dask.array as da
from dask.core import flatten
from dask.highlevelgraph import HighLevelGraph
from dask.optimization import cull

__all__ = ["Piece", "culled", "dask_threads", "row_pieces", "slices"]

T = TypeVar("T")


@dataclass(frozen=True)
class Piece:
    """Consecutive chunks of one row of chunks: computed together, written chunk by chunk."""

    rows: slice
    cols: tuple[slice, ...]


def slices(chunks: Sequence[int]) -> list[slice]:
    """The index range of each chunk along one axis."""
    out, start = [], 0
    for size in chunks:
        out.append(slice(start, start + size))
        start += size
    return out


def row_pieces(
    rows: Sequence[slice], cols: Sequence[slice], bytes_per_px: int, budget: int, threads: int
) -> list[Piece]:
    """Every row of chunks (``rows``) cut into pieces of consecutive chunks (``cols``) of
    at most ``budget`` bytes of output, and at least ``threads`` chunks."""
    chunk_px = max(s.stop - s.start for s in cols) * max(r.stop - r.start for r in rows)
    size = max(budget // max(bytes_per_px * chunk_px, 1), threads, 1)
    groups = [tuple(cols[i : i + size]) for i in range(0, len(cols), size)]
    return [Piece(r, group) for r in rows for group in groups]


def dask_threads() -> int:
    """Threads of the Dask cluster in use (distributed client), else of this machine."""
    try:
        from distributed import default_client

        return max(sum(default_client().nthreads().values()), 1)  # type: ignore[no-untyped-call]
    except (ImportError, ValueError):
        return int(dask.config.get("num_workers", None) or os.cpu_count() or 1)


def culled(array: T) -> T:
    """``array`` with only the tasks its own chunks depend on (same keys: nothing fused,
    so a distributed scheduler sees the same task names in every piece); an array that is
    not a Dask array is returned as it is."""
    if not isinstance(array, da.Array):
        return array
    keys = set(flatten(array.__dask_keys__()))  # type: ignore[no-untyped-call]
    graph = array.__dask_graph__()
    if isinstance(graph, HighLevelGraph):
        small: object = graph.cull(keys)
    else:
        small = cull(dict(graph), keys)[0]  # type: ignore[no-untyped-call]
    return da.Array(small, array.name, array.chunks, meta=array._meta)  # type: ignore[no-untyped-call,return-value]
