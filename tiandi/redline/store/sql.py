"""What both patch stores share: the records they keep and the SQL they run.

:class:`SqlPatchStore` holds the whole behaviour of a patch store (import of a run,
lifecycle transitions, queries, the audit log) as SQL with ``?`` placeholders that both
backends run; a backend only says how to open a transaction, how to pass geometries,
times and JSON, and how to append an audit record inside the transaction
(:mod:`tiandi.redline.store.gpkg` for GeoPackage, :mod:`tiandi.redline.store.postgis`).

Tables (same names and columns in both backends):

- ``patches`` — one row per patch identity (``patch_uid``): the latest detection's
  attributes and geometry (MultiPolygon, EPSG:4490) and the lifecycle state
  (``state``, ``reviewed_class``, ``field_outcome``, ``state_at``).
- ``patch_detections`` — every detection of a patch: run, detection ``patch_id``, area,
  change type, screening reason, how it was matched, all attributes (JSON), geometry.
- ``patch_transitions`` — every lifecycle transition with actor, role, time, reason and
  the ``seq`` of its audit record.
- ``patch_runs`` — runs with periods, zone-set version, parameters and a summary.
- ``tiandi_audit``/``tiandi_audit_head`` — the hash-chained audit log
  (:mod:`tiandi.redline.store.audit`).

Every write runs in one transaction that first takes the store's writer lock (SQLite
``BEGIN IMMEDIATE``, PostgreSQL ``LOCK TABLE tiandi_audit_head``), so the state, the
history rows and the audit records commit together or not at all.
"""

from __future__ import annotations

import hashlib
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from tiandi._time import iso_utc
from tiandi.errors import InputError
from tiandi.redline.store.audit import AuditEntry, AuditRecord, VerifyReport, canonical_json
from tiandi.redline.store.lifecycle import (
    FieldOutcome,
    PatchState,
    PatchStatus,
    Role,
    TransitionRecord,
    transition,
)
from tiandi.redline.vocabulary import SCREEN_REASONS_ZH, STORE_CRS, ChangeType

SYSTEM_ACTOR = "system"

#: Columns of the ``patches`` table besides ``fid`` and ``geom``: (name, kind).
PATCH_FIELDS: tuple[tuple[str, str], ...] = (
    ("patch_uid", "text"),
    ("patch_id", "text"),
    ("zone_id", "text"),
    ("zone_name", "text"),
    ("zone_type", "text"),
    ("functional_zone", "text"),
    ("area_m2", "real"),
    ("area_ha", "real"),
    ("area_mu", "real"),
    ("change_type", "text"),
    ("change_type_zh", "text"),
    ("hj1156_class", "text"),
    ("hj1156_zh", "text"),
    ("confidence", "real"),
    ("screen_reason", "text"),
    ("state", "text"),
    ("state_zh", "text"),
    ("reviewed_class", "text"),
    ("field_outcome", "text"),
    ("state_at", "time"),
    ("first_run", "text"),
    ("last_run", "text"),
    ("n_detections", "int"),
)
PATCH_NAMES = tuple(n for n, _ in PATCH_FIELDS)
_DETECTED_ATTRS = tuple(n for n in PATCH_NAMES[1:14] if n != "screen_reason")
_TRANSITION_COLS = (
    "patch_uid, source, target, name, actor, role, at, reason, hj1156_class, outcome, audit_seq"
)


@dataclass(frozen=True)
class RunInfo:
    """One detection run as the store records it."""

    run_id: str
    at: datetime
    period_before: str = ""
    period_after: str = ""
    zone_set_version: str | None = None
    source: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DetectedPatch:
    """One detection of a run, with the identity :mod:`tiandi.redline.store.identity` gave it.

    ``geometry`` in EPSG:4490; ``attributes`` the detection's columns (plain values);
    ``screen_reason`` empty when screening kept it.
    """

    patch_uid: str
    linked: bool
    geometry: BaseGeometry
    attributes: Mapping[str, Any]
    change_type: str
    screen_reason: str = ""
    overlap: float | None = None
    iou: float | None = None
    previous_area_m2: float | None = None


@dataclass(frozen=True)
class StoredPatch:
    """A patch as stored: identity, lifecycle status, attributes and geometry."""

    patch_uid: str
    status: PatchStatus
    attributes: Mapping[str, Any]
    geometry: BaseGeometry


@dataclass(frozen=True)
class ImportSummary:
    """What importing one run did (``already_recorded``: nothing, it was there)."""

    run_id: str
    detected: int = 0
    new: int = 0
    linked: int = 0
    enlarged: int = 0
    reopened: int = 0
    screened: int = 0
    rejected: int = 0
    in_progress: int = 0
    already_recorded: bool = False

    @classmethod
    def from_counts(
        cls, run_id: str, counts: Mapping[str, int], *, already_recorded: bool = False
    ) -> ImportSummary:
        """A summary from the counters of :meth:`as_dict` (missing ones are 0)."""
        c = {k: int(counts.get(k, 0)) for k in cls(run_id).as_dict()}
        return cls(
            run_id,
            c["detected"],
            c["new"],
            c["linked"],
            c["enlarged"],
            c["reopened"],
            c["screened"],
            c["rejected"],
            c["in_progress"],
            already_recorded,
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain fields for JSON (the run's summary and its audit record)."""
        return {
            "detected": self.detected,
            "new": self.new,
            "linked": self.linked,
            "enlarged": self.enlarged,
            "reopened": self.reopened,
            "screened": self.screened,
            "rejected": self.rejected,
            "in_progress": self.in_progress,
        }


class Tx(Protocol):
    """An open write or read transaction of a backend."""

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run ``sql`` (``?`` placeholders) and return its rows (empty for DML)."""
        ...

    def audit(self, entry: AuditEntry) -> AuditRecord:
        """Append ``entry`` to the audit log inside this transaction."""
        ...


def plain(value: Any) -> Any:
    """A JSON-ready Python value (numpy scalars unwrapped, NaN/NaT/NA as None)."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class SqlPatchStore(ABC):
    """The behaviour of a patch store on top of a backend's transactions."""

    location: str

    # -- what a backend provides -------------------------------------------------------
    @abstractmethod
    def _tx(self, *, write: bool) -> AbstractContextManager[Tx]:
        """A transaction; writers hold the store's writer lock; rolled back on error."""

    @abstractmethod
    def _geom_param(self) -> str:
        """SQL of a geometry placeholder (e.g. ``?`` or ``ST_GeomFromWKB(?, 4490)``)."""

    @abstractmethod
    def _geom_select(self, column: str) -> str:
        """SQL selecting ``column`` in a form :meth:`_geom_out` decodes."""

    @abstractmethod
    def _geom_in(self, geom: BaseGeometry) -> Any:
        """The parameter value for a geometry (EPSG:4490)."""

    @abstractmethod
    def _geom_out(self, value: Any) -> BaseGeometry:
        """A geometry from a selected value."""

    @abstractmethod
    def ensure(self) -> None:
        """Create the store (tables, indexes, audit log) if it does not exist yet."""

    @abstractmethod
    def verify_audit(self, *, expected_head: str | None = None) -> VerifyReport:
        """Verify the audit log's hash chain (breaks: :class:`.audit.ChainBreak`)."""

    def _time_in(self, at: datetime) -> Any:
        return iso_utc(at, timespec="microseconds")

    def _time_out(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value
        return datetime.fromisoformat(str(value))

    def _json_in(self, value: Mapping[str, Any]) -> Any:
        return canonical_json(dict(value))

    def _json_out(self, value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if isinstance(value, dict):
            return value
        loaded = json.loads(str(value))
        return loaded if isinstance(loaded, dict) else {}

    # -- lookups ---------------------------------------------------------------------
    def _resolve(self, tx: Tx, key: str) -> str:
        """The ``patch_uid`` of ``key``: a uid, or a detection ``patch_id`` (latest)."""
        if tx.rows("SELECT 1 FROM patches WHERE patch_uid = ?", (key,)):
            return key
        found = tx.rows(
            "SELECT patch_uid FROM patch_detections WHERE patch_id = ? ORDER BY id DESC LIMIT 1",
            (key,),
        )
        if not found:
            raise InputError(
                f"patch {key!r} is not in the patch store {self.location}; list the patches "
                "with `tiandi patches list` (a patch_uid PU-... or a detection id TB-...)"
            )
        return str(found[0][0])

    def _status(self, tx: Tx, uid: str) -> PatchStatus | None:
        rows = tx.rows(
            "SELECT state, reviewed_class, field_outcome, state_at FROM patches "
            "WHERE patch_uid = ?",
            (uid,),
        )
        if not rows:
            return None
        state, cls, outcome, at = rows[0]
        return PatchStatus(
            uid,
            PatchState(str(state)),
            None if cls is None else str(cls),
            None if outcome is None else FieldOutcome(str(outcome)),
            self._time_out(at),
        )

    def _select_patches(self) -> str:
        cols = ", ".join(PATCH_NAMES)
        return f"SELECT {cols}, {self._geom_select('geom')} FROM patches"

    def _row_attrs(self, row: Sequence[Any]) -> dict[str, Any]:
        attrs = dict(zip(PATCH_NAMES, row[: len(PATCH_NAMES)], strict=True))
        at = self._time_out(attrs["state_at"])
        attrs["state_at"] = None if at is None else iso_utc(at, timespec="microseconds")
        return attrs

    # -- queries ---------------------------------------------------------------------
    def get(self, key: str) -> StoredPatch:
        """The patch ``key`` (patch_uid, or a detection patch_id); ``InputError`` if unknown."""
        with self._tx(write=False) as tx:
            uid = self._resolve(tx, key)
            row = tx.rows(self._select_patches() + " WHERE patch_uid = ?", (uid,))[0]
            status = self._status(tx, uid)
        if status is None:  # pragma: no cover - resolved above in the same transaction
            raise InputError(f"patch {key!r} vanished from {self.location}")
        return StoredPatch(uid, status, self._row_attrs(row), self._geom_out(row[-1]))

    def list_patches(
        self, *, zone_id: str | None = None, state: PatchState | str | None = None
    ) -> gpd.GeoDataFrame:
        """Patches (EPSG:4490), optionally of one zone and/or state, sorted by patch_uid."""
        where, params = [], []
        if zone_id is not None:
            where.append("zone_id = ?")
            params.append(zone_id)
        if state is not None:
            try:
                params.append(PatchState(state).value)
            except ValueError:
                raise InputError(
                    f"state {state!r} is unknown; use one of: {', '.join(PatchState)}"
                ) from None
            where.append("state = ?")
        sql = self._select_patches()
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._tx(write=False) as tx:
            rows = tx.rows(sql + " ORDER BY patch_uid", params)
        frame = pd.DataFrame([self._row_attrs(r) for r in rows], columns=list(PATCH_NAMES))
        geoms = [self._geom_out(r[-1]) for r in rows]
        return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=STORE_CRS))

    def history(self, key: str) -> list[TransitionRecord]:
        """The lifecycle transitions of a patch, oldest first."""
        with self._tx(write=False) as tx:
            uid = self._resolve(tx, key)
            rows = tx.rows(
                f"SELECT {_TRANSITION_COLS} FROM patch_transitions WHERE patch_uid = ? "
                "ORDER BY seq",
                (uid,),
            )
        out = []
        for r in rows:
            at = self._time_out(r[6])
            if at is None:  # pragma: no cover - NOT NULL column
                raise InputError(f"{self.location}: transition of {uid} has no time")
            out.append(
                TransitionRecord(
                    str(r[0]),
                    PatchState(str(r[1])),
                    PatchState(str(r[2])),
                    str(r[3]),
                    str(r[4]),
                    Role(str(r[5])),
                    at,
                    None if r[7] is None else str(r[7]),
                    None if r[8] is None else str(r[8]),
                    None if r[9] is None else FieldOutcome(str(r[9])),
                )
            )
        return out

    def detections(self, key: str) -> list[dict[str, Any]]:
        """Every detection of a patch, oldest first (run, patch_id, area, matching)."""
        cols = (
            "run_id",
            "patch_id",
            "area_m2",
            "change_type",
            "hj1156_class",
            "screen_reason",
            "linked",
            "overlap",
            "iou",
            "previous_area_m2",
        )
        with self._tx(write=False) as tx:
            uid = self._resolve(tx, key)
            rows = tx.rows(
                f"SELECT {', '.join(cols)} FROM patch_detections WHERE patch_uid = ? ORDER BY id",
                (uid,),
            )
        return [dict(zip(cols, (plain(v) for v in r), strict=True)) for r in rows]

    def runs(self) -> list[tuple[RunInfo, dict[str, Any]]]:
        """Recorded runs, oldest first, each with its import summary."""
        with self._tx(write=False) as tx:
            rows = tx.rows(
                "SELECT run_id, recorded_at, period_before, period_after, zone_set_version, "
                "source, parameters, summary FROM patch_runs ORDER BY recorded_at, run_id"
            )
        out = []
        for r in rows:
            at = self._time_out(r[1]) or datetime.fromtimestamp(0, UTC)
            info = RunInfo(
                str(r[0]),
                at,
                str(r[2] or ""),
                str(r[3] or ""),
                None if r[4] is None else str(r[4]),
                str(r[5] or ""),
                self._json_out(r[6]),
            )
            out.append((info, self._json_out(r[7])))
        return out

    def audit_records(self, *, subject: str | None = None) -> list[AuditRecord]:
        """Audit records in seq order (only those about ``subject`` when given)."""
        sql = (
            "SELECT seq, time, actor, role, action, subject, payload, prev_hash, hash "
            "FROM tiandi_audit"
        )
        params: tuple[str, ...] = ()
        if subject is not None:
            sql += " WHERE subject = ?"
            params = (subject,)
        with self._tx(write=False) as tx:
            rows = tx.rows(sql + " ORDER BY seq", params)
        return [_audit_record(r) for r in rows]

    # -- writes ----------------------------------------------------------------------
    def record_event(
        self,
        *,
        actor: str,
        role: str,
        action: str,
        subject: str,
        payload: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> AuditRecord:
        """Append one audit record (e.g. an imported field result) on its own."""
        entry = AuditEntry(actor, role, action, subject, dict(payload or {}), at)
        entry.payload_text()
        self.ensure()
        with self._tx(write=True) as tx:
            return tx.audit(entry)

    def transition(
        self,
        key: str,
        to: PatchState | str,
        *,
        actor: str,
        role: Role | str,
        reason: str | None = None,
        at: datetime | None = None,
        hj1156_class: str | None = None,
        outcome: FieldOutcome | str | None = None,
    ) -> TransitionRecord:
        """Apply one lifecycle transition to the patch ``key`` and record it.

        Checked by :func:`tiandi.redline.store.lifecycle.transition` against the stored state;
        the new state, the history row and the audit record commit in one transaction.
        Raises ``LifecycleError`` (nothing written) when the transition is not allowed.
        """
        when = at if at is not None else datetime.now(UTC)
        with self._tx(write=True) as tx:
            uid = self._resolve(tx, key)
            status = self._status(tx, uid)
            if status is None:  # pragma: no cover - resolved above in the same transaction
                raise InputError(f"patch {key!r} vanished from {self.location}")
            record = transition(
                status,
                to,
                actor=actor,
                role=role,
                reason=reason,
                at=when,
                hj1156_class=hj1156_class,
                outcome=outcome,
            )
            self._apply(tx, record)
        return record

    def _apply(self, tx: Tx, record: TransitionRecord) -> None:
        """Persist a checked transition: state, history row, audit record."""
        audit = tx.audit(
            AuditEntry(
                record.actor,
                record.role.value,
                "transition",
                record.patch_id,
                record.payload(),
                record.at,
            )
        )
        outcome = None if record.outcome is None else record.outcome.value
        tx.rows(
            "UPDATE patches SET state = ?, state_zh = ?, reviewed_class = ?, field_outcome = ?, "
            "state_at = ? WHERE patch_uid = ?",
            (
                record.target.value,
                record.target.zh,
                record.hj1156_class,
                outcome,
                self._time_in(record.at),
                record.patch_id,
            ),
        )
        tx.rows(
            f"INSERT INTO patch_transitions ({_TRANSITION_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                record.patch_id,
                record.source.value,
                record.target.value,
                record.name,
                record.actor,
                record.role.value,
                self._time_in(record.at),
                record.reason,
                record.hj1156_class,
                outcome,
                audit.seq,
            ),
        )

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
            counts = dict.fromkeys(ImportSummary(run.run_id).as_dict(), 0)
            for det in sorted(detections, key=lambda d: d.patch_uid):
                for key in self._import_one(tx, run, det):
                    counts[key] += 1
            summary = ImportSummary.from_counts(run.run_id, counts)
            tx.rows(
                "UPDATE patch_runs SET summary = ? WHERE run_id = ?",
                (self._json_in(summary.as_dict()), run.run_id),
            )
            tx.audit(
                AuditEntry(
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
            )
        return summary

    def _import_one(self, tx: Tx, run: RunInfo, det: DetectedPatch) -> Iterator[str]:
        """Insert or update one detection; yields the counters it adds to."""
        yield "detected"
        attrs = {k: plain(det.attributes.get(k)) for k in _DETECTED_ATTRS}
        attrs["change_type"] = det.change_type
        if det.change_type != det.attributes.get("change_type"):
            attrs["change_type_zh"] = _change_zh(det.change_type)
        status = self._status(tx, det.patch_uid)
        g = self._geom_param()
        if status is None:
            yield "new"
            names = [*_DETECTED_ATTRS, "screen_reason", "state", "state_zh", "state_at"]
            names += ["first_run", "last_run", "n_detections"]
            values = [attrs[k] for k in _DETECTED_ATTRS] + [det.screen_reason or None]
            values += [PatchState.DETECTED.value, PatchState.DETECTED.zh, self._time_in(run.at)]
            values += [run.run_id, run.run_id, 1]
            tx.rows(
                f"INSERT INTO patches (patch_uid, {', '.join(names)}, geom) "
                f"VALUES (?, {', '.join('?' * len(names))}, {g})",
                (det.patch_uid, *values, self._geom_in(det.geometry)),
            )
            status = PatchStatus(det.patch_uid, PatchState.DETECTED, updated_at=run.at)
        else:
            yield "linked"
            if det.change_type == "enlarged":
                yield "enlarged"
            sets = ", ".join(f"{k} = ?" for k in _DETECTED_ATTRS)
            tx.rows(
                f"UPDATE patches SET {sets}, screen_reason = ?, last_run = ?, "
                f"n_detections = n_detections + 1, geom = {g} WHERE patch_uid = ?",
                (
                    *(attrs[k] for k in _DETECTED_ATTRS),
                    det.screen_reason or None,
                    run.run_id,
                    self._geom_in(det.geometry),
                    det.patch_uid,
                ),
            )
        tx.audit(
            AuditEntry(
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
        )
        tx.rows(
            "INSERT INTO patch_detections (run_id, patch_uid, patch_id, zone_id, area_m2, "
            "change_type, hj1156_class, screen_reason, linked, overlap, iou, "
            f"previous_area_m2, attributes, geom) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,{g})",
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
        yield from self._after_detection(tx, run, det, status)

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


def _audit_record(r: Sequence[Any]) -> AuditRecord:
    seq, time, actor, role, action, subject, payload, prev, digest = r
    return AuditRecord(
        int(seq),
        str(time),
        str(actor),
        str(role),
        str(action),
        str(subject),
        json.loads(str(payload)),
        str(prev),
        str(digest),
    )


def _change_zh(change_type: str) -> str | None:
    try:
        return ChangeType(change_type).zh
    except ValueError:
        return None


def _geom_digest(geom: BaseGeometry) -> str:
    wkb = shapely.to_wkb(geom, byte_order=1, output_dimension=2, flavor="iso")
    return hashlib.sha256(bytes(wkb)).hexdigest()
