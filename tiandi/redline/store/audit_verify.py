"""Verification of an audit log's hash chain: rows from any backend, or a JSON Lines export.

:func:`verify_chain` walks the records in seq order and names every break by ``seq``
(see :class:`ChainBreak`): edited, deleted, inserted or reordered records, and a head
row that disagrees with the last record. What a hash chain cannot do on its own: someone
who deletes the newest records *and* rewrites the head row leaves a valid shorter chain;
an ``expected_head`` kept outside the store catches that too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from tiandi.errors import InputError
from tiandi.redline.store.audit_chain import GENESIS, AuditRecord, canonical_json, record_hash


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
class RawRecord:
    """One record as stored: the values of the columns, payload as stored text."""

    seq: int
    time: str
    actor: str
    role: str
    action: str
    subject: str
    payload: str  # as stored (canonical JSON text in the database)
    prev_hash: str
    hash: str


def verify_rows(
    source: str,
    rows: Sequence[Sequence[Any]],
    *,
    stored_head: tuple[int, str] | None,
    expected_head: str | None = None,
) -> VerifyReport:
    """Verify stored rows (values of :data:`~tiandi.redline.store.audit_chain.FIELDS`,
    payload as stored text, seq order).

    ``stored_head`` is the (seq, hash) of the head row, None when it is missing. The same
    checks as :meth:`tiandi.redline.store.audit.AuditLog.verify`, for any backend that
    keeps the table.
    """
    raws = [RawRecord(int(r[0]), *(str(v) for v in r[1:])) for r in rows]
    return verify_chain(
        source, raws, stored_head=stored_head, check_head=True, expected_head=expected_head
    )


def parse_record(raw: RawRecord, source: str) -> AuditRecord:
    """The record of a stored row (``InputError`` when its payload is not JSON)."""
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


def _content_ok(raw: RawRecord) -> bool:
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


def verify_chain(
    source: str,
    raws: list[RawRecord],
    *,
    stored_head: tuple[int, str] | None,
    check_head: bool,
    expected_head: str | None,
) -> VerifyReport:
    """Walk ``raws`` (seq order) and report every break of the chain, lowest seq first.

    ``stored_head`` is checked against the last record when ``check_head``;
    ``expected_head`` (a hash kept outside the store) catches a truncated chain.
    """
    breaks: list[ChainBreak] = []
    seen: dict[str, int] = {GENESIS: 0}  # hash -> seq of the records read so far
    prev_seq, prev_hash = 0, GENESIS
    for raw in raws:
        breaks += _record_breaks(raw, prev_seq, prev_hash, seen)
        seen.setdefault(raw.hash, raw.seq)
        prev_seq, prev_hash = raw.seq, raw.hash
    if check_head:
        breaks += _head_breaks(prev_seq, prev_hash, stored_head)
    if expected_head is not None and expected_head != prev_hash:
        breaks.append(_expected_head_break(expected_head, prev_seq, seen))
    breaks.sort(key=lambda b: b.seq)
    return VerifyReport(source, len(raws), prev_seq, prev_hash, tuple(breaks))


def _record_breaks(
    raw: RawRecord, prev_seq: int, prev_hash: str, seen: dict[str, int]
) -> list[ChainBreak]:
    """Breaks at one record: records missing before it, its content, its link."""
    breaks: list[ChainBreak] = []
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
        breaks.append(_link_break(raw, prev_seq, seen))
    return breaks


def _link_break(raw: RawRecord, prev_seq: int, seen: dict[str, int]) -> ChainBreak:
    """A record that does not follow its predecessor: inserted records, or a broken link."""
    earlier = seen.get(raw.prev_hash)
    if earlier is not None and earlier < prev_seq:
        return ChainBreak(
            earlier + 1,
            "inserted",
            f"record {raw.seq} links to record {earlier}: records "
            f"{earlier + 1}..{prev_seq} are not part of the original chain",
        )
    return ChainBreak(
        raw.seq,
        "link",
        f"record does not follow record {prev_seq}: a record before it was "
        "inserted, deleted, reordered or re-hashed",
    )


def _expected_head_break(expected_head: str, last_seq: int, seen: dict[str, int]) -> ChainBreak:
    """The chain ends elsewhere than the head kept outside the store."""
    where = seen.get(expected_head)
    if where is not None:
        msg = f"the expected head is record {where}: records after it were added"
        return ChainBreak(where + 1, "inserted", msg)
    msg = "the expected head hash is not in the log: records were removed or rewritten"
    return ChainBreak(last_seq + 1, "head", msg)


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
    return [parse_record(r, str(path)) for r in _raw_jsonl(Path(path))]


def _raw_jsonl(path: Path) -> list[RawRecord]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"audit export {path} cannot be read ({exc}); check the path") from exc
    raws: list[RawRecord] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            raws.append(
                RawRecord(
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
    report = verify_chain(
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
