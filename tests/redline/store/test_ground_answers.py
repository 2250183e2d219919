"""The crew's answers on the ground (burn severity, bloom observed, dieback cause) as
columns of a patch, on both backends: a field check writes them with its transition, a
transition that clears the field outcome clears them, a bad answer writes nothing, and a
store of schema version 2 (without the columns) is upgraded keeping its rows."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from tests.fixtures.store import T0, detections, drive, make_store, raw_sql, run_info, square
from tiandi.errors import InputError
from tiandi.redline.field.schema import ANSWER_COLUMNS
from tiandi.redline.store.gpkg import GpkgPatchStore, PatchStore
from tiandi.redline.store.lifecycle import PatchState
from tiandi.redline.store.postgis import PostgisPatchStore
from tiandi.redline.store.recording import record_detections
from tiandi.redline.store.records import GROUND_ANSWER_NAMES, PATCH_NAMES
from tiandi.redline.store.schema import SCHEMA_TABLE, SCHEMA_VERSION


@pytest.fixture(params=["gpkg", "postgis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> PatchStore:
    return make_store(str(request.param), tmp_path, request)


def _dispatched(store: PatchStore) -> tuple[str, str]:
    """Two patches of a run, the first dispatched; returns both uids."""
    record_detections(store, detections([("P1", square(1)), ("P2", square(2))]), None, run_info(1))
    first, second = (str(u) for u in store.list_patches()["patch_uid"])
    drive(store, first, PatchState.DISPATCHED, T0)
    return first, second


def _answers(store: PatchStore, uid: str) -> dict[str, object]:
    attrs = store.get(uid).attributes
    return {c: attrs[c] for c in GROUND_ANSWER_NAMES}


def test_the_store_keeps_a_column_for_every_question_of_the_field_forms() -> None:
    assert set(GROUND_ANSWER_NAMES) == set(ANSWER_COLUMNS)
    assert set(GROUND_ANSWER_NAMES) <= set(PATCH_NAMES)
    assert SCHEMA_VERSION >= 3


def test_a_field_check_writes_its_answers_into_the_patch(
    store: PatchStore,
) -> None:
    uid, other = _dispatched(store)
    at = T0 + timedelta(hours=1)
    store.transition(
        uid,
        "field_checked",
        actor="李四",
        role="field_crew",
        at=at,
        outcome="confirmed",
        ground_answers={"field_severity": "high"},
    )
    assert _answers(store, uid) == {
        "field_severity": "high",
        "field_bloom_observed": None,
        "field_dieback_cause": None,
    }
    listed = store.list_patches().set_index("patch_uid")
    assert listed.loc[uid, "field_severity"] == "high"
    assert pd.isna(listed.loc[other, "field_severity"])
    store.transition(
        uid, "rectification_required", actor="监管", role="supervisor", at=at + timedelta(hours=1)
    )
    assert _answers(store, uid)["field_severity"] == "high"  # kept with the field outcome
    assert store.get(uid).attributes["field_outcome"] == "confirmed"


def test_answers_follow_the_field_outcome(store: PatchStore) -> None:
    uid, _ = _dispatched(store)
    at = T0 + timedelta(hours=1)
    store.transition(
        uid,
        "field_checked",
        actor="李四",
        role="field_crew",
        at=at,
        outcome="confirmed",
        ground_answers={"field_dieback_cause": "pests"},
    )
    store.transition(
        uid, "dispatched", actor="调度", role="dispatcher", at=at, reason="check the edge again"
    )
    assert _answers(store, uid) == dict.fromkeys(GROUND_ANSWER_NAMES)
    store.transition(
        uid, "field_checked", actor="王五", role="field_crew", at=at, outcome="not_found"
    )
    assert _answers(store, uid) == dict.fromkeys(GROUND_ANSWER_NAMES)
    assert store.get(uid).attributes["field_outcome"] == "not_found"


@pytest.mark.parametrize(
    ("target", "answers", "message"),
    [
        ("field_checked", {"field_colour": "green"}, "['field_colour'] are unknown"),
        ("field_checked", {"field_severity": " "}, "field_severity is ' '"),
        ("field_checked", {"field_severity": "extreme"}, "is not one of unburned, low"),
        ("reviewed_accepted", {"field_severity": "high"}, "by a field check"),
    ],
)
def test_a_bad_answer_is_refused_and_nothing_is_written(
    store: PatchStore, target: str, answers: dict[str, str], message: str
) -> None:
    uid, _ = _dispatched(store)
    before = (store.version(uid), store.get(uid).status.state, store.verify_audit().records)
    role = "field_crew" if target == "field_checked" else "dispatcher"
    with pytest.raises(InputError, match=re.escape(message)) as err:
        store.transition(
            uid,
            target,
            actor="李四",
            role=role,
            at=T0 + timedelta(hours=1),
            outcome="confirmed",
            reason="recalled",
            ground_answers=answers,
        )
    assert uid in str(err.value)
    after = (store.version(uid), store.get(uid).status.state, store.verify_audit().records)
    assert after == before and _answers(store, uid) == dict.fromkeys(GROUND_ANSWER_NAMES)


def _reopen(store: PatchStore) -> PatchStore:
    if isinstance(store, GpkgPatchStore):
        return GpkgPatchStore(store.path)
    assert isinstance(store, PostgisPatchStore)
    return PostgisPatchStore(store.dsn, schema=store.schema)


def _as_version_2(store: PatchStore) -> None:
    """``store`` turned into the version-2 layout (no answer columns)."""
    drops = ";".join(f"ALTER TABLE patches DROP COLUMN {c}" for c in GROUND_ANSWER_NAMES)
    raw_sql(
        store,
        f"DELETE FROM {SCHEMA_TABLE};INSERT INTO {SCHEMA_TABLE} (version, tiandi) "
        f"VALUES (2, '0.old');{drops}",
    )


def test_a_version_2_store_gains_the_columns_and_keeps_its_rows(store: PatchStore) -> None:
    uid, _ = _dispatched(store)
    store.transition(
        uid,
        "field_checked",
        actor="李四",
        role="field_crew",
        at=T0 + timedelta(hours=1),
        outcome="confirmed",
    )
    rows = store.list_patches().drop(columns=[*GROUND_ANSWER_NAMES, "geometry"])
    head = store.verify_audit().head_hash
    _as_version_2(store)
    old = _reopen(store)
    report = old.upgrade_schema()
    assert (report.before, report.after) == (2, SCHEMA_VERSION)
    assert set(GROUND_ANSWER_NAMES) <= set(report.added)
    assert f"from version 2 to {SCHEMA_VERSION}" in report.describe()
    upgraded = old.list_patches()
    assert upgraded[GROUND_ANSWER_NAMES[0]].isna().all()
    kept = upgraded.drop(columns=[*GROUND_ANSWER_NAMES, "geometry"])
    assert kept.sort_index(axis=1).equals(rows.sort_index(axis=1))
    assert old.verify_audit(expected_head=head).ok
    old.transition(
        uid,
        "dispatched",
        actor="调度",
        role="dispatcher",
        at=T0 + timedelta(hours=2),
        reason="again",
    )
    old.transition(
        uid,
        "field_checked",
        actor="李四",
        role="field_crew",
        at=T0 + timedelta(hours=3),
        outcome="confirmed",
        ground_answers={"field_bloom_observed": "yes"},
    )
    assert old.get(uid).attributes["field_bloom_observed"] == "yes"
    assert not _reopen(store).upgrade_schema().changed


def test_the_upgrade_copies_the_answers_of_earlier_checks_from_their_transitions(
    store: PatchStore,
) -> None:
    """A version-2 store recorded the answers only in the ``field_checked`` reason: the
    upgrade copies those behind a patch's field outcome into the new columns (not those of
    a check whose outcome a later transition cleared)."""
    first, second = _dispatched(store)
    drive(store, second, PatchState.DISPATCHED, T0)
    reason = "field result FR-1 (task T1, checked x; import FI-1, package P{}; on the ground: {})"
    for uid, n, said in ((first, 1, "field_severity=low"), (second, 2, "field_severity=high")):
        store.transition(
            uid,
            "field_checked",
            actor="李四",
            role="field_crew",
            at=T0 + timedelta(hours=n),
            outcome="confirmed",
            reason=reason.format(n, said),
        )
    store.transition(  # the second check's outcome is cleared: its answer is not current
        second,
        "dispatched",
        actor="调度",
        role="dispatcher",
        at=T0 + timedelta(hours=3),
        reason="again",
    )
    _as_version_2(store)
    head = store.verify_audit().head_hash
    old = _reopen(store)
    assert old.upgrade_schema().before == 2
    assert _answers(old, first) == {**dict.fromkeys(GROUND_ANSWER_NAMES), "field_severity": "low"}
    assert _answers(old, second) == dict.fromkeys(GROUND_ANSWER_NAMES)
    assert old.verify_audit(expected_head=head).ok


def test_the_reason_format_of_the_answers_reads_back() -> None:
    from tiandi.redline.store.ground import answers_in_reason, reason_of_answers

    answers = {"field_severity": "high", "field_bloom_observed": "yes"}
    reason = f"field result FR-1 (task T1{reason_of_answers(answers)}): 火 note (x=y)"
    assert reason_of_answers(answers) == (
        "; on the ground: field_bloom_observed=yes, field_severity=high"
    )
    assert answers_in_reason(reason) == answers
    assert reason_of_answers({}) == "" and answers_in_reason("no answers here") == {}
