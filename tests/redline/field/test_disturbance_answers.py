"""Disturbance tasks ask their own question (burn severity, bloom observed, dieback cause);
the answers are checked on import, kept in the field-result store and named in the patch's
``field_checked`` transition; an older field store without the answer columns still opens."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from tests.fixtures.field import DISPATCHED_AT, jpeg, patches, stations, write_composites
from tests.redline.field.test_roundtrip import NOW, add_photo, device_copy, edit_task, task_rows
from tiandi.errors import SubmissionsRejectedError
from tiandi.redline.field.form_fields import tasks_form
from tiandi.redline.field.importer import import_field_package
from tiandi.redline.field.lifecycle import ground_answers, import_field_results, record_dispatch
from tiandi.redline.field.package import PackageOptions, StationPackage, build_field_packages
from tiandi.redline.field.results_store import SqliteFieldStore
from tiandi.redline.field.schema import ANSWER_COLUMNS
from tiandi.redline.field.tasks import assign_tasks
from tiandi.redline.store.gpkg import GpkgPatchStore, RunInfo
from tiandi.redline.store.lifecycle import PatchState
from tiandi.redline.store.recording import record_detections
from tiandi.redline.store.records import GROUND_ANSWER_NAMES

TYPES = {"TB-000000000001": "burned", "TB-000000000002": "bloom", "TB-000000000003": "dieback"}
ANSWERS = {
    "burned": {"field_severity": "high"},
    "bloom": {"field_bloom_observed": "yes"},
    "dieback": {"field_dieback_cause": "pests"},
}


def _disturbances() -> gpd.GeoDataFrame:
    """Three patches: a burn scar, a bloom and a dieback stand (the third beside the second)."""
    base = patches()
    third = base.iloc[[1]].copy()
    third["patch_id"] = "TB-000000000003"
    third.geometry = third.geometry.translate(xoff=200.0)
    frame = gpd.GeoDataFrame(pd.concat([base, third], ignore_index=True), crs=base.crs)
    frame["change_type"] = frame["patch_id"].map(TYPES)
    frame["change_type_zh"] = frame["change_type"].map({"burned": "火烧迹地", "bloom": "水华"})
    frame["hj1156_class"] = "other"
    return frame


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> StationPackage:
    root = tmp_path_factory.mktemp("disturbances")
    return build_field_packages(
        assign_tasks(_disturbances(), stations(False)),
        root / "out",
        composites=write_composites(root / "run" / "composites"),
        dispatched_at=DISPATCHED_AT,
        options=PackageOptions(form=False),
    )[0]


def _fill(gpkg: Path, answers: dict[str, dict[str, str]]) -> dict[str, str]:
    """Every task confirmed, with a photo at its point and ``answers[change_type]``;
    returns task id -> change type."""
    with sqlite3.connect(gpkg) as con:
        types = dict(con.execute("SELECT task_id, change_type FROM tasks"))
    for task_id, _, lon, lat in task_rows(gpkg):
        photo = add_photo(gpkg, f"{task_id}.jpg", jpeg(lon, lat))
        edit_task(
            gpkg,
            task_id,
            field_result="confirmed",
            photo=photo,
            checked_at="2025-08-02T10:20:00+08:00",
            crew="李四",
            **answers.get(types[task_id], {}),
        )
    return {str(k): str(v) for k, v in types.items()}


def test_each_disturbance_type_gets_its_question(package: StationPackage) -> None:
    with sqlite3.connect(package.gpkg) as con:
        columns = [str(r[1]) for r in con.execute("PRAGMA table_info(tasks)")]
    assert [c for c in columns if c in ANSWER_COLUMNS] == [
        "field_bloom_observed",
        "field_severity",
        "field_dieback_cause",
    ]
    form = tasks_form(ANSWER_COLUMNS)
    bloom = [next(iter(m.values())) for m in form["field_bloom_observed"]["config"]["map"]]
    cause = [next(iter(m.values())) for m in form["field_dieback_cause"]["config"]["map"]]
    assert bloom == ["yes", "no", "unsure"]
    assert cause == ["pests", "disease", "drought", "fire", "harvest", "unknown"]
    assert "'dieback'" in form["field_dieback_cause"]["constraint"]


def _dispatched_store(package: StationPackage, tmp_path: Path) -> GpkgPatchStore:
    """A patch store holding the three disturbance patches, dispatched in ``package``."""
    patches_store = GpkgPatchStore(tmp_path / "patches.gpkg")
    record_detections(
        patches_store, _disturbances(), None, RunInfo("run-1", DISPATCHED_AT - timedelta(days=2))
    )
    for pid in TYPES:
        patches_store.transition(
            pid,
            "reviewed_accepted",
            actor="王工",
            role="ecologist",
            at=DISPATCHED_AT,
            hj1156_class="other",
        )
    record_dispatch(patches_store, [package.gpkg], actor="调度员", at=DISPATCHED_AT)
    return patches_store


def _ground(store: GpkgPatchStore, patch_id: str) -> dict[str, str]:
    """The answers kept in the patch's own columns (the empty ones left out)."""
    attrs = store.get(patch_id).attributes
    return {c: str(attrs[c]) for c in GROUND_ANSWER_NAMES if attrs[c] is not None}


def test_answers_round_trip_into_the_results_and_patch_stores(
    package: StationPackage, tmp_path: Path
) -> None:
    patches_store = _dispatched_store(package, tmp_path)
    gpkg = device_copy(package, tmp_path / "tablet")
    types = _fill(gpkg, ANSWERS)
    field_store = SqliteFieldStore(tmp_path / "field.gpkg")
    report, sync = import_field_results(gpkg, field_store, patches_store, actor="office", now=NOW)
    assert len(report.accepted) == 3 and not report.rejected
    kept = {r.task_id: dict(r.answers) for r in field_store.results()}
    assert kept == {t: ANSWERS[c] for t, c in types.items()}
    assert [t.target for t in sync.transitions] == [PatchState.FIELD_CHECKED] * 3
    on_the_ground = sorted(sorted(ground_answers(t.reason).items()) for t in sync.transitions)
    assert on_the_ground == sorted(sorted(a.items()) for a in ANSWERS.values())
    severity = [r for r in field_store.audit.records() if r.action == "field_result"]
    assert {"field_severity": "high"} in [r.payload.get("answers") for r in severity]
    assert {pid: _ground(patches_store, pid) for pid in TYPES} == {
        pid: ANSWERS[t] for pid, t in TYPES.items()
    }


def test_a_bad_severity_from_the_device_is_reported_and_loses_nothing(
    package: StationPackage, tmp_path: Path
) -> None:
    patches_store = _dispatched_store(package, tmp_path)
    gpkg = device_copy(package, tmp_path / "tablet")
    types = _fill(gpkg, {**ANSWERS, "burned": {"field_severity": "extreme"}})
    (task_id,) = [t for t, c in types.items() if c == "burned"]
    field_store = SqliteFieldStore(tmp_path / "field.gpkg")
    with pytest.raises(SubmissionsRejectedError) as err:
        import_field_results(gpkg, field_store, patches_store, actor="office", now=NOW)
    message = str(err.value)
    assert f"{task_id}: field_severity" in message and "'extreme'" in message
    assert "unburned, low, moderate, high" in message
    # the other answers reached their patches; the burned one waits, still dispatched
    assert _ground(patches_store, "TB-000000000002") == ANSWERS["bloom"]
    assert _ground(patches_store, "TB-000000000003") == ANSWERS["dieback"]
    burned = patches_store.get("TB-000000000001")
    assert burned.status.state is PatchState.DISPATCHED
    assert _ground(patches_store, "TB-000000000001") == {}
    # and the submission is kept as sent, the bad value included, to be corrected
    (kept,) = [q for q in field_store.quarantine() if q.task_id == task_id]
    assert kept.raw["field_severity"] == "extreme" and kept.raw["crew"] == "李四"
    assert any("field_severity" in r and "'extreme'" in r for r in kept.reasons)


@pytest.mark.parametrize(
    ("change_type", "column", "value", "allowed"),
    [
        ("bloom", "field_bloom_observed", "maybe", "yes, no, unsure"),
        ("dieback", "field_dieback_cause", "beetles", "pests, disease, drought, fire"),
    ],
)
def test_a_wrong_answer_is_refused_naming_the_task_and_the_values(
    package: StationPackage,
    tmp_path: Path,
    change_type: str,
    column: str,
    value: str,
    allowed: str,
) -> None:
    gpkg = device_copy(package, tmp_path / "tablet")
    types = _fill(gpkg, {**ANSWERS, change_type: {column: value}})
    (task_id,) = [t for t, c in types.items() if c == change_type]
    store = SqliteFieldStore(tmp_path / "field.gpkg")
    with pytest.raises(SubmissionsRejectedError) as err:
        import_field_package(gpkg, store, actor="office", now=NOW)
    message = str(err.value)
    assert f"{task_id}: {column}" in message and repr(value) in message and allowed in message
    assert len(err.value.report.accepted) == 2  # the others are kept
    assert task_id not in {r.task_id for r in store.results()}


def test_a_found_bloom_needs_its_answer(package: StationPackage, tmp_path: Path) -> None:
    gpkg = device_copy(package, tmp_path / "tablet")
    types = _fill(gpkg, {k: v for k, v in ANSWERS.items() if k != "bloom"})
    (task_id,) = [t for t, c in types.items() if c == "bloom"]
    with pytest.raises(SubmissionsRejectedError) as err:
        import_field_package(gpkg, SqliteFieldStore(tmp_path / "f.gpkg"), actor="o", now=NOW)
    ((rejected, reasons),) = err.value.report.rejected
    assert rejected == task_id
    assert any("field_bloom_observed" in r and "required" in r for r in reasons)


_OLD_RESULTS = """CREATE TABLE tiandi_field_results (
    result_id TEXT PRIMARY KEY, import_id TEXT NOT NULL, package_id TEXT NOT NULL,
    task_id TEXT NOT NULL, patch_id TEXT NOT NULL, outcome TEXT NOT NULL,
    hj1156_class TEXT, notes TEXT, crew TEXT NOT NULL, checked_at TEXT NOT NULL,
    photos TEXT NOT NULL, warnings TEXT NOT NULL, status TEXT NOT NULL, conflict_with TEXT)"""


def test_an_older_results_store_opens_and_keeps_its_rows(
    package: StationPackage, tmp_path: Path
) -> None:
    path = tmp_path / "old-field.gpkg"
    with sqlite3.connect(path) as con:
        con.execute(_OLD_RESULTS)
        con.execute(
            "INSERT INTO tiandi_field_results VALUES "
            "('FR-old', 'FI-old', 'FP-old', 'T-old', 'TB-9', 'confirmed', NULL, '旧', '张三', "
            "'2025-07-01T00:00:00+00:00', '[]', '[]', 'accepted', NULL)"
        )
    store = SqliteFieldStore(path)
    (old,) = store.results()
    assert (old.result_id, old.notes, old.answers) == ("FR-old", "旧", {})
    gpkg = device_copy(package, tmp_path / "tablet")
    _fill(gpkg, ANSWERS)
    import_field_package(gpkg, store, actor="office", now=NOW)
    results = store.results()
    assert results[0] == old and len(results) == 4
    assert {"field_severity": "high"} in [dict(r.answers) for r in results]
