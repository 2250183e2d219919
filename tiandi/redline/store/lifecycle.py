"""The life of a patch (图斑) as an explicit state machine.

States and the transitions between them are data (:data:`TRANSITIONS`); each transition
names the roles that may perform it and whether a reason is required. :func:`transition`
checks a requested change against that table and returns a :class:`TransitionRecord`
(who, in which role, when, why) that the caller stores and appends to the audit log
(:func:`tiandi.redline.store.audit.append_transition`); it never mutates anything.

Path of a patch::

    detected ─► screened ─► reviewed_accepted ─► dispatched ─► field_checked
       │            │              ▲   ▲              │              │
       └─► rejected ◄┘             │   └── (recall) ──┘              ├─► rectification_required
              │  └── (overturned) ─┘                                 │        │   ▲
              │                                                      │        ▼   │
              │                                                      │     rectified
              │                                                      ▼        │
              └────────────► reopened ◄────────────────────────── closed ◄────┘
                                 │ (detected again: 回头看)
                                 └─► screened / reviewed_accepted / rejected

Re-check (回头看): a closed (or rejected) patch that is detected again in a later period
goes to the dedicated state ``reopened`` rather than back to ``detected``, so that the
ledger can tell new patches from returning ones; from ``reopened`` it is screened and
reviewed again like a new detection. ``field_checked`` carries the crew's
:class:`FieldOutcome`; only ``confirmed`` and ``different_class`` can lead to
rectification, any outcome can be closed (销号) with a reason (e.g. not found, or a
lawful, approved project).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from tiandi.errors import LifecycleError


class PatchState(StrEnum):
    """States of a patch. ``.zh`` is the Chinese label used in ledgers and forms."""

    DETECTED = "detected"
    SCREENED = "screened"
    REVIEWED_ACCEPTED = "reviewed_accepted"
    REJECTED = "rejected"
    DISPATCHED = "dispatched"
    FIELD_CHECKED = "field_checked"
    RECTIFICATION_REQUIRED = "rectification_required"
    RECTIFIED = "rectified"
    CLOSED = "closed"
    REOPENED = "reopened"

    @property
    def zh(self) -> str:
        """Chinese label."""
        return _STATE_ZH[self]


_STATE_ZH: dict[PatchState, str] = {
    PatchState.DETECTED: "已检出",
    PatchState.SCREENED: "已初筛",
    PatchState.REVIEWED_ACCEPTED: "审核通过",
    PatchState.REJECTED: "已剔除（伪变化）",
    PatchState.DISPATCHED: "已下发核查",
    PatchState.FIELD_CHECKED: "已实地核查",
    PatchState.RECTIFICATION_REQUIRED: "需整改",
    PatchState.RECTIFIED: "已整改",
    PatchState.CLOSED: "已销号",
    PatchState.REOPENED: "回头看重新打开",
}


class Role(StrEnum):
    """Who may act on a patch. ``.zh`` is the Chinese label."""

    SYSTEM = "system"
    ECOLOGIST = "ecologist"
    REVIEWER = "reviewer"
    DISPATCHER = "dispatcher"
    FIELD_CREW = "field_crew"
    SUPERVISOR = "supervisor"

    @property
    def zh(self) -> str:
        """Chinese label."""
        return _ROLE_ZH[self]


_ROLE_ZH: dict[Role, str] = {
    Role.SYSTEM: "系统",
    Role.ECOLOGIST: "生态判读员",
    Role.REVIEWER: "审核员",
    Role.DISPATCHER: "任务调度员",
    Role.FIELD_CREW: "地面核查人员",
    Role.SUPERVISOR: "监管负责人",
}


class FieldOutcome(StrEnum):
    """What the field crew found. ``.zh`` is the Chinese label."""

    CONFIRMED = "confirmed"
    NOT_FOUND = "not_found"
    DIFFERENT_CLASS = "different_class"

    @property
    def zh(self) -> str:
        """Chinese label."""
        return _OUTCOME_ZH[self]


_OUTCOME_ZH: dict[FieldOutcome, str] = {
    FieldOutcome.CONFIRMED: "属实",
    FieldOutcome.NOT_FOUND: "不属实（未发现）",
    FieldOutcome.DIFFERENT_CLASS: "类型不符",
}


@dataclass(frozen=True)
class Rule:
    """One legal transition: the roles allowed, and what it requires."""

    source: PatchState
    target: PatchState
    roles: frozenset[Role]
    name: str
    reason_required: bool = False
    outcomes: frozenset[FieldOutcome] | None = None  # allowed field outcomes of the source


def _rule(
    source: PatchState,
    target: PatchState,
    roles: set[Role],
    name: str,
    *,
    reason: bool = False,
    outcomes: set[FieldOutcome] | None = None,
) -> Rule:
    return Rule(
        source,
        target,
        frozenset(roles),
        name,
        reason,
        None if outcomes is None else frozenset(outcomes),
    )


S = PatchState
R = Role
TRANSITIONS: tuple[Rule, ...] = (
    _rule(S.DETECTED, S.SCREENED, {R.SYSTEM, R.ECOLOGIST}, "screen"),
    _rule(S.DETECTED, S.REJECTED, {R.SYSTEM, R.ECOLOGIST}, "screen_out", reason=True),
    _rule(S.SCREENED, S.REVIEWED_ACCEPTED, {R.ECOLOGIST, R.REVIEWER}, "accept"),
    _rule(S.SCREENED, S.REJECTED, {R.ECOLOGIST, R.REVIEWER}, "reject", reason=True),
    _rule(S.REJECTED, S.REVIEWED_ACCEPTED, {R.REVIEWER}, "overturn", reason=True),
    _rule(S.REJECTED, S.REOPENED, {R.SYSTEM, R.SUPERVISOR}, "reopen", reason=True),
    _rule(S.REVIEWED_ACCEPTED, S.DISPATCHED, {R.DISPATCHER}, "dispatch"),
    _rule(S.DISPATCHED, S.REVIEWED_ACCEPTED, {R.DISPATCHER}, "recall", reason=True),
    _rule(S.DISPATCHED, S.FIELD_CHECKED, {R.FIELD_CREW}, "field_check"),
    _rule(S.FIELD_CHECKED, S.DISPATCHED, {R.DISPATCHER}, "redispatch", reason=True),
    _rule(
        S.FIELD_CHECKED,
        S.RECTIFICATION_REQUIRED,
        {R.SUPERVISOR},
        "require_rectification",
        outcomes={FieldOutcome.CONFIRMED, FieldOutcome.DIFFERENT_CLASS},
    ),
    _rule(S.FIELD_CHECKED, S.CLOSED, {R.SUPERVISOR}, "close", reason=True),
    _rule(S.RECTIFICATION_REQUIRED, S.RECTIFIED, {R.FIELD_CREW, R.SUPERVISOR}, "rectify"),
    _rule(S.RECTIFIED, S.RECTIFICATION_REQUIRED, {R.SUPERVISOR}, "rectify_again", reason=True),
    _rule(S.RECTIFIED, S.CLOSED, {R.SUPERVISOR}, "close", reason=True),
    _rule(S.CLOSED, S.REOPENED, {R.SYSTEM, R.SUPERVISOR}, "reopen", reason=True),
    _rule(S.REOPENED, S.SCREENED, {R.SYSTEM, R.ECOLOGIST}, "screen"),
    _rule(S.REOPENED, S.REVIEWED_ACCEPTED, {R.ECOLOGIST, R.REVIEWER}, "accept"),
    _rule(S.REOPENED, S.REJECTED, {R.SYSTEM, R.ECOLOGIST, R.REVIEWER}, "reject", reason=True),
)
del S, R

_RULES: dict[tuple[PatchState, PatchState], Rule] = {(r.source, r.target): r for r in TRANSITIONS}
if len(_RULES) != len(TRANSITIONS):  # pragma: no cover - guards the table above
    raise RuntimeError("duplicate (source, target) pair in TRANSITIONS")


def allowed_targets(state: PatchState) -> tuple[PatchState, ...]:
    """States reachable from ``state`` in one transition, in table order."""
    return tuple(r.target for r in TRANSITIONS if r.source is state)


@dataclass(frozen=True)
class PatchStatus:
    """Where one patch stands: its state, and the facts the state machine needs.

    ``hj1156_class`` is the class accepted in review (or found in the field);
    ``outcome`` is the field outcome while the patch is ``field_checked`` or later.
    """

    patch_id: str
    state: PatchState = PatchState.DETECTED
    hj1156_class: str | None = None
    outcome: FieldOutcome | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class TransitionRecord:
    """One performed transition: who, in which role, when and why."""

    patch_id: str
    source: PatchState
    target: PatchState
    name: str
    actor: str
    role: Role
    at: datetime
    reason: str | None
    hj1156_class: str | None
    outcome: FieldOutcome | None

    @property
    def status(self) -> PatchStatus:
        """The patch's status after this transition."""
        return PatchStatus(self.patch_id, self.target, self.hj1156_class, self.outcome, self.at)

    def payload(self) -> dict[str, Any]:
        """JSON-ready fields for the audit log (action ``"transition"``)."""
        return {
            "from": self.source.value,
            "to": self.target.value,
            "transition": self.name,
            "reason": self.reason,
            "hj1156_class": self.hj1156_class,
            "outcome": None if self.outcome is None else self.outcome.value,
            "at": self.at.isoformat(),
        }


def _fail(status: PatchStatus, target: str, problem: str, fix: str) -> LifecycleError:
    nexts = ", ".join(t.value for t in allowed_targets(status.state)) or "none"
    return LifecycleError(
        f"patch {status.patch_id!r}: cannot go from {status.state.value!r} "
        f"({status.state.zh}) to {target!r}: {problem}. "
        f"Allowed next states from {status.state.value!r}: {nexts}. {fix}".rstrip()
    )


def transition(
    status: PatchStatus,
    to: PatchState | str,
    *,
    actor: str,
    role: Role | str,
    reason: str | None = None,
    at: datetime,
    hj1156_class: str | None = None,
    outcome: FieldOutcome | str | None = None,
) -> TransitionRecord:
    """Check one transition of a patch against :data:`TRANSITIONS` and record it.

    ``at`` must be timezone-aware and not earlier than the patch's last change.
    Accepting a patch (into ``reviewed_accepted``) requires ``hj1156_class``; a field
    check requires ``outcome`` (and ``hj1156_class`` when the outcome is
    ``different_class``). Raises :class:`~tiandi.errors.LifecycleError` naming the
    patch, its state, the attempted state and the allowed next states.
    """
    target_name = to.value if isinstance(to, PatchState) else str(to)
    try:
        target = PatchState(target_name)
    except ValueError:
        raise _fail(
            status, target_name, "no such state", f"Use one of: {', '.join(PatchState)}."
        ) from None
    try:
        role_ = Role(role)
    except ValueError:
        raise _fail(
            status, target.value, f"unknown role {role!r}", f"Use one of: {', '.join(Role)}."
        ) from None
    rule = _RULES.get((status.state, target))
    if rule is None:
        raise _fail(status, target.value, "this transition is not allowed", "")
    if role_ not in rule.roles:
        allowed = ", ".join(sorted(r.value for r in rule.roles))
        raise _fail(
            status,
            target.value,
            f"role {role_.value!r} may not perform {rule.name!r}",
            f"It needs one of the roles: {allowed}.",
        )
    if not actor or not actor.strip():
        raise _fail(status, target.value, "no actor given", "Name the person or process.")
    if at.tzinfo is None or at.utcoffset() is None:
        raise _fail(
            status,
            target.value,
            f"time {at.isoformat()} has no timezone",
            "Pass an aware datetime.",
        )
    if status.updated_at is not None and at < status.updated_at:
        raise _fail(
            status,
            target.value,
            f"time {at.isoformat()} is before the last change {status.updated_at.isoformat()}",
            "Check the clock or the order of events.",
        )
    clean_reason = reason.strip() if reason else None
    if rule.reason_required and not clean_reason:
        raise _fail(status, target.value, f"{rule.name!r} requires a reason", "Pass reason=...")
    if rule.outcomes is not None and status.outcome not in rule.outcomes:
        got = None if status.outcome is None else status.outcome.value
        ok = ", ".join(sorted(o.value for o in rule.outcomes))
        raise _fail(
            status,
            target.value,
            f"field outcome is {got!r}, {rule.name!r} needs one of: {ok}",
            "Close the patch with a reason instead, or re-dispatch it.",
        )
    new_class, new_outcome = _facts(status, rule, target, hj1156_class, outcome)
    return TransitionRecord(
        status.patch_id,
        status.state,
        target,
        rule.name,
        actor.strip(),
        role_,
        at,
        clean_reason,
        new_class,
        new_outcome,
    )


def _facts(
    status: PatchStatus,
    rule: Rule,
    target: PatchState,
    hj1156_class: str | None,
    outcome: FieldOutcome | str | None,
) -> tuple[str | None, FieldOutcome | None]:
    """The class and field outcome after the transition, validated for it."""
    cls = hj1156_class.strip() if hj1156_class else None
    if target is PatchState.REVIEWED_ACCEPTED and rule.name == "recall":
        return status.hj1156_class, None
    if target is PatchState.REVIEWED_ACCEPTED and not cls:
        raise _fail(
            status,
            target.value,
            f"{rule.name!r} requires the accepted class",
            "Pass hj1156_class=...",
        )
    if target is PatchState.FIELD_CHECKED:
        try:
            found = FieldOutcome(outcome) if outcome is not None else None
        except ValueError:
            found = None
        if found is None:
            raise _fail(
                status,
                target.value,
                f"field outcome {outcome!r} is missing or unknown",
                f"Pass outcome= one of: {', '.join(FieldOutcome)}.",
            )
        if found is FieldOutcome.DIFFERENT_CLASS and not cls:
            raise _fail(
                status,
                target.value,
                "outcome 'different_class' requires the class found",
                "Pass hj1156_class=...",
            )
        return (cls or status.hj1156_class), found
    if target in (PatchState.REOPENED, PatchState.REJECTED):
        return (cls or status.hj1156_class), None
    if target is PatchState.REVIEWED_ACCEPTED:
        return cls, None
    if target is PatchState.DISPATCHED:
        return status.hj1156_class, None
    return (cls or status.hj1156_class), status.outcome


def replay(
    patch_id: str, records: list[TransitionRecord] | tuple[TransitionRecord, ...]
) -> PatchStatus:
    """The status of a patch after ``records`` (its transitions in order), re-checked.

    Each record must start where the previous one ended; raises ``LifecycleError``
    otherwise. A patch without records is ``detected``.
    """
    status = PatchStatus(patch_id)
    for rec in records:
        if rec.patch_id != patch_id or rec.source is not status.state:
            raise _fail(
                status,
                rec.target.value,
                f"record of patch {rec.patch_id!r} starts at {rec.source.value!r}",
                "The records are out of order or belong to another patch.",
            )
        status = transition(
            status,
            rec.target,
            actor=rec.actor,
            role=rec.role,
            reason=rec.reason,
            at=rec.at,
            hj1156_class=rec.hj1156_class,
            outcome=rec.outcome,
        ).status
    return status


def labels() -> Mapping[str, Mapping[str, str]]:
    """Chinese labels of states, roles and field outcomes, keyed by their values."""
    return {
        "state": {s.value: s.zh for s in PatchState},
        "role": {r.value: r.zh for r in Role},
        "outcome": {o.value: o.zh for o in FieldOutcome},
    }
