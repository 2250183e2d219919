"""The life of a patch (图斑) as an explicit state machine.

States and the transitions between them are data (:data:`TRANSITIONS`); each transition
names the roles that may perform it and whether a reason is required.
:func:`tiandi.redline.store.transitions.transition` checks a requested change against that
table and returns a :class:`TransitionRecord` (who, in which role, when, why) that the
caller stores and appends to the audit log
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
reviewed again like a new detection.

Merge and split (合并/拆分): an ecologist may replace patches under review (``screened``,
``reopened``, ``reviewed_accepted``) by new ones (the union of several, or the parts of
one). The originals go to the terminal state ``superseded`` (transition ``supersede``,
whose reason names the new patches); the new patches start as ``detected`` and are
screened by the same ecologist with a reason naming their origin
(:mod:`tiandi.redline.store.reshape`). ``superseded`` is final for review; only a
supervisor may ``reinstate`` such a patch (to ``reopened``, with a reason) when a merge
or split was a mistake. ``field_checked`` carries the crew's
:class:`FieldOutcome`; only ``confirmed`` and ``different_class`` can lead to
rectification, any outcome can be closed (销号) with a reason (e.g. not found, or a
lawful, approved project).

Undo (``undo_review``): a reviewer who accepted or rejected a patch by mistake takes the
decision back with a compensating transition ``reviewed_accepted``/``rejected`` →
``screened`` (with a reason, e.g. "undo"), which restores the class the patch had before
(the caller passes it); history is never rewritten. The service allows it only for the
caller's own latest review decision (:mod:`tiandi.service.review`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


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
    SUPERSEDED = "superseded"

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
    PatchState.SUPERSEDED: "已合并/拆分（被新图斑取代）",
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
    _rule(S.REVIEWED_ACCEPTED, S.SCREENED, {R.ECOLOGIST, R.REVIEWER}, "undo_review", reason=True),
    _rule(S.REJECTED, S.SCREENED, {R.ECOLOGIST, R.REVIEWER}, "undo_review", reason=True),
    _rule(S.SCREENED, S.SUPERSEDED, {R.ECOLOGIST, R.REVIEWER}, "supersede", reason=True),
    _rule(S.REOPENED, S.SUPERSEDED, {R.ECOLOGIST, R.REVIEWER}, "supersede", reason=True),
    _rule(S.REVIEWED_ACCEPTED, S.SUPERSEDED, {R.ECOLOGIST, R.REVIEWER}, "supersede", reason=True),
    _rule(S.SUPERSEDED, S.REOPENED, {R.SUPERVISOR}, "reinstate", reason=True),
)
del S, R

_RULES: dict[tuple[PatchState, PatchState], Rule] = {(r.source, r.target): r for r in TRANSITIONS}
if len(_RULES) != len(TRANSITIONS):  # pragma: no cover - guards the table above
    raise RuntimeError("duplicate (source, target) pair in TRANSITIONS")


def rule_for(source: PatchState, target: PatchState) -> Rule | None:
    """The rule of the transition ``source → target``, None when it is not allowed."""
    return _RULES.get((source, target))


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


def labels() -> Mapping[str, Mapping[str, str]]:
    """Chinese labels of states, roles and field outcomes, keyed by their values."""
    return {
        "state": {s.value: s.zh for s in PatchState},
        "role": {r.value: r.zh for r in Role},
        "outcome": {o.value: o.zh for o in FieldOutcome},
    }
