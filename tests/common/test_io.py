"""Checksums hashed ahead in a background thread (tiandi._io)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tiandi import _io
from tiandi._io import hash_in_background, sha256_file


def _expected(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_digest_hashed_ahead_is_the_files_and_is_used_once(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(os.urandom(3 * 2**20 + 5))
    hash_in_background([path])
    assert len(_io._PENDING) == 1
    assert sha256_file(path) == _expected(path)
    assert not _io._PENDING  # handed over, not kept


def test_a_digest_survives_a_rename_of_its_folder(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / "a.bin").write_bytes(b"tiles" * 1000)
    hash_in_background([stage / "a.bin"])
    final = tmp_path / "final"
    os.replace(stage, final)
    assert sha256_file(final / "a.bin") == _expected(final / "a.bin")
    assert not _io._PENDING


def test_a_file_rewritten_after_it_was_hashed_ahead_is_hashed_again(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"first")
    hash_in_background([path])
    _io._PENDING[next(iter(_io._PENDING))].result()
    path.write_bytes(b"second, longer")  # another size: another identity
    assert sha256_file(path) == _expected(path)
    _io._PENDING.clear()


def test_digests_never_asked_for_are_bounded(tmp_path: Path) -> None:
    paths = []
    for i in range(_io._MAX_PENDING + 10):
        paths.append(tmp_path / f"{i}.bin")
        paths[-1].write_bytes(str(i).encode())
    hash_in_background(paths)
    assert len(_io._PENDING) == _io._MAX_PENDING
    assert sha256_file(paths[-1]) == _expected(paths[-1])
    _io._PENDING.clear()
