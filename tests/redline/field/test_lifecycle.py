"""The field round trip moves patches through the patch store's lifecycle and audit chain:
dispatch → ``dispatched``, accepted field results → ``field_checked``; rejected ones do not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.fixtures.field import patches, tasks, write_composites
from tiandi.demo.cycle_script import FieldFinding
from tiandi.demo.field_crew import device_copy, edit_field_package
from tiandi.errors import InputError, SubmissionsRejectedError
from tiandi.redline.field.lifecycle import import_field_results, package_tasks, record_dispatch
from tiandi.redline.field.package import PackageOptions, build_field_packages
from tiandi.redline.field.results_store import SqliteFieldStore
from tiandi.redline.store.gpkg import GpkgPatchStore, RunInfo
from tiandi.redline.store.lifecycle import PatchState, Role
from tiandi.redline.store.recording import record_detections

T0 = datetime(2025, 8, 1, 0, 0, tzinfo=UTC)


def _store(root: Path, *, accept: bool = True) -> GpkgPatchStore:
    store = GpkgPatchStore(root / "patches.gpkg")
    record_detections(store, patches(), None, RunInfo("run-1", T0 - timedelta(days=2)))
    if accept:
        for pid, cls in zip(patches()["patch_id"], patches()["hj1156_class"], strict=True):
            store.transition(
                pid, "reviewed_accepted", actor="王工", role="ecologist", at=T0, hj1156_class=cls
            )
    return store


def _package(root: Path) -> Path:
    composites = write_composites(root / "run" / "composites")
    (pkg,) = build_field_packages(
        tasks(),
        root / "out",
        composites=composites,
        dispatched_at=T0,
        options=PackageOptions(form=False),
    )
    return pkg.gpkg


def _findings(gpkg: Path, store: GpkgPatchStore, *, far: str | None) -> list[FieldFinding]:
    out = []
    for t in package_tasks(gpkg):
        centre = store.get(t.patch_id).geometry.representative_point()
        outcome, cls = ("different_class", "energy") if t.task_id == far else ("confirmed", None)
        out.append(
            FieldFinding(
                t.task_id,
                t.patch_id,
                outcome,
                cls,
                "现场属实",
                float(centre.x),
                float(centre.y),
                0.05 if t.task_id == far else 0.0,
            )
        )
    return out


def test_dispatch_moves_accepted_patches_and_names_the_package(tmp_path: Path) -> None:
    store = _store(tmp_path)
    gpkg = _package(tmp_path)
    moved = record_dispatch(store, [gpkg], actor="调度员", at=T0 + timedelta(hours=1))
    assert [m.target for m in moved] == [PatchState.DISPATCHED] * 2
    assert all(m.role is Role.DISPATCHER and "field package FP-" in str(m.reason) for m in moved)
    assert store.verify_audit().ok


def test_dispatch_of_an_unreviewed_patch_moves_nothing(tmp_path: Path) -> None:
    store = _store(tmp_path, accept=False)
    gpkg = _package(tmp_path)
    head = store.verify_audit().head_hash
    with pytest.raises(InputError, match=r"is 'screened', not 'reviewed_accepted'.*review it"):
        record_dispatch(store, [gpkg], actor="调度员", at=T0)
    assert store.verify_audit().head_hash == head
    assert set(store.list_patches()["state"]) == {"screened"}


def test_accepted_results_become_field_checks_and_rejected_ones_do_not(tmp_path: Path) -> None:
    store = _store(tmp_path)
    gpkg = _package(tmp_path)
    record_dispatch(store, [gpkg], actor="调度员", at=T0 + timedelta(hours=1))
    copy = device_copy(gpkg.parent, tmp_path / "tablet")
    good, bad = (t.task_id for t in package_tasks(gpkg))
    edit_field_package(
        copy, _findings(copy, store, far=bad), crew="张三", checked_at=T0 + timedelta(days=1)
    )
    field = SqliteFieldStore(tmp_path / "field.gpkg")
    now = T0 + timedelta(days=2)
    with pytest.raises(SubmissionsRejectedError, match="m from patch"):
        import_field_results(copy, field, store, actor="office", now=now)
    states = dict(zip(store.list_patches()["patch_id"], store.list_patches()["state"], strict=True))
    by_task = {t.task_id: t.patch_id for t in package_tasks(gpkg)}
    assert states[by_task[good]] == "field_checked"
    assert states[by_task[bad]] == "dispatched"  # quarantined: no transition
    (check,) = [t for t in store.history(by_task[good]) if t.target is PatchState.FIELD_CHECKED]
    assert (check.actor, check.role, check.outcome) == ("张三", Role.FIELD_CREW, "confirmed")
    reviewed = dict(zip(patches()["patch_id"], patches()["hj1156_class"], strict=True))
    assert check.hj1156_class == reviewed[by_task[good]] and check.at == now
    (event,) = [r for r in store.audit_records() if r.action == "field_import"]
    assert event.payload["accepted"] == [good]
    assert event.payload["rejected"][0]["item"] == bad
    assert store.verify_audit().ok
