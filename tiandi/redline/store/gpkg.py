"""The patch store: patches (图斑), their lifecycle and the audit log behind one interface.

:class:`PatchStore` is the interface (:mod:`.interface`, re-exported here);
:class:`GpkgPatchStore` the embedded default, one
GeoPackage file (``<TIANDI_HOME>/patches.gpkg``) that GDAL and QGIS open directly: the
feature layer ``patches`` (MultiPolygon, EPSG:4490, spatial index) with identity,
latest detection and lifecycle state, and the attribute tables ``patch_detections``,
``patch_transitions``, ``patch_runs`` and the hash-chained audit log ``tiandi_audit``
(:class:`tiandi.redline.store.audit.AuditLog` works on the same file). PostgreSQL/PostGIS is
:class:`tiandi.redline.store.postgis.PostgisPatchStore`; both share
:class:`tiandi.redline.store.sql.SqlPatchStore`.

The file is created atomically (built beside it, finished with
:func:`tiandi._gpkg.finish_gpkg`, then linked into place only if no store appeared
meanwhile). Writes are SQLite transactions under ``BEGIN IMMEDIATE``
(one writer at a time, others wait up to ``timeout_s``); geometries are written as
GeoPackage binary (little-endian header with envelope + ISO WKB), and the R-tree
triggers GDAL created are served by ``ST_*`` functions registered on each connection.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from tiandi._gpkg import (
    FIXED_LAST_CHANGE,
    finish_gpkg,
    gpkg_blob,
    gpkg_geometry,
    gpkg_header,
    register_gpkg_functions,
)
from tiandi.errors import InputError
from tiandi.redline.store.audit import AuditLog, append_sqlite
from tiandi.redline.store.audit import ensure_sqlite_schema as ensure_audit_schema
from tiandi.redline.store.audit_chain import AuditEntry, AuditRecord
from tiandi.redline.store.audit_verify import VerifyReport
from tiandi.redline.store.interface import PatchStore
from tiandi.redline.store.records import (
    PATCH_FIELDS,
    DetectedPatch,
    ImportSummary,
    RunInfo,
    StoredPatch,
)
from tiandi.redline.store.schema import SchemaReport, record_sqlite_version, upgrade_sqlite
from tiandi.redline.store.sql import SqlPatchStore
from tiandi.redline.vocabulary import STORE_CRS, STORE_SRID

__all__ = [
    "DetectedPatch",
    "GpkgPatchStore",
    "ImportSummary",
    "PatchStore",
    "RunInfo",
    "StoredPatch",
]


# -- the GeoPackage store -------------------------------------------------------------------

_SQLITE_TYPES = {"text": "TEXT", "real": "REAL", "int": "INTEGER", "time": "TEXT"}
_ATTRIBUTE_TABLES: tuple[tuple[str, str, str], ...] = (
    (
        "patch_runs",
        """CREATE TABLE patch_runs (
            run_id TEXT PRIMARY KEY NOT NULL, recorded_at TEXT NOT NULL,
            period_before TEXT, period_after TEXT, zone_set_version TEXT, source TEXT,
            parameters TEXT NOT NULL, summary TEXT)""",
        "detection runs recorded in the patch store",
    ),
    (
        "patch_detections",
        """CREATE TABLE patch_detections (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES patch_runs(run_id),
            patch_uid TEXT NOT NULL REFERENCES patches(patch_uid),
            patch_id TEXT, zone_id TEXT, area_m2 REAL, change_type TEXT, hj1156_class TEXT,
            screen_reason TEXT, linked INTEGER NOT NULL, overlap REAL, iou REAL,
            previous_area_m2 REAL, attributes TEXT NOT NULL, geom BLOB)""",
        "every detection of every patch",
    ),
    (
        "patch_transitions",
        """CREATE TABLE patch_transitions (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            patch_uid TEXT NOT NULL REFERENCES patches(patch_uid),
            source TEXT NOT NULL, target TEXT NOT NULL, name TEXT NOT NULL,
            actor TEXT NOT NULL, role TEXT NOT NULL, at TEXT NOT NULL, reason TEXT,
            hj1156_class TEXT, outcome TEXT, audit_seq INTEGER NOT NULL)""",
        "lifecycle transitions of the patches",
    ),
)
_INDEXES = (
    "CREATE UNIQUE INDEX patches_uid ON patches(patch_uid)",
    "CREATE INDEX patches_zone_state ON patches(zone_id, state)",
    "CREATE INDEX patch_detections_uid ON patch_detections(patch_uid)",
    "CREATE INDEX patch_detections_patch_id ON patch_detections(patch_id)",
    "CREATE INDEX patch_transitions_uid ON patch_transitions(patch_uid)",
)


def _empty_patches_layer() -> gpd.GeoDataFrame:
    dtypes = {"text": "object", "real": "float64", "int": "int64", "time": "object"}
    columns = {name: pd.Series(dtype=dtypes[kind]) for name, kind in PATCH_FIELDS}
    return gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries([], crs=STORE_CRS))


class _SqliteTx:
    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.con.execute(sql, tuple(params)).fetchall()]

    def audit(self, entry: AuditEntry) -> AuditRecord:
        return append_sqlite(self.con, entry)


class GpkgPatchStore(SqlPatchStore):
    """The embedded patch store: one GeoPackage file at ``path``."""

    def __init__(self, path: Path | str, *, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self.timeout_s = timeout_s
        self._schema_report: SchemaReport | None = None

    # -- creation ----------------------------------------------------------------------
    def ensure(self) -> None:
        """Create the GeoPackage with its layers and tables if the file does not exist."""
        if self.path.exists():
            self._check_layout()
            return
        if not self.path.parent.is_dir():
            raise InputError(
                f"patch store {self.path}: folder {self.path.parent} does not exist; create it "
                "or set TIANDI_HOME"
            )
        stem = f"{self.path.stem}.tmp-{os.getpid()}"
        draft = self.path.with_name(f"{stem}-draft.gpkg")  # GDAL wants .gpkg
        tmp = self.path.with_name(f"{stem}.gpkg")
        try:
            self._create(draft)
            tmp.unlink(missing_ok=True)
            finish_gpkg(draft, tmp)  # fixed last_change, fresh copy
            with contextlib.suppress(FileExistsError):  # a store created meanwhile is kept
                os.link(tmp, self.path)  # atomic: the file appears complete or not at all
        finally:
            draft.unlink(missing_ok=True)
            tmp.unlink(missing_ok=True)
        self._check_layout()

    def _create(self, tmp: Path) -> None:
        import pyogrio

        tmp.unlink(missing_ok=True)
        pyogrio.write_dataframe(
            _empty_patches_layer(),
            tmp,
            layer="patches",
            driver="GPKG",
            geometry_type="MultiPolygon",
            layer_options={"SPATIAL_INDEX": "YES", "FID": "fid", "GEOMETRY_NAME": "geom"},
        )
        con = sqlite3.connect(tmp, isolation_level=None)
        with closing(con):
            con.execute("BEGIN IMMEDIATE")
            for name, ddl, description in _ATTRIBUTE_TABLES:
                con.execute(ddl)
                con.execute(
                    "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, "
                    "last_change) VALUES (?, 'attributes', ?, ?, ?)",
                    (name, name, description, FIXED_LAST_CHANGE),
                )
            for statement in _INDEXES:
                con.execute(statement)
            ensure_audit_schema(con)
            record_sqlite_version(con, None)  # no time: a new store's file is reproducible
            con.execute(
                "UPDATE gpkg_contents SET description = 'patches (图斑): identity, latest "
                "detection, lifecycle state' WHERE table_name = 'patches'"
            )
            con.execute("COMMIT")

    def _check_layout(self) -> None:
        try:
            con = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
            with closing(con):
                names = {
                    str(r[0])
                    for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                }
        except sqlite3.Error as exc:
            raise InputError(
                f"patch store {self.path} is not a GeoPackage/SQLite file ({exc}); pass the "
                "patches.gpkg of TIANDI_HOME or a new path"
            ) from exc
        needed = {"patches", "patch_runs", "patch_detections", "patch_transitions"}
        if not needed <= names:
            raise InputError(
                f"{self.path} is not a patch store (missing tables: "
                f"{', '.join(sorted(needed - names))}); it may be a run's patches.gpkg. Pass the "
                "store file (default <TIANDI_HOME>/patches.gpkg) or a path that does not exist yet"
            )

    # -- schema version --------------------------------------------------------------
    def upgrade_schema(self) -> SchemaReport:
        """Check the store's schema version and upgrade an older store (``tiandi store
        upgrade``; the first transaction of this object does the same). A missing file is
        created."""
        if self._schema_report is None:
            if not self.path.exists():
                self.ensure()
            self._check_layout()
            try:
                con = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
                with closing(con):
                    register_gpkg_functions(con, f"patch store {self.path}")
                    self._schema_report = upgrade_sqlite(con, self.location)
            except sqlite3.Error as exc:
                raise InputError(
                    f"patch store {self.path}: its schema cannot be checked or upgraded ({exc}); "
                    "the file must be writable and not held by another long transaction"
                ) from exc
        return self._schema_report

    # -- transactions ------------------------------------------------------------------
    @contextmanager
    def _tx(self, *, write: bool) -> Iterator[_SqliteTx]:
        if not self.path.exists():
            raise InputError(
                f"patch store {self.path} does not exist; run `tiandi run detect-changes` (or "
                "`tiandi demo`) first, or pass --store"
            )
        if self._schema_report is None:
            self.upgrade_schema()
        try:
            con = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        except sqlite3.Error as exc:
            raise InputError(f"patch store {self.path} cannot be opened: {exc}") from exc
        with closing(con):
            register_gpkg_functions(con, f"patch store {self.path}")
            con.execute("PRAGMA foreign_keys = ON")
            try:
                con.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield _SqliteTx(con)
                    con.execute("COMMIT")
                except BaseException:
                    if con.in_transaction:
                        con.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise InputError(
                    f"patch store {self.path} cannot be used: {exc}. It must be a patch store "
                    "GeoPackage not held by another long transaction"
                ) from exc

    # -- backend specifics -------------------------------------------------------------
    def _geom_param(self) -> str:
        return "?"

    def _geom_select(self, column: str) -> str:
        return column

    def _bbox_where(self) -> str:
        # the R-tree GDAL keeps for the layer: its rows are the envelopes of the features
        return (
            "fid IN (SELECT id FROM rtree_patches_geom "
            "WHERE maxx >= ? AND maxy >= ? AND minx <= ? AND miny <= ?)"
        )

    def _geom_in(self, geom: BaseGeometry) -> Any:
        return gpkg_blob(geom, STORE_SRID)

    def _geom_out(self, value: Any) -> BaseGeometry:
        geom = gpkg_geometry(value, keep_empty=True)
        if geom is None:
            raise InputError(
                f"a geometry in patch store {self.path} is not GeoPackage binary; the file is "
                "damaged: restore it from a backup"
            )
        return geom

    def _geoms_out(self, values: Sequence[Any]) -> list[BaseGeometry]:
        headers = [gpkg_header(v) for v in values]
        if any(h is None for h in headers):
            return [self._geom_out(v) for v in values]  # names the damaged value
        wkbs = np.array([h.wkb for h in headers if h is not None], dtype=object)
        try:
            return list(shapely.from_wkb(wkbs))
        except shapely.errors.GEOSException:
            return [self._geom_out(v) for v in values]

    def verify_audit(self, *, expected_head: str | None = None) -> VerifyReport:
        """Verify the audit chain in the file (the same check as ``tiandi audit verify``)."""
        if self.path.exists():
            self._check_layout()
        return AuditLog(self.path, timeout_s=self.timeout_s).verify(expected_head=expected_head)
