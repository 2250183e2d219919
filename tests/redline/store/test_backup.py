"""Backup and restore of the patch store with its audit chain, on both backends: restored
into a fresh store the chain verifies to the same head; a changed dump is refused; a store
that is not empty is replaced only with --force; a broken chain is not backed up."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.fixtures.store import (
    T0,
    audit_tamper_sql,
    detections,
    drive,
    raw_sql,
    run_info,
    square,
)
from tiandi.errors import InputError
from tiandi.redline.store.backup import backup_store, manifest_path, restore_store
from tiandi.redline.store.gpkg import GpkgPatchStore, PatchStore
from tiandi.redline.store.lifecycle import PatchState
from tiandi.redline.store.postgis import PostgisPatchStore
from tiandi.redline.store.recording import record_detections


def _filled(store: PatchStore) -> PatchStore:
    kept = detections([("P1", square(1)), ("P2", square(2))])
    record_detections(store, kept, None, run_info(1))
    uid = store.list_patches()["patch_uid"].iloc[0]
    drive(store, str(uid), PatchState.DISPATCHED, T0)
    return store


def _fresh_database(dsn: str) -> str:
    name = f"restored_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    return dsn.replace("dbname=postgres", f"dbname={name}")


@pytest.fixture(params=["gpkg", "postgis"])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[PatchStore, PatchStore]:
    """A filled store and an empty target of the same kind (PostGIS: a fresh database)."""
    if request.param == "gpkg":
        return _filled(GpkgPatchStore(tmp_path / "a.gpkg")), GpkgPatchStore(tmp_path / "b.gpkg")
    dsn = request.getfixturevalue("postgres_dsn")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    source = _filled(PostgisPatchStore(dsn, schema=schema))
    return source, PostgisPatchStore(_fresh_database(dsn), schema=schema)


def test_restore_into_a_fresh_store_verifies_to_the_same_head(
    pair: tuple[PatchStore, PatchStore], tmp_path: Path
) -> None:
    source, target = pair
    head = source.verify_audit()
    out = tmp_path / "store.backup"
    manifest = backup_store(source, out)
    written = json.loads(manifest_path(out).read_text(encoding="utf-8"))
    assert written["sha256"] == manifest.sha256 and len(manifest.sha256) == 64
    assert (written["head_seq"], written["head_hash"]) == (head.head_seq, head.head_hash)
    assert written["records"] == head.records > 0 and written["created"]
    report = restore_store(target, out)
    assert report.ok and (report.head_seq, report.head_hash) == (head.head_seq, head.head_hash)
    assert target.verify_audit(expected_head=head.head_hash).ok
    assert list(target.list_patches()["patch_uid"]) == list(source.list_patches()["patch_uid"])
    assert [r.hash for r in target.audit_records()] == [r.hash for r in source.audit_records()]
    # the restored store is a working store: its chain goes on from the restored head
    uid = str(target.list_patches()["patch_uid"].iloc[-1])
    drive(target, uid, PatchState.REVIEWED_ACCEPTED, T0)
    assert target.verify_audit().ok


def test_a_changed_dump_is_refused_and_nothing_is_restored(
    pair: tuple[PatchStore, PatchStore], tmp_path: Path
) -> None:
    source, target = pair
    out = tmp_path / "store.backup"
    backup_store(source, out)
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0xFF
    out.write_bytes(bytes(data))
    with pytest.raises(InputError, match="does not match its manifest"):
        restore_store(target, out)
    if isinstance(target, GpkgPatchStore):
        assert not target.path.exists()
    else:
        assert target.verify_audit().records == 0


def test_a_store_that_is_not_empty_is_replaced_only_with_force(
    pair: tuple[PatchStore, PatchStore], tmp_path: Path
) -> None:
    source, target = pair
    out = tmp_path / "store.backup"
    backup_store(source, out)
    kept = detections([("Q1", square(7))])
    record_detections(target, kept, None, run_info(2))
    before = target.verify_audit()
    with pytest.raises(InputError, match=r"not empty.*--force"):
        restore_store(target, out)
    assert target.verify_audit().head_hash == before.head_hash
    report = restore_store(target, out, force=True)
    assert report.head_hash == source.verify_audit().head_hash
    assert sorted(target.list_patches()["patch_id"]) == ["P1", "P2"]


def test_a_broken_chain_is_not_backed_up(
    pair: tuple[PatchStore, PatchStore], tmp_path: Path
) -> None:
    source, _ = pair
    raw_sql(source, audit_tamper_sql(source, 2))
    out = tmp_path / "store.backup"
    with pytest.raises(InputError, match="does not verify"):
        backup_store(source, out)
    assert not out.exists() and not manifest_path(out).exists()
