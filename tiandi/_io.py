"""Small I/O helpers shared by every layer: atomic files and folders, checksums."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only on success.

    The temporary name keeps the suffix so that GDAL picks the right driver. On any
    error the temporary file is removed and ``path`` is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Yield an empty staging folder that replaces ``final`` only when the block succeeds.

    A run that fails leaves ``final`` untouched and no staging folder behind, so an
    output folder is either the previous complete run or the new complete run.
    """
    final = final.resolve()
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = final.with_name(f".{final.name}.partial-{os.getpid()}")
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir()
    try:
        yield stage
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
            os.replace(stage, final)
            shutil.rmtree(old)
        else:
            os.replace(stage, final)
    finally:
        if stage.exists():
            shutil.rmtree(stage)


def sha256_file(path: Path, block: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in blocks; taken from :func:`hash_in_background` when
    that hashed this very file (same inode, size and modification time)."""
    pending = _PENDING.pop(_identity(path), None)
    if pending is not None:
        try:
            return pending.result()
        except OSError:  # the file moved before it was opened: hash it here
            pass
    return _sha256(path, block)


def hash_in_background(paths: Iterable[Path]) -> None:
    """Start hashing ``paths`` in a background thread, so that :func:`sha256_file` later
    finds the digest ready: a flow hashes its outputs while it does other work (the
    hashing releases the GIL). A file changed in between is hashed again when asked."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tiandi-sha256")
    for path in paths:
        while len(_PENDING) >= _MAX_PENDING:  # digests never asked for (a failed run)
            _PENDING.pop(next(iter(_PENDING))).cancel()
        _PENDING[_identity(path)] = _POOL.submit(_sha256, path)


def _sha256(path: Path, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def _identity(path: Path) -> tuple[int, int, int, int]:
    """What tells one file's content from another's without reading it; a rename keeps it."""
    st = path.stat()
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


_MAX_PENDING = 64
_PENDING: dict[tuple[int, int, int, int], Future[str]] = {}
_POOL: ThreadPoolExecutor | None = None
