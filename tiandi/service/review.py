"""Ecologists' review decisions, field stations' task lists, and who the caller is.

A review decision goes through the patch store's lifecycle (``screened``/``reopened`` →
``reviewed_accepted`` or ``rejected``) with the token's holder as the actor, role
``ecologist``, in one transaction with its audit record. It carries the patch ``version``
it was made on; when the patch has changed since, nothing is written and the answer is
409 with the patch as it is now.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tiandi._time import iso_utc
from tiandi.errors import AuthError, ConflictError, InputError, NotFoundError
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
StationReader = Annotated[TokenInfo, Depends(require(ServiceRole.FIELD, ServiceRole.OPERATOR))]


class ReviewDecision(BaseModel):
    """An ecologist's decision on one patch, made on ``version`` of it."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["accept", "reject", "reclassify"] = Field(
        description="accept (with its class), reject (with a reason), or reclassify "
        "(accept with a class other than the detected one)."
    )
    version: int = Field(ge=0, description="The patch's `version` the decision was made on.")
    hj1156_class: HJ1156Class | None = Field(
        default=None, description="HJ 1156 class (required to accept or reclassify)."
    )
    reason: str | None = Field(default=None, max_length=2000, description="Why (reject).")


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
    target, reason = _target(decision, patch.attributes.get("hj1156_class"))
    cls = None if decision.hj1156_class is None else decision.hj1156_class.value
    try:
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


_STATION = re.compile(r"\bto station (?P<station>\S+?),")


@router.get("/stations/{station_id}/tasks", tags=["field"], summary="A station's open tasks")
def station_tasks(station_id: str, token: StationReader, request: Request) -> dict[str, Any]:
    """Patches dispatched to ``station_id`` and not yet checked in the field. A field
    token sees only its own station (403 for another)."""
    if token.role is ServiceRole.FIELD and token.station_id != station_id:
        raise AuthError(
            f"token {token.token_id} is bound to station {token.station_id!r}, not {station_id!r}",
            status=403,
            code="forbidden",
        )
    found = store(request)
    tasks = []
    for uid, reason in sorted(found.latest_reasons("dispatch").items()):
        match = _STATION.search(reason)
        if match is None or match["station"] != station_id:
            continue
        status = found.get(uid).status
        if status.state is PatchState.DISPATCHED:
            tasks.append({"patch_uid": uid, "state": status.state.value, "dispatch": reason})
    return {"station_id": station_id, "tasks": tasks}


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
