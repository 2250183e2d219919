"""Scripted people of the demo's full cycle: reviewer, field crews, supervisor, tamperer.

The demo scene knows its truth (``truth.gpkg``: the planted events), so the decisions
that people make in a real cycle can be scripted deterministically from it. Everything
here is a *simulation* and says so in what it records (reasons, notes):

- :func:`scripted_review` — the ecologist accepts every screened patch whose class guess
  is an HJ 1156 class and rejects one as pseudo-change: a patch that meets no planted
  event when there is one (a real pseudo-change), else the least confident patch (then
  the decision contradicts the truth, and the decision records that).
- :func:`scripted_field_results` / :func:`edit_field_package` — what each crew finds
  (confirmed when a planted event of the reviewed class is there, different_class when
  an event of another class is, not_found otherwise), written into a copy of the
  dispatched GeoPackage the way a field app does: attribute UPDATEs on ``tasks``, JPEG
  photos with EXIF GPS and time in ``DCIM/``, a row in ``photos`` and an added
  ``field_points`` feature (GDAL append). One submission can be given a photo taken
  far away (``bad_photo_task``), which the import must reject.
- :func:`simulated_reference` — reference labels of accuracy sample units from the
  truth (standing in for a field visit of each unit).
- :func:`scripted_supervision` — rectification ordered for confirmed findings, rectified,
  closed (销号); not-found patches closed directly.
- :func:`tampered_copy` — a copy of a patch store with one audit record edited.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import geopandas as gpd
from shapely.geometry.base import BaseGeometry

from tiandi.errors import InputError
from tiandi.redline.accuracy.strata import CHANGE, NO_CHANGE
from tiandi.redline.store.gpkg import PatchStore
from tiandi.redline.store.lifecycle import FieldOutcome, PatchState, Role, TransitionRecord
from tiandi.redline.vocabulary import STORE_CRS as PATCH_CRS
from tiandi.redline.vocabulary import HJ1156Class

SIMULATED = "simulated by the tiandi demo"
_HJ = {c.value for c in HJ1156Class}


@dataclass(frozen=True)
class ReviewDecision:
    """One scripted review decision about a screened patch."""

    patch_uid: str
    patch_id: str
    accept: bool
    hj1156_class: str | None
    reason: str | None
    truth_event: str | None  # the planted event the patch meets, if any


@dataclass(frozen=True)
class FieldFinding:
    """What the simulated crew records for one dispatched task."""

    task_id: str
    patch_id: str
    outcome: str
    field_class: str | None
    notes: str
    lon: float
    lat: float
    photo_offset_deg: float = 0.0  # > 0: the photo is taken that far east (to be rejected)


def _events_of(geom: BaseGeometry, truth: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Planted events meeting ``geom`` (EPSG:4490), largest overlap first."""
    hits = truth[truth.intersects(geom)].copy()
    hits["overlap"] = [float(g.intersection(geom).area) for g in hits.geometry]
    return hits.sort_values(["overlap", "event_id"], ascending=[False, True], kind="stable")


def _truth(truth: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if truth.crs is None:
        raise InputError("truth events have no CRS; pass the demo scene's truth.gpkg")
    for col in ("event_id", "hj1156_class"):
        if col not in truth.columns:
            raise InputError(f"truth events lack the column {col!r}; pass the demo's truth.gpkg")
    return truth.to_crs(PATCH_CRS)


def scripted_review(patches: gpd.GeoDataFrame, truth: gpd.GeoDataFrame) -> list[ReviewDecision]:
    """Decisions for the ``screened`` patches of a store (``store.list_patches``)."""
    events = _truth(truth)
    rows = patches.sort_values("patch_uid", kind="stable")
    met = {
        str(r.patch_uid): (None if hits.empty else str(hits.iloc[0]["event_id"]))
        for r, hits in ((r, _events_of(r.geometry, events)) for r in rows.itertuples())
    }
    candidates = rows.assign(real=[met[str(u)] is not None for u in rows["patch_uid"]])
    candidates = candidates.sort_values(["real", "confidence", "patch_uid"], kind="stable")
    rejected = str(candidates.iloc[0]["patch_uid"]) if len(candidates) > 1 else None
    decisions = []
    for r in rows.itertuples():
        uid, cls, event = str(r.patch_uid), str(r.hj1156_class), met[str(r.patch_uid)]
        if uid == rejected:
            why = "伪变化 pseudo-change: no human activity seen in the before/after chips"
            if event is not None:
                why += f" (scripted decision; it contradicts planted event {event})"
            decisions.append(ReviewDecision(uid, str(r.patch_id), False, None, why, event))
        elif cls in _HJ:
            decisions.append(ReviewDecision(uid, str(r.patch_id), True, cls, None, event))
    return decisions


def apply_review(
    store: PatchStore, decisions: Sequence[ReviewDecision], *, actor: str, at: datetime
) -> list[TransitionRecord]:
    """Record the decisions as ``screened → reviewed_accepted / rejected`` (ecologist)."""
    return [
        store.transition(
            d.patch_uid,
            PatchState.REVIEWED_ACCEPTED if d.accept else PatchState.REJECTED,
            actor=actor,
            role=Role.ECOLOGIST,
            reason=d.reason,
            at=at,
            hj1156_class=d.hj1156_class,
        )
        for d in decisions
    ]


def scripted_field_results(
    store: PatchStore,
    tasks: Sequence[tuple[str, str]],
    truth: gpd.GeoDataFrame,
    *,
    bad_photo_task: str | None = None,
) -> list[FieldFinding]:
    """Findings for dispatched ``(task_id, patch_id)`` pairs from the planted events."""
    events = _truth(truth)
    findings = []
    for task_id, patch_id in tasks:
        patch = store.get(patch_id)
        hits = _events_of(patch.geometry, events)
        reviewed = patch.status.hj1156_class
        if hits.empty:
            outcome, cls, notes = (
                FieldOutcome.NOT_FOUND.value,
                None,
                "现场未见人类活动 nothing found",
            )
        else:
            found = str(hits.iloc[0]["hj1156_class"])
            event = str(hits.iloc[0]["event_id"])
            same = found == reviewed
            outcome = (FieldOutcome.CONFIRMED if same else FieldOutcome.DIFFERENT_CLASS).value
            cls = None if same else found
            notes = f"现场属实 activity found (planted event {event})"
        centre = patch.geometry.representative_point()
        findings.append(
            FieldFinding(
                task_id,
                patch_id,
                outcome,
                cls,
                f"{notes}; {SIMULATED}",
                float(centre.x),
                float(centre.y),
                0.05 if task_id == bad_photo_task else 0.0,
            )
        )
    return findings


def simulated_reference(samples: gpd.GeoDataFrame, truth: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``samples`` with ``reference_class`` from the planted events (``change`` inside one,
    else ``no_change``) and a note saying the reference is simulated."""
    events = _truth(truth).to_crs(samples.crs)
    inside = samples.geometry.apply(lambda p: bool(events.intersects(p).any()))
    out = samples.copy()
    out["reference_class"] = [CHANGE if v else NO_CHANGE for v in inside]
    out["reference_notes"] = "simulated reference: planted events of the demo (truth.gpkg)"
    return out


def scripted_supervision(
    store: PatchStore, *, actor: str, ordered: datetime, rectified: datetime, closed: datetime
) -> dict[str, int]:
    """Supervise every ``field_checked`` patch: confirmed/different class → rectification
    required → rectified → closed (销号); not found → closed. Returns counts."""
    counts = {"rectification_required": 0, "rectified": 0, "closed": 0}
    for uid in store.list_patches(state=PatchState.FIELD_CHECKED)["patch_uid"]:
        outcome = store.get(str(uid)).status.outcome
        if outcome is FieldOutcome.NOT_FOUND:
            store.transition(
                str(uid),
                PatchState.CLOSED,
                actor=actor,
                role=Role.SUPERVISOR,
                reason="实地核查未发现，销号 not found in the field: closed",
                at=closed,
            )
            counts["closed"] += 1
            continue
        store.transition(
            str(uid),
            PatchState.RECTIFICATION_REQUIRED,
            actor=actor,
            role=Role.SUPERVISOR,
            reason="问题属实，责令整改 confirmed: rectification ordered",
            at=ordered,
        )
        store.transition(
            str(uid),
            PatchState.RECTIFIED,
            actor=actor,
            role=Role.SUPERVISOR,
            reason=f"整改完成，现场复核 site restored and re-inspected ({SIMULATED})",
            at=rectified,
        )
        store.transition(
            str(uid),
            PatchState.CLOSED,
            actor=actor,
            role=Role.SUPERVISOR,
            reason="整改到位，销号 rectified: closed",
            at=closed,
        )
        counts["rectification_required"] += 1
        counts["rectified"] += 1
        counts["closed"] += 1
    return counts


def tampered_copy(store_path: Path, target: Path) -> int:
    """Copy the patch store to ``target`` and edit one audit record's payload in the copy
    (the last field-check transition, else the last record), as someone with access to
    the file could; returns the seq edited."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(store_path, target)
    con = sqlite3.connect(target)
    with closing(con):
        row = (
            con.execute(
                "SELECT seq, payload FROM tiandi_audit WHERE payload LIKE ? "
                "ORDER BY seq DESC LIMIT 1",
                ('%"to":"field_checked"%',),
            ).fetchone()
            or con.execute(
                "SELECT seq, payload FROM tiandi_audit ORDER BY seq DESC LIMIT 1"
            ).fetchone()
        )
        if row is None:
            raise InputError(f"patch store {store_path} has no audit record to tamper with")
        seq, payload = int(row[0]), str(row[1])
        edited = payload.replace('"confirmed"', '"not_found"')
        if edited == payload:
            edited = payload.replace("}", ',"note":"edited"}', 1)
        con.execute("DROP TRIGGER IF EXISTS tiandi_audit_no_update")
        con.execute("UPDATE tiandi_audit SET payload = ? WHERE seq = ?", (edited, seq))
        con.commit()
    return seq
