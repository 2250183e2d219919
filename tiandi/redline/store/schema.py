"""The schema version of a patch store and its upgrade, for both backends.

A store records its layout version in the table ``tiandi_store_schema`` (one row per
creation or upgrade: version, tiandi version, time). Versions:

1. stores written before the version was recorded (no such table);
2. the table exists and ``patches`` has ``field_outcome``;
3. ``patches`` has the crew's answers on the ground (``field_severity``,
   ``field_bloom_observed``, ``field_dieback_cause``:
   :data:`tiandi.redline.store.records.GROUND_ANSWER_NAMES`) and the integrated detector's
   ``confidence_level`` and ``evidence``
   (:data:`tiandi.redline.store.records.CONFIDENCE_FIELDS`: empty for other detectors'
   patches and for patches stored before the upgrade), and now every column of
   :data:`tiandi.redline.store.records.PATCH_FIELDS`.

Opening a store checks it (once per store object): a store of a newer version than this
tiandi knows is refused with a message saying what to do; an older one is upgraded in one
transaction — missing ``patches`` columns are added (empty for the patches already
stored: they were not recorded then, except the crew's answers on the ground, copied from
the ``field_checked`` transition behind each patch's field outcome, whose reason holds
them: :func:`tiandi.redline.store.ground.answers_to_backfill`) and the new version is
recorded. Nothing else is touched: the audit chain, history and runs stay as they are.
Adding a column to ``PATCH_FIELDS`` means raising :data:`SCHEMA_VERSION`; the upgrade adds it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tiandi import __version__
from tiandi._gpkg import FIXED_LAST_CHANGE
from tiandi.errors import InputError
from tiandi.redline.store.ground import FIELD_CHECKS_SQL, answers_to_backfill
from tiandi.redline.store.records import PATCH_FIELDS

if TYPE_CHECKING:
    import psycopg

#: The layout this tiandi writes and reads.
SCHEMA_VERSION = 3
#: One row per creation or upgrade of the store.
SCHEMA_TABLE = "tiandi_store_schema"

_SQLITE_TYPES = {"text": "TEXT", "real": "REAL", "int": "INTEGER", "time": "TEXT"}
_PG_TYPES = {"text": "text", "real": "double precision", "int": "integer", "time": "timestamptz"}
SQLITE_SCHEMA_DDL = (
    f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (version INTEGER NOT NULL, "
    "tiandi TEXT NOT NULL, at TEXT)"
)
PG_SCHEMA_DDL = (
    f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (version integer NOT NULL, "
    "tiandi text NOT NULL, at timestamptz)"
)


@dataclass(frozen=True)
class SchemaReport:
    """What opening (or ``tiandi store upgrade``) found and did: versions and added columns."""

    location: str
    before: int
    after: int
    added: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether the store was upgraded."""
        return self.before != self.after or bool(self.added)

    def describe(self) -> str:
        """One line for operators."""
        if not self.changed:
            return f"patch store {self.location}: schema version {self.after}, up to date"
        cols = f"; columns added to patches: {', '.join(self.added)}" if self.added else ""
        return (
            f"patch store {self.location}: schema upgraded from version {self.before} "
            f"to {self.after}{cols}"
        )


def missing_fields(existing: Iterable[str]) -> list[tuple[str, str]]:
    """The ``PATCH_FIELDS`` (name, kind) that a ``patches`` table with ``existing`` lacks."""
    have = set(existing)
    return [(name, kind) for name, kind in PATCH_FIELDS if name not in have]


def refuse_newer(location: str, version: int) -> None:
    """Raise when the store's ``version`` is newer than this tiandi knows."""
    if version > SCHEMA_VERSION:
        raise InputError(
            f"patch store {location} has schema version {version}, newer than this tiandi "
            f"({__version__}) knows (up to {SCHEMA_VERSION}): it was upgraded by a newer "
            "tiandi. Install that tiandi version (or newer) again, or restore the backup "
            "taken before the upgrade (`tiandi restore FILE --force`, see docs/operations.md)"
        )


# -- GeoPackage (SQLite) --------------------------------------------------------------------


def _sqlite_state(con: sqlite3.Connection) -> tuple[int, list[tuple[str, str]]]:
    has_table = con.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (SCHEMA_TABLE,)
    ).fetchone()
    version = 1
    if has_table:
        row = con.execute(f"SELECT max(version) FROM {SCHEMA_TABLE}").fetchone()
        version = int(row[0]) if row and row[0] is not None else 1
    columns = [str(r[1]) for r in con.execute("PRAGMA table_info(patches)")]
    return version, missing_fields(columns)


def record_sqlite_version(con: sqlite3.Connection, at: str | None) -> None:
    """Create the version table (registered in ``gpkg_contents``) and record this version."""
    con.execute(SQLITE_SCHEMA_DDL)
    con.execute(
        "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, "
        "last_change) VALUES (?, 'attributes', ?, 'schema version of the patch store', ?)",
        (SCHEMA_TABLE, SCHEMA_TABLE, FIXED_LAST_CHANGE),
    )
    con.execute(
        f"INSERT INTO {SCHEMA_TABLE} (version, tiandi, at) VALUES (?, ?, ?)",
        (SCHEMA_VERSION, __version__, at),
    )


def upgrade_sqlite(con: sqlite3.Connection, location: str) -> SchemaReport:
    """Check the GeoPackage store on ``con`` (autocommit) and upgrade it if it is older.

    Reads first; only an older store takes the write lock (``BEGIN IMMEDIATE``), checks
    again and changes it in one transaction.
    """
    version, missing = _sqlite_state(con)
    refuse_newer(location, version)
    if version == SCHEMA_VERSION and not missing:
        return SchemaReport(location, version, version)
    con.execute("BEGIN IMMEDIATE")
    try:
        version, missing = _sqlite_state(con)
        refuse_newer(location, version)
        for name, kind in missing:
            con.execute(f"ALTER TABLE patches ADD COLUMN {name} {_SQLITE_TYPES[kind]}")
        checks = [(str(u), r) for u, r in con.execute(FIELD_CHECKS_SQL)] if missing else []
        for uid, answers in answers_to_backfill(checks, (n for n, _ in missing)):
            sets = ", ".join(f"{c} = ?" for c in answers)
            con.execute(f"UPDATE patches SET {sets} WHERE patch_uid = ?", (*answers.values(), uid))
        if version < SCHEMA_VERSION:
            record_sqlite_version(con, _now())
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    return SchemaReport(location, version, SCHEMA_VERSION, tuple(n for n, _ in missing))


# -- PostgreSQL/PostGIS ---------------------------------------------------------------------


def upgrade_pg(
    con: psycopg.Connection[Any], schema: str, location: str, *, created: bool
) -> SchemaReport:
    """Check the PostGIS store in ``schema`` and upgrade it, inside the caller's transaction
    (which holds the store's advisory lock, so concurrent openers wait). ``created``: the
    caller has just created the tables (the version is recorded, nothing is upgraded)."""
    had_table = con.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
        (schema, SCHEMA_TABLE),
    ).fetchone()
    version = 1
    if had_table:
        row = con.execute(f"SELECT max(version) FROM {SCHEMA_TABLE}").fetchone()  # type: ignore[arg-type]
        version = int(row[0]) if row and row[0] is not None else 1
    refuse_newer(location, version)
    columns = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
        "AND table_name = 'patches'",
        (schema,),
    ).fetchall()
    missing = missing_fields(str(r[0]) for r in columns)
    for name, kind in missing:
        con.execute(f"ALTER TABLE patches ADD COLUMN {name} {_PG_TYPES[kind]}")  # type: ignore[arg-type]
    checks = [(str(u), r) for u, r in con.execute(FIELD_CHECKS_SQL).fetchall()] if missing else []  # type: ignore[arg-type]
    for uid, answers in answers_to_backfill(checks, (n for n, _ in missing)):
        sets = ", ".join(f"{c} = %s" for c in answers)
        con.execute(f"UPDATE patches SET {sets} WHERE patch_uid = %s", (*answers.values(), uid))  # type: ignore[arg-type]
    if version < SCHEMA_VERSION:
        con.execute(PG_SCHEMA_DDL)  # type: ignore[arg-type]
        con.execute(
            f"INSERT INTO {SCHEMA_TABLE} (version, tiandi, at) VALUES (%s, %s, now())",  # type: ignore[arg-type]
            (SCHEMA_VERSION, __version__),
        )
    if created:
        return SchemaReport(location, SCHEMA_VERSION, SCHEMA_VERSION)
    return SchemaReport(location, version, SCHEMA_VERSION, tuple(n for n, _ in missing))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
