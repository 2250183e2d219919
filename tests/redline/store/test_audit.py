"""Hash-chained audit log: appends verify; every kind of tampering is found at its seq."""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tiandi.errors import InputError
from tiandi.redline.store.audit import AuditLog, append_transition
from tiandi.redline.store.audit_chain import GENESIS, TABLE, record_hash
from tiandi.redline.store.audit_verify import read_jsonl, verify_jsonl
from tiandi.redline.store.lifecycle import PatchStatus
from tiandi.redline.store.transitions import transition

T0 = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)


def _log(tmp_path: Path, n: int = 6) -> AuditLog:
    log = AuditLog(tmp_path / "audit.gpkg")
    for i in range(1, n + 1):
        log.append(
            actor=f"user{i}",
            role="ecologist",
            action="transition",
            subject=f"P-{i % 3}",
            payload={"to": "screened", "i": i, "note": "审核"},
            at=T0 + timedelta(minutes=i),
        )
    return log


def _tamper(log: AuditLog, *sql: tuple[str, tuple[object, ...]]) -> None:
    """Edit the file directly, the way someone with the file would (triggers dropped)."""
    con = sqlite3.connect(log.path)
    con.execute(f"DROP TRIGGER {TABLE}_no_update")
    con.execute(f"DROP TRIGGER {TABLE}_no_delete")
    for stmt, args in sql:
        con.execute(stmt, args)
    con.commit()
    con.close()


def _row(log: AuditLog, seq: int) -> tuple[Any, ...]:
    con = sqlite3.connect(log.path)
    row = con.execute(f"SELECT * FROM {TABLE} WHERE seq = ?", (seq,)).fetchone()
    con.close()
    return tuple(row)


def test_appended_records_chain_and_verify(tmp_path: Path) -> None:
    log = _log(tmp_path)
    recs = log.records()
    assert [r.seq for r in recs] == [1, 2, 3, 4, 5, 6]
    assert recs[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(recs))
    assert recs[2].payload == {"to": "screened", "i": 3, "note": "审核"}
    assert recs[0].time == "2025-07-01T08:01:00.000000Z"
    report = log.verify()
    assert report.ok and report.first_break is None
    assert (report.records, report.head_seq, report.head_hash) == (6, 6, recs[-1].hash)
    assert log.head() == (6, recs[-1].hash)
    assert log.verify(expected_head=recs[-1].hash).ok
    assert [r.seq for r in log.records(subject="P-1")] == [1, 4]


def test_hash_is_sha256_of_canonical_fields(tmp_path: Path) -> None:
    rec = _log(tmp_path, 1).records()[0]
    assert rec.hash == record_hash(
        seq=1,
        time=rec.time,
        actor="user1",
        role="ecologist",
        action="transition",
        subject="P-1",
        payload={"i": 1, "note": "审核", "to": "screened"},
        prev_hash=GENESIS,
    )
    assert len(rec.hash) == 64


def test_records_cannot_be_updated_or_deleted_through_sqlite(tmp_path: Path) -> None:
    log = _log(tmp_path, 2)
    con = sqlite3.connect(log.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute(f"UPDATE {TABLE} SET actor = 'x' WHERE seq = 1")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute(f"DELETE FROM {TABLE} WHERE seq = 1")
    con.close()
    assert log.verify().ok


def test_edited_payload_is_found_at_its_seq(tmp_path: Path) -> None:
    log = _log(tmp_path)
    _tamper(log, (f"UPDATE {TABLE} SET payload = ? WHERE seq = 3", ('{"i":3,"to":"closed"}',)))
    report = log.verify()
    assert not report.ok
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.kind) == (3, "altered")
    assert [b.seq for b in report.breaks] == [3]
    assert "seq 3: altered" in report.summary()


def test_edited_record_with_recomputed_hash_breaks_the_next_link(tmp_path: Path) -> None:
    log = _log(tmp_path)
    r3 = log.records()[2]
    forged = record_hash(
        seq=3,
        time=r3.time,
        actor="mallory",
        role=r3.role,
        action=r3.action,
        subject=r3.subject,
        payload=dict(r3.payload),
        prev_hash=r3.prev_hash,
    )
    _tamper(log, (f"UPDATE {TABLE} SET actor = 'mallory', hash = ? WHERE seq = 3", (forged,)))
    report = log.verify()
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.kind) == (4, "link")


def test_deleted_row_is_found(tmp_path: Path) -> None:
    log = _log(tmp_path)
    _tamper(log, (f"DELETE FROM {TABLE} WHERE seq = 3", ()))
    report = log.verify()
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.kind) == (3, "missing")
    assert len(report.breaks) == 1


def test_deleted_last_row_is_found_through_the_head(tmp_path: Path) -> None:
    log = _log(tmp_path)
    _tamper(log, (f"DELETE FROM {TABLE} WHERE seq = 6", ()))
    report = log.verify()
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.kind) == (6, "missing")


def test_truncation_with_rewritten_head_needs_the_expected_head(tmp_path: Path) -> None:
    log = _log(tmp_path)
    _, published = log.head()
    r5 = log.records()[4]
    _tamper(
        log,
        (f"DELETE FROM {TABLE} WHERE seq = 6", ()),
        ("UPDATE tiandi_audit_head SET seq = 5, hash = ?", (r5.hash,)),
    )
    assert log.verify().ok  # a chain alone cannot see this
    report = log.verify(expected_head=published)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.kind) == (6, "head")


def test_swapped_rows_are_found_at_the_first_swapped_seq(tmp_path: Path) -> None:
    log = _log(tmp_path)
    r3, r4 = _row(log, 3), _row(log, 4)
    cols = "time=?, actor=?, role=?, action=?, subject=?, payload=?, prev_hash=?, hash=?"
    _tamper(
        log,
        (f"UPDATE {TABLE} SET {cols} WHERE seq = 3", r4[1:]),
        (f"UPDATE {TABLE} SET {cols} WHERE seq = 4", r3[1:]),
    )
    report = log.verify()
    assert report.first_break is not None
    assert report.first_break.seq == 3
    assert {b.seq for b in report.breaks} >= {3, 4}


def test_inserted_forged_row_is_found_at_its_seq(tmp_path: Path) -> None:
    """A forger inserts a well-formed record 3 and renumbers the later ones."""
    log = _log(tmp_path)
    rows = [_row(log, s) for s in range(1, 7)]
    r2_hash = str(rows[1][8])
    forged_payload = {"to": "closed", "reason": "forged"}
    time = "2025-07-01T08:02:30.000000Z"
    forged_hash = record_hash(
        seq=3,
        time=time,
        actor="mallory",
        role="supervisor",
        action="transition",
        subject="P-1",
        payload=forged_payload,
        prev_hash=r2_hash,
    )
    text = json.dumps(forged_payload, sort_keys=True, separators=(",", ":"))
    stmts: list[tuple[str, tuple[object, ...]]] = [(f"DELETE FROM {TABLE} WHERE seq >= 3", ())]
    stmts.append(
        (
            f"INSERT INTO {TABLE} VALUES (?,?,?,?,?,?,?,?,?)",
            (3, time, "mallory", "supervisor", "transition", "P-1", text, r2_hash, forged_hash),
        )
    )
    for old in rows[2:]:
        stmts.append(
            (f"INSERT INTO {TABLE} VALUES (?,?,?,?,?,?,?,?,?)", (int(old[0]) + 1, *old[1:]))
        )
    _tamper(log, *stmts)
    report = log.verify()
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.kind) == (3, "inserted")
    assert "links to record 2" in report.first_break.message


def test_row_appended_outside_the_log_is_found(tmp_path: Path) -> None:
    log = _log(tmp_path)
    last = log.records()[-1]
    forged = record_hash(
        seq=7,
        time=last.time,
        actor="mallory",
        role="system",
        action="note",
        subject="P-1",
        payload={},
        prev_hash=last.hash,
    )
    _tamper(
        log,
        (
            f"INSERT INTO {TABLE} VALUES (7,?,?,?,?,?,?,?,?)",
            (last.time, "mallory", "system", "note", "P-1", "{}", last.hash, forged),
        ),
    )
    report = log.verify()
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.kind) == (7, "inserted")


def test_exported_jsonl_verifies_and_a_tampered_copy_fails(tmp_path: Path) -> None:
    log = _log(tmp_path)
    out = log.export_jsonl(tmp_path / "audit.jsonl")
    first = out.read_bytes()
    assert log.export_jsonl(tmp_path / "audit.jsonl").read_bytes() == first  # deterministic
    assert verify_jsonl(out).ok
    assert read_jsonl(out) == log.records()

    lines = out.read_text(encoding="utf-8").splitlines()
    obj = json.loads(lines[1])
    obj["payload"]["i"] = 99
    edited = tmp_path / "edited.jsonl"
    edited.write_text("\n".join([lines[0], json.dumps(obj), *lines[2:]]) + "\n", encoding="utf-8")
    report = verify_jsonl(edited)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.kind) == (2, "altered")

    dropped = tmp_path / "dropped.jsonl"
    dropped.write_text("\n".join([*lines[:3], *lines[4:]]) + "\n", encoding="utf-8")
    report = verify_jsonl(dropped)
    assert report.first_break is not None and report.first_break.seq == 4

    swapped = tmp_path / "swapped.jsonl"
    swapped.write_text(
        "\n".join([lines[0], lines[2], lines[1], *lines[3:]]) + "\n", encoding="utf-8"
    )
    report = verify_jsonl(swapped)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.kind) == (2, "reordered")

    truncated = tmp_path / "truncated.jsonl"
    truncated.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    assert verify_jsonl(truncated).ok
    assert not verify_jsonl(truncated, expected_head=log.head()[1]).ok


def test_concurrent_writers_do_not_fork_the_chain(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.sqlite")
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for i in range(15):
                AuditLog(log.path).append(
                    actor=f"w{k}", role="system", action="note", subject=f"P-{i}", at=T0
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    recs = log.records()
    assert [r.seq for r in recs] == list(range(1, 61))
    assert log.verify().ok


def test_lifecycle_transitions_are_audited(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.sqlite")
    rec = transition(PatchStatus("P-1"), "screened", actor="detector", role="system", at=T0)
    stored = append_transition(log, rec)
    assert (stored.subject, stored.action, stored.role) == ("P-1", "transition", "system")
    assert stored.payload["from"] == "detected" and stored.payload["to"] == "screened"
    assert log.verify().ok


def test_the_log_lives_inside_a_geopackage(tmp_path: Path) -> None:
    path = tmp_path / "patches.gpkg"
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE gpkg_contents (table_name TEXT PRIMARY KEY, data_type TEXT NOT NULL, "
        "identifier TEXT UNIQUE, description TEXT DEFAULT '', last_change DATETIME, "
        "min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER)"
    )
    con.commit()
    con.close()
    AuditLog(path).append(actor="a", role="system", action="note", subject="P-1", at=T0)
    con = sqlite3.connect(path)
    row = con.execute(
        "SELECT data_type FROM gpkg_contents WHERE table_name = ?", (TABLE,)
    ).fetchone()
    con.close()
    assert row == ("attributes",)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"actor": ""}, "'actor' is empty"),
        ({"payload": {"x": float("nan")}}, "not plain JSON"),
        ({"payload": {"x": object()}}, "not plain JSON"),
        ({"at": datetime(2025, 1, 1)}, "no timezone"),
    ],
)
def test_bad_appends_are_refused_and_leave_the_log_unchanged(
    tmp_path: Path, kwargs: dict[str, object], needle: str
) -> None:
    log = _log(tmp_path, 2)
    args: dict[str, object] = {"actor": "a", "role": "system", "action": "note", "subject": "P"}
    args.update(kwargs)
    with pytest.raises(InputError, match=needle):
        log.append(**args)  # type: ignore[arg-type]
    assert len(log.records()) == 2 and log.verify().ok


def test_reading_a_missing_or_foreign_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        AuditLog(tmp_path / "nope.sqlite").verify()
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).close()
    with pytest.raises(InputError, match="cannot be used"):
        AuditLog(other).records()
    junk = tmp_path / "junk.jsonl"
    junk.write_text('{"seq": 1}\n', encoding="utf-8")
    with pytest.raises(InputError, match="line 1 is not an audit record"):
        verify_jsonl(junk)
