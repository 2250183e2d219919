"""The whole supervision cycle on the small demo scene, with the session's real services:
detect → screen → review → dispatch → field edits → import → accuracy → close → re-check
reopens one patch → the audit chain verifies and a tampered copy does not."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tiandi.demo.cycle_flow import FullCycleRequest, FullCycleResult, full_cycle
from tiandi.redline.field.results_store import SqliteFieldStore
from tiandi.redline.store.gpkg import GpkgPatchStore
from tiandi.redline.store.lifecycle import PatchState, Role


@pytest.fixture(scope="module")
def cycle(
    services: Any, demo_run: Path, tmp_path_factory: pytest.TempPathFactory
) -> FullCycleResult:
    root = tmp_path_factory.mktemp("cycle")
    # the session's detect_changes run of this request (tests/conftest.py), copied: the
    # cycle writes into the run folder
    run = shutil.copytree(demo_run, root / "run")
    request = FullCycleRequest(
        run=run,
        scene=services.scene,
        out=root / "run" / "cycle",
        later_scene=root / "later",
        chunk=256,
    )
    return full_cycle(request, services.settings)


def counts(result: FullCycleResult, key: str) -> dict[str, Any]:
    return dict(result.summary.step(key).counts)


def test_detection_and_screening_are_lifecycle_steps(cycle: FullCycleResult) -> None:
    detect, screen = counts(cycle, "detect"), counts(cycle, "screen")
    assert detect["detected"] == detect["new"] > 0
    assert screen["screened (kept)"] > 1 and screen["rejected (pseudo-change)"] > 0
    assert screen["screened (kept)"] + screen["rejected (pseudo-change)"] == detect["detected"]


def test_review_accepts_all_but_one_pseudo_change(cycle: FullCycleResult) -> None:
    kept = counts(cycle, "screen")["screened (kept)"]
    review = counts(cycle, "review")
    assert review == {"accepted": kept - 1, "rejected": 1}
    store = GpkgPatchStore(cycle.store)
    (rejected,) = [
        t
        for uid in store.list_patches(state=PatchState.REJECTED)["patch_uid"]
        for t in store.history(str(uid))
        if t.role is Role.ECOLOGIST
    ]
    assert rejected.reason is not None and "pseudo-change" in rejected.reason


def test_dispatch_and_import_move_patches_through_the_store(cycle: FullCycleResult) -> None:
    accepted = counts(cycle, "review")["accepted"]
    dispatch, imported = counts(cycle, "dispatch"), counts(cycle, "import")
    assert dispatch["dispatched"] == accepted and dispatch["packages"] >= 1
    # one submission had a photo ~4 km away: quarantined, its patch stays dispatched
    assert imported["rejected (quarantined)"] == 1
    assert imported["accepted"] == imported["field_checked"] == accepted - 1
    assert imported["points"] == counts(cycle, "field")["packages edited"]
    store = GpkgPatchStore(cycle.store)
    (waiting,) = store.list_patches(state=PatchState.DISPATCHED)["patch_uid"]
    assert PatchState.FIELD_CHECKED not in [t.target for t in store.history(str(waiting))]
    field = SqliteFieldStore(cycle.out / "field-results.gpkg")
    assert len(field.results()) == accepted - 1 and len(field.quarantine()) == 1
    checked = [
        t
        for uid in store.list_patches()["patch_uid"]
        for t in store.history(str(uid))
        if t.target is PatchState.FIELD_CHECKED
    ]
    assert {t.role for t in checked} == {Role.FIELD_CREW}
    assert all(t.actor.startswith("核查组 ") and t.outcome is not None for t in checked)
    actions = [r.action for r in store.audit_records()]
    assert actions.count("field_import") == counts(cycle, "field")["packages edited"]


def test_accuracy_report_has_confidence_intervals(cycle: FullCycleResult) -> None:
    overall = cycle.accuracy["overall"]
    assert overall.n_samples == counts(cycle, "accuracy")["samples"] >= 100
    assert overall.overall is not None and 0.9 < overall.overall.value <= 1.0
    change = overall.area_m2[overall.classes.index("change")]
    assert change is not None and change.ci_high - change.ci_low > 0
    assert (cycle.out / "accuracy" / "accuracy.html").is_file()


def test_rectified_patches_are_closed_and_the_recheck_reopens_one(
    cycle: FullCycleResult,
) -> None:
    closed = counts(cycle, "close")
    assert closed["closed"] == closed["rectified"] == counts(cycle, "import")["field_checked"]
    recheck = counts(cycle, "recheck")
    assert recheck["reopened"] == 1 and recheck["linked"] >= 1
    (uid,) = cycle.summary.reopened
    store = GpkgPatchStore(cycle.store)
    path = [t.target for t in store.history(uid)]
    assert path[-3:] == [PatchState.CLOSED, PatchState.REOPENED, PatchState.SCREENED]
    assert PatchState.RECTIFIED in path


def test_audit_verifies_and_a_tampered_copy_fails(cycle: FullCycleResult) -> None:
    assert cycle.audit.ok and cycle.audit.records > 50
    assert not cycle.tampered.ok
    first = cycle.tampered.first_break
    assert first is not None and first.seq == cycle.summary.tampered["edited_seq"]
    assert first.kind == "altered"


def test_summary_files_say_the_reference_is_simulated(cycle: FullCycleResult) -> None:
    data = json.loads((cycle.out / "cycle.json").read_text("utf-8"))
    assert [s["key"] for s in data["steps"]] == [
        "detect",
        "screen",
        "review",
        "dispatch",
        "field",
        "import",
        "accuracy",
        "close",
        "recheck",
    ]
    assert data["audit"]["ok"] is True and data["tampered_copy"]["ok"] is False
    assert any("simulation of field reference data" in n for n in data["notes"])
    page = (cycle.out / "cycle.html").read_text("utf-8")
    assert "truth.gpkg" in page and "http" not in page
    assert not (cycle.out / "INCOMPLETE").exists()
