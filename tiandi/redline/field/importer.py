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
- the disturbance answer of a task of that type (``field_severity`` of ``burned``,
  ``field_bloom_observed`` of ``bloom``, ``field_dieback_cause`` of ``dieback``: one of
  its values, required when the patch was found); kept with the result
  (``StoredResult.answers``);
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
:class:`~tiandi.errors.DuplicateImportError` and changes nothing. With ``strict`` (the
CLI's way), an import with rejections records everything and then raises
:class:`~tiandi.errors.SubmissionsRejectedError` naming each rejection and what to do.

The steps live in private modules: :mod:`._returned` (file checks, the private copy,
reading the tables), :mod:`._submissions` (validating tasks and points) with
:mod:`._photos` (EXIF, distance, kept files); this module assembles the results and
records them through a :class:`~tiandi.redline.field.records.FieldResultStore`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tiandi.errors import DuplicateImportError, InputError, SubmissionsRejectedError
from tiandi.redline.field._photos import keep_files
from tiandi.redline.field._returned import (
    ReturnedPackage,
    check_package_file,
    clean_text,
    copied,
    raw_values,
    read_package,
    short_hash,
)
from tiandi.redline.field._submissions import Submission, touched, validate_points, validate_task
from tiandi.redline.field.records import (
    FieldPoint,
    FieldResultStore,
    ImportBatch,
    Quarantined,
    StoredResult,
)
from tiandi.redline.field.records import ImportOptions as ImportOptions  # part of this API
from tiandi.redline.store.audit_chain import canonical_json


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
    with copied(path) as copy:
        pkg = read_package(path, copy)
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
        raise _rejected(path, report)
    return report


def _rejected(path: Path, report: ImportReport) -> SubmissionsRejectedError:
    """The error of a strict import with rejections: each (up to 10) and what to do."""
    listed = "\n".join(f"  {i}: {'; '.join(r)}" for i, r in report.rejected[:10])
    more = f"\n  … and {len(report.rejected) - 10} more" if len(report.rejected) > 10 else ""
    return SubmissionsRejectedError(
        f"field package {path}: {len(report.rejected)} submission(s) rejected and kept in "
        f"quarantine (import {report.import_id}; {len(report.accepted)} accepted, "
        f"{len(report.conflicts)} conflicts):\n{listed}{more}\nFix them in the package "
        "(or have the crew redo them) and import it again; accepted results stay recorded",
        report,
    )


def _assemble(
    pkg: ReturnedPackage, store: FieldResultStore, *, actor: str, now: datetime, opts: ImportOptions
) -> tuple[ImportReport, ImportBatch]:
    """Validate everything the package holds, decide each submission's fate, and give the
    report and the batch to record."""
    photo_rows, quarantined = _photo_rows_by_task(pkg)
    submissions = [
        validate_task(pkg, row, photo_rows.pop(str(row.get("task_id")), []), now, opts)
        for row in pkg.tasks
        if touched(row) or str(row.get("task_id")) in photo_rows
    ]
    points, bad_points = validate_points(pkg, opts)
    quarantined += bad_points
    if not submissions and not points and not quarantined:
        raise InputError(
            f"field package {pkg.source} has no field results: no task was filled in and no "
            "point or photo was added; check that the crew's edited copy was sent"
        )
    content_hash = _content_hash(pkg.meta["package_id"], submissions, quarantined, points)
    decided = _decide(submissions, store, "FI-" + content_hash[:12], pkg.meta["package_id"])
    quarantined += decided.rejected
    return (
        _report(pkg, content_hash, decided, quarantined, points),
        _batch(pkg, content_hash, decided, quarantined, points, actor=actor, now=now),
    )


def _photo_rows_by_task(
    pkg: ReturnedPackage,
) -> tuple[dict[str, list[dict[str, Any]]], list[Quarantined]]:
    """The ``photos`` rows per task of the package; the others are quarantined."""
    photo_rows: dict[str, list[dict[str, Any]]] = {}
    quarantined: list[Quarantined] = []
    for row in pkg.photos:
        tid = clean_text(row.get("task_id"))
        if tid is not None and tid in pkg.snapshot:
            photo_rows.setdefault(tid, []).append(row)
            continue
        raw = raw_values(row)
        files = keep_files(pkg, [clean_text(row.get("path"))])
        quarantined.append(
            Quarantined(
                short_hash("FQ-", raw),
                "photo",
                tid,
                (f"photo row belongs to no task of this package (task_id {tid!r})",),
                raw,
                tuple(files),
            )
        )
    return photo_rows, quarantined


def _content_hash(
    package_id: str,
    submissions: list[Submission],
    quarantined: list[Quarantined],
    points: list[FieldPoint],
) -> str:
    """SHA-256 of everything the crew sent (the import's identity, for idempotence)."""
    content = {
        "package_id": package_id,
        "tasks": [s.raw for s in submissions],
        "photos": [s.photos for s in submissions],
        "quarantined": [q.raw for q in quarantined],
        "points": [p.__dict__ for p in points],
    }
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


@dataclass
class _Decided:
    """The fate of an import's submissions."""

    import_id: str
    results: list[StoredResult] = field(default_factory=list)  # accepted and conflicts
    unchanged: list[str] = field(default_factory=list)  # task ids already recorded as sent
    rejected: list[Quarantined] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _decide(
    submissions: list[Submission], store: FieldResultStore, import_id: str, package_id: str
) -> _Decided:
    """Rejected, unchanged (recorded before), a conflict (another accepted result for the
    patch) or accepted, for each submission in turn."""
    decided = _Decided(import_id)
    recorded: dict[str, list[StoredResult]] = {}
    for s in submissions:
        decided.warnings += [f"task {s.task_id}: {w}" for w in s.warnings]
        if s.reasons:
            files = [p for p in s.photos if "sha256" in p]
            decided.rejected.append(
                Quarantined(
                    short_hash("FQ-", s.raw), "task", s.task_id, s.reasons, s.raw, tuple(files)
                )
            )
            continue
        result = _result(s, import_id, package_id)
        earlier = recorded.setdefault(s.patch_id, list(store.results_for(s.patch_id)))
        if any(r.result_id == result.result_id for r in earlier):
            decided.unchanged.append(s.task_id)
            continue
        accepted = [r for r in earlier if r.status == "accepted"]
        if accepted:
            result = replace(result, status="conflict", conflict_with=accepted[0].result_id)
        earlier.append(result)
        decided.results.append(result)
    return decided


def _report(
    pkg: ReturnedPackage,
    content_hash: str,
    decided: _Decided,
    quarantined: list[Quarantined],
    points: list[FieldPoint],
) -> ImportReport:
    """What the import did, for the caller and the terminal."""
    return ImportReport(
        source=str(pkg.source),
        import_id=decided.import_id,
        content_hash=content_hash,
        package_id=pkg.meta["package_id"],
        station_id=pkg.meta["station_id"],
        accepted=tuple(r.task_id for r in decided.results if r.status == "accepted"),
        conflicts=tuple(r.task_id for r in decided.results if r.status == "conflict"),
        unchanged=tuple(decided.unchanged),
        rejected=tuple((q.task_id or q.item_id, q.reasons) for q in quarantined),
        points=len(points),
        photos=len(pkg.files),
        warnings=tuple(decided.warnings),
    )


def _batch(
    pkg: ReturnedPackage,
    content_hash: str,
    decided: _Decided,
    quarantined: list[Quarantined],
    points: list[FieldPoint],
    *,
    actor: str,
    now: datetime,
) -> ImportBatch:
    """Everything the store records for the import."""
    return ImportBatch(
        import_id=decided.import_id,
        content_hash=content_hash,
        source=str(pkg.source),
        package_id=pkg.meta["package_id"],
        station_id=pkg.meta["station_id"],
        imported_at=now,
        actor=actor,
        results=tuple(decided.results),
        quarantined=tuple(quarantined),
        points=tuple(points),
        unchanged=tuple(decided.unchanged),
        files=dict(pkg.files),
    )


def _result(s: Submission, import_id: str, package_id: str) -> StoredResult:
    """An accepted submission as a result; its id hashes the crew's values and photos."""
    checked = s.checked_at.astimezone(UTC).isoformat() if s.checked_at else ""
    content: dict[str, Any] = {
        "task_id": s.task_id,
        "patch_id": s.patch_id,
        "outcome": s.outcome,
        "class": s.hj1156_class,
        "notes": s.notes,
        "crew": s.crew,
        "checked_at": checked,
        "photos": sorted(str(p.get("sha256")) for p in s.photos),
    }
    if s.answers:  # only then: the ids of results without answers stay as they were
        content["answers"] = dict(sorted(s.answers.items()))
    return StoredResult(
        result_id=short_hash("FR-", content),
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
        answers=dict(s.answers),
    )
