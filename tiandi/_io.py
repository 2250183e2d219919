"""Small I/O helpers shared by every layer: atomic files and folders, checksums."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
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
    """Hex SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()
