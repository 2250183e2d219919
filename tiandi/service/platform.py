"""Read-only endpoints for the supervision platform (and ecologists and operators):
zones, runs, patches as GeoJSON with filters and paging, per-zone statistics, the audit
chain's head and its verification."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from tiandi._time import iso_utc
from tiandi.errors import InputError, NotFoundError
from tiandi.redline.store.queries import (
    MAX_LIMIT,
    PatchQuery,
    check_bbox,
    round_ha,
    round_mu,
)
from tiandi.service.auth import TokenInfo
from tiandi.service.deps import ERROR_RESPONSES, READERS, require, store
from tiandi.service.geojson import clean, clean_dict, feature, features_of
from tiandi.service.patch_schema import (
    ground_answers_json,
    patch_page_responses,
    patch_responses,
)

Reader = Annotated[TokenInfo, Depends(require(*READERS))]
router = APIRouter(tags=["platform"], responses=ERROR_RESPONSES)


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """``minx,miny,maxx,maxy`` → four floats, or ``InputError`` saying what is wrong."""
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise InputError(
            f"bbox {text!r} must be four numbers minx,miny,maxx,maxy (degrees, EPSG:4490), "
            "e.g. bbox=116.1,40.2,116.3,40.3"
        ) from None
    return check_bbox(numbers)


@router.get("/zones", summary="Zones holding patches, with their patch count and area")
def list_zones(_: Reader, request: Request) -> dict[str, Any]:
    """The zones the patch store knows (from the patches recorded in them)."""
    zones = store(request).zones()
    return {"zones": [clean(vars(z)) for z in zones]}


@router.get("/zones/{zone_id}/stats", summary="Per-zone statistics by class and state")
def zone_stats(zone_id: str, _: Reader, request: Request) -> dict[str, Any]:
    """Count, hectares and 亩 of the zone's patches: in total, by HJ 1156 class (the
    reviewed class when set), by lifecycle state, and by class × state."""
    rows = store(request).zone_stats(zone_id)
    if not rows:
        raise NotFoundError(f"zone {zone_id!r} holds no patch in the store; list /api/v1/zones")
    by_class: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(_SUMS, 0.0))
    by_state: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(_SUMS, 0.0))
    total = dict.fromkeys(_SUMS, 0.0)
    for r in rows:
        values = {"count": r.count, "area_ha": r.area_ha, "area_mu": r.area_mu}
        for bucket in (by_class[r.hj1156_class or "unclassified"], by_state[r.state], total):
            for k, v in values.items():
                bucket[k] += v
    return clean_dict(
        {
            "zone_id": zone_id,
            "total": _counted(total),
            "by_class": {k: _counted(v) for k, v in by_class.items()},
            "by_state": {k: _counted(v) for k, v in by_state.items()},
            "by_class_state": [vars(r) for r in rows],
        }
    )


_SUMS = ("count", "area_ha", "area_mu")


def _counted(sums: dict[str, float]) -> dict[str, float | int]:
    """Summed counts and areas, rounded as every endpoint rounds areas."""
    return {
        "count": int(sums["count"]),
        "area_ha": round_ha(sums["area_ha"]),
        "area_mu": round_mu(sums["area_mu"]),
    }


@router.get("/runs", summary="Detection runs recorded in the patch store")
def list_runs(_: Reader, request: Request) -> dict[str, Any]:
    """Runs, oldest first, with periods, zone-set version, parameters and import summary."""
    out = []
    for info, summary in store(request).runs():
        item = {**vars(info), "at": iso_utc(info.at), "parameters": dict(info.parameters)}
        out.append({**item, "summary": summary})
    return clean_dict({"runs": out})


@router.get(
    "/patches",
    summary="Patches as a GeoJSON FeatureCollection, filtered and paged",
    responses=patch_page_responses(),
)
def list_patches(
    _: Reader,
    request: Request,
    zone: Annotated[str | None, Query(description="Zone id.")] = None,
    run: Annotated[str | None, Query(description="Run id: patches detected in it.")] = None,
    hj1156_class: Annotated[
        str | None, Query(alias="class", description="HJ 1156 class (reviewed, else detected).")
    ] = None,
    change_type: Annotated[str | None, Query(description="new, enlarged, ...")] = None,
    state: Annotated[str | None, Query(description="Lifecycle state.")] = None,
    bbox: Annotated[
        str | None, Query(description="minx,miny,maxx,maxy in degrees (EPSG:4490).")
    ] = None,
    period: Annotated[
        str | None,
        Query(
            description=(
                "START/END in ISO dates (inclusive), e.g. 2025-07-01/2025-12-31: patches "
                "whose latest detection's run has an after period overlapping it."
            )
        ),
    ] = None,
    after: Annotated[str | None, Query(description="Cursor: the last patch_uid seen.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    sort: Annotated[
        Literal["patch_uid", "confidence_level"],
        Query(
            description=(
                "Order of the pages: patch_uid (default), or confidence_level — highest, "
                "high, nominal, then patches without a level (detectors other than "
                "'integrated'), patch_uid within a level."
            )
        ),
    ] = "patch_uid",
) -> dict[str, Any]:
    """One page, ordered by patch_uid (or by confidence level, ``sort``); the ``next``
    link (absent on the last page) gives the following one. A patch matches ``bbox``
    when its envelope meets the box, and ``period`` when the run of its latest detection
    has an after period overlapping it."""
    query = PatchQuery(
        zone_id=zone,
        run_id=run,
        hj1156_class=hj1156_class,
        change_type=change_type,
        state=state,
        bbox=parse_bbox(bbox),
        period=period,
        after=after,
        limit=limit,
        sort=sort,
    )
    page = store(request).query_patches(query)
    return paged(request, features_of(page.patches), page.next_after)


def paged(request: Request, rows: list[dict[str, Any]], next_after: str | None) -> dict[str, Any]:
    """A FeatureCollection page with ``self`` and (unless it is the last) ``next`` links."""
    links = [{"rel": "self", "href": str(request.url)}]
    if next_after is not None:
        links.append(
            {"rel": "next", "href": str(request.url.include_query_params(after=next_after))}
        )
    return {
        "type": "FeatureCollection",
        "features": rows,
        "numberReturned": len(rows),
        "next": links[-1]["href"] if next_after is not None else None,
        "links": links,
    }


@router.get("/changes", summary="Patches created, updated or closed since a run")
def changes_since(
    _: Reader,
    request: Request,
    since_run: Annotated[str, Query(description="Run id: changes recorded after it.")],
    after: Annotated[str | None, Query(description="Cursor: the last patch_uid seen.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> dict[str, Any]:
    """Patches first detected by a later run (``change: created``), closed since
    (``closed``), or with a later detection, state or class change (``updated``), as a
    GeoJSON page ordered by patch_uid like ``/patches``; 404 for an unknown run."""
    page = store(request).changes_since(since_run, after=after, limit=limit)
    out = paged(request, features_of(page.patches), page.next_after)
    return {"since_run": since_run, **out}


@router.get(
    "/patches/{key}",
    summary="One patch with its version, history and answers on the ground",
    responses=patch_responses(),
)
def get_patch(key: str, _: Reader, request: Request) -> dict[str, Any]:
    """The patch ``key`` (PU-… or a detection TB-…) as a Feature, with its transitions
    and the crew's answers on the ground, labelled (``ground_answers``; the raw values
    are the properties ``field_severity``, ``field_bloom_observed``,
    ``field_dieback_cause``)."""
    found = store(request)
    try:
        patch = found.get(key)
    except InputError as exc:
        raise NotFoundError(str(exc)) from None
    out = feature(patch.patch_uid, patch.attributes, patch.geometry, found.version(patch.patch_uid))
    out["history"] = [
        {**r.payload(), "actor": r.actor, "role": r.role.value, "at": iso_utc(r.at)}
        for r in found.history(patch.patch_uid)
    ]
    out["ground_answers"] = ground_answers_json(patch.attributes)
    return out


@router.get("/audit/head", summary="The audit chain's head (seq and hash)")
def audit_head(_: Reader, request: Request) -> dict[str, Any]:
    """Record this hash elsewhere to detect records cut from the end later."""
    seq, digest = store(request).audit_head()
    return {"seq": seq, "hash": digest}


@router.get("/audit/verify", summary="Verify the audit chain")
def audit_verify(
    _: Reader,
    request: Request,
    expected_head: Annotated[str | None, Query(description="A head hash kept elsewhere.")] = None,
) -> dict[str, Any]:
    """``ok`` and every break found (seq, kind, message)."""
    report = store(request).verify_audit(expected_head=expected_head)
    return {
        "ok": report.ok,
        "records": report.records,
        "head": {"seq": report.head_seq, "hash": report.head_hash},
        "breaks": [vars(b) for b in report.breaks],
        "summary": report.summary(),
    }


@router.get("/audit/records", summary="Audit records about one subject")
def audit_records(
    _: Reader,
    request: Request,
    subject: Annotated[str, Query(description="A patch_uid (PU-…) or run id.")],
) -> dict[str, Any]:
    """The records about ``subject`` in seq order (actor = who did it)."""
    records = store(request).audit_records(subject=subject)
    return clean_dict({"subject": subject, "records": [vars(r) for r in records]})
