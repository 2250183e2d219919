"""Ecologists' review decisions, and who the caller is (station tasks: :mod:`.field`).

A review decision goes through the patch store's lifecycle (``screened``/``reopened`` →
``reviewed_accepted`` or ``rejected``) with the token's holder as the actor, role
``ecologist``, in one transaction with its audit record. It carries the patch ``version``
it was made on; when the patch has changed since, nothing is written and the answer is
409 with the patch as it is now.

``undo`` takes back the caller's own latest accept or reject of a patch with a
compensating transition (``undo_review``, back to ``screened`` with the class it had
before, the reason naming the decision undone); the history keeps both.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tiandi._time import iso_utc
from tiandi.errors import AuthError, ConflictError, InputError, LifecycleError, NotFoundError
from tiandi.redline.store.gpkg import PatchStore
from tiandi.redline.store.lifecycle import PatchState, Role
from tiandi.redline.vocabulary import HJ1156Class
from tiandi.service.auth import ServiceRole, TokenInfo
from tiandi.service.deps import (
    ERROR_RESPONSES,
    WRITE_ERROR_RESPONSES,
    Caller,
    error_response,
    require,
    store,
)
from tiandi.service.geojson import clean_dict, feature

router = APIRouter(responses=ERROR_RESPONSES)
Ecologist = Annotated[TokenInfo, Depends(require(ServiceRole.ECOLOGIST))]


class ReviewDecision(BaseModel):
    """An ecologist's decision on one patch, made on ``version`` of it."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["accept", "reject", "reclassify", "undo"] = Field(
        description="accept (with its class), reject (with a reason), reclassify "
        "(accept with a class other than the detected one), or undo (take back your own "
        "latest accept or reject of this patch: it goes back to screened)."
    )
    version: int = Field(ge=0, description="The patch's `version` the decision was made on.")
    hj1156_class: HJ1156Class | None = Field(
        default=None, description="HJ 1156 class (required to accept or reclassify)."
    )
    reason: str | None = Field(
        default=None, max_length=2000, description="Why (reject; optional for undo)."
    )


def _target(decision: ReviewDecision, detected: str | None) -> tuple[PatchState, str | None]:
    """The lifecycle target and the reason to record, or ``InputError`` naming the gap."""
    reason = (decision.reason or "").strip() or None
    if decision.decision == "reject":
        if reason is None:
            raise InputError("decision 'reject' needs a reason (e.g. 'seasonal crop change')")
        return PatchState.REJECTED, reason
    if decision.hj1156_class is None:
        raise InputError(
            f"decision {decision.decision!r} needs hj1156_class (one of: {', '.join(HJ1156Class)})"
        )
    if decision.decision == "reclassify":
        new = decision.hj1156_class.value
        if new == detected:
            raise InputError(
                f"decision 'reclassify' names the detected class {new!r}; use 'accept' or "
                "give another class"
            )
        note = f"reclassified from {detected or 'unclassified'} to {new}"
        return PatchState.REVIEWED_ACCEPTED, f"{note}: {reason}" if reason else note
    return PatchState.REVIEWED_ACCEPTED, reason


_REVIEW_DECISIONS = frozenset({"accept", "reject"})


def _undo_target(
    found: PatchStore, uid: str, token: TokenInfo, decision: ReviewDecision
) -> tuple[PatchState, str | None, str | None]:
    """Target, reason and class of undoing the caller's latest review decision on ``uid``.

    The version is checked first (a stale undo is a conflict like any decision); then the
    patch's latest transition must be an accept or reject by the caller."""
    version = found.version(uid)
    if version != decision.version:
        raise ConflictError(
            f"patch {uid} is at version {version}, the undo was made on version "
            f"{decision.version}; nothing was written. Reload the patch and decide again.",
            version,
        )
    history = found.history(uid)
    last = history[-1] if history else None
    if last is None or last.name not in _REVIEW_DECISIONS or last.role is Role.SYSTEM:
        what = "no transition" if last is None else f"{last.name!r} by {last.actor}"
        raise LifecycleError(
            f"patch {uid}: nothing to undo: its latest transition is {what}, not a review "
            "decision (accept or reject)"
        )
    if last.actor != token.holder:
        raise AuthError(
            f"patch {uid}: its latest decision ({last.name}) was made by {last.actor!r}; only "
            "they can undo it (or review the patch again)",
            status=403,
            code="forbidden",
        )
    before = history[-2].hj1156_class if len(history) > 1 else None
    note = f"undo of {last.name} ({last.source.value} → {last.target.value}, {iso_utc(last.at)})"
    reason = (decision.reason or "").strip()
    return PatchState.SCREENED, f"{note}: {reason}" if reason else note, before


def _plan(
    found: PatchStore,
    uid: str,
    attributes: Mapping[str, Any],
    token: TokenInfo,
    decision: ReviewDecision,
) -> tuple[PatchState, str | None, str | None]:
    """The lifecycle target, reason and class a decision asks for."""
    if decision.decision == "undo":
        return _undo_target(found, uid, token, decision)
    target, reason = _target(decision, attributes.get("hj1156_class"))
    return target, reason, None if decision.hj1156_class is None else decision.hj1156_class.value


def _current(request: Request, uid: str) -> dict[str, Any]:
    found = store(request)
    patch = found.get(uid)
    return feature(uid, patch.attributes, patch.geometry, found.version(uid))


@router.post(
    "/patches/{key}/review",
    tags=["review"],
    summary="Record a review decision (accept / reject / reclassify)",
    responses=WRITE_ERROR_RESPONSES,
)
def review_patch(
    key: str, decision: ReviewDecision, token: Ecologist, request: Request
) -> JSONResponse:
    """Apply the decision through the lifecycle, attributed to the token's holder."""
    found = store(request)
    try:
        patch = found.get(key)
    except InputError as exc:
        raise NotFoundError(str(exc)) from None
    try:
        target, reason, cls = _plan(found, patch.patch_uid, patch.attributes, token, decision)
        record = found.transition(
            patch.patch_uid,
            target,
            actor=token.holder,
            role=Role.ECOLOGIST,
            reason=reason,
            at=datetime.now(UTC),
            hj1156_class=cls,
            expected_version=decision.version,
        )
    except ConflictError as exc:
        current = _current(request, patch.patch_uid)
        return error_response(
            409, "stale_version", str(exc), version=exc.current_version, current=current
        )
    body = {
        "decision": decision.decision,
        "transition": {**record.payload(), "actor": record.actor, "role": record.role.value},
        "patch": _current(request, patch.patch_uid),
    }
    return JSONResponse(clean_dict(body))


@router.get("/me", tags=["auth"], summary="The caller's token: holder, role, station, expiry")
def whoami(token: Caller) -> dict[str, Any]:
    """Who the bearer token belongs to (any role)."""
    return {
        "token_id": token.token_id,
        "holder": token.holder,
        "role": token.role.value,
        "station_id": token.station_id,
        "expires_at": iso_utc(token.expires_at),
    }
