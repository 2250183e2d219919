"""What a SQL patch store builds on: a backend's transactions and value codecs, and the
lookups and the transition write that every operation of
:class:`tiandi.redline.store.sql.SqlPatchStore` shares.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from shapely.geometry.base import BaseGeometry

from tiandi._time import iso_utc
from tiandi.errors import InputError
from tiandi.redline.store.audit_chain import AuditEntry, AuditRecord, canonical_json
from tiandi.redline.store.ground import ground_answer_set
from tiandi.redline.store.lifecycle import FieldOutcome, PatchState, PatchStatus, TransitionRecord

SYSTEM_ACTOR = "system"
TRANSITION_COLS = (
    "patch_uid, source, target, name, actor, role, at, reason, hj1156_class, outcome, audit_seq"
)


class Tx(Protocol):
    """An open write or read transaction of a backend."""

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run ``sql`` (``?`` placeholders) and return its rows (empty for DML)."""
        ...

    def audit(self, entry: AuditEntry) -> AuditRecord:
        """Append ``entry`` to the audit log inside this transaction."""
        ...


class SqlBackend(ABC):
    """What a backend provides, and the steps built directly on it."""

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

    def _geoms_out(self, values: Sequence[Any]) -> list[BaseGeometry]:
        """Geometries from many selected values (backends may decode them in one call)."""
        return [self._geom_out(v) for v in values]

    @abstractmethod
    def _bbox_where(self) -> str:
        """SQL condition on ``patches`` true when a patch's envelope meets a box given as
        four placeholders in the order minx, miny, maxx, maxy (degrees, EPSG:4490)."""

    @abstractmethod
    def ensure(self) -> None:
        """Create the store (tables, indexes, audit log) if it does not exist yet."""

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

    def _apply(self, tx: Tx, record: TransitionRecord) -> None:
        """Persist a checked transition: state (the crew's answers on the ground cleared
        with the field outcome, :mod:`.ground`), history row, audit record."""
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
        ground_sql, ground_values = ground_answer_set(record)
        tx.rows(
            "UPDATE patches SET state = ?, state_zh = ?, reviewed_class = ?, field_outcome = ?, "
            f"state_at = ?{ground_sql} WHERE patch_uid = ?",
            (
                record.target.value,
                record.target.zh,
                record.hj1156_class,
                outcome,
                self._time_in(record.at),
                *ground_values,
                record.patch_id,
            ),
        )
        tx.rows(
            f"INSERT INTO patch_transitions ({TRANSITION_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
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
