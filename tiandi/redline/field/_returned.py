"""Reading a returned field package: file checks, a private copy, its tables.

:func:`check_package_file` checks the file (exists, not too big, a GeoPackage);
:func:`copied` copies it with its ``-wal``/``-shm`` so the original is never touched;
:func:`read_package` reads the tasks, the ``tiandi_dispatch`` snapshot, the photo rows
and the added points into a :class:`ReturnedPackage`. The value helpers below turn what a
field app wrote (text, times, geometry blobs) into plain values.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import struct
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from tiandi._gpkg import gpkg_geometry
from tiandi.errors import InputError
from tiandi.redline.field.schema import (
    CREW_COLUMNS,
    META_TABLE,
    OBSERVATIONS_LAYER,
    PHOTOS_LAYER,
    SNAPSHOT_TABLE,
    TASKS_LAYER,
)
from tiandi.redline.store.audit_chain import canonical_json

_SQLITE_MAGIC = b"SQLite format 3\x00"
_GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"


@dataclass(frozen=True)
class Dispatched:
    """One task as dispatched (the ``tiandi_dispatch`` snapshot): what crews are held to."""

    task_id: str
    patch_id: str
    geometry: BaseGeometry


@dataclass
class ReturnedPackage:
    """What a returned package holds: metadata, snapshot, the crew's rows.

    ``files`` collects the photos met while validating (SHA-256 -> path in the copy), so
    the store keeps every file the crew sent, accepted or quarantined.
    """

    source: Path
    folder: Path
    meta: dict[str, str]
    dispatched_at: datetime
    snapshot: dict[str, Dispatched]
    tasks: list[dict[str, Any]]
    photos: list[dict[str, Any]]
    points: list[dict[str, Any]]
    files: dict[str, Path] = field(default_factory=dict)  # sha256 -> path in the copy


# --- opening and reading -----------------------------------------------------------------


def check_package_file(path: Path, max_bytes: int) -> None:
    """Existence, size and GeoPackage signature of ``path``; :class:`InputError` otherwise."""
    if not path.exists():
        raise InputError(f"field package {path} does not exist; check the path")
    if not path.is_file():
        raise InputError(
            f"field package {path} is a folder; pass the .gpkg file inside it "
            "(its photos are read from the folder it lies in)"
        )
    size = path.stat().st_size
    if size > max_bytes:
        raise InputError(
            f"field package {path} is {size / 1e6:.1f} MB, more than the limit of "
            f"{max_bytes / 1e6:.1f} MB; check that it is the right file, or raise the limit "
            "(--max-mb or TIANDI_FIELD_IMPORT_MAX_MB)"
        )
    with path.open("rb") as handle:
        head = handle.read(100)
    app_id = struct.unpack(">I", head[68:72])[0] if len(head) >= 72 else 0
    if not head.startswith(_SQLITE_MAGIC) or app_id != _GPKG_APPLICATION_ID:
        raise InputError(
            f"field package {path} is not a GeoPackage (no SQLite/GPKG signature); send back "
            "the .gpkg that `tiandi dispatch` wrote, as edited by QField or Mergin Maps"
        )


@contextmanager
def copied(path: Path) -> Iterator[Path]:
    """A private copy of the GeoPackage (with its -wal/-shm) to read from."""
    with tempfile.TemporaryDirectory(prefix="tiandi-field-") as tmp:
        copy = Path(tmp) / path.name
        for suffix in ("", "-wal", "-shm"):
            src = path.with_name(path.name + suffix)
            if src.exists():
                shutil.copyfile(src, Path(tmp) / (path.name + suffix))
        yield copy


def _columns(con: sqlite3.Connection, table: str) -> list[str]:
    return [str(r[1]) for r in con.execute(f'PRAGMA table_info("{table}")')]


def _rows(con: sqlite3.Connection, table: str) -> list[dict[str, Any]]:
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(f'SELECT * FROM "{table}" ORDER BY rowid')]
    finally:
        con.row_factory = None


def read_package(path: Path, copy: Path) -> ReturnedPackage:
    """The package at ``path``, read from its private ``copy``; :class:`InputError` when it
    cannot be opened, is damaged or is not a tiandi field package."""
    try:
        con = sqlite3.connect(copy)
    except sqlite3.Error as exc:
        raise InputError(f"field package {path} cannot be opened ({exc})") from exc
    with closing(con):
        try:
            return _read_tables(path, con)
        except sqlite3.DatabaseError as exc:
            raise InputError(
                f"field package {path} is damaged ({exc}); copy it again from the device"
            ) from exc


def _read_tables(path: Path, con: sqlite3.Connection) -> ReturnedPackage:
    tables = {str(r[0]) for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    missing = [t for t in (TASKS_LAYER, META_TABLE, SNAPSHOT_TABLE) if t not in tables]
    if missing:
        raise InputError(
            f"field package {path} is not a tiandi field package (missing table(s) "
            f"{', '.join(missing)}); send back the .gpkg written by `tiandi dispatch` with the "
            "crew's edits, not an export or another file"
        )
    need = ("task_id", "patch_id", "geom", *CREW_COLUMNS)
    lacking = [c for c in need if c not in _columns(con, TASKS_LAYER)]
    if lacking:
        raise InputError(
            f"field package {path}: layer {TASKS_LAYER!r} lacks column(s) {', '.join(lacking)}; "
            "the field app or a conversion dropped them: send back the original package"
        )
    meta = {str(k): str(v) for k, v in con.execute(f"SELECT key, value FROM {META_TABLE}")}
    for key in ("package_id", "station_id", "dispatched_at"):
        if key not in meta:
            raise InputError(
                f"field package {path}: {META_TABLE} has no {key!r}; it was not written by "
                "`tiandi dispatch` or was altered: send back the original package"
            )
    snapshot = {
        str(t): Dispatched(str(t), str(p), shapely.from_wkb(bytes(g)))
        for t, p, g in con.execute(f"SELECT task_id, patch_id, geometry_wkb FROM {SNAPSHOT_TABLE}")
    }
    optional = {
        name: _rows(con, name) if name in tables else []
        for name in (PHOTOS_LAYER, OBSERVATIONS_LAYER)
    }
    return ReturnedPackage(
        source=path,
        folder=path.parent,
        meta=meta,
        dispatched_at=parse_time(meta["dispatched_at"], UTC) or datetime.min.replace(tzinfo=UTC),
        snapshot=snapshot,
        tasks=_rows(con, TASKS_LAYER),
        photos=optional[PHOTOS_LAYER],
        points=optional[OBSERVATIONS_LAYER],
    )


# --- values --------------------------------------------------------------------------------


def clean_text(value: Any) -> str | None:
    """``value`` as stripped text, None when it is None or blank."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def parse_time(value: Any, default_tz: tzinfo) -> datetime | None:
    """An ISO date-time (``Z`` and ``/`` accepted) in ``default_tz`` when it has no zone;
    None when ``value`` is empty or not a date-time."""
    text = clean_text(value)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("/", "-"))
    except ValueError:
        return None
    return moment.replace(tzinfo=default_tz) if moment.tzinfo is None else moment


def raw_values(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as JSON-safe values (geometry as WKT), for quarantine and hashing."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key == "geom":
            geom = gpkg_geometry(value)
            out["geometry_wkt"] = None if geom is None else geom.wkt
        elif isinstance(value, bytes | memoryview):
            out[key] = bytes(value).hex()
        elif isinstance(value, float) and value != value:
            out[key] = None
        else:
            out[key] = value
    return out


def short_hash(prefix: str, value: Any) -> str:
    """``prefix`` + 16 hex of the SHA-256 of ``value``'s canonical JSON: a stable id."""
    return prefix + hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()[:16]
