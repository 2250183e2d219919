"""The patch store, the same assertions on both backends (GeoPackage and PostGIS)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pyogrio
import pytest
from shapely.geometry import MultiPolygon

from tests.fixtures.store import (
    PATH_TO,
    T0,
    audit_tamper_sql,
    detections,
    drive,
    make_store,
    raw_sql,
    run_info,
    square,
)
from tiandi.errors import InputError, LifecycleError
from tiandi.redline.store.gpkg import GpkgPatchStore, PatchStore
from tiandi.redline.store.lifecycle import TRANSITIONS, PatchState, Role, allowed_targets
from tiandi.redline.store.recording import record_detections


@pytest.fixture(params=["gpkg", "postgis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> PatchStore:
    return make_store(str(request.param), tmp_path, request)


def _uid(store: PatchStore, patch_id: str) -> str:
    return store.get(patch_id).patch_uid


def test_import_puts_kept_patches_in_screened_and_screened_out_in_rejected(
    store: PatchStore,
) -> None:
    kept = detections([("TB-a", square(0)), ("TB-b", square(1))])
    out = detections([("TB-c", square(2))], reason="seasonal_greening")
    summary = record_detections(store, kept, out, run_info(1))
    assert (summary.detected, summary.new, summary.screened, summary.rejected) == (3, 3, 2, 1)
    frame = store.list_patches()
    assert len(frame) == 3 and frame.crs.to_epsg() == 4490
    assert dict(zip(frame["patch_id"], frame["state"], strict=True)) == {
        "TB-a": "screened",
        "TB-b": "screened",
        "TB-c": "rejected",
    }
    rejected = store.history("TB-c")
    assert [(r.source.value, r.target.value) for r in rejected] == [("detected", "rejected")]
    assert rejected[0].actor == "system" and rejected[0].role is Role.SYSTEM
    assert rejected[0].reason is not None and "seasonal_greening" in rejected[0].reason
    kept_history = store.history("TB-a")
    assert [(r.source.value, r.target.value) for r in kept_history] == [("detected", "screened")]
    actions = [(r.action, r.subject) for r in store.audit_records()]
    uid_a = _uid(store, "TB-a")
    assert ("detected", uid_a) in actions and ("transition", uid_a) in actions
    assert actions[-1] == ("run", "run-1")
    assert store.verify_audit().ok
    (run, counts), *_ = store.runs()
    assert run.run_id == "run-1" and run.zone_set_version == "sha256:test"
    assert run.parameters["detector"] == "baseline-cva" and counts["new"] == 3


def test_every_legal_transition_through_the_store(store: PatchStore) -> None:
    rules = [r for r in TRANSITIONS if r.source is not PatchState.DETECTED]
    kept = detections([(f"TB-{i}", square(i)) for i, _ in enumerate(rules)])
    out = detections(
        [(f"TB-x{i}", square(50 + i)) for i, _ in enumerate(rules)], reason="below_mmu"
    )
    record_detections(store, kept, out, run_info(1))
    for i, rule in enumerate(rules):
        if rule.source is PatchState.REJECTED:
            uid, at = _uid(store, f"TB-x{i}"), T0
        else:
            uid = _uid(store, f"TB-{i}")
            at = drive(store, uid, rule.source, T0)
        outcome = "different_class" if rule.target is PatchState.FIELD_CHECKED else None
        role = sorted(r.value for r in rule.roles)[0]
        before = len(store.audit_records())
        record = store.transition(
            uid,
            rule.target,
            actor="tester",
            role=role,
            reason="because",
            at=at + timedelta(minutes=5),
            hj1156_class="industry",
            outcome=outcome,
        )
        got = store.get(uid)
        assert got.status.state is rule.target, rule
        assert record.name == rule.name
        assert store.history(uid)[-1] == record
        new = store.audit_records()[before:]
        assert len(new) == 1 and new[0].subject == uid
        assert new[0].payload["to"] == rule.target.value and new[0].actor == "tester"
    assert store.verify_audit().ok


def test_every_illegal_transition_is_refused_and_changes_nothing(store: PatchStore) -> None:
    states = list(PATH_TO)
    kept = detections([(f"TB-{i}", square(i)) for i, _ in enumerate(states)])
    out = detections([("TB-rej", square(40))], reason="weak_spectral_change")
    record_detections(store, kept, out, run_info(1))
    sources = {PatchState.REJECTED: _uid(store, "TB-rej")}
    for i, state in enumerate(states):
        sources[state] = _uid(store, f"TB-{i}")
        drive(store, sources[state], state, T0)
    head = store.audit_records()[-1]
    for state, uid in sources.items():
        illegal = [t for t in PatchState if t not in allowed_targets(state)]
        for target in illegal:
            with pytest.raises(LifecycleError, match=f"cannot go from '{state.value}'"):
                store.transition(
                    uid,
                    target,
                    actor="tester",
                    role="supervisor",
                    reason="x",
                    at=T0 + timedelta(days=1),
                    hj1156_class="mining",
                    outcome="confirmed",
                )
        for rule in (r for r in TRANSITIONS if r.source is state):
            wrong = next(r for r in Role if r not in rule.roles)
            with pytest.raises(LifecycleError, match="may not perform"):
                store.transition(
                    uid, rule.target, actor="x", role=wrong, reason="x", at=T0 + timedelta(days=1)
                )
        assert store.get(uid).status.state is state
    assert store.audit_records()[-1] == head
    assert store.verify_audit().ok


def test_a_transition_failing_midway_rolls_back_state_history_and_audit(
    store: PatchStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_detections(store, detections([("TB-a", square(0))]), None, run_info(1))
    uid = _uid(store, "TB-a")
    n_history, n_audit = len(store.history(uid)), len(store.audit_records())
    original = type(store)._apply  # type: ignore[attr-defined]

    def apply_then_fail(self: Any, tx: Any, record: Any) -> None:
        original(self, tx, record)  # state updated, history row and audit record written
        raise RuntimeError("disk full")

    monkeypatch.setattr(type(store), "_apply", apply_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        store.transition(
            uid, "reviewed_accepted", actor="li", role="reviewer", hj1156_class="mining"
        )
    monkeypatch.undo()
    assert store.get(uid).status.state is PatchState.SCREENED
    assert len(store.history(uid)) == n_history
    assert len(store.audit_records()) == n_audit
    assert store.verify_audit().ok


def test_identity_links_runs_enlarged_reopened_and_new(store: PatchStore) -> None:
    first = detections([("TB-a", square(0)), ("TB-b", square(1)), ("TB-c", square(2))])
    record_detections(store, first, None, run_info(1))
    uid_a, uid_b, uid_c = (_uid(store, p) for p in ("TB-a", "TB-b", "TB-c"))
    drive(store, uid_c, PatchState.CLOSED, T0)
    second = detections(
        [
            ("TB-a2", square(0, size=200.0)),  # grew from 1 ha to 4 ha
            ("TB-b2", square(1, dx=5.0)),  # same patch, slightly shifted
            ("TB-c2", square(2)),  # the closed patch is back
            ("TB-d2", square(3)),  # new
        ]
    )
    summary = record_detections(store, second, None, run_info(2))
    assert (summary.new, summary.linked, summary.enlarged, summary.reopened) == (1, 3, 1, 1)
    frame = store.list_patches()
    assert len(frame) == 4  # not duplicated
    by_uid = frame.set_index("patch_uid")
    assert by_uid.loc[uid_a, "change_type"] == "enlarged"
    assert by_uid.loc[uid_a, "change_type_zh"] == "扩大"
    assert by_uid.loc[uid_a, "patch_id"] == "TB-a2"
    assert by_uid.loc[uid_a, "area_m2"] == pytest.approx(40000.0)
    assert by_uid.loc[uid_b, "change_type"] == "new"
    assert int(by_uid.loc[uid_b, "n_detections"]) == 2
    assert by_uid.loc[uid_b, "state"] == "screened"  # still waiting for review: no transition
    c_history = [(r.source.value, r.target.value) for r in store.history(uid_c)]
    assert c_history[-2:] == [("closed", "reopened"), ("reopened", "screened")]
    assert store.history(uid_c)[-2].actor == "system"
    uid_d = _uid(store, "TB-d2")
    assert uid_d not in (uid_a, uid_b, uid_c) and by_uid.loc[uid_d, "first_run"] == "run-2"
    assert _uid(store, "TB-a") == uid_a  # the old detection id still finds the patch
    found = store.detections(uid_a)
    assert [d["run_id"] for d in found] == ["run-1", "run-2"]
    assert found[1]["previous_area_m2"] == pytest.approx(10000.0) and found[1]["linked"] == 1
    assert store.verify_audit().ok


def test_recording_the_same_run_twice_changes_nothing(store: PatchStore) -> None:
    frame = detections([("TB-a", square(0))])
    record_detections(store, frame, None, run_info(1))
    head = store.audit_records()[-1]
    again = record_detections(store, frame, None, run_info(1))
    assert again.already_recorded and again.new == 1
    assert store.audit_records()[-1] == head and len(store.list_patches()) == 1


def test_list_filters_by_zone_and_state(store: PatchStore) -> None:
    record_detections(store, detections([("TB-a", square(0))], zone="ZN-1"), None, run_info(1))
    record_detections(store, detections([("TB-b", square(5))], zone="ZN-2"), None, run_info(2))
    store.transition("TB-b", "rejected", actor="li", role="reviewer", reason="shadow")
    assert list(store.list_patches(zone_id="ZN-2")["patch_id"]) == ["TB-b"]
    assert list(store.list_patches(state="screened")["patch_id"]) == ["TB-a"]
    assert store.list_patches(zone_id="ZN-1", state="rejected").empty
    with pytest.raises(InputError, match="state 'nonsense' is unknown"):
        store.list_patches(state="nonsense")
    with pytest.raises(InputError, match="TB-zzz"):
        store.get("TB-zzz")


def test_audit_log_refuses_edits_and_verify_names_a_tampered_record(store: PatchStore) -> None:
    record_detections(store, detections([("TB-a", square(0))]), None, run_info(1))
    with pytest.raises(Exception, match="append-only"):
        raw_sql(store, "UPDATE tiandi_audit SET actor = 'x' WHERE seq = 2")
    assert store.verify_audit().ok
    raw_sql(store, audit_tamper_sql(store, 2))
    report = store.verify_audit()
    assert not report.ok and report.first_break is not None
    assert report.first_break.seq == 2 and report.first_break.kind == "altered"


def test_gpkg_store_is_a_geopackage_gdal_reads(tmp_path: Path) -> None:
    store = GpkgPatchStore(tmp_path / "patches.gpkg")
    frame = detections([("TB-a", square(0)), ("TB-b", square(7))])
    record_detections(store, frame, None, run_info(1))
    layers = dict(pyogrio.list_layers(store.path))
    assert layers["patches"] == "MultiPolygon"
    assert {"patch_runs", "patch_transitions", "tiandi_audit"} <= set(layers)
    read = pyogrio.read_dataframe(store.path, layer="patches")
    assert read.crs.to_epsg() == 4490 and sorted(read["patch_id"]) == ["TB-a", "TB-b"]
    expected = frame.to_crs(4490).set_index("patch_id").geometry
    for pid, geom in zip(read["patch_id"], read.geometry, strict=True):
        assert geom.equals_exact(MultiPolygon([expected[pid]]), 1e-9)
    x0, y0, x1, y1 = expected["TB-b"].buffer(1e-4).bounds  # R-tree: only TB-b in the box
    assert list(
        pyogrio.read_dataframe(store.path, layer="patches", bbox=(x0, y0, x1, y1))["patch_id"]
    ) == ["TB-b"]


def test_gpkg_store_refuses_a_file_that_is_not_a_store(tmp_path: Path) -> None:
    other = tmp_path / "run-patches.gpkg"
    pyogrio.write_dataframe(detections([("TB-a", square(0))]), other, layer="patches")
    with pytest.raises(InputError, match="is not a patch store"):
        GpkgPatchStore(other).ensure()
    with pytest.raises(InputError, match="does not exist"):
        GpkgPatchStore(tmp_path / "missing.gpkg").list_patches()
