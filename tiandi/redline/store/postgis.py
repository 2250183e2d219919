"""The patch store on PostgreSQL/PostGIS (production), same behaviour as the GeoPackage one.

:class:`PostgisPatchStore` keeps the tables of :mod:`tiandi.redline.store.sql` in one
schema (default ``tiandi``): ``patches.geom`` and ``patch_detections.geom`` are
``geometry(MultiPolygon, 4490)`` with GiST indexes, times are ``timestamptz``, parameters
and attributes ``jsonb``. The audit log is the table ``tiandi_audit`` with the same
columns and hash chain as the SQLite one (:func:`tiandi.redline.store.audit.next_record`
computes each record, :func:`tiandi.redline.store.audit.verify_rows` checks them); its payload
is kept as canonical JSON ``text`` (``jsonb`` would reorder keys), and a trigger refuses
UPDATE, DELETE and TRUNCATE on it.

Every write transaction first takes ``LOCK TABLE tiandi_audit_head IN EXCLUSIVE MODE``:
writers queue (as SQLite's ``BEGIN IMMEDIATE`` does), so the chain never forks and the
state, history rows and audit records commit together. The schema is created on first use
under an advisory lock; PostGIS must be installed in the database (``CREATE EXTENSION
postgis`` needs a superuser or the database owner on PostgreSQL 13+).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import numpy as np
import psycopg
import shapely
from psycopg.types.json import Jsonb
from shapely.geometry.base import BaseGeometry

from tiandi.errors import InputError
from tiandi.redline.store.audit_chain import (
    FIELDS,
    HEAD_TABLE,
    TABLE,
    AuditEntry,
    AuditRecord,
    next_record,
    record_row,
)
from tiandi.redline.store.audit_verify import VerifyReport, verify_rows
from tiandi.redline.store.records import PATCH_FIELDS
from tiandi.redline.store.schema import SchemaReport, upgrade_pg
from tiandi.redline.store.sql import SqlPatchStore
from tiandi.redline.vocabulary import STORE_SRID

_PG_TYPES = {"text": "text", "real": "double precision", "int": "integer", "time": "timestamptz"}
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _schema_sql(schema: str) -> list[str]:
    patch_cols = ",\n    ".join(
        f"{name} {_PG_TYPES[kind]}" + (" NOT NULL UNIQUE" if name == "patch_uid" else "")
        for name, kind in PATCH_FIELDS
    )
    geom = f"geometry(MultiPolygon, {STORE_SRID})"
    return [
        f"CREATE SCHEMA IF NOT EXISTS {schema}",
        f"""CREATE TABLE IF NOT EXISTS patches (
            fid bigserial PRIMARY KEY,
            {patch_cols},
            geom {geom} NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS patches_geom_gist ON patches USING gist (geom)",
        "CREATE INDEX IF NOT EXISTS patches_zone_state ON patches (zone_id, state)",
        """CREATE TABLE IF NOT EXISTS patch_runs (
            run_id text PRIMARY KEY, recorded_at timestamptz NOT NULL,
            period_before text, period_after text, zone_set_version text, source text,
            parameters jsonb NOT NULL, summary jsonb)""",
        f"""CREATE TABLE IF NOT EXISTS patch_detections (
            id bigserial PRIMARY KEY,
            run_id text NOT NULL REFERENCES patch_runs (run_id),
            patch_uid text NOT NULL REFERENCES patches (patch_uid),
            patch_id text, zone_id text, area_m2 double precision, change_type text,
            hj1156_class text, screen_reason text, linked integer NOT NULL,
            overlap double precision, iou double precision, previous_area_m2 double precision,
            attributes jsonb NOT NULL, geom {geom})""",
        "CREATE INDEX IF NOT EXISTS patch_detections_uid ON patch_detections (patch_uid)",
        "CREATE INDEX IF NOT EXISTS patch_detections_patch_id ON patch_detections (patch_id)",
        "CREATE INDEX IF NOT EXISTS patch_detections_geom_gist ON patch_detections "
        "USING gist (geom)",
        """CREATE TABLE IF NOT EXISTS patch_transitions (
            seq bigserial PRIMARY KEY,
            patch_uid text NOT NULL REFERENCES patches (patch_uid),
            source text NOT NULL, target text NOT NULL, name text NOT NULL,
            actor text NOT NULL, role text NOT NULL, at timestamptz NOT NULL, reason text,
            hj1156_class text, outcome text, audit_seq bigint NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS patch_transitions_uid ON patch_transitions (patch_uid)",
        f"""CREATE TABLE IF NOT EXISTS {TABLE} (
            seq bigint PRIMARY KEY, time text NOT NULL, actor text NOT NULL,
            role text NOT NULL, action text NOT NULL, subject text NOT NULL,
            payload text NOT NULL, prev_hash text NOT NULL, hash text NOT NULL)""",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_subject ON {TABLE} (subject)",
        f"""CREATE TABLE IF NOT EXISTS {HEAD_TABLE} (
            id integer PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL, hash text NOT NULL)""",
        f"""CREATE OR REPLACE FUNCTION {TABLE}_append_only() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '{TABLE} is append-only'; END $$""",
        f"""CREATE OR REPLACE TRIGGER {TABLE}_no_change BEFORE UPDATE OR DELETE ON {TABLE}
            FOR EACH ROW EXECUTE FUNCTION {TABLE}_append_only()""",
        f"""CREATE OR REPLACE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE}
            FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_append_only()""",
    ]


def redact(dsn: str) -> str:
    """``dsn`` without its password (for messages)."""
    dsn = re.sub(r"(password\s*=\s*)(\S+)", r"\1***", dsn)
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", dsn)


class _PgTx:
    def __init__(self, con: psycopg.Connection[tuple[Any, ...]]) -> None:
        self.con = con

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self.con.execute(sql.replace("?", "%s"), tuple(params))  # type: ignore[arg-type]
        return list(cur.fetchall()) if cur.description else []

    def audit(self, entry: AuditEntry) -> AuditRecord:
        last = self.rows(f"SELECT seq, hash FROM {TABLE} ORDER BY seq DESC LIMIT 1")
        record = next_record(None if not last else (int(last[0][0]), str(last[0][1])), entry)
        marks = ", ".join("?" * len(FIELDS))
        self.rows(f"INSERT INTO {TABLE} ({', '.join(FIELDS)}) VALUES ({marks})", record_row(record))
        self.rows(
            f"INSERT INTO {HEAD_TABLE} (id, seq, hash) VALUES (1, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            (record.seq, record.hash),
        )
        return record


class PostgisPatchStore(SqlPatchStore):
    """The patch store in schema ``schema`` of the PostgreSQL database at ``dsn``."""

    def __init__(self, dsn: str, *, schema: str = "tiandi", connect_timeout_s: int = 10) -> None:
        if not _IDENT.match(schema):
            raise InputError(
                f"schema name {schema!r} is not a plain lower-case SQL identifier; use letters, "
                "digits and underscores, e.g. tiandi"
            )
        self.dsn = dsn
        self.schema = schema
        self.connect_timeout_s = connect_timeout_s
        self.location = f"postgresql {redact(dsn)} schema {schema}"
        self._ready = False
        self._schema_report: SchemaReport | None = None

    @contextmanager
    def _connect(self) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
        try:
            con = psycopg.connect(self.dsn, connect_timeout=self.connect_timeout_s)
        except psycopg.Error as exc:
            raise InputError(
                f"patch store {self.location} cannot be reached: {exc}. Check the DSN "
                "(TIANDI_PATCH_DSN / --dsn) and that the server runs"
            ) from exc
        with con:
            con.execute(f"SET search_path TO {self.schema}, public")
            con.commit()
            yield con

    def ensure(self) -> None:
        """Create the schema, tables, indexes and audit triggers if absent; check the schema
        version of an existing store and upgrade an older one
        (:mod:`tiandi.redline.store.schema`)."""
        if self._ready:
            return
        with self._connect() as con:
            try:
                with con.transaction():
                    con.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.location,))
                    has = con.execute(
                        "SELECT 1 FROM pg_extension WHERE extname = 'postgis'"
                    ).fetchone()
                    if not has:
                        con.execute("CREATE EXTENSION IF NOT EXISTS postgis")
                    existed = con.execute(
                        "SELECT 1 FROM information_schema.tables WHERE table_schema = %s "
                        "AND table_name = 'patches'",
                        (self.schema,),
                    ).fetchone()
                    for statement in _schema_sql(self.schema):
                        con.execute(statement)  # type: ignore[call-overload]
                    self._schema_report = upgrade_pg(
                        con, self.schema, self.location, created=not existed
                    )
            except psycopg.Error as exc:
                raise InputError(
                    f"patch store {self.location} cannot be created: {exc}. PostGIS must be "
                    "available (CREATE EXTENSION postgis as the database owner) and the user "
                    "needs CREATE on the database"
                ) from exc
        self._ready = True

    def upgrade_schema(self) -> SchemaReport:
        """Check the store's schema version and upgrade an older store (``tiandi store
        upgrade``; opening the store does the same)."""
        self.ensure()
        assert self._schema_report is not None
        return self._schema_report

    @contextmanager
    def _tx(self, *, write: bool) -> Iterator[_PgTx]:
        self.ensure()
        with self._connect() as con:
            try:
                with con.transaction():
                    if write:
                        con.execute(f"LOCK TABLE {HEAD_TABLE} IN EXCLUSIVE MODE")
                    yield _PgTx(con)
            except psycopg.Error as exc:
                raise InputError(f"patch store {self.location} cannot be used: {exc}") from exc

    def _geom_param(self) -> str:
        return f"ST_Multi(ST_GeomFromWKB(?, {STORE_SRID}))"

    def _geom_select(self, column: str) -> str:
        return f"ST_AsBinary({column})"

    def _bbox_where(self) -> str:
        return f"geom && ST_MakeEnvelope(?, ?, ?, ?, {STORE_SRID})"

    def _geom_in(self, geom: BaseGeometry) -> Any:
        return bytes(shapely.to_wkb(geom, byte_order=1, output_dimension=2, flavor="iso"))

    def _geom_out(self, value: Any) -> BaseGeometry:
        geom: BaseGeometry = shapely.from_wkb(bytes(value))
        return geom

    def _geoms_out(self, values: Sequence[Any]) -> list[BaseGeometry]:
        return list(shapely.from_wkb(np.array([bytes(v) for v in values], dtype=object)))

    def _time_in(self, at: datetime) -> Any:
        return at

    def _json_in(self, value: Mapping[str, Any]) -> Any:
        return Jsonb(dict(value))

    def verify_audit(self, *, expected_head: str | None = None) -> VerifyReport:
        """Verify the audit chain in the database (same checks as the SQLite log)."""
        with self._tx(write=False) as tx:
            rows = tx.rows(f"SELECT {', '.join(FIELDS)} FROM {TABLE} ORDER BY seq")
            head = tx.rows(f"SELECT seq, hash FROM {HEAD_TABLE} WHERE id = 1")
        stored = (int(head[0][0]), str(head[0][1])) if head else None
        return verify_rows(self.location, rows, stored_head=stored, expected_head=expected_head)
