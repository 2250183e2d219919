"""Append-only, hash-chained audit log in an SQLite table.

Every record carries the SHA-256 of the previous record (``prev_hash``) and its own
``hash`` = sha256 of the canonical JSON of ``{seq, time, actor, role, action, subject,
payload, prev_hash}`` (keys sorted, no spaces, UTF-8, no NaN). The first record links
to 64 zeros. Editing, deleting, inserting or reordering records breaks the chain at a
point :meth:`AuditLog.verify` names by ``seq``.

Storage: tables ``tiandi_audit`` (the records) and ``tiandi_audit_head`` (the last seq
and hash, updated in the same transaction) in any SQLite file, a GeoPackage included
(the table is registered in ``gpkg_contents`` as ``attributes`` when that table exists).
Appends run under ``BEGIN IMMEDIATE`` so concurrent writers queue instead of forking the
chain; triggers refuse UPDATE and DELETE on the records.

The chain logic is backend-neutral: :func:`next_record` computes the record that follows a
given head, :func:`verify_rows` checks rows read from any table with these columns. The
PostgreSQL patch store (:mod:`tiandi.redline.store.postgis`) uses both; stores that write
their own rows call :func:`append_sqlite` inside their transaction so the audit record
and the change it documents commit together.

What a hash chain cannot do on its own: someone who deletes the newest records *and*
rewrites the head row leaves a valid shorter chain. Keep :meth:`AuditLog.head` outside the
file (in a report, a STAC item, a signed message) and pass it as ``expected_head`` to
catch that too.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tiandi._time import iso_utc
from tiandi.errors import InputError

if TYPE_CHECKING:
    from tiandi.redline.store.lifecycle import TransitionRecord

GENESIS = "0" * 64
TABLE = "tiandi_audit"
HEAD_TABLE = "tiandi_audit_head"
FIELDS = ("seq", "time", "actor", "role", "action", "subject", "payload", "prev_hash", "hash")

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


def canonical_json(value: Any) -> str:
    """JSON with sorted keys, no whitespace, UTF-8 text, NaN/Infinity refused."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def record_hash(
    *,
    seq: int,
    time: str,
    actor: str,
    role: str,
    action: str,
    subject: str,
    payload: Any,
    prev_hash: str,
) -> str:
    """SHA-256 (hex) of one record's fields and the previous record's hash."""
    body = {
        "seq": seq,
        "time": time,
        "actor": actor,
        "role": role,
        "action": action,
        "subject": subject,
        "payload": payload,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AuditRecord:
    """One record of the log as stored."""

    seq: int
    time: str  # ISO 8601 UTC, e.g. 2025-07-01T08:00:00.000000Z
    actor: str
    role: str
    action: str
    subject: str
    payload: Mapping[str, Any]
    prev_hash: str
    hash: str

    def to_json(self) -> str:
        """One canonical JSON line (payload as an object)."""
        return canonical_json(
            {f: getattr(self, f) for f in FIELDS} | {"payload": dict(self.payload)}
        )


@dataclass(frozen=True)
class ChainBreak:
    """Where and how the chain is broken.

    ``kind``: ``altered`` (the record's hash does not match its content: edited,
    renumbered or moved), ``missing`` (seqs absent: deleted), ``inserted`` (records
    not part of the original chain), ``link`` (the record does not follow its
    predecessor), ``head`` (the last record disagrees with the recorded head).
    """

    seq: int
    kind: str
    message: str


@dataclass(frozen=True)
class VerifyReport:
    """Result of a verification: ``ok`` when the chain is intact."""

    source: str
    records: int
    head_seq: int
    head_hash: str
    breaks: tuple[ChainBreak, ...]

    @property
    def ok(self) -> bool:
        """True when no break was found."""
        return not self.breaks

    @property
    def first_break(self) -> ChainBreak | None:
        """The break with the lowest seq, or None."""
        return self.breaks[0] if self.breaks else None

    def summary(self) -> str:
        """One line per finding, for the terminal."""
        if self.ok:
            head = f"head {self.head_seq} {self.head_hash}"
            return f"{self.source}: {self.records} records, chain intact, {head}"
        lines = [f"{self.source}: chain BROKEN ({len(self.breaks)} findings)"]
        lines += [f"  seq {b.seq}: {b.kind}: {b.message}" for b in self.breaks]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Raw:
    seq: int
    time: str
    actor: str
    role: str
    action: str
    subject: str
    payload: str  # as stored (canonical JSON text in the database)
    prev_hash: str
    hash: str


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

    def _raw(self, con: sqlite3.Connection) -> list[_Raw]:
        rows = con.execute(f"SELECT {', '.join(FIELDS)} FROM {TABLE} ORDER BY seq").fetchall()
        return [_Raw(int(r[0]), *(str(v) for v in r[1:])) for r in rows]

    def records(self, *, subject: str | None = None) -> list[AuditRecord]:
        """All records in seq order (only those about ``subject`` when given)."""
        with self._connect(write=False) as con:
            raws = self._raw(con)
        out = [_to_record(r, str(self.path)) for r in raws]
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
        return _verify(
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


@dataclass(frozen=True)
class AuditEntry:
    """What a caller asks to log; :func:`next_record` turns it into a chained record."""

    actor: str
    role: str
    action: str
    subject: str
    payload: Mapping[str, Any]
    at: datetime | None = None

    def payload_text(self) -> str:
        """The payload as canonical JSON; ``InputError`` for empty fields or non-JSON."""
        for name in ("actor", "role", "action", "subject"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise InputError(f"audit record field {name!r} is empty; every record needs one")
        try:
            return canonical_json(dict(self.payload))
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"audit payload for {self.subject!r} is not plain JSON ({exc}); pass str/int/"
                "float/bool/None/lists/dicts only, no NaN"
            ) from exc


def next_record(last: tuple[int, str] | None, entry: AuditEntry) -> AuditRecord:
    """The record that follows ``last`` ((seq, hash) of the newest record, None if empty).

    Backend-neutral chain step shared by the SQLite/GeoPackage and PostgreSQL stores: the
    caller reads ``last`` and stores the result (columns as in :data:`FIELDS`, payload as
    :func:`canonical_json` text) and the new head in one transaction.
    """
    text = entry.payload_text()
    time = iso_utc(
        entry.at if entry.at is not None else datetime.now(UTC),
        timespec="microseconds",
        what="audit time",
    )
    seq, prev = (1, GENESIS) if last is None else (int(last[0]) + 1, str(last[1]))
    payload = json.loads(text)
    digest = record_hash(
        seq=seq,
        time=time,
        actor=entry.actor,
        role=entry.role,
        action=entry.action,
        subject=entry.subject,
        payload=payload,
        prev_hash=prev,
    )
    return AuditRecord(
        seq, time, entry.actor, entry.role, entry.action, entry.subject, payload, prev, digest
    )


def record_row(record: AuditRecord) -> tuple[Any, ...]:
    """The values of :data:`FIELDS` to store for ``record`` (payload as canonical JSON)."""
    return tuple(
        canonical_json(dict(record.payload)) if f == "payload" else getattr(record, f)
        for f in FIELDS
    )


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


def verify_rows(
    source: str,
    rows: Sequence[Sequence[Any]],
    *,
    stored_head: tuple[int, str] | None,
    expected_head: str | None = None,
) -> VerifyReport:
    """Verify stored rows (values of :data:`FIELDS`, payload as stored text, seq order).

    ``stored_head`` is the (seq, hash) of the head row, None when it is missing. The same
    checks as :meth:`AuditLog.verify`, for any backend that keeps the table.
    """
    raws = [_Raw(int(r[0]), *(str(v) for v in r[1:])) for r in rows]
    return _verify(
        source, raws, stored_head=stored_head, check_head=True, expected_head=expected_head
    )


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


def _to_record(raw: _Raw, source: str) -> AuditRecord:
    try:
        payload = json.loads(raw.payload)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{source}: audit record seq {raw.seq} has a payload that is not JSON ({exc})"
        ) from exc
    return AuditRecord(
        raw.seq,
        raw.time,
        raw.actor,
        raw.role,
        raw.action,
        raw.subject,
        payload,
        raw.prev_hash,
        raw.hash,
    )


def _content_ok(raw: _Raw) -> bool:
    try:
        payload = json.loads(raw.payload)
    except json.JSONDecodeError:
        return False
    if canonical_json(payload) != raw.payload:
        return False
    expected = record_hash(
        seq=raw.seq,
        time=raw.time,
        actor=raw.actor,
        role=raw.role,
        action=raw.action,
        subject=raw.subject,
        payload=payload,
        prev_hash=raw.prev_hash,
    )
    return expected == raw.hash


def _verify(
    source: str,
    raws: list[_Raw],
    *,
    stored_head: tuple[int, str] | None,
    check_head: bool,
    expected_head: str | None,
) -> VerifyReport:
    breaks: list[ChainBreak] = []
    seen: dict[str, int] = {GENESIS: 0}  # hash -> seq of the records read so far
    prev_seq, prev_hash = 0, GENESIS
    for raw in raws:
        missing = raw.seq > prev_seq + 1
        if missing:
            breaks.append(
                ChainBreak(
                    prev_seq + 1,
                    "missing",
                    f"records {prev_seq + 1}..{raw.seq - 1} are missing (deleted)",
                )
            )
        if not _content_ok(raw):
            breaks.append(
                ChainBreak(
                    raw.seq,
                    "altered",
                    "hash does not match the record's content: edited, renumbered or moved",
                )
            )
        if raw.prev_hash != prev_hash and not missing:
            earlier = seen.get(raw.prev_hash)
            if earlier is not None and earlier < prev_seq:
                breaks.append(
                    ChainBreak(
                        earlier + 1,
                        "inserted",
                        f"record {raw.seq} links to record {earlier}: records "
                        f"{earlier + 1}..{prev_seq} are not part of the original chain",
                    )
                )
            else:
                breaks.append(
                    ChainBreak(
                        raw.seq,
                        "link",
                        f"record does not follow record {prev_seq}: a record before it was "
                        "inserted, deleted, reordered or re-hashed",
                    )
                )
        seen.setdefault(raw.hash, raw.seq)
        prev_seq, prev_hash = raw.seq, raw.hash
    if check_head:
        breaks += _head_breaks(prev_seq, prev_hash, stored_head)
    if expected_head is not None and expected_head != prev_hash:
        where = seen.get(expected_head)
        if where is not None:
            msg = f"the expected head is record {where}: records after it were added"
            breaks.append(ChainBreak(where + 1, "inserted", msg))
        else:
            msg = "the expected head hash is not in the log: records were removed or rewritten"
            breaks.append(ChainBreak(prev_seq + 1, "head", msg))
    breaks.sort(key=lambda b: b.seq)
    return VerifyReport(source, len(raws), prev_seq, prev_hash, tuple(breaks))


def _head_breaks(last_seq: int, last_hash: str, head: tuple[int, str] | None) -> list[ChainBreak]:
    if head is None:
        if last_seq == 0:
            return []
        return [ChainBreak(last_seq, "head", "the head row is missing: the log was tampered with")]
    head_seq, head_hash = head
    if head_seq < last_seq:
        msg = f"records {head_seq + 1}..{last_seq} were added outside the log (head is {head_seq})"
        return [ChainBreak(head_seq + 1, "inserted", msg)]
    if head_seq > last_seq:
        msg = f"records {last_seq + 1}..{head_seq} are missing at the end (deleted)"
        return [ChainBreak(last_seq + 1, "missing", msg)]
    if head_hash != last_hash:
        return [ChainBreak(last_seq, "head", "the last record's hash differs from the head row")]
    return []


def read_jsonl(path: Path | str) -> list[AuditRecord]:
    """Records of an exported JSON Lines file (``InputError`` when unreadable)."""
    return [_to_record(r, str(path)) for r in _raw_jsonl(Path(path))]


def _raw_jsonl(path: Path) -> list[_Raw]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"audit export {path} cannot be read ({exc}); check the path") from exc
    raws: list[_Raw] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            raws.append(
                _Raw(
                    seq=int(obj["seq"]),
                    time=str(obj["time"]),
                    actor=str(obj["actor"]),
                    role=str(obj["role"]),
                    action=str(obj["action"]),
                    subject=str(obj["subject"]),
                    payload=canonical_json(obj["payload"]),
                    prev_hash=str(obj["prev_hash"]),
                    hash=str(obj["hash"]),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise InputError(
                f"audit export {path} line {lineno} is not an audit record ({exc}); "
                "export it again with AuditLog.export_jsonl"
            ) from exc
    return raws


def verify_jsonl(path: Path | str, *, expected_head: str | None = None) -> VerifyReport:
    """Verify an exported JSON Lines copy of the log (records in file order).

    The file has no head row, so deleting its last lines is only caught with
    ``expected_head``.
    """
    p = Path(path)
    raws = _raw_jsonl(p)
    disorder = [
        ChainBreak(b.seq, "reordered", f"line of record {b.seq} comes after record {a.seq}")
        for a, b in pairwise(raws)
        if b.seq <= a.seq
    ]
    report = _verify(
        str(p),
        sorted(raws, key=lambda r: r.seq),
        stored_head=None,
        check_head=False,
        expected_head=expected_head,
    )
    if not disorder:
        return report
    breaks = tuple(sorted((*report.breaks, *disorder), key=lambda b: b.seq))
    return VerifyReport(report.source, report.records, report.head_seq, report.head_hash, breaks)


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
