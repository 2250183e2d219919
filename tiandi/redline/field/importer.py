"""``tiandi field import FILE``: take a field package back after field work.

The package (the ``.gpkg`` written by ``tiandi dispatch``, with its folder: photos are
files beside it, e.g. ``DCIM/…``) is copied to a temporary folder first (WAL included,
so edits still in a QField write-ahead log count) and never modified.

What is read: every task row whose crew fields were touched (a *submission*), the rows of
the ``photos`` layer, and the points the crew added (``field_points``). Each submission
is validated:

- required fields: ``field_result`` (one of the FieldOutcome values), ``field_class``
  when the result is ``different_class`` (an HJ 1156 class), ``checked_at``, ``crew``,
  and at least one photo (``ImportOptions.require_photo``);
- ``checked_at`` after the dispatch time and not in the future (clock skew allowed);
  times without a zone are read in ``exif_timezone`` (China Standard Time by default);
- every photo is a file inside the package folder; its location — EXIF GPS when the
  JPEG has it, else the geometry of its ``photos`` row — lies within
  ``photo_tolerance_m`` of the patch as dispatched (the ``tiandi_dispatch`` snapshot,
  not the possibly edited polygon); EXIF time, when present, is after dispatch (its
  OffsetTimeOriginal tag when the phone wrote one, else read in ``exif_timezone``). A
  photo without any location is accepted with a warning;
- the task exists in the snapshot and its ``patch_id`` was not changed.

Accepted submissions become results; a submission for a patch that already has a
different accepted result becomes a *conflict* (recorded, linked to the result it
disagrees with, never replacing it); a submission identical to a recorded one is
*unchanged*. Rejected submissions, photo rows and points go to quarantine with their
reasons and raw values, and their photos are kept too: nothing the crew sent is lost.
Each result, conflict, rejection, point and the import itself is an audit record.

Idempotence: the import's content hash covers the package id, every crew value, every
photo's SHA-256 and the added points; importing the same content again raises
:class:`DuplicateImportError` and changes nothing. With ``strict`` (the CLI's way), an
import with rejections records everything and then raises
:class:`SubmissionsRejectedError` naming each rejection and what to do.
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
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path, PurePosixPath
from typing import Any

import pyproj
import shapely
import shapely.ops
from PIL import Image, UnidentifiedImageError
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from tiandi._gpkg import gpkg_geometry
from tiandi._io import sha256_file
from tiandi._time import CHINA_STANDARD_TIME, exif_datetime
from tiandi.errors import DuplicateImportError, InputError, SubmissionsRejectedError
from tiandi.redline.field.results_store import (
    FieldPoint,
    FieldResultStore,
    ImportBatch,
    Quarantined,
    StoredResult,
)
from tiandi.redline.field.schema import (
    CREW_COLUMNS,
    META_TABLE,
    OBSERVATION_COLUMNS,
    OBSERVATIONS_LAYER,
    PHOTO_COLUMNS,
    PHOTOS_LAYER,
    SNAPSHOT_TABLE,
    TASKS_LAYER,
)
from tiandi.redline.store.audit import canonical_json
from tiandi.redline.store.lifecycle import FieldOutcome
from tiandi.redline.vocabulary import HJ1156Class

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
_SQLITE_MAGIC = b"SQLite format 3\x00"
_GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"


@dataclass(frozen=True)
class ImportOptions:
    """Limits and tolerances of an import.

    ``exif_timezone``: the zone of times that carry none (``checked_at`` without one, EXIF
    times without an offset tag); China Standard Time (UTC+08:00), what phones in China
    record.
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    photo_tolerance_m: float = 150.0
    exif_timezone: tzinfo = CHINA_STANDARD_TIME
    clock_skew: timedelta = timedelta(minutes=10)
    require_photo: bool = True


@dataclass(frozen=True)
class ImportReport:
    """What an import did. Task ids per outcome; rejections as (item id, reasons)."""

    source: str
    import_id: str
    content_hash: str
    package_id: str
    station_id: str
    accepted: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    rejected: tuple[tuple[str, tuple[str, ...]], ...] = ()
    points: int = 0
    photos: int = 0
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        """A few lines for the terminal."""
        lines = [
            f"{self.source}: package {self.package_id} (station {self.station_id}), "
            f"import {self.import_id}",
            f"  accepted {len(self.accepted)}, conflicts {len(self.conflicts)}, unchanged "
            f"{len(self.unchanged)}, rejected {len(self.rejected)}, points {self.points}, "
            f"photos {self.photos}",
        ]
        lines += [f"  conflict: task {t} (a different result is recorded)" for t in self.conflicts]
        lines += [f"  rejected {i}: {'; '.join(r)}" for i, r in self.rejected]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Dispatched:
    task_id: str
    patch_id: str
    geometry: BaseGeometry


@dataclass
class _Package:
    source: Path
    folder: Path
    meta: dict[str, str]
    dispatched_at: datetime
    snapshot: dict[str, _Dispatched]
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
def _copied(path: Path) -> Iterator[Path]:
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


def _read(path: Path, copy: Path) -> _Package:
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


def _read_tables(path: Path, con: sqlite3.Connection) -> _Package:
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
        str(t): _Dispatched(str(t), str(p), shapely.from_wkb(bytes(g)))
        for t, p, g in con.execute(f"SELECT task_id, patch_id, geometry_wkb FROM {SNAPSHOT_TABLE}")
    }
    optional = {
        name: _rows(con, name) if name in tables else []
        for name in (PHOTOS_LAYER, OBSERVATIONS_LAYER)
    }
    return _Package(
        source=path,
        folder=path.parent,
        meta=meta,
        dispatched_at=_parse_time(meta["dispatched_at"], UTC) or datetime.min.replace(tzinfo=UTC),
        snapshot=snapshot,
        tasks=_rows(con, TASKS_LAYER),
        photos=optional[PHOTOS_LAYER],
        points=optional[OBSERVATIONS_LAYER],
    )


# --- values --------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _parse_time(value: Any, default_tz: tzinfo) -> datetime | None:
    text = _text(value)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("/", "-"))
    except ValueError:
        return None
    return moment.replace(tzinfo=default_tz) if moment.tzinfo is None else moment


def _raw(row: Mapping[str, Any]) -> dict[str, Any]:
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


def _exif(path: Path, default_tz: tzinfo) -> tuple[tuple[float, float] | None, datetime | None]:
    """(lon, lat) from EXIF GPS and the time from DateTimeOriginal (see
    :func:`tiandi._time.exif_datetime`), each None when the image lacks it."""
    try:
        with Image.open(path) as image:
            exif = image.getexif()
    except (UnidentifiedImageError, OSError):
        return None, None
    gps = exif.get_ifd(0x8825)
    where = None
    try:
        if 2 in gps and 4 in gps:
            lat = _dms(gps[2]) * (-1 if str(gps.get(1, "N")).upper().startswith("S") else 1)
            lon = _dms(gps[4]) * (-1 if str(gps.get(3, "E")).upper().startswith("W") else 1)
            where = (lon, lat)
    except (TypeError, ValueError, ZeroDivisionError):
        where = None
    info = exif.get_ifd(0x8769)
    # DateTimeOriginal (else DateTime) with OffsetTimeOriginal; without an offset the
    # time is read in ``default_tz`` (ImportOptions.exif_timezone, China Standard Time).
    when = exif_datetime(info.get(0x9003) or exif.get(0x0132), info.get(0x9011), default_tz)
    return where, when


def _dms(values: Any) -> float:
    d, m, s = (float(v) for v in values)
    return d + m / 60.0 + s / 3600.0


def distance_m(geom: BaseGeometry, lon: float, lat: float) -> float:
    """Metres from (lon, lat) to ``geom`` (both CGCS2000/WGS 84 degrees), 0 inside."""
    zone = min(60, max(1, int((lon + 180.0) // 6.0) + 1))
    epsg = (32600 if lat >= 0 else 32700) + zone
    tf = pyproj.Transformer.from_crs("EPSG:4490", f"EPSG:{epsg}", always_xy=True)
    local = shapely.ops.transform(tf.transform, geom)
    return float(local.distance(Point(tf.transform(lon, lat))))


# --- validation ----------------------------------------------------------------------------


def _inside(folder: Path, rel: str) -> Path | None:
    """The file a relative attachment path names, when it stays inside ``folder``."""
    pure = PurePosixPath(rel.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts:
        return None
    return folder.joinpath(*pure.parts)


def _photo(
    pkg: _Package,
    rel: str,
    target: _Dispatched | None,
    row_geom: BaseGeometry | None,
    opts: ImportOptions,
) -> tuple[dict[str, Any], list[str], list[str]]:
    """Description of one photo, reasons to reject it, warnings."""
    info: dict[str, Any] = {"path": rel}
    reasons: list[str] = []
    warnings: list[str] = []
    file = _inside(pkg.folder, rel)
    if file is None:
        return info, [f"photo path {rel!r} points outside the package folder"], warnings
    if not file.is_file():
        reasons.append(
            f"photo {rel} is missing from the package folder {pkg.folder}; copy the whole "
            "folder back from the device (the photos are files beside the .gpkg)"
        )
        return info, reasons, warnings
    digest = sha256_file(file)
    pkg.files[digest] = file
    info["sha256"] = digest
    where, when = _exif(file, opts.exif_timezone)
    source = "exif"
    if where is None and isinstance(row_geom, Point):
        where, source = (float(row_geom.x), float(row_geom.y)), "photo point"
    if when is not None:
        info["taken_at"] = when.isoformat()
        if when < pkg.dispatched_at:
            reasons.append(
                f"photo {rel} was taken {when.isoformat()}, before the dispatch "
                f"{pkg.dispatched_at.isoformat()}: take a new photo at the site"
            )
    if where is None:
        warnings.append(f"photo {rel} has no location (no EXIF GPS, no photo point)")
        return info, reasons, warnings
    info.update(lon=round(where[0], 7), lat=round(where[1], 7), located_by=source)
    if target is not None:
        dist = distance_m(target.geometry, where[0], where[1])
        info["distance_m"] = round(dist, 1)
        if dist > opts.photo_tolerance_m:
            reasons.append(
                f"photo {rel} was taken {dist:,.0f} m from patch {target.patch_id} (tolerance "
                f"{opts.photo_tolerance_m:,.0f} m): take photos at the patch, or attach the "
                "right photo"
            )
    return info, reasons, warnings


def _touched(row: Mapping[str, Any]) -> bool:
    return any(_text(row.get(c)) is not None for c in CREW_COLUMNS)


@dataclass(frozen=True)
class _Submission:
    task_id: str
    patch_id: str
    outcome: str | None
    hj1156_class: str | None
    notes: str | None
    crew: str | None
    checked_at: datetime | None
    photos: tuple[dict[str, Any], ...]
    reasons: tuple[str, ...]
    warnings: tuple[str, ...]
    raw: dict[str, Any]


def _validate_task(
    pkg: _Package,
    row: Mapping[str, Any],
    extra_photos: list[dict[str, Any]],
    now: datetime,
    opts: ImportOptions,
) -> _Submission:
    task_id = str(row.get("task_id"))
    target = pkg.snapshot.get(task_id)
    reasons: list[str] = []
    warnings: list[str] = []
    patch_id = str(row.get("patch_id"))
    if target is None:
        reasons.append(f"task {task_id} was not dispatched in this package")
    elif patch_id != target.patch_id:
        reasons.append(
            f"patch id was changed from {target.patch_id} to {patch_id}; it is read-only"
        )
        patch_id = target.patch_id
    outcome = _text(row.get("field_result"))
    valid_outcomes = [o.value for o in FieldOutcome]
    if outcome is None:
        reasons.append(
            "field_result (核查结果) is empty: choose confirmed/not_found/different_class"
        )
    elif outcome not in valid_outcomes:
        reasons.append(f"field_result {outcome!r} is not one of {', '.join(valid_outcomes)}")
    cls = _text(row.get("field_class"))
    if cls is not None and cls not in [c.value for c in HJ1156Class]:
        reasons.append(f"field_class {cls!r} is not an HJ 1156 class")
    if outcome == FieldOutcome.DIFFERENT_CLASS.value and cls is None:
        reasons.append("field_class (实地类型) is required when the result is different_class")
    crew = _text(row.get("crew"))
    if crew is None:
        reasons.append("crew (核查人员) is empty: the crew must sign the result")
    checked = _parse_time(row.get("checked_at"), opts.exif_timezone)
    if checked is None:
        reasons.append(f"checked_at {row.get('checked_at')!r} is missing or not a date-time")
    elif checked < pkg.dispatched_at:
        reasons.append(
            f"checked_at {checked.isoformat()} is before the dispatch "
            f"{pkg.dispatched_at.isoformat()}: fix the device clock or the date"
        )
    elif checked > now + opts.clock_skew:
        reasons.append(f"checked_at {checked.isoformat()} is in the future: fix the device clock")
    geom = gpkg_geometry(row.get("geom"))
    if target is not None and geom is not None and not geom.equals_exact(target.geometry, 1e-9):
        warnings.append("the patch polygon was edited in the field; the dispatched one is kept")
    photos: list[dict[str, Any]] = []
    refs = [(_text(row.get(c)), None) for c in PHOTO_COLUMNS]
    refs += [(_text(p.get("path")), gpkg_geometry(p.get("geom"))) for p in extra_photos]
    for rel, point in refs:
        if rel is None:
            continue
        info, bad, warn = _photo(pkg, rel, target, point, opts)
        photos.append(info)
        reasons += bad
        warnings += warn
    if opts.require_photo and not photos:
        reasons.append("no photo attached (现场照片): at least one photo of the site is required")
    raw = _raw(row) | {"photo_rows": [_raw(p) for p in extra_photos]}
    return _Submission(
        task_id,
        patch_id,
        outcome,
        cls,
        _text(row.get("field_notes")),
        crew,
        checked,
        tuple(photos),
        tuple(reasons),
        tuple(warnings),
        raw,
    )


def _short_hash(prefix: str, value: Any) -> str:
    return prefix + hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()[:16]


# --- import --------------------------------------------------------------------------------


def import_field_package(
    path: Path,
    store: FieldResultStore,
    *,
    actor: str,
    now: datetime | None = None,
    options: ImportOptions | None = None,
    strict: bool = True,
) -> ImportReport:
    """Validate and record the crew's work in the package at ``path`` into ``store``.

    Raises :class:`InputError` for a missing, oversized, non-GeoPackage or foreign file,
    :class:`DuplicateImportError` when this content was imported before (nothing
    changes), and with ``strict`` :class:`SubmissionsRejectedError` after recording an
    import that had rejections (they are in the store's quarantine).
    """
    opts = options or ImportOptions()
    moment = now or datetime.now(UTC)
    path = Path(path)
    check_package_file(path, opts.max_bytes)
    with _copied(path) as copy:
        pkg = _read(path, copy)
        report, batch = _assemble(pkg, store, actor=actor, now=moment, opts=opts)
        previous = store.find_import(batch.content_hash)
        if previous is not None:
            raise DuplicateImportError(
                f"field package {path} was already imported (import {previous['import_id']} "
                f"at {previous['imported_at']}); nothing was changed. If the crew edited it "
                "since, make sure the edited copy was sent"
            )
        store.commit(batch)
    if strict and report.rejected:
        listed = "\n".join(f"  {i}: {'; '.join(r)}" for i, r in report.rejected[:10])
        more = f"\n  … and {len(report.rejected) - 10} more" if len(report.rejected) > 10 else ""
        raise SubmissionsRejectedError(
            f"field package {path}: {len(report.rejected)} submission(s) rejected and kept in "
            f"quarantine (import {report.import_id}; {len(report.accepted)} accepted, "
            f"{len(report.conflicts)} conflicts):\n{listed}{more}\nFix them in the package "
            "(or have the crew redo them) and import it again; accepted results stay recorded",
            report,
        )
    return report


def _assemble(
    pkg: _Package, store: FieldResultStore, *, actor: str, now: datetime, opts: ImportOptions
) -> tuple[ImportReport, ImportBatch]:
    package_id, station_id = pkg.meta["package_id"], pkg.meta["station_id"]
    photo_rows: dict[str, list[dict[str, Any]]] = {}
    quarantined: list[Quarantined] = []
    for row in pkg.photos:
        tid = _text(row.get("task_id"))
        if tid is not None and tid in pkg.snapshot:
            photo_rows.setdefault(tid, []).append(row)
            continue
        raw = _raw(row)
        files = _keep_files(pkg, [_text(row.get("path"))])
        quarantined.append(
            Quarantined(
                _short_hash("FQ-", raw),
                "photo",
                tid,
                (f"photo row belongs to no task of this package (task_id {tid!r})",),
                raw,
                tuple(files),
            )
        )
    submissions = [
        _validate_task(pkg, row, photo_rows.pop(str(row.get("task_id")), []), now, opts)
        for row in pkg.tasks
        if _touched(row) or str(row.get("task_id")) in photo_rows
    ]
    points, bad_points = _points(pkg, opts)
    quarantined += bad_points
    if not submissions and not points and not quarantined:
        raise InputError(
            f"field package {pkg.source} has no field results: no task was filled in and no "
            "point or photo was added; check that the crew's edited copy was sent"
        )
    content_hash = hashlib.sha256(
        canonical_json(
            {
                "package_id": package_id,
                "tasks": [s.raw for s in submissions],
                "photos": [s.photos for s in submissions],
                "quarantined": [q.raw for q in quarantined],
                "points": [p.__dict__ for p in points],
            }
        ).encode("utf-8")
    ).hexdigest()
    import_id = "FI-" + content_hash[:12]
    results: list[StoredResult] = []
    unchanged: list[str] = []
    warnings: list[str] = []
    recorded: dict[str, list[StoredResult]] = {}
    for s in submissions:
        warnings += [f"task {s.task_id}: {w}" for w in s.warnings]
        if s.reasons:
            files = [p for p in s.photos if "sha256" in p]
            quarantined.append(
                Quarantined(
                    _short_hash("FQ-", s.raw), "task", s.task_id, s.reasons, s.raw, tuple(files)
                )
            )
            continue
        result = _result(s, import_id, package_id)
        earlier = recorded.setdefault(s.patch_id, list(store.results_for(s.patch_id)))
        if any(r.result_id == result.result_id for r in earlier):
            unchanged.append(s.task_id)
            continue
        accepted = [r for r in earlier if r.status == "accepted"]
        if accepted:
            result = StoredResult(
                **{**result.__dict__, "status": "conflict", "conflict_with": accepted[0].result_id}
            )
        earlier.append(result)
        results.append(result)
    report = ImportReport(
        source=str(pkg.source),
        import_id=import_id,
        content_hash=content_hash,
        package_id=package_id,
        station_id=station_id,
        accepted=tuple(r.task_id for r in results if r.status == "accepted"),
        conflicts=tuple(r.task_id for r in results if r.status == "conflict"),
        unchanged=tuple(unchanged),
        rejected=tuple((q.task_id or q.item_id, q.reasons) for q in quarantined),
        points=len(points),
        photos=len(pkg.files),
        warnings=tuple(warnings),
    )
    batch = ImportBatch(
        import_id=import_id,
        content_hash=content_hash,
        source=str(pkg.source),
        package_id=package_id,
        station_id=station_id,
        imported_at=now,
        actor=actor,
        results=tuple(results),
        quarantined=tuple(quarantined),
        points=tuple(points),
        unchanged=tuple(unchanged),
        files=dict(pkg.files),
    )
    return report, batch


def _result(s: _Submission, import_id: str, package_id: str) -> StoredResult:
    checked = s.checked_at.astimezone(UTC).isoformat() if s.checked_at else ""
    content = {
        "task_id": s.task_id,
        "patch_id": s.patch_id,
        "outcome": s.outcome,
        "class": s.hj1156_class,
        "notes": s.notes,
        "crew": s.crew,
        "checked_at": checked,
        "photos": sorted(str(p.get("sha256")) for p in s.photos),
    }
    return StoredResult(
        result_id=_short_hash("FR-", content),
        import_id=import_id,
        package_id=package_id,
        task_id=s.task_id,
        patch_id=s.patch_id,
        outcome=str(s.outcome),
        hj1156_class=s.hj1156_class,
        notes=s.notes,
        crew=str(s.crew),
        checked_at=checked,
        photos=s.photos,
        warnings=s.warnings,
        status="accepted",
    )


def _keep_files(pkg: _Package, rels: list[str | None]) -> list[dict[str, Any]]:
    """Hash and keep the files named (those that exist inside the package)."""
    kept = []
    for rel in rels:
        file = _inside(pkg.folder, rel) if rel else None
        if file is not None and file.is_file():
            digest = sha256_file(file)
            pkg.files[digest] = file
            kept.append({"path": rel, "sha256": digest})
    return kept


def _points(pkg: _Package, opts: ImportOptions) -> tuple[list[FieldPoint], list[Quarantined]]:
    points: list[FieldPoint] = []
    bad: list[Quarantined] = []
    for row in pkg.points:
        raw = _raw(row)
        geom = gpkg_geometry(row.get("geom"))
        rel = _text(row.get("photo"))
        reasons = []
        photo = None
        if not isinstance(geom, Point):
            reasons.append("point has no point geometry")
        if rel is not None:
            info, why, _ = _photo(pkg, rel, None, geom if isinstance(geom, Point) else None, opts)
            photo, reasons = info, reasons + why
        task_id = _text(row.get("task_id"))
        if task_id is not None and task_id not in pkg.snapshot:
            reasons.append(f"point names task {task_id!r}, which is not in this package")
        if reasons or not isinstance(geom, Point):
            files = _keep_files(pkg, [rel])
            bad.append(
                Quarantined(
                    _short_hash("FQ-", raw), "point", task_id, tuple(reasons), raw, tuple(files)
                )
            )
            continue
        values = {c: _text(row.get(c)) for c in OBSERVATION_COLUMNS}
        points.append(
            FieldPoint(
                point_id=values["point_id"] or _short_hash("FP-", raw),
                task_id=task_id,
                kind=values["kind"],
                note=values["note"],
                crew=values["crew"],
                observed_at=values["observed_at"],
                lon=round(float(geom.x), 7),
                lat=round(float(geom.y), 7),
                photo=photo,
            )
        )
    return points, bad
