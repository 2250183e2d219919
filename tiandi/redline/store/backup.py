"""Backup and restore of the patch store with its audit chain.

:func:`backup_store` writes one file and a manifest beside it (``FILE.manifest.json``:
backend, sha256 and size of the file, audit head seq and hash, number of records, time,
tiandi version):

- GeoPackage: a consistent copy through SQLite's online backup API (readers and writers
  may go on meanwhile), its chain verified before and after the copy;
- PostGIS: ``pg_dump -Fc`` of the store's schema (:mod:`tiandi.redline.store._backup_pg`).

:func:`restore_store` checks the file against its manifest (a changed byte is refused
before anything is touched), refuses to replace a store that holds patches or audit
records unless ``force``, restores (a verified copy moved into place; ``pg_restore`` in
one transaction), then verifies the restored chain against the manifest's head. A store
whose chain is broken is never backed up, and a restore whose chain does not verify is
undone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from tiandi import __version__
from tiandi.errors import InputError
from tiandi.redline.store import _backup_pg
from tiandi.redline.store.audit import AuditLog
from tiandi.redline.store.audit_verify import VerifyReport
from tiandi.redline.store.gpkg import GpkgPatchStore, PatchStore
from tiandi.redline.store.postgis import PostgisPatchStore

FORMAT = "tiandi-patch-store-backup/1"


@dataclass(frozen=True)
class BackupManifest:
    """What ``FILE.manifest.json`` records about one backup file."""

    format: str
    backend: str  # "gpkg" or "postgis"
    file: str  # the backup's file name (the manifest lies beside it)
    sha256: str
    size: int
    head_seq: int
    head_hash: str
    records: int
    created: str  # ISO 8601, UTC
    tiandi: str
    schema: str | None = None  # PostgreSQL schema of the store (postgis)

    def write(self, path: Path) -> None:
        """Write the manifest as JSON to ``path`` (atomically)."""
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)


def manifest_path(backup: Path) -> Path:
    """Where the manifest of ``backup`` lies: ``<backup>.manifest.json``."""
    return backup.with_name(backup.name + ".manifest.json")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as src:
        for block in iter(lambda: src.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _checked(report: VerifyReport, what: str) -> VerifyReport:
    if not report.ok:
        raise InputError(
            f"{what}: the audit chain does not verify ({report.summary()}); nothing was "
            "written. Find out what changed the store (`tiandi audit verify` shows each break) "
            "and restore it from an earlier backup"
        )
    return report


def backup_store(store: PatchStore, out: Path) -> BackupManifest:
    """Back up ``store`` to ``out`` (and ``out``'s manifest); see the module docstring."""
    if out.exists() or manifest_path(out).exists():
        raise InputError(f"backup file {out} (or its manifest) exists; choose a new file name")
    if not out.parent.is_dir():
        raise InputError(f"backup folder {out.parent} does not exist; create it first")
    report = _checked(store.verify_audit(), f"patch store {store.location}")
    if isinstance(store, GpkgPatchStore):
        backend, schema = "gpkg", None
        _copy_gpkg(store.path, out, report)
    elif isinstance(store, PostgisPatchStore):
        backend, schema = "postgis", store.schema
        _backup_pg.dump(store, out)
    else:  # pragma: no cover - the two backends above are all open_store returns
        raise InputError(f"patch store {store.location}: backup does not know this backend")
    manifest = BackupManifest(
        FORMAT,
        backend,
        out.name,
        sha256_file(out),
        out.stat().st_size,
        report.head_seq,
        report.head_hash,
        report.records,
        datetime.now(UTC).isoformat(timespec="seconds"),
        __version__,
        schema,
    )
    manifest.write(manifest_path(out))
    return manifest


def _sqlite_copy(src: Path, dst: Path) -> None:
    """Copy the SQLite database ``src`` to ``dst`` with the online backup API."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=30.0)
    try:
        target = sqlite3.connect(dst)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()


def _copy_gpkg(src: Path, out: Path, before: VerifyReport) -> None:
    """A consistent copy of the store ``src`` at ``out``, its chain checked after the copy."""
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        _sqlite_copy(src, tmp)
        after = _checked(AuditLog(tmp).verify(), f"backup copy {tmp}")
        if after.head_seq < before.head_seq:  # writers may only have added records
            raise InputError(f"backup copy {tmp} ends before the store's head; back up again")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def read_manifest(backup: Path) -> BackupManifest:
    """The manifest beside ``backup``, checked against the file's bytes."""
    if not backup.is_file():
        raise InputError(
            f"backup file {backup} does not exist; give the file `tiandi backup` wrote"
        )
    path = manifest_path(backup)
    try:
        manifest = BackupManifest(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(
            f"backup manifest {path} is missing or unreadable ({exc}); a backup is restored "
            "only with the manifest `tiandi backup` wrote beside it"
        ) from exc
    if manifest.format != FORMAT:
        raise InputError(f"backup manifest {path}: format {manifest.format!r}, expected {FORMAT}")
    digest = sha256_file(backup)
    if digest != manifest.sha256 or backup.stat().st_size != manifest.size:
        raise InputError(
            f"backup file {backup} does not match its manifest (sha256 {digest}, manifest "
            f"says {manifest.sha256}): it was changed or damaged after the backup; nothing "
            "was restored. Use another backup"
        )
    return manifest


def _check_target(store: PatchStore, manifest: BackupManifest, force: bool) -> None:
    kind = "gpkg" if isinstance(store, GpkgPatchStore) else "postgis"
    if manifest.backend != kind:
        raise InputError(
            f"the backup is of a {manifest.backend} patch store but the target "
            f"{store.location} is {kind}; restore it into a store of the same kind"
        )
    if force:
        return
    if isinstance(store, GpkgPatchStore):
        empty = _gpkg_empty(store)
    else:
        assert isinstance(store, PostgisPatchStore)
        empty = _backup_pg.is_empty(store)
    if not empty:
        raise InputError(
            f"patch store {store.location} is not empty; restoring would replace its patches "
            "and audit chain. Restore into a fresh store, or pass --force to replace it"
        )


def _gpkg_empty(store: GpkgPatchStore) -> bool:
    if not store.path.exists():
        return True
    return store.verify_audit().records == 0 and not store.runs()


def restore_store(store: PatchStore, backup: Path, *, force: bool = False) -> VerifyReport:
    """Restore ``backup`` into ``store``; the restored chain's verification report."""
    manifest = read_manifest(backup)
    _check_target(store, manifest, force)
    if isinstance(store, GpkgPatchStore):
        report = _restore_gpkg(store, backup, manifest)
    else:
        assert isinstance(store, PostgisPatchStore)
        _backup_pg.restore(store, backup, manifest.schema or store.schema)
        report = store.verify_audit(expected_head=manifest.head_hash)
        if not report.ok or report.head_seq != manifest.head_seq:
            _backup_pg.drop_schema(store)
            _checked(report, f"restored patch store {store.location} (dropped again)")
    return report


def _restore_gpkg(store: GpkgPatchStore, backup: Path, manifest: BackupManifest) -> VerifyReport:
    if not store.path.parent.is_dir():
        raise InputError(f"patch store folder {store.path.parent} does not exist; create it")
    tmp = store.path.with_name(f".{store.path.name}.restore-{os.getpid()}")
    try:
        _sqlite_copy(backup, tmp)
        copy = _checked(AuditLog(tmp).verify(expected_head=manifest.head_hash), f"backup {backup}")
        if copy.head_seq != manifest.head_seq:
            raise InputError(
                f"backup {backup} ends at audit record {copy.head_seq}, its manifest says "
                f"{manifest.head_seq}; nothing was restored. Use another backup"
            )
        for suffix in ("-wal", "-shm", "-journal"):  # never let a stale journal meet the copy
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{store.path}{suffix}")
        os.replace(tmp, store.path)
    finally:
        tmp.unlink(missing_ok=True)
    return _checked(store.verify_audit(expected_head=manifest.head_hash), store.location)
