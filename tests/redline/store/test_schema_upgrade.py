"""Schema upgrade of the patch store, on both backends: a store in the layout older tiandi
wrote (no version table, a ``patches`` column missing) is upgraded on open and by
``tiandi store upgrade``, its data and audit chain intact; a newer store is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.fixtures.store import T0, detections, drive, make_store, raw_sql, run_info, square
from tiandi.cli.app import app
from tiandi.errors import InputError
from tiandi.redline.store.gpkg import GpkgPatchStore, PatchStore
from tiandi.redline.store.lifecycle import PatchState
from tiandi.redline.store.postgis import PostgisPatchStore
from tiandi.redline.store.recording import record_detections
from tiandi.redline.store.schema import SCHEMA_TABLE, SCHEMA_VERSION


@pytest.fixture(params=["gpkg", "postgis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> PatchStore:
    return make_store(str(request.param), tmp_path, request)


def _reopen(store: PatchStore) -> PatchStore:
    if isinstance(store, GpkgPatchStore):
        return GpkgPatchStore(store.path)
    assert isinstance(store, PostgisPatchStore)
    return PostgisPatchStore(store.dsn, schema=store.schema)


def _old_layout(store: PatchStore) -> str:
    """Fill ``store``, then turn it into the version-1 layout (no version table, no
    ``field_outcome`` column); returns the audit head before."""
    record_detections(store, detections([("P1", square(1)), ("P2", square(2))]), None, run_info(1))
    uid = str(store.list_patches()["patch_uid"].iloc[0])
    drive(store, uid, PatchState.DISPATCHED, T0)
    head = store.verify_audit().head_hash
    drop_contents = (
        f"DELETE FROM gpkg_contents WHERE table_name = '{SCHEMA_TABLE}';"
        if isinstance(store, GpkgPatchStore)
        else ""
    )
    raw_sql(
        store,
        f"DROP TABLE {SCHEMA_TABLE};{drop_contents}ALTER TABLE patches DROP COLUMN field_outcome",
    )
    return head


def test_old_store_is_upgraded_on_open_and_its_chain_still_verifies(store: PatchStore) -> None:
    head = _old_layout(store)
    old = _reopen(store)
    report = old.upgrade_schema()
    assert (report.before, report.after, report.added) == (1, SCHEMA_VERSION, ("field_outcome",))
    assert f"from version 1 to {SCHEMA_VERSION}" in report.describe()
    patches = old.list_patches()
    assert len(patches) == 2 and "field_outcome" in patches.columns
    assert old.verify_audit(expected_head=head).ok
    uid = str(patches["patch_uid"].iloc[0])
    old.transition(
        uid,
        "field_checked",
        actor="crew",
        role="field_crew",
        at=T0.replace(hour=12),
        outcome="confirmed",
    )  # writes the added column
    assert old.get(uid).attributes["field_outcome"] == "confirmed"
    assert old.verify_audit().ok  # goes on appending
    again = _reopen(store).upgrade_schema()
    assert not again.changed and again.after == SCHEMA_VERSION


def test_an_old_store_is_upgraded_by_the_first_read(tmp_path: Path) -> None:
    store = GpkgPatchStore(tmp_path / "p.gpkg")
    store.ensure()
    _old_layout(store)
    assert len(GpkgPatchStore(store.path).list_patches()) == 2  # no "no such column"
    con = sqlite3.connect(store.path)
    try:
        assert con.execute(f"SELECT max(version) FROM {SCHEMA_TABLE}").fetchone() == (
            SCHEMA_VERSION,
        )
    finally:
        con.close()


def test_a_newer_store_is_refused_with_what_to_do(store: PatchStore) -> None:
    store.ensure()
    store.upgrade_schema()
    raw_sql(store, f"INSERT INTO {SCHEMA_TABLE} (version, tiandi) VALUES (99, '9.0')")
    with pytest.raises(InputError, match="schema version 99, newer than this tiandi") as err:
        _reopen(store).list_patches()
    assert "tiandi restore" in str(err.value)


def test_cli_store_upgrade_reports_and_verifies(tmp_path: Path) -> None:
    store = GpkgPatchStore(tmp_path / "p.gpkg")
    store.ensure()
    _old_layout(store)
    result = CliRunner().invoke(app, ["store", "upgrade", "--store", str(store.path)])
    assert result.exit_code == 0, result.output
    assert (
        f"upgraded from version 1 to {SCHEMA_VERSION}; columns added to patches: field_outcome"
        in result.output
    )
    assert "audit chain: OK" in result.output
    result = CliRunner().invoke(app, ["store", "upgrade", "--store", str(store.path)])
    assert f"schema version {SCHEMA_VERSION}, up to date" in result.output
