"""Pieces of a row of chunks: what :func:`tiandi.eo.cog.write_cogs` computes at a time.

A piece is consecutive chunks of one row of chunks whose outputs hold at most a byte
budget, and at least one chunk per Dask thread (so the cores stay busy): the writer's
memory does not grow with the width of the scene. Each chunk of a piece is computed as its
own array and written to its own window.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import dask

__all__ = ["Piece", "dask_threads", "row_pieces", "slices"]


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
