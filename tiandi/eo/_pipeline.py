"""Compute the next strip while the current one is written; release what a pass held.

:func:`prefetched` runs a function of each item (a strip's ``dask.compute``) one item
ahead in a background thread, so that the Dask workers (threads of this process, worker
processes or a cluster) compute strip ``i + 1`` while this thread compresses and writes
strip ``i``. At most two results are alive at a time: the one being written and the one
being computed. The thread runs in a copy of the caller's context (Prefect's run context,
the current Dask client).

:func:`release_pass` ends a pass: the input files its reads kept open are closed, what
other modules keep for a pass is dropped (:func:`on_release`), here and on a cluster's
workers, and the memory it freed is handed back to the system.
"""

from __future__ import annotations

import contextvars
import ctypes
import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import tiandi.eo._readers as _readers
from tiandi.eo._pieces import cluster_client

__all__ = ["on_release", "prefetched", "release_pass"]

_log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


def prefetched(fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[T, R]]:
    """``(item, fn(item))`` in order, ``fn`` of the next item running while the caller
    handles the current one. An exception of ``fn`` is raised when its item is reached;
    leaving the loop early waits for the computation in flight, then stops."""
    if not items:
        return
    with ThreadPoolExecutor(1, thread_name_prefix="tiandi-prefetch") as pool:

        def submit(item: T) -> Future[R]:
            return pool.submit(contextvars.copy_context().run, fn, item)

        pending = submit(items[0])
        for i, item in enumerate(items):
            result = pending.result()
            if i + 1 < len(items):
                pending = submit(items[i + 1])
            yield item, result


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` from the symbols already loaded (no ``find_library``, which
    runs ``ldconfig`` in a subprocess); None where the C library has none (macOS, musl)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim  # type: ignore[no-any-return]


_on_release: list[Callable[[], None]] = []


def on_release(fn: Callable[[], None]) -> Callable[[], None]:
    """Have :func:`release_pass` call ``fn`` (no arguments) in every process of the pass:
    for what a module keeps between the tasks of one pass (a cache of this process)."""
    if fn not in _on_release:
        _on_release.append(fn)
    return fn


def _release_here() -> None:
    """Close this process's kept input files and run the :func:`on_release` callbacks."""
    _readers.close_all()
    for fn in _on_release:
        fn()


def release_pass() -> None:
    """Hand back what a pass held: the input files its threads kept open
    (:func:`tiandi.eo._readers.close_all`, here and on the workers of a cluster in use),
    and the memory it freed (glibc keeps freed chunks of its per-thread arenas: after a
    pass over a scene the process keeps ≈ 0.7 GB it no longer uses at 8192², and the next
    step's peak adds to it). Callbacks registered with :func:`on_release` run here and on
    the workers too. One call per pass: cheap."""
    _release_here()
    client = cluster_client()
    if client is not None:
        try:
            client.run(_release_here)
        except OSError as exc:  # the cluster is gone: its workers' files went with them
            _log.warning("could not close the input files kept open on the Dask workers: %s", exc)
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
