"""Checking one lifecycle transition of a patch against the table of
:mod:`tiandi.redline.store.lifecycle`, and replaying a patch's recorded transitions.

:func:`transition` runs its checks as named steps (target state, role, rule, actor and
time, reason, field outcome, then the facts the patch carries afterwards); the first that
fails raises :class:`~tiandi.errors.LifecycleError` naming the patch, its state, the
attempted state and the allowed next states.
"""

from __future__ import annotations

from datetime import datetime

from tiandi.errors import LifecycleError
from tiandi.redline.store.lifecycle import (
    FieldOutcome,
    PatchState,
    PatchStatus,
    Role,
    Rule,
    TransitionRecord,
    allowed_targets,
    rule_for,
)


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
    """Check one transition of a patch against :data:`~.lifecycle.TRANSITIONS` and record it.

    ``at`` must be timezone-aware and not earlier than the patch's last change.
    Accepting a patch (into ``reviewed_accepted``) requires ``hj1156_class``; a field
    check requires ``outcome`` (and ``hj1156_class`` when the outcome is
    ``different_class``). Raises :class:`~tiandi.errors.LifecycleError` naming the
    patch, its state, the attempted state and the allowed next states.
    """
    target = _target(status, to)
    rule, role_ = _rule(status, target, role)
    _check_actor_and_time(status, target, actor, at)
    clean_reason = reason.strip() if reason else None
    if rule.reason_required and not clean_reason:
        raise _fail(status, target.value, f"{rule.name!r} requires a reason", "Pass reason=...")
    _check_outcome(status, target, rule)
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


def _target(status: PatchStatus, to: PatchState | str) -> PatchState:
    """The requested state, which must exist."""
    target_name = to.value if isinstance(to, PatchState) else str(to)
    try:
        return PatchState(target_name)
    except ValueError:
        raise _fail(
            status, target_name, "no such state", f"Use one of: {', '.join(PatchState)}."
        ) from None


def _rule(status: PatchStatus, target: PatchState, role: Role | str) -> tuple[Rule, Role]:
    """The rule of ``status.state → target`` and the role, which must be allowed by it."""
    try:
        role_ = Role(role)
    except ValueError:
        raise _fail(
            status, target.value, f"unknown role {role!r}", f"Use one of: {', '.join(Role)}."
        ) from None
    rule = rule_for(status.state, target)
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
    return rule, role_


def _check_actor_and_time(
    status: PatchStatus, target: PatchState, actor: str, at: datetime
) -> None:
    """An actor is named; the time is aware and not before the patch's last change."""
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


def _check_outcome(status: PatchStatus, target: PatchState, rule: Rule) -> None:
    """The patch's field outcome is one the rule allows (when it names any)."""
    if rule.outcomes is not None and status.outcome not in rule.outcomes:
        got = None if status.outcome is None else status.outcome.value
        ok = ", ".join(sorted(o.value for o in rule.outcomes))
        raise _fail(
            status,
            target.value,
            f"field outcome is {got!r}, {rule.name!r} needs one of: {ok}",
            "Close the patch with a reason instead, or re-dispatch it.",
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
    if rule.name == "undo_review":  # back to the class before the decision undone
        return cls, None
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
        return (cls or status.hj1156_class), _field_outcome(status, target, cls, outcome)
    if target in (PatchState.REOPENED, PatchState.REJECTED):
        return (cls or status.hj1156_class), None
    if target is PatchState.REVIEWED_ACCEPTED:
        return cls, None
    if target is PatchState.DISPATCHED:
        return status.hj1156_class, None
    return (cls or status.hj1156_class), status.outcome


def _field_outcome(
    status: PatchStatus, target: PatchState, cls: str | None, outcome: FieldOutcome | str | None
) -> FieldOutcome:
    """The crew's outcome of a field check, which must be known (with the class found
    when it is ``different_class``)."""
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
    return found


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
