"""Append-only, hash-chained audit log in an SQLite table.

The chain (record hashes, :func:`~tiandi.redline.store.audit_chain.next_record`) is in
:mod:`tiandi.redline.store.audit_chain`, its verification in
:mod:`tiandi.redline.store.audit_verify`; this module keeps the log in any SQLite file,
a GeoPackage included: tables ``tiandi_audit`` (the records) and ``tiandi_audit_head``
(the last seq and hash, updated in the same transaction); the table is registered in
``gpkg_contents`` as ``attributes`` when that table exists. Appends run under ``BEGIN
IMMEDIATE`` so concurrent writers queue instead of forking the chain; triggers refuse
UPDATE and DELETE on the records. Editing, deleting, inserting or reordering records
breaks the chain at a point :meth:`AuditLog.verify` names by ``seq``.

The PostgreSQL patch store (:mod:`tiandi.redline.store.postgis`) uses the chain and its
verification directly; stores that write their own rows call :func:`append_sqlite` inside
their transaction so the audit record and the change it documents commit together.

What a hash chain cannot do on its own: someone who deletes the newest records *and*
rewrites the head row leaves a valid shorter chain. Keep :meth:`AuditLog.head` outside the
file (in a report, a STAC item, a signed message) and pass it as ``expected_head`` to
catch that too.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tiandi.errors import InputError
from tiandi.redline.store.audit_chain import (
    FIELDS,
    GENESIS,
    HEAD_TABLE,
    TABLE,
    AuditEntry,
    AuditRecord,
    next_record,
    record_row,
)
from tiandi.redline.store.audit_verify import RawRecord, parse_record, verify_chain

# Re-exported: AuditLog.verify returns it.
from tiandi.redline.store.audit_verify import VerifyReport as VerifyReport

if TYPE_CHECKING:
    from tiandi.redline.store.lifecycle import TransitionRecord

_SCHEMA: tuple[str, ...] = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        seq INTEGER PRIMARY KEY,
        time TEXT NOT NULL,
        actor TEXT NOT NULL,
        role TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        payload TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    )""",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_subject ON {TABLE}(subject)",
    f"""CREATE TABLE IF NOT EXISTS {HEAD_TABLE} (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL
    )""",
    f"""CREATE TRIGGER IF NOT EXISTS {TABLE}_no_update BEFORE UPDATE ON {TABLE}
    BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS {TABLE}_no_delete BEFORE DELETE ON {TABLE}
    BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only'); END""",
)


class AuditLog:
    """The audit log in the SQLite (or GeoPackage) file at ``path``.

    The file and tables are created on the first :meth:`append`; reading methods raise
    ``InputError`` when the file or table does not exist.
    """

    def __init__(self, path: Path | str, *, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s

    @contextmanager
    def _connect(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        if not write and not self.path.exists():
            raise InputError(f"audit log {self.path} does not exist; check the path")
        try:
            if write:
                con = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
            else:
                uri = f"{self.path.resolve().as_uri()}?mode=ro"
                con = sqlite3.connect(uri, uri=True, timeout=self.timeout_s, isolation_level=None)
        except sqlite3.Error as exc:
            raise InputError(f"audit log {self.path} cannot be opened: {exc}") from exc
        with closing(con):
            try:
                yield con
            except sqlite3.DatabaseError as exc:
                raise InputError(
                    f"audit log {self.path} cannot be used: {exc}. It must be the SQLite or "
                    f"GeoPackage file the log was written to (table {TABLE}), not locked by "
                    "another long transaction"
                ) from exc

    def append(
        self,
        *,
        actor: str,
        role: str,
        action: str,
        subject: str,
        payload: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> AuditRecord:
        """Append one record atomically and return it; ``at`` defaults to now (UTC)."""
        entry = AuditEntry(actor, role, action, subject, dict(payload or {}), at)
        entry.payload_text()  # validate before touching the file
        with self._connect(write=True) as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                record = append_sqlite(con, entry)
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
        return record

    def _raw(self, con: sqlite3.Connection) -> list[RawRecord]:
        rows = con.execute(f"SELECT {', '.join(FIELDS)} FROM {TABLE} ORDER BY seq").fetchall()
        return [RawRecord(int(r[0]), *(str(v) for v in r[1:])) for r in rows]

    def records(self, *, subject: str | None = None) -> list[AuditRecord]:
        """All records in seq order (only those about ``subject`` when given)."""
        with self._connect(write=False) as con:
            raws = self._raw(con)
        out = [parse_record(r, str(self.path)) for r in raws]
        return out if subject is None else [r for r in out if r.subject == subject]

    def head(self) -> tuple[int, str]:
        """(seq, hash) of the newest record; (0, GENESIS) for an empty log."""
        with self._connect(write=False) as con:
            row = con.execute(f"SELECT seq, hash FROM {HEAD_TABLE} WHERE id = 1").fetchone()
        return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))

    def verify(self, *, expected_head: str | None = None) -> VerifyReport:
        """Check the whole chain and the head row; see :class:`ChainBreak` for findings."""
        with self._connect(write=False) as con:
            raws = self._raw(con)
            row = con.execute(f"SELECT seq, hash FROM {HEAD_TABLE} WHERE id = 1").fetchone()
        head = None if row is None else (int(row[0]), str(row[1]))
        return verify_chain(
            str(self.path), raws, stored_head=head, check_head=True, expected_head=expected_head
        )

    def export_jsonl(self, path: Path | str) -> Path:
        """Write every record as one canonical JSON line to ``path`` (atomically)."""
        out = Path(path)
        lines = "".join(r.to_json() + "\n" for r in self.records())
        tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
        try:
            tmp.write_text(lines, encoding="utf-8")
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
        return out


def ensure_sqlite_schema(con: sqlite3.Connection) -> None:
    """Create the audit tables and triggers in ``con`` if absent (inside a transaction)."""
    if not con.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (HEAD_TABLE,)
    ).fetchone():
        for statement in _SCHEMA:
            con.execute(statement)
        _register_in_gpkg(con)


def append_sqlite(con: sqlite3.Connection, entry: AuditEntry) -> AuditRecord:
    """Append ``entry`` through ``con`` inside the caller's open (IMMEDIATE) transaction.

    Used by :meth:`AuditLog.append` and by stores that write their own rows and the audit
    record in one transaction; the caller commits or rolls back.
    """
    entry.payload_text()
    ensure_sqlite_schema(con)
    last = con.execute(f"SELECT seq, hash FROM {TABLE} ORDER BY seq DESC LIMIT 1").fetchone()
    record = next_record(None if last is None else (int(last[0]), str(last[1])), entry)
    con.execute(
        f"INSERT INTO {TABLE} ({', '.join(FIELDS)}) VALUES (?,?,?,?,?,?,?,?,?)",
        record_row(record),
    )
    con.execute(
        f"INSERT INTO {HEAD_TABLE} (id, seq, hash) VALUES (1, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        (record.seq, record.hash),
    )
    return record


def _register_in_gpkg(con: sqlite3.Connection) -> None:
    """List the table in gpkg_contents when the file is a GeoPackage."""
    has = con.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='gpkg_contents'"
    ).fetchone()
    if has:
        con.execute(
            "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description) "
            "VALUES (?, 'attributes', ?, ?)",
            (TABLE, TABLE, "tiandi hash-chained audit log"),
        )


def append_transition(log: AuditLog, record: TransitionRecord) -> AuditRecord:
    """Append a lifecycle transition (action ``"transition"``) to ``log``."""
    return log.append(
        actor=record.actor,
        role=record.role.value,
        action="transition",
        subject=record.patch_id,
        payload=record.payload(),
        at=record.at,
    )
