"""Recording a run in a SQL patch store: the run, each detection, reopening and screening.

The behaviour behind :meth:`tiandi.redline.store.sql.SqlPatchStore.import_run`, built on
:class:`tiandi.redline.store._backend.SqlBackend`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from tiandi._time import iso_utc
from tiandi.redline.store._backend import SYSTEM_ACTOR, SqlBackend, Tx
from tiandi.redline.store.audit_chain import AuditEntry
from tiandi.redline.store.lifecycle import PatchState, PatchStatus, Role, TransitionRecord
from tiandi.redline.store.records import (
    DETECTED_ATTRS,
    DetectedPatch,
    ImportSummary,
    RunInfo,
    plain,
)
from tiandi.redline.store.transitions import transition
from tiandi.redline.vocabulary import SCREEN_REASONS_ZH, ChangeType


class SqlRunImport(SqlBackend):
    """Import of a run's detections, on top of a backend."""

    def import_run(self, run: RunInfo, detections: Sequence[DetectedPatch]) -> ImportSummary:
        """Record a run and its detections in one transaction.

        New identities are inserted as ``detected``; linked ones get the new geometry and
        attributes. A linked patch that was closed (销号) is reopened (回头看), and one
        rejected earlier is reopened when screening kept it this time. Patches that are
        ``detected`` or ``reopened`` then go to ``screened`` (kept) or ``rejected``
        (screened out, the screening reason as the reason), by actor ``system``; patches
        already in review or field work only get the detection recorded. A run id that is
        already recorded changes nothing (``already_recorded``).
        """
        iso_utc(run.at, timespec="microseconds")
        self.ensure()
        with self._tx(write=True) as tx:
            done = tx.rows("SELECT summary FROM patch_runs WHERE run_id = ?", (run.run_id,))
            if done:
                counts = {k: int(v) for k, v in self._json_out(done[0][0]).items()}
                return ImportSummary.from_counts(run.run_id, counts, already_recorded=True)
            self._insert_run(tx, run)
            counts = dict.fromkeys(ImportSummary(run.run_id).as_dict(), 0)
            for det in sorted(detections, key=lambda d: d.patch_uid):
                for key in self._import_one(tx, run, det):
                    counts[key] += 1
            summary = ImportSummary.from_counts(run.run_id, counts)
            tx.rows(
                "UPDATE patch_runs SET summary = ? WHERE run_id = ?",
                (self._json_in(summary.as_dict()), run.run_id),
            )
            tx.audit(_run_entry(run, summary))
        return summary

    def _insert_run(self, tx: Tx, run: RunInfo) -> None:
        tx.rows(
            "INSERT INTO patch_runs (run_id, recorded_at, period_before, period_after, "
            "zone_set_version, source, parameters) VALUES (?,?,?,?,?,?,?)",
            (
                run.run_id,
                self._time_in(run.at),
                run.period_before,
                run.period_after,
                run.zone_set_version,
                run.source,
                self._json_in({k: plain(v) for k, v in run.parameters.items()}),
            ),
        )

    def _import_one(self, tx: Tx, run: RunInfo, det: DetectedPatch) -> Iterator[str]:
        """Insert or update one detection; yields the counters it adds to."""
        yield "detected"
        attrs = _detected_attrs(det)
        status = self._status(tx, det.patch_uid)
        if status is None:
            yield "new"
            self._insert_patch(tx, run, det, attrs)
            status = PatchStatus(det.patch_uid, PatchState.DETECTED, updated_at=run.at)
        else:
            yield "linked"
            if det.change_type == "enlarged":
                yield "enlarged"
            self._update_patch(tx, run, det, attrs)
        tx.audit(_detection_entry(run, det, attrs))
        self._insert_detection(tx, run, det, attrs)
        yield from self._after_detection(tx, run, det, status)

    def _insert_patch(
        self, tx: Tx, run: RunInfo, det: DetectedPatch, attrs: dict[str, Any]
    ) -> None:
        """A new identity, in state ``detected``."""
        names = [*DETECTED_ATTRS, "screen_reason", "state", "state_zh", "state_at"]
        names += ["first_run", "last_run", "n_detections"]
        values = [attrs[k] for k in DETECTED_ATTRS] + [det.screen_reason or None]
        values += [PatchState.DETECTED.value, PatchState.DETECTED.zh, self._time_in(run.at)]
        values += [run.run_id, run.run_id, 1]
        tx.rows(
            f"INSERT INTO patches (patch_uid, {', '.join(names)}, geom) "
            f"VALUES (?, {', '.join('?' * len(names))}, {self._geom_param()})",
            (det.patch_uid, *values, self._geom_in(det.geometry)),
        )

    def _update_patch(
        self, tx: Tx, run: RunInfo, det: DetectedPatch, attrs: dict[str, Any]
    ) -> None:
        """A known identity: the latest detection's attributes and geometry."""
        sets = ", ".join(f"{k} = ?" for k in DETECTED_ATTRS)
        tx.rows(
            f"UPDATE patches SET {sets}, screen_reason = ?, last_run = ?, "
            f"n_detections = n_detections + 1, geom = {self._geom_param()} WHERE patch_uid = ?",
            (
                *(attrs[k] for k in DETECTED_ATTRS),
                det.screen_reason or None,
                run.run_id,
                self._geom_in(det.geometry),
                det.patch_uid,
            ),
        )

    def _insert_detection(
        self, tx: Tx, run: RunInfo, det: DetectedPatch, attrs: dict[str, Any]
    ) -> None:
        """The row of ``patch_detections``: the detection with all its attributes."""
        tx.rows(
            "INSERT INTO patch_detections (run_id, patch_uid, patch_id, zone_id, area_m2, "
            "change_type, hj1156_class, screen_reason, linked, overlap, iou, "
            "previous_area_m2, attributes, geom) "
            f"VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,{self._geom_param()})",
            (
                run.run_id,
                det.patch_uid,
                attrs.get("patch_id"),
                attrs.get("zone_id"),
                attrs.get("area_m2"),
                det.change_type,
                attrs.get("hj1156_class"),
                det.screen_reason or None,
                1 if det.linked else 0,
                det.overlap,
                det.iou,
                det.previous_area_m2,
                self._json_in({k: plain(v) for k, v in det.attributes.items()}),
                self._geom_in(det.geometry),
            ),
        )

    def _after_detection(
        self, tx: Tx, run: RunInfo, det: DetectedPatch, status: PatchStatus
    ) -> Iterator[str]:
        """Reopen (回头看) and screen a detected patch; yields the counters it adds to."""
        when = max(run.at, status.updated_at) if status.updated_at else run.at

        def system(current: PatchStatus, to: PatchState, why: str | None) -> TransitionRecord:
            return transition(
                current, to, actor=SYSTEM_ACTOR, role=Role.SYSTEM, reason=why, at=when
            )

        reopen = status.state is PatchState.CLOSED or (
            status.state is PatchState.REJECTED and not det.screen_reason
        )
        if reopen:
            why = f"detected again in run {run.run_id} (回头看 re-check)"
            record = system(status, PatchState.REOPENED, why)
            self._apply(tx, record)
            status = record.status
            yield "reopened"
        if status.state not in (PatchState.DETECTED, PatchState.REOPENED):
            yield "in_progress"
            return
        if det.screen_reason:
            zh = SCREEN_REASONS_ZH.get(det.screen_reason, "")
            why = f"pseudo-change screened out: {det.screen_reason}" + (f" ({zh})" if zh else "")
            record = system(status, PatchState.REJECTED, why)
            yield "rejected"
        else:
            record = system(status, PatchState.SCREENED, None)
            yield "screened"
        self._apply(tx, record)


def _detected_attrs(det: DetectedPatch) -> dict[str, Any]:
    """The ``patches`` columns of a detection, with its (possibly re-matched) change type."""
    attrs = {k: plain(det.attributes.get(k)) for k in DETECTED_ATTRS}
    attrs["change_type"] = det.change_type
    if det.change_type != det.attributes.get("change_type"):
        attrs["change_type_zh"] = _change_zh(det.change_type)
    return attrs


def _run_entry(run: RunInfo, summary: ImportSummary) -> AuditEntry:
    """The audit record of a recorded run."""
    return AuditEntry(
        SYSTEM_ACTOR,
        Role.SYSTEM.value,
        "run",
        run.run_id,
        {
            "period_before": run.period_before,
            "period_after": run.period_after,
            "zone_set_version": run.zone_set_version,
            "source": run.source,
            "parameters": {k: plain(v) for k, v in run.parameters.items()},
            "summary": summary.as_dict(),
        },
        run.at,
    )


def _detection_entry(run: RunInfo, det: DetectedPatch, attrs: dict[str, Any]) -> AuditEntry:
    """The audit record of one detection."""
    return AuditEntry(
        SYSTEM_ACTOR,
        Role.SYSTEM.value,
        "detected",
        det.patch_uid,
        {
            "run_id": run.run_id,
            "patch_id": attrs.get("patch_id"),
            "zone_id": attrs.get("zone_id"),
            "area_m2": attrs.get("area_m2"),
            "change_type": det.change_type,
            "hj1156_class": attrs.get("hj1156_class"),
            "screen_reason": det.screen_reason or None,
            "linked": det.linked,
            "overlap": det.overlap,
            "previous_area_m2": det.previous_area_m2,
            "geometry_wkb_sha256": _geom_digest(det.geometry),
        },
        run.at,
    )


def _change_zh(change_type: str) -> str | None:
    try:
        return ChangeType(change_type).zh
    except ValueError:
        return None


def _geom_digest(geom: BaseGeometry) -> str:
    wkb = shapely.to_wkb(geom, byte_order=1, output_dimension=2, flavor="iso")
    return hashlib.sha256(bytes(wkb)).hexdigest()
