"""`tiandi dispatch --patch-store`: packages and lifecycle move together or not at all."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.fixtures.field import patches, tasks, write_composites
from tiandi.cli.app import app
from tiandi.redline.field.tasks import write_station_packages
from tiandi.redline.store.gpkg import GpkgPatchStore, RunInfo
from tiandi.redline.store.lifecycle import PatchState
from tiandi.redline.store.recording import record_detections
from tiandi.settings import Settings

T0 = datetime(2025, 8, 1, tzinfo=UTC)


def _run_dir(root: Path) -> Path:
    run = root / "run"
    write_composites(run / "composites")
    write_station_packages(tasks(), run / "tasks")
    return run


def _store(root: Path, *, accept: bool) -> Path:
    path = root / "patches.gpkg"
    store = GpkgPatchStore(path)
    record_detections(store, patches(), None, RunInfo("run-1", T0))
    if accept:
        for pid, cls in zip(patches()["patch_id"], patches()["hj1156_class"], strict=True):
            store.transition(
                pid, "reviewed_accepted", actor="王工", role="ecologist", at=T0, hj1156_class=cls
            )
    return path


def _dispatch(root: Path, store: Path) -> tuple[int, str, Path]:
    out = root / "packages"
    result = CliRunner().invoke(
        app,
        ["dispatch", "--run", str(_run_dir(root)), "--out", str(out), "--no-form",
         "--dispatched-at", "2025-08-02T00:00:00+00:00", "--patch-store", str(store)],
    )  # fmt: skip
    return result.exit_code, result.output, out


def test_dispatch_records_the_patches_as_dispatched(tmp_path: Path) -> None:
    store = _store(tmp_path, accept=True)
    code, output, out = _dispatch(tmp_path, store)
    assert code == 0, output
    states = {GpkgPatchStore(store).get(p).status.state for p in patches()["patch_id"]}
    assert states == {PatchState.DISPATCHED}
    assert list(out.glob("*/*.gpkg"))


def test_dispatch_of_unreviewed_patches_leaves_no_package(tmp_path: Path) -> None:
    store = _store(tmp_path, accept=False)
    code, output, out = _dispatch(tmp_path, store)
    assert code == 2, output
    assert "reviewed_accepted" in output
    assert not list(out.glob("*/*.gpkg")), "a refused dispatch left packages behind"


def test_dispatch_without_out_writes_where_the_service_serves_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIANDI_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(
        app,
        ["dispatch", "--run", str(_run_dir(tmp_path)), "--no-form",
         "--dispatched-at", "2025-08-02T00:00:00+00:00"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    served = Settings().field_packages_dir
    assert served == tmp_path / "home" / "field" / "packages"
    assert [p.name for p in served.glob("*/*.gpkg")] == ["S1.gpkg"]
