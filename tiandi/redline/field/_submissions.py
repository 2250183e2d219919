"""Validating what the crew sent: task submissions and added points.

:func:`validate_task` checks one touched task row with its photo rows and returns a
:class:`Submission` with the reasons to reject it (empty when it is accepted) and
warnings; :func:`validate_points` splits the added points into valid ones and
quarantined ones. The rules are listed in :mod:`tiandi.redline.field.importer`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shapely.geometry import Point

from tiandi._gpkg import gpkg_geometry
from tiandi.redline.field._photos import check_photo, keep_files
from tiandi.redline.field._returned import (
    Dispatched,
    ReturnedPackage,
    clean_text,
    parse_time,
    raw_values,
    short_hash,
)
from tiandi.redline.field.records import (
    FieldPoint,
    ImportOptions,
    Quarantined,
)
from tiandi.redline.field.schema import (
    ANSWER_COLUMNS,
    CREW_COLUMNS,
    GROUND_QUESTIONS,
    OBSERVATION_COLUMNS,
    PHOTO_COLUMNS,
)
from tiandi.redline.store.lifecycle import FieldOutcome
from tiandi.redline.vocabulary import HJ1156Class


def touched(row: Mapping[str, Any]) -> bool:
    """True when the crew filled in any of the task row's crew fields (the disturbance
    answers included)."""
    return any(clean_text(row.get(c)) is not None for c in (*CREW_COLUMNS, *ANSWER_COLUMNS))


@dataclass(frozen=True)
class Submission:
    """One task as the crew sent it, checked: rejected when ``reasons`` is not empty."""

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
    answers: dict[str, str] = field(default_factory=dict)  # disturbance question -> value


def validate_task(
    pkg: ReturnedPackage,
    row: Mapping[str, Any],
    extra_photos: list[dict[str, Any]],
    now: datetime,
    opts: ImportOptions,
) -> Submission:
    """Check one task row and the ``photos`` rows that name it (``extra_photos``)."""
    task_id = str(row.get("task_id"))
    target = pkg.snapshot.get(task_id)
    patch_id, reasons = _check_patch(task_id, str(row.get("patch_id")), target)
    outcome, cls, why = _check_result(row)
    reasons += why
    answers, why, warnings = check_answers(row, outcome)
    reasons += why
    crew = clean_text(row.get("crew"))
    if crew is None:
        reasons.append("crew (核查人员) is empty: the crew must sign the result")
    checked, why = _check_time(row.get("checked_at"), pkg.dispatched_at, now, opts)
    reasons += why
    warnings += _polygon_warnings(row, target)
    photos, why, warned = _check_photos(pkg, row, extra_photos, target, opts)
    reasons += why
    warnings += warned
    raw = raw_values(row) | {"photo_rows": [raw_values(p) for p in extra_photos]}
    return Submission(
        task_id,
        patch_id,
        outcome,
        cls,
        clean_text(row.get("field_notes")),
        crew,
        checked,
        tuple(photos),
        tuple(reasons),
        tuple(warnings),
        raw,
        answers,
    )


def _check_patch(task_id: str, patch_id: str, target: Dispatched | None) -> tuple[str, list[str]]:
    """The patch id to record (the dispatched one) and why the task is not as dispatched."""
    if target is None:
        return patch_id, [f"task {task_id} was not dispatched in this package"]
    if patch_id != target.patch_id:
        why = f"patch id was changed from {target.patch_id} to {patch_id}; it is read-only"
        return target.patch_id, [why]
    return patch_id, []


def _check_result(row: Mapping[str, Any]) -> tuple[str | None, str | None, list[str]]:
    """``field_result`` and ``field_class``, and what is wrong with them."""
    reasons: list[str] = []
    outcome = clean_text(row.get("field_result"))
    valid_outcomes = [o.value for o in FieldOutcome]
    if outcome is None:
        reasons.append(
            "field_result (核查结果) is empty: choose confirmed/not_found/different_class"
        )
    elif outcome not in valid_outcomes:
        reasons.append(f"field_result {outcome!r} is not one of {', '.join(valid_outcomes)}")
    cls = clean_text(row.get("field_class"))
    if cls is not None and cls not in [c.value for c in HJ1156Class]:
        reasons.append(f"field_class {cls!r} is not an HJ 1156 class")
    if outcome == FieldOutcome.DIFFERENT_CLASS.value and cls is None:
        reasons.append("field_class (实地类型) is required when the result is different_class")
    return outcome, cls, reasons


def check_answers(
    row: Mapping[str, Any], outcome: str | None
) -> tuple[dict[str, str], list[str], list[str]]:
    """The disturbance answers of a task row (``field_severity`` of a burned patch,
    ``field_bloom_observed`` of a bloom, ``field_dieback_cause`` of dieback): the ones to
    keep, reasons to reject (a value not in the list; no answer for a patch of that type
    that was found) and warnings (an answer to another type's question, not kept)."""
    answers: dict[str, str] = {}
    reasons: list[str] = []
    warnings: list[str] = []
    change_type = clean_text(row.get("change_type"))
    found = outcome is not None and outcome != FieldOutcome.NOT_FOUND.value
    for q in GROUND_QUESTIONS:
        if q.column not in row:
            continue  # a package without tasks of this type has no such field
        value = clean_text(row.get(q.column))
        if value is not None and value not in q.labels:
            reasons.append(
                f"{q.column} ({q.what}) {value!r} is not one of {q.allowed()}: choose one "
                "of these values"
            )
        elif change_type != q.change_type:
            if value is not None:
                warnings.append(
                    f"{q.column} {value!r} was answered for a {change_type} patch; it is asked "
                    f"of {q.change_type} patches only and was not kept"
                )
        elif value is not None:
            answers[q.column] = value
        elif found:
            reasons.append(
                f"{q.column} ({q.what}) is required for a {q.change_type} patch that was "
                f"found: choose one of {q.allowed()}"
            )
    return answers, reasons, warnings


def _check_time(
    value: Any, dispatched_at: datetime, now: datetime, opts: ImportOptions
) -> tuple[datetime | None, list[str]]:
    """``checked_at``: present, after the dispatch and not in the future (clock skew allowed)."""
    checked = parse_time(value, opts.exif_timezone)
    if checked is None:
        return None, [f"checked_at {value!r} is missing or not a date-time"]
    if checked < dispatched_at:
        return checked, [
            f"checked_at {checked.isoformat()} is before the dispatch "
            f"{dispatched_at.isoformat()}: fix the device clock or the date"
        ]
    if checked > now + opts.clock_skew:
        return checked, [f"checked_at {checked.isoformat()} is in the future: fix the device clock"]
    return checked, []


def _polygon_warnings(row: Mapping[str, Any], target: Dispatched | None) -> list[str]:
    """A warning when the crew edited the patch polygon (the dispatched one is kept)."""
    geom = gpkg_geometry(row.get("geom"))
    if target is not None and geom is not None and not geom.equals_exact(target.geometry, 1e-9):
        return ["the patch polygon was edited in the field; the dispatched one is kept"]
    return []


def _check_photos(
    pkg: ReturnedPackage,
    row: Mapping[str, Any],
    extra_photos: list[dict[str, Any]],
    target: Dispatched | None,
    opts: ImportOptions,
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """The photos of the row's photo fields and of its ``photos`` rows, checked: their
    descriptions, reasons to reject the submission, warnings."""
    photos: list[dict[str, Any]] = []
    reasons: list[str] = []
    warnings: list[str] = []
    refs = [(clean_text(row.get(c)), None) for c in PHOTO_COLUMNS]
    refs += [(clean_text(p.get("path")), gpkg_geometry(p.get("geom"))) for p in extra_photos]
    for rel, point in refs:
        if rel is None:
            continue
        info, bad, warn = check_photo(pkg, rel, target, point, opts)
        photos.append(info)
        reasons += bad
        warnings += warn
    if opts.require_photo and not photos:
        reasons.append("no photo attached (现场照片): at least one photo of the site is required")
    return photos, reasons, warnings


def validate_points(
    pkg: ReturnedPackage, opts: ImportOptions
) -> tuple[list[FieldPoint], list[Quarantined]]:
    """The points the crew added: valid ones, and quarantined ones with their reasons."""
    points: list[FieldPoint] = []
    bad: list[Quarantined] = []
    for row in pkg.points:
        raw = raw_values(row)
        geom = gpkg_geometry(row.get("geom"))
        rel = clean_text(row.get("photo"))
        reasons = []
        photo = None
        if not isinstance(geom, Point):
            reasons.append("point has no point geometry")
        if rel is not None:
            info, why, _ = check_photo(
                pkg, rel, None, geom if isinstance(geom, Point) else None, opts
            )
            photo, reasons = info, reasons + why
        task_id = clean_text(row.get("task_id"))
        if task_id is not None and task_id not in pkg.snapshot:
            reasons.append(f"point names task {task_id!r}, which is not in this package")
        if reasons or not isinstance(geom, Point):
            files = keep_files(pkg, [rel])
            bad.append(
                Quarantined(
                    short_hash("FQ-", raw), "point", task_id, tuple(reasons), raw, tuple(files)
                )
            )
            continue
        values = {c: clean_text(row.get(c)) for c in OBSERVATION_COLUMNS}
        points.append(
            FieldPoint(
                point_id=values["point_id"] or short_hash("FP-", raw),
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
