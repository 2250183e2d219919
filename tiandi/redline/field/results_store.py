"""Where imported field results are kept: the SQLite/GeoPackage field store.

:class:`~tiandi.redline.field.records.FieldResultStore` (in :mod:`.records`, with the
records themselves) is what :mod:`tiandi.redline.field.importer` needs: look up an
import by content hash, the results already recorded for a patch, and commit one import
(results, conflicts, quarantined submissions, the crew's points) at once.
:class:`SqliteFieldStore` is that store: it keeps them in tables of one SQLite or
GeoPackage file, next to the hash-chained audit log
(:class:`~tiandi.redline.store.audit.AuditLog`) in the same file, and the crew's photos
content-addressed in ``<file stem>-attachments/`` beside it (a photo is stored once, by
SHA-256, whether its submission was accepted or quarantined).

Tables: ``tiandi_field_imports``, ``tiandi_field_results`` (status ``accepted`` or
``conflict``; a conflict names the result it disagrees with and never replaces it; one
column per disturbance question, :data:`~tiandi.redline.field.schema.ANSWER_COLUMNS`,
e.g. ``field_severity``: the burn severity on the ground),
``tiandi_field_quarantine`` (everything rejected, raw as sent, with the reasons),
``tiandi_field_points``. The tables commit in one transaction; the audit records are
appended right after it (one per result, conflict, rejection, point, and the import).

A store written before a question existed opens as it is: the missing answer columns are
added (empty for the results already kept) on opening, in one transaction.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from tiandi._io import atomic_path
from tiandi.errors import InputError
from tiandi.redline.field.records import FieldPoint, ImportBatch, Quarantined, StoredResult
from tiandi.redline.field.schema import ANSWER_COLUMNS
from tiandi.redline.store.audit import AuditLog
from tiandi.redline.store.audit_chain import canonical_json

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS tiandi_field_imports (
        import_id TEXT PRIMARY KEY, content_hash TEXT NOT NULL UNIQUE, source TEXT NOT NULL,
        package_id TEXT NOT NULL, station_id TEXT NOT NULL, imported_at TEXT NOT NULL,
        actor TEXT NOT NULL, accepted INTEGER NOT NULL, conflicts INTEGER NOT NULL,
        rejected INTEGER NOT NULL, unchanged INTEGER NOT NULL, points INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS tiandi_field_results (
        result_id TEXT PRIMARY KEY, import_id TEXT NOT NULL, package_id TEXT NOT NULL,
        task_id TEXT NOT NULL, patch_id TEXT NOT NULL, outcome TEXT NOT NULL,
        hj1156_class TEXT, notes TEXT, crew TEXT NOT NULL, checked_at TEXT NOT NULL,
        photos TEXT NOT NULL, warnings TEXT NOT NULL, status TEXT NOT NULL,
        conflict_with TEXT"""
    + "".join(f", {c} TEXT" for c in ANSWER_COLUMNS)
    + ")",
    "CREATE INDEX IF NOT EXISTS tiandi_field_results_patch ON tiandi_field_results(patch_id)",
    """CREATE TABLE IF NOT EXISTS tiandi_field_quarantine (
        item_id TEXT NOT NULL, import_id TEXT NOT NULL, kind TEXT NOT NULL, task_id TEXT,
        reasons TEXT NOT NULL, raw TEXT NOT NULL, files TEXT NOT NULL,
        PRIMARY KEY (item_id, import_id))""",
    """CREATE TABLE IF NOT EXISTS tiandi_field_points (
        point_id TEXT PRIMARY KEY, import_id TEXT NOT NULL, task_id TEXT, kind TEXT,
        note TEXT, crew TEXT, observed_at TEXT, lon REAL NOT NULL, lat REAL NOT NULL,
        photo TEXT)""",
)
_RESULT_COLUMNS = (
    "result_id, import_id, package_id, task_id, patch_id, outcome, hj1156_class, notes, crew, "
    "checked_at, photos, warnings, status, conflict_with, " + ", ".join(ANSWER_COLUMNS)
)
_N_BASE = 14  # result columns before the answers


def _missing_answer_columns(con: sqlite3.Connection) -> list[str]:
    have = {str(r[1]) for r in con.execute("PRAGMA table_info(tiandi_field_results)")}
    return [c for c in ANSWER_COLUMNS if c not in have]


def _add_answer_columns(con: sqlite3.Connection) -> None:
    """Add the answer columns a store written by an older tiandi lacks (one transaction,
    checked again under the write lock)."""
    if not _missing_answer_columns(con):
        return
    con.execute("BEGIN IMMEDIATE")
    try:
        for column in _missing_answer_columns(con):
            con.execute(f"ALTER TABLE tiandi_field_results ADD COLUMN {column} TEXT")
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise


class SqliteFieldStore:
    """Field results in the SQLite/GeoPackage file at ``path`` (created when needed)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.attachments = self.path.with_name(f"{self.path.stem}-attachments")
        self.audit = AuditLog(self.path)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise InputError(f"field store {self.path} cannot be opened: {exc}") from exc
        with closing(con):
            try:
                for statement in _SCHEMA:
                    con.execute(statement)
                _add_answer_columns(con)
                yield con
            except sqlite3.DatabaseError as exc:
                raise InputError(
                    f"field store {self.path} cannot be used ({exc}); it must be the SQLite or "
                    "GeoPackage file of earlier imports"
                ) from exc

    def find_import(self, content_hash: str) -> dict[str, Any] | None:
        """The import with this content hash, or None."""
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            row = con.execute(
                "SELECT * FROM tiandi_field_imports WHERE content_hash = ?", (content_hash,)
            ).fetchone()
        return None if row is None else dict(row)

    def imports(self) -> list[dict[str, Any]]:
        """All imports, in the order they were made."""
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            rows = con.execute("SELECT * FROM tiandi_field_imports ORDER BY rowid").fetchall()
        return [dict(r) for r in rows]

    def results_for(self, patch_id: str) -> list[StoredResult]:
        """Results recorded for a patch, oldest first."""
        return [r for r in self.results() if r.patch_id == patch_id]

    def results(self) -> list[StoredResult]:
        """Every recorded result, oldest first."""
        with self._connect() as con:
            rows = con.execute(
                f"SELECT {_RESULT_COLUMNS} FROM tiandi_field_results ORDER BY rowid"
            ).fetchall()
        return [
            StoredResult(
                result_id=r[0],
                import_id=r[1],
                package_id=r[2],
                task_id=r[3],
                patch_id=r[4],
                outcome=r[5],
                hj1156_class=r[6],
                notes=r[7],
                crew=r[8],
                checked_at=r[9],
                photos=tuple(json.loads(r[10])),
                warnings=tuple(json.loads(r[11])),
                status=r[12],
                conflict_with=r[13],
                answers={c: str(v) for c, v in zip(ANSWER_COLUMNS, r[_N_BASE:], strict=True) if v},
            )
            for r in rows
        ]

    def quarantine(self) -> list[Quarantined]:
        """Every rejected submission, oldest first."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT item_id, kind, task_id, reasons, raw, files FROM tiandi_field_quarantine "
                "ORDER BY rowid"
            ).fetchall()
        return [
            Quarantined(
                r[0], r[1], r[2], tuple(json.loads(r[3])), json.loads(r[4]), tuple(json.loads(r[5]))
            )
            for r in rows
        ]

    def points(self) -> list[FieldPoint]:
        """Points the crews added."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT point_id, task_id, kind, note, crew, observed_at, lon, lat, photo "
                "FROM tiandi_field_points ORDER BY rowid"
            ).fetchall()
        return [
            FieldPoint(
                point_id=r[0],
                task_id=r[1],
                kind=r[2],
                note=r[3],
                crew=r[4],
                observed_at=r[5],
                lon=r[6],
                lat=r[7],
                photo=None if r[8] is None else json.loads(r[8]),
            )
            for r in rows
        ]

    def attachment(self, sha256: str, suffix: str) -> Path:
        """Where a kept file with this hash lies."""
        return self.attachments / f"{sha256}{suffix.lower()}"

    def commit(self, batch: ImportBatch) -> None:
        """Keep the files, record the import in one transaction, then audit it."""
        for digest, src in sorted(batch.files.items()):
            target = self.attachment(digest, src.suffix)
            if not target.exists():
                with atomic_path(target) as tmp:
                    shutil.copyfile(src, tmp)
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                self._insert(con, batch)
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
        self._audit(batch)

    def _insert(self, con: sqlite3.Connection, batch: ImportBatch) -> None:
        con.execute(
            "INSERT INTO tiandi_field_imports VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", _import_row(batch)
        )
        for r in batch.results:
            row = _result_row(r)
            con.execute(
                f"INSERT INTO tiandi_field_results ({_RESULT_COLUMNS}) "
                f"VALUES ({', '.join('?' * len(row))})",
                row,
            )
        for q in batch.quarantined:
            con.execute(
                "INSERT INTO tiandi_field_quarantine VALUES (?,?,?,?,?,?,?)",
                _quarantine_row(q, batch.import_id),
            )
        for p in batch.points:
            con.execute(
                "INSERT OR IGNORE INTO tiandi_field_points VALUES (?,?,?,?,?,?,?,?,?,?)",
                _point_row(p, batch.import_id),
            )

    def _audit(self, batch: ImportBatch) -> None:
        at = batch.imported_at
        for r in batch.results:
            action = "field_result" if r.status == "accepted" else "field_conflict"
            self.audit.append(
                actor=r.crew,
                role="field_crew",
                action=action,
                subject=r.patch_id,
                payload=_result_payload(r),
                at=at,
            )
        for q in batch.quarantined:
            self.audit.append(
                actor=batch.actor,
                role="dispatcher",
                action="field_rejected",
                subject=q.task_id or q.item_id,
                payload={
                    "import_id": batch.import_id,
                    "item_id": q.item_id,
                    "kind": q.kind,
                    "reasons": list(q.reasons),
                },
                at=at,
            )
        for p in batch.points:
            self.audit.append(
                actor=p.crew or batch.actor,
                role="field_crew",
                action="field_point",
                subject=p.task_id or p.point_id,
                payload={
                    "import_id": batch.import_id,
                    "point_id": p.point_id,
                    "lon": p.lon,
                    "lat": p.lat,
                    "kind": p.kind,
                },
                at=at,
            )
        self.audit.append(
            actor=batch.actor,
            role="dispatcher",
            action="field_import",
            subject=batch.package_id,
            payload={
                "import_id": batch.import_id,
                "content_hash": batch.content_hash,
                "source": batch.source,
                "station_id": batch.station_id,
                "results": [r.result_id for r in batch.results],
                "quarantined": [q.item_id for q in batch.quarantined],
                "points": [p.point_id for p in batch.points],
                "unchanged": list(batch.unchanged),
            },
            at=at,
        )


def _result_payload(r: StoredResult) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "result_id": r.result_id,
        "import_id": r.import_id,
        "package_id": r.package_id,
        "task_id": r.task_id,
        "outcome": r.outcome,
        "hj1156_class": r.hj1156_class,
        "notes": r.notes,
        "checked_at": r.checked_at,
        "photos": [dict(p) for p in r.photos],
        "warnings": list(r.warnings),
        "status": r.status,
        "conflict_with": r.conflict_with,
    }
    if r.answers:  # only then: the audit records of human-activity results stay as they were
        payload["answers"] = dict(sorted(r.answers.items()))
    return payload


def _import_row(batch: ImportBatch) -> tuple[Any, ...]:
    """The ``tiandi_field_imports`` row of an import (counts per outcome)."""
    conflicts = sum(r.status == "conflict" for r in batch.results)
    return (
        batch.import_id,
        batch.content_hash,
        batch.source,
        batch.package_id,
        batch.station_id,
        batch.imported_at.isoformat(),
        batch.actor,
        len(batch.results) - conflicts,
        conflicts,
        len(batch.quarantined),
        len(batch.unchanged),
        len(batch.points),
    )


def _result_row(r: StoredResult) -> tuple[Any, ...]:
    """The ``tiandi_field_results`` row of a result (photos and warnings as JSON)."""
    return (
        r.result_id,
        r.import_id,
        r.package_id,
        r.task_id,
        r.patch_id,
        r.outcome,
        r.hj1156_class,
        r.notes,
        r.crew,
        r.checked_at,
        canonical_json([dict(p) for p in r.photos]),
        canonical_json(list(r.warnings)),
        r.status,
        r.conflict_with,
        *(r.answers.get(c) for c in ANSWER_COLUMNS),
    )


def _quarantine_row(q: Quarantined, import_id: str) -> tuple[Any, ...]:
    """The ``tiandi_field_quarantine`` row of a rejection (raw values as sent, as JSON)."""
    return (
        q.item_id,
        import_id,
        q.kind,
        q.task_id,
        canonical_json(list(q.reasons)),
        json.dumps(dict(q.raw), ensure_ascii=False, sort_keys=True, default=str),
        canonical_json([dict(f) for f in q.files]),
    )


def _point_row(p: FieldPoint, import_id: str) -> tuple[Any, ...]:
    """The ``tiandi_field_points`` row of a point the crew added."""
    return (
        p.point_id,
        import_id,
        p.task_id,
        p.kind,
        p.note,
        p.crew,
        p.observed_at,
        p.lon,
        p.lat,
        None if p.photo is None else canonical_json(dict(p.photo)),
    )
