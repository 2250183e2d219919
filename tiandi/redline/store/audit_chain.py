"""The hash chain of the audit log, independent of where it is stored.

Every record carries the SHA-256 of the previous record (``prev_hash``) and its own
``hash`` = sha256 of the canonical JSON of ``{seq, time, actor, role, action, subject,
payload, prev_hash}`` (keys sorted, no spaces, UTF-8, no NaN). The first record links
to 64 zeros (:data:`GENESIS`). :func:`next_record` computes the record that follows a
given head; a backend stores it (columns :data:`FIELDS` of table :data:`TABLE`, the head
in :data:`HEAD_TABLE`) in the transaction of the change it documents.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tiandi._time import iso_utc
from tiandi.errors import InputError

GENESIS = "0" * 64
TABLE = "tiandi_audit"
HEAD_TABLE = "tiandi_audit_head"
FIELDS = ("seq", "time", "actor", "role", "action", "subject", "payload", "prev_hash", "hash")


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
