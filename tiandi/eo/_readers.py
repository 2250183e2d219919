"""Input files opened once per thread for a whole pass, not once per chunk read.

A chunk of the composite reads a window of every input file, and opening a file
(rasterio's environment, GDAL parsing the COG's header and directories) costs 0.6–2 ms
on a local disk and a round trip to the server for a remote COG. Opened per chunk, the
one pass at 8192² px (2 periods × 4 dates × 7 files, 64 chunks) opened 3,584 files:
≈ 5 of the flow's 108 CPU-s (bench/README.md, "Input files opened once per thread").

Each thread keeps its own handles (a GDAL dataset is not safe to share between
threads), least recently used first out, and holds its cache's lock while it reads, so
:func:`close_all` (at the end of every pass) never closes a file being read. A local
file is reopened when it changed on disk (inode, size or modification time); the total
of open handles stays under a quarter of the process's file-descriptor limit, beyond
which a file is opened and closed per read as before.
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import rasterio

from tiandi.eo._tiledread import TiledBand, tiled_band

__all__ = ["REMOTE_READ_ENV", "Opened", "close_all", "opened", "opened_tiled"]

#: GDAL settings for reading remote COGs (as odc-stac and rio-tiler set them): no directory
#: listing when a file is opened over HTTP (a signed URL's folder is not listable, and the
#: listing costs a request per file) and merged range requests.
REMOTE_READ_ENV = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
}

_Version = tuple[int, int, int] | None


class Opened:
    """A file kept open: its rasterio dataset and, for a local tiled GeoTIFF, its band 1
    read tile by tile (:mod:`tiandi.eo._tiledread`), found on first use."""

    def __init__(self, path: str, version: _Version, dataset: Any) -> None:
        self.path, self.version, self.dataset = path, version, dataset
        self._tiles: TiledBand | bool | None = False  # False: not looked for yet

    @property
    def tiles(self) -> TiledBand | None:
        if self._tiles is False:
            self._tiles = None if _remote(self.path) else tiled_band(self.path)
        return self._tiles  # type: ignore[return-value]


@functools.cache
def capacity() -> int:
    """The most handles kept open in this process: a quarter of the soft limit on file
    descriptors (GDAL, sockets and the rest keep the other three quarters), at most 1024."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1024
    return max(0, min(1024, soft // 4))


class _ThreadFiles:
    """One thread's open files, least recently used first."""

    def __init__(self) -> None:
        self.thread = threading.current_thread()
        self.lock = threading.Lock()
        self.files: OrderedDict[str, Opened] = OrderedDict()


_registry_lock = threading.Lock()
_registry: list[_ThreadFiles] = []
_local = threading.local()


def _remote(path: str) -> bool:
    """A URL or a GDAL virtual path (read through GDAL's network layer)."""
    return "://" in path or path.startswith("/vsi")


def _version(path: str) -> _Version:
    """What identifies a local file's content on disk; None for a remote path, which is
    taken as unchanged for as long as it is kept open."""
    if _remote(path):
        return None
    st = os.stat(path)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _mine() -> _ThreadFiles:
    mine: _ThreadFiles | None = getattr(_local, "files", None)
    if mine is None:
        mine = _local.files = _ThreadFiles()
        with _registry_lock:
            _registry.append(mine)
    return mine


def _total() -> int:
    with _registry_lock:
        return sum(len(t.files) for t in _registry)


@contextlib.contextmanager
def opened(path: str) -> Iterator[Any]:
    """The rasterio dataset of ``path``, open for this thread; read it inside the block
    (a remote file under :data:`REMOTE_READ_ENV`)."""
    with opened_tiled(path) as kept:
        yield kept.dataset


@contextlib.contextmanager
def opened_tiled(path: str) -> Iterator[Opened]:
    """``path`` open for this thread, with its tiles when it is a local tiled GeoTIFF."""
    env = rasterio.Env(**REMOTE_READ_ENV) if _remote(path) else contextlib.nullcontext()
    with env, _kept_open(path) as kept:
        yield kept


@contextlib.contextmanager
def _kept_open(path: str) -> Iterator[Opened]:
    mine = _mine()
    with mine.lock:
        kept = mine.files.pop(path, None)
        try:
            version = _version(path)
        except OSError:  # gone or unreadable: rasterio's error below names it
            version = None
        if kept is not None and kept.version == version:
            mine.files[path] = kept  # now the most recently used
            yield kept
            return
        if kept is not None:
            kept.dataset.close()  # changed on disk since it was opened
        fresh = Opened(path, version, rasterio.open(path))
        if _total() >= capacity():
            if not mine.files:  # the other threads hold every slot: read and close
                with fresh.dataset:
                    yield fresh
                return
            _, oldest = mine.files.popitem(last=False)
            oldest.dataset.close()
        mine.files[path] = fresh
        yield fresh


def close_all() -> None:
    """Close every file kept open by any thread of this process (after a pass; waits for
    a read in progress to finish)."""
    with _registry_lock:
        caches = list(_registry)
        _registry[:] = [t for t in _registry if t.thread.is_alive()]
    for cache in caches:
        with cache.lock:
            while cache.files:
                _, kept = cache.files.popitem()
                kept.dataset.close()
