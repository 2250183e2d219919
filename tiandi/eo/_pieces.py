"""Pieces of a row of chunks: what :func:`tiandi.eo.cog.write_cogs` computes at a time.

A piece is consecutive chunks of one row of chunks whose outputs hold at most a byte
budget, and enough chunks to keep every Dask thread busy (:func:`min_chunks`): the
writer's memory does not grow with the width of the scene. Each chunk of a piece is
computed as its own array and written to its own window.

:func:`culled` keeps, of a piece's graph, only the tasks its chunks need: Dask computes a
slice with ``optimize_graph=False`` from the whole scene's graph, so without it every piece
handed the scheduler a graph as large as the scene (time per piece ∝ the scene's chunks,
the pass ∝ their square: bench/README.md).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import dask
import dask.array as da
from dask.core import flatten, get_deps
from dask.highlevelgraph import HighLevelGraph
from dask.optimization import cull
from dask.typing import Key

__all__ = [
    "Piece",
    "cluster_client",
    "culled",
    "dask_threads",
    "min_chunks",
    "row_pieces",
    "slices",
]

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
    rows: Sequence[slice], cols: Sequence[slice], bytes_per_px: int, budget: int, at_least: int
) -> list[Piece]:
    """Every row of chunks (``rows``) cut into pieces of consecutive chunks (``cols``) of
    at most ``budget`` bytes of output, and at least ``at_least`` chunks."""
    chunk_px = max(s.stop - s.start for s in cols) * max(r.stop - r.start for r in rows)
    size = max(budget // max(bytes_per_px * chunk_px, 1), at_least, 1)
    groups = [tuple(cols[i : i + size]) for i in range(0, len(cols), size)]
    return [Piece(r, group) for r in rows for group in groups]


def cluster_client() -> Any | None:
    """The distributed client Dask computes on here and now (its default client, unless
    a ``scheduler`` setting such as the embedded default's threads overrides it); None
    when it computes on local threads or processes."""
    scheduler = dask.base.get_scheduler()  # type: ignore[no-untyped-call]
    client = getattr(scheduler, "__self__", None)  # a Client's bound ``get``
    try:
        from distributed import Client
    except ImportError:
        return None
    return client if isinstance(client, Client) else None


def _cluster_threads() -> int | None:
    """Threads of the distributed cluster in use; None on local threads or processes."""
    client = cluster_client()
    if client is None:
        return None
    threads: int = sum(client.nthreads().values())
    return max(threads, 1)


def dask_threads() -> int:
    """Threads of the Dask cluster in use (distributed client), else of the threaded
    scheduler (``num_workers``, else this machine's cores)."""
    threads = _cluster_threads()
    if threads is None:
        threads = int(dask.config.get("num_workers", None) or os.cpu_count() or 1)
    return threads


def independent_tasks(arrays: Sequence[object]) -> int:
    """Tasks of the arrays' graphs that depend on no other task (at least 1): how many
    of their tasks can start at once (a chunk of the one pass: its two periods'
    composites)."""
    graph: dict[Key, Any] = {}
    for array in arrays:
        if isinstance(array, da.Array):
            graph.update(dict(array.__dask_graph__()))
    if not graph:
        return 1
    dependencies, _ = get_deps(graph)
    return max(sum(1 for deps in dependencies.values() if not deps), 1)


def min_chunks(one_chunk: Sequence[object]) -> int:
    """Chunks a piece needs to keep the Dask threads busy; ``one_chunk``: the culled
    arrays of a piece of one chunk.

    On a distributed cluster every piece is a round trip to the scheduler, so a piece has
    a chunk per thread. Dask's threaded scheduler has no round trip: two chunks per
    thread and independent task. Each chunk's graph ends in a chain one thread runs
    alone (the detector, then the encoding of its outputs' tiles), and the next piece
    starts only when this one is done: with a single chunk per independent task the other
    thread waited at that chain's end (the one pass at 8192²: 37.5 s with one chunk a
    piece, 33–34 s with two, ≈ 50 MB more; bench/README.md, "COG tiles encoded in the
    pass")."""
    cluster = _cluster_threads()
    if cluster is not None:
        return cluster
    return 2 * -(-dask_threads() // independent_tasks(one_chunk))


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
