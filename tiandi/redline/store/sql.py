"""What both patch stores share: the SQL they run.

:class:`SqlPatchStore` holds the whole behaviour of a patch store (import of a run,
lifecycle transitions, queries, the audit log) as SQL with ``?`` placeholders that both
backends run; a backend only says how to open a transaction, how to pass geometries,
times and JSON, and how to append an audit record inside the transaction
(:mod:`tiandi.redline.store.gpkg` for GeoPackage, :mod:`tiandi.redline.store.postgis`).
The store is built in layers: :mod:`._backend` (what a backend provides, lookups, the
transition write), :mod:`._import` (recording a run), :mod:`.queries` (filtered
reads), :mod:`.reshape` (merge and split), this module (reads and transitions); the
records it keeps and returns are in :mod:`.records`.

Tables (same names and columns in both backends):

- ``patches`` — one row per patch identity (``patch_uid``): the latest detection's
  attributes and geometry (MultiPolygon, EPSG:4490) and the lifecycle state
  (``state``, ``reviewed_class``, ``field_outcome``, ``state_at``, and the crew's answers
  on the ground of that field check, :mod:`.ground`).
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

import json
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import geopandas as gpd
import pandas as pd

from tiandi.errors import ConflictError, InputError
from tiandi.redline.store._backend import TRANSITION_COLS, Tx
from tiandi.redline.store.audit_chain import AuditEntry, AuditRecord
from tiandi.redline.store.audit_verify import VerifyReport
from tiandi.redline.store.ground import check_ground_answers, ground_answers_update
from tiandi.redline.store.lifecycle import FieldOutcome, PatchState, Role, TransitionRecord
from tiandi.redline.store.records import PATCH_NAMES, RunInfo, StoredPatch, plain
from tiandi.redline.store.reshape import SqlPatchReshape
from tiandi.redline.store.transitions import transition
from tiandi.redline.vocabulary import STORE_CRS


class SqlPatchStore(SqlPatchReshape):
    """The behaviour of a patch store on top of a backend's transactions."""

    @abstractmethod
    def verify_audit(self, *, expected_head: str | None = None) -> VerifyReport:
        """Verify the audit log's hash chain (breaks: :class:`.audit.ChainBreak`)."""

    def _select_patches(self) -> str:
        cols = ", ".join(PATCH_NAMES)
        return f"SELECT {cols}, {self._geom_select('geom')} FROM patches"

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
                f"SELECT {TRANSITION_COLS} FROM patch_transitions WHERE patch_uid = ? ORDER BY seq",
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
    def _check_version(self, tx: Tx, uid: str, expected: int) -> None:
        current = self._version(tx, uid)
        if current != expected:
            raise ConflictError(
                f"patch {uid} is at version {current}, not {expected}: it changed since the "
                "decision was made (nothing was written); reload it and decide again",
                current,
            )

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
        expected_version: int | None = None,
        ground_answers: Mapping[str, str] | None = None,
    ) -> TransitionRecord:
        """Apply one lifecycle transition to the patch ``key`` and record it.

        Checked by :func:`tiandi.redline.store.transitions.transition` against the stored state;
        the new state, the history row and the audit record commit in one transaction.
        Raises ``LifecycleError`` (nothing written) when the transition is not allowed, and
        ``ConflictError`` (nothing written) when ``expected_version`` is given and the
        patch's version (:meth:`version`) is another one: it changed since it was read.
        ``ground_answers``: the crew's answers of a field check (column → value, e.g.
        ``{"field_severity": "high"}``), written into the patch's columns
        (:mod:`tiandi.redline.store.ground`; ``InputError``, nothing written, for an unknown
        column or a transition other than to ``field_checked``).
        """
        when = at if at is not None else datetime.now(UTC)
        with self._tx(write=True) as tx:
            uid = self._resolve(tx, key)
            if expected_version is not None:
                self._check_version(tx, uid, expected_version)
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
            answers = check_ground_answers(uid, record.target, ground_answers)
            self._apply(tx, record)
            if answers:
                tx.rows(*ground_answers_update(uid, answers))
        return record


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
