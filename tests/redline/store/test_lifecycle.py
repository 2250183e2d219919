"""The patch lifecycle state machine: legal paths, refused transitions, roles, reopen."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tiandi.errors import LifecycleError, TiandiError
from tiandi.redline.store.lifecycle import (
    TRANSITIONS,
    FieldOutcome,
    PatchState,
    PatchStatus,
    Role,
    Rule,
    TransitionRecord,
    allowed_targets,
    labels,
)
from tiandi.redline.store.transitions import replay, transition

T0 = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)


def _status_for(rule: Rule) -> PatchStatus:
    """A patch sitting in ``rule.source`` with the facts the rule needs."""
    outcome = None
    if rule.source in (PatchState.FIELD_CHECKED, PatchState.RECTIFICATION_REQUIRED):
        outcome = FieldOutcome.CONFIRMED
    return PatchStatus("P-1", rule.source, "mining", outcome, T0)


def _do(status: PatchStatus, rule: Rule, role: Role, at: datetime) -> TransitionRecord:
    return transition(
        status,
        rule.target,
        actor="someone",
        role=role,
        reason="because" if rule.reason_required else None,
        at=at,
        hj1156_class="mining",
        outcome=FieldOutcome.CONFIRMED if rule.target is PatchState.FIELD_CHECKED else None,
    )


def _first_role(rule: Rule) -> Role:
    return sorted(rule.roles)[0]


def _simple_paths(state: PatchState, seen: tuple[PatchState, ...]) -> Iterator[list[Rule]]:
    yield []
    for rule in TRANSITIONS:
        if rule.source is state and rule.target not in seen:
            for rest in _simple_paths(rule.target, (*seen, rule.target)):
                yield [rule, *rest]


def test_every_simple_path_from_detected_is_accepted() -> None:
    paths = list(_simple_paths(PatchState.DETECTED, (PatchState.DETECTED,)))
    reached: set[PatchState] = set()
    for path in paths:
        status = PatchStatus("P-1")
        records = []
        for step, rule in enumerate(path, start=1):
            rec = _do(status, rule, _first_role(rule), T0 + timedelta(hours=step))
            assert (rec.source, rec.target) == (rule.source, rule.target)
            status = rec.status
            records.append(rec)
        reached.add(status.state)
        assert replay("P-1", records) == status
    assert reached == set(PatchState)
    assert len(paths) > 20


def test_full_cycle_with_rectification_close_and_recheck() -> None:
    s = PatchStatus("P-7")
    steps: list[tuple[PatchState, Role, dict[str, object]]] = [
        (PatchState.SCREENED, Role.SYSTEM, {}),
        (PatchState.REVIEWED_ACCEPTED, Role.ECOLOGIST, {"hj1156_class": "mining"}),
        (PatchState.DISPATCHED, Role.DISPATCHER, {}),
        (PatchState.FIELD_CHECKED, Role.FIELD_CREW, {"outcome": "confirmed"}),
        (PatchState.RECTIFICATION_REQUIRED, Role.SUPERVISOR, {}),
        (PatchState.RECTIFIED, Role.FIELD_CREW, {}),
        (PatchState.CLOSED, Role.SUPERVISOR, {"reason": "restored, 销号"}),
        (PatchState.REOPENED, Role.SYSTEM, {"reason": "detected again 2026H1"}),
        (PatchState.SCREENED, Role.SYSTEM, {}),
    ]
    for i, (to, role, extra) in enumerate(steps):
        rec = transition(s, to, actor="a", role=role, at=T0 + timedelta(days=i), **extra)  # type: ignore[arg-type]
        s = rec.status
    assert s.state is PatchState.SCREENED
    assert s.hj1156_class == "mining"
    assert s.outcome is None  # a reopened patch is field-checked afresh


def test_reopen_of_closed_patch_records_reason_and_clears_outcome() -> None:
    closed = PatchStatus("P-9", PatchState.CLOSED, "energy", FieldOutcome.NOT_FOUND, T0)
    rec = transition(
        closed, "reopened", actor="detect-run-42", role="system", reason="re-detected", at=T0
    )
    assert rec.status.state is PatchState.REOPENED
    assert rec.reason == "re-detected"
    assert rec.status.hj1156_class == "energy"
    assert rec.status.outcome is None
    assert rec.payload()["from"] == "closed" and rec.payload()["to"] == "reopened"
    with pytest.raises(LifecycleError, match="requires a reason"):
        transition(closed, PatchState.REOPENED, actor="x", role=Role.SYSTEM, at=T0)


ILLEGAL = [
    (a, b)
    for a, b in itertools.product(PatchState, PatchState)
    if (a, b) not in {(r.source, r.target) for r in TRANSITIONS}
]


@pytest.mark.parametrize(("source", "target"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
def test_every_illegal_transition_is_refused_with_a_clear_message(
    source: PatchState, target: PatchState
) -> None:
    status = PatchStatus("P-42", source, "mining", FieldOutcome.CONFIRMED, T0)
    with pytest.raises(LifecycleError) as err:
        transition(
            status,
            target,
            actor="a",
            role=Role.SUPERVISOR,
            reason="r",
            at=T0,
            hj1156_class="mining",
            outcome="confirmed",
        )
    msg = str(err.value)
    assert "'P-42'" in msg
    assert f"from {source.value!r}" in msg and f"to {target.value!r}" in msg
    assert "not allowed" in msg
    nexts = allowed_targets(source)
    assert nexts, "every state has a way forward"
    for n in nexts:
        assert n.value in msg.split("Allowed next states")[1]


def test_lifecycle_error_is_a_tiandi_error() -> None:
    assert issubclass(LifecycleError, TiandiError)


@pytest.mark.parametrize("rule", TRANSITIONS, ids=[f"{r.source}->{r.target}" for r in TRANSITIONS])
def test_roles_are_enforced_for_every_transition(rule: Rule) -> None:
    status = _status_for(rule)
    for role in Role:
        if role in rule.roles:
            assert _do(status, rule, role, T0).role is role
        else:
            with pytest.raises(LifecycleError) as err:
                _do(status, rule, role, T0)
            msg = str(err.value)
            assert f"role {role.value!r} may not perform {rule.name!r}" in msg
            assert all(r.value in msg for r in rule.roles)


@pytest.mark.parametrize(
    "rule", [r for r in TRANSITIONS if r.reason_required], ids=lambda r: f"{r.source}->{r.target}"
)
def test_reason_is_required_for_reject_close_reopen(rule: Rule) -> None:
    status = _status_for(rule)
    for blank in (None, "", "   "):
        with pytest.raises(LifecycleError, match="requires a reason"):
            transition(
                status,
                rule.target,
                actor="a",
                role=_first_role(rule),
                reason=blank,
                at=T0,
                hj1156_class="mining",
            )


def test_reason_required_covers_reject_close_and_reopen() -> None:
    needing = {(r.target, r.name) for r in TRANSITIONS if r.reason_required}
    for target in (PatchState.REJECTED, PatchState.CLOSED, PatchState.REOPENED):
        assert all(r.reason_required for r in TRANSITIONS if r.target is target)
        assert any(t is target for t, _ in needing)


def test_acceptance_requires_a_class_and_field_check_an_outcome() -> None:
    screened = PatchStatus("P-2", PatchState.SCREENED)
    with pytest.raises(LifecycleError, match="accepted class"):
        transition(screened, "reviewed_accepted", actor="eco", role="ecologist", at=T0)
    dispatched = PatchStatus("P-2", PatchState.DISPATCHED, "mining")
    with pytest.raises(LifecycleError, match="outcome"):
        transition(dispatched, "field_checked", actor="crew", role="field_crew", at=T0)
    with pytest.raises(LifecycleError, match="outcome"):
        transition(
            dispatched, "field_checked", actor="crew", role="field_crew", at=T0, outcome="maybe"
        )
    with pytest.raises(LifecycleError, match="class found"):
        transition(
            dispatched,
            "field_checked",
            actor="crew",
            role="field_crew",
            at=T0,
            outcome="different_class",
        )
    rec = transition(
        dispatched,
        "field_checked",
        actor="crew",
        role="field_crew",
        at=T0,
        outcome="different_class",
        hj1156_class="agriculture",
    )
    assert rec.status.hj1156_class == "agriculture"
    assert rec.status.outcome is FieldOutcome.DIFFERENT_CLASS


def test_not_found_patch_cannot_require_rectification_but_can_be_closed() -> None:
    checked = PatchStatus("P-3", PatchState.FIELD_CHECKED, "mining", FieldOutcome.NOT_FOUND, T0)
    with pytest.raises(LifecycleError) as err:
        transition(checked, "rectification_required", actor="s", role="supervisor", at=T0)
    assert "'not_found'" in str(err.value) and "confirmed" in str(err.value)
    rec = transition(
        checked, "closed", actor="s", role="supervisor", reason="nothing on the ground", at=T0
    )
    assert rec.status.state is PatchState.CLOSED


def test_recall_keeps_the_accepted_class() -> None:
    dispatched = PatchStatus("P-4", PatchState.DISPATCHED, "industry", None, T0)
    rec = transition(
        dispatched, "reviewed_accepted", actor="d", role="dispatcher", reason="wrong station", at=T0
    )
    assert rec.status.hj1156_class == "industry"


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"to": "nowhere"}, "no such state"),
        ({"role": "janitor"}, "unknown role"),
        ({"actor": " "}, "no actor"),
        ({"at": datetime(2025, 7, 1, 8, 0)}, "no timezone"),
        ({"at": T0 - timedelta(seconds=1)}, "before the last change"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object], needle: str) -> None:
    status = PatchStatus("P-5", PatchState.DETECTED, updated_at=T0)
    args: dict[str, object] = {"to": "screened", "actor": "sys", "role": "system", "at": T0}
    args.update(kwargs)
    to = args.pop("to")
    with pytest.raises(LifecycleError, match=needle) as err:
        transition(status, to, **args)  # type: ignore[arg-type]
    assert "'P-5'" in str(err.value)


def test_replay_refuses_records_out_of_order() -> None:
    s = PatchStatus("P-6")
    r1 = transition(s, "screened", actor="sys", role="system", at=T0)
    r2 = transition(
        r1.status, "reviewed_accepted", actor="e", role="ecologist", at=T0, hj1156_class="mining"
    )
    assert replay("P-6", [r1, r2]).state is PatchState.REVIEWED_ACCEPTED
    with pytest.raises(LifecycleError, match="out of order"):
        replay("P-6", [r2, r1])
    with pytest.raises(LifecycleError, match="another patch"):
        replay("P-other", [r1])


def test_every_state_role_and_outcome_has_a_chinese_label() -> None:
    table = labels()
    assert set(table["state"]) == {s.value for s in PatchState}
    assert table["state"]["closed"] == "已销号"
    for group in table.values():
        for text in group.values():
            assert any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_undo_review_returns_to_screened_with_the_class_before() -> None:
    screen = transition(PatchStatus("P-5"), "screened", actor="tiandi", role="system", at=T0)
    accepted = transition(
        screen.status,
        "reviewed_accepted",
        actor="eco",
        role="ecologist",
        at=T0,
        hj1156_class="energy",
    )
    undo = transition(
        accepted.status, "screened", actor="eco", role="ecologist", reason="undo", at=T0
    )
    assert undo.name == "undo_review" and undo.status.state is PatchState.SCREENED
    assert undo.status.hj1156_class is None
    rejected = transition(
        undo.status, "rejected", actor="eco", role="ecologist", reason="cloud", at=T0
    )
    again = transition(
        rejected.status, "screened", actor="eco", role="reviewer", reason="undo", at=T0
    )
    assert again.status.state is PatchState.SCREENED
    assert replay("P-5", [screen, accepted, undo, rejected, again]).state is PatchState.SCREENED
    with pytest.raises(LifecycleError, match="requires a reason"):
        transition(accepted.status, "screened", actor="eco", role="ecologist", at=T0)
    with pytest.raises(LifecycleError, match="may not perform 'undo_review'"):
        transition(accepted.status, "screened", actor="x", role="system", reason="u", at=T0)
