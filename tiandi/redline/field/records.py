"""What a field import records, and the interface it records through.

:func:`~tiandi.redline.field.importer.import_field_package` turns a returned package into
one :class:`ImportBatch` (results, conflicts, quarantined submissions, the crew's points
and the files to keep) and hands it to a :class:`FieldResultStore`;
:class:`~tiandi.redline.field.results_store.SqliteFieldStore` is the store tiandi ships.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Protocol

from tiandi._time import CHINA_STANDARD_TIME


@dataclass(frozen=True)
class StoredResult:
    """One recorded field result (accepted or in conflict)."""

    result_id: str
    import_id: str
    package_id: str
    task_id: str
    patch_id: str
    outcome: str
    hj1156_class: str | None
    notes: str | None
    crew: str
    checked_at: str
    photos: tuple[Mapping[str, Any], ...]
    warnings: tuple[str, ...]
    status: str  # accepted | conflict
    conflict_with: str | None = None
    answers: Mapping[str, str] = field(default_factory=dict)
    """The crew's answers to the disturbance questions of the task (column -> value, e.g.
    ``{"field_severity": "high"}`` for a burned patch: the severity on the ground); empty
    for human-activity patches."""


@dataclass(frozen=True)
class Quarantined:
    """A submission (task row, photo row or point) that was rejected, kept as sent."""

    item_id: str
    kind: str  # task | point
    task_id: str | None
    reasons: tuple[str, ...]
    raw: Mapping[str, Any]
    files: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class FieldPoint:
    """A point the crew added."""

    point_id: str
    task_id: str | None
    kind: str | None
    note: str | None
    crew: str | None
    observed_at: str | None
    lon: float
    lat: float
    photo: Mapping[str, Any] | None


@dataclass(frozen=True)
class ImportBatch:
    """Everything one import records."""

    import_id: str
    content_hash: str
    source: str
    package_id: str
    station_id: str
    imported_at: datetime
    actor: str
    results: tuple[StoredResult, ...] = ()
    quarantined: tuple[Quarantined, ...] = ()
    points: tuple[FieldPoint, ...] = ()
    unchanged: tuple[str, ...] = ()
    files: Mapping[str, Path] = field(default_factory=dict)  # sha256 -> file to keep


class FieldResultStore(Protocol):
    """What the field import needs from a store (the patch store can provide it later)."""

    def find_import(self, content_hash: str) -> dict[str, Any] | None:
        """The import with this content hash, or None."""
        ...

    def results_for(self, patch_id: str) -> list[StoredResult]:
        """Results recorded for a patch, oldest first."""
        ...

    def commit(self, batch: ImportBatch) -> None:
        """Record one import (all or nothing), then its audit records."""
        ...


DEFAULT_MAX_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class ImportOptions:
    """Limits and tolerances of an import.

    ``exif_timezone``: the zone of times that carry none (``checked_at`` without one, EXIF
    times without an offset tag); China Standard Time (UTC+08:00), what phones in China
    record.
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    photo_tolerance_m: float = 150.0
    exif_timezone: tzinfo = CHINA_STANDARD_TIME
    clock_skew: timedelta = timedelta(minutes=10)
    require_photo: bool = True
