"""`tiandi backup` / `tiandi restore` from the shell (GeoPackage; PostGIS: the DSN's
password is not printed)."""

from __future__ import annotations

import uuid
from pathlib import Path

from typer.testing import CliRunner

from tests.fixtures.store import detections, run_info, square
from tiandi.cli.app import app
from tiandi.redline.store.gpkg import GpkgPatchStore
from tiandi.redline.store.recording import record_detections


def test_backup_then_restore_into_a_new_file_and_refuse_a_full_one(tmp_path: Path) -> None:
    store = GpkgPatchStore(tmp_path / "patches.gpkg")
    record_detections(store, detections([("TB-a", square(0))]), None, run_info(1))
    runner = CliRunner()
    out = tmp_path / "patches.backup"
    done = runner.invoke(app, ["backup", "--store", str(store.path), "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert "manifest" in done.output and out.is_file()
    fresh = tmp_path / "restored.gpkg"
    done = runner.invoke(app, ["restore", str(out), "--store", str(fresh)])
    assert done.exit_code == 0, done.output
    assert "chain intact" in done.output
    assert GpkgPatchStore(fresh).verify_audit().head_hash == store.verify_audit().head_hash
    again = runner.invoke(app, ["restore", str(out), "--store", str(store.path)])
    assert again.exit_code == 2 and "--force" in again.output, again.output
    forced = runner.invoke(app, ["restore", str(out), "--store", str(store.path), "--force"])
    assert forced.exit_code == 0, forced.output


def test_a_failed_pg_dump_names_the_store_without_its_password(
    postgres_dsn: str, tmp_path: Path
) -> None:
    dsn = postgres_dsn.replace("dbname=postgres", f"dbname=nope_{uuid.uuid4().hex[:6]}")
    dsn += " password=s3cret-pw"
    done = CliRunner().invoke(
        app, ["backup", "--dsn", dsn, "--schema", "t_x", "--out", str(tmp_path / "b.dump")]
    )
    assert done.exit_code == 2, done.output
    assert "s3cret-pw" not in done.output and "patch store postgresql" in done.output
    assert not (tmp_path / "b.dump").exists()
