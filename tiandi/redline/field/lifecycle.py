"""The field round trip in the patch lifecycle: dispatch and field import as transitions.

:mod:`tiandi.redline.field.package` writes station packages and
:mod:`tiandi.redline.field.importer` records what the crews sent back in its own store;
this module is the one place where both reach the patch store
(:class:`~tiandi.redline.store.gpkg.PatchStore`), so every step lands in its one audit chain:

- :func:`record_dispatch` — the packages as sent (their ``tiandi_dispatch`` snapshot):
  each task's patch goes ``reviewed_accepted → dispatched`` (role ``dispatcher``), the
  reason naming package, station and task. All patches are checked before any moves,
  so a package holding a patch that is not accepted changes nothing.
- :func:`record_field_import` — one :class:`~tiandi.redline.field.importer.ImportReport`:
  an audit record ``field_import`` (accepted, conflicts, rejections with reasons), then
  every *accepted* result moves its patch ``dispatched → field_checked`` with the crew's
  outcome and class (actor = the crew, role ``field_crew``); the crew's answers to a
  disturbance question (burn severity, bloom observed, dieback cause) are in the
  transition's reason as ``on the ground: field_severity=high``
  (:func:`ground_answers` reads them back) and in the patch's own columns
  (``field_severity``…, :mod:`tiandi.redline.store.ground`), written by the same
  transition. Rejected (quarantined)
  submissions, conflicts and unchanged results move nothing; a patch no longer
  ``dispatched`` (recalled, already checked) is skipped with the reason.
- :func:`import_field_results` — import a package and record it, in one call.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tiandi.errors import InputError, SubmissionsRejectedError
from tiandi.redline.field.importer import ImportOptions, ImportReport, import_field_package
from tiandi.redline.field.records import StoredResult
from tiandi.redline.field.results_store import SqliteFieldStore
from tiandi.redline.field.schema import META_TABLE, SNAPSHOT_TABLE
from tiandi.redline.store.gpkg import PatchStore
from tiandi.redline.store.ground import answers_in_reason, reason_of_answers
from tiandi.redline.store.lifecycle import PatchState, Role, TransitionRecord


@dataclass(frozen=True)
class DispatchedTask:
    """One task of a package as sent: which patch went to which station."""

    package_id: str
    station_id: str
    task_id: str
    patch_id: str


@dataclass(frozen=True)
class FieldSync:
    """What recording one field import in the patch store did."""

    import_id: str
    transitions: tuple[TransitionRecord, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()  # (patch_id, why it did not move)
    rejected: tuple[str, ...] = ()  # task ids quarantined by the import (no transition)


def package_tasks(gpkg: Path) -> list[DispatchedTask]:
    """The tasks a field package was dispatched with (its ``tiandi_dispatch`` snapshot)."""
    gpkg = Path(gpkg)
    if not gpkg.is_file():
        raise InputError(f"field package {gpkg} does not exist; pass a .gpkg of tiandi dispatch")
    try:
        con = sqlite3.connect(f"{gpkg.resolve().as_uri()}?mode=ro", uri=True)
        with closing(con):
            meta = {str(k): str(v) for k, v in con.execute(f"SELECT key, value FROM {META_TABLE}")}
            rows = con.execute(
                f"SELECT task_id, patch_id FROM {SNAPSHOT_TABLE} ORDER BY task_id"
            ).fetchall()
    except sqlite3.Error as exc:
        raise InputError(
            f"field package {gpkg} has no dispatch snapshot ({exc}); pass a package written by "
            "`tiandi dispatch`"
        ) from exc
    if "package_id" not in meta or "station_id" not in meta:
        raise InputError(f"field package {gpkg}: {META_TABLE} lacks package_id/station_id")
    return [DispatchedTask(meta["package_id"], meta["station_id"], str(t), str(p)) for t, p in rows]


_DISPATCH_REASON = re.compile(
    r"^field package (?P<package>\S+) to station (?P<station>\S+?), task (?P<task>\S+)$"
)


def dispatch_reason(task: DispatchedTask) -> str:
    """The reason a dispatch transition records: package, station and task, in a fixed
    form that :func:`dispatched_task` reads back (the one place that spells it)."""
    return f"field package {task.package_id} to station {task.station_id}, task {task.task_id}"


def dispatched_task(patch_id: str, reason: str) -> DispatchedTask | None:
    """The task a dispatch transition's ``reason`` names (None when it was written in
    another form, e.g. by hand)."""
    found = _DISPATCH_REASON.match(reason.strip())
    if found is None:
        return None
    return DispatchedTask(found["package"], found["station"], found["task"], patch_id)


def record_dispatch(
    store: PatchStore,
    packages: Sequence[Path],
    *,
    actor: str,
    at: datetime | None = None,
) -> list[TransitionRecord]:
    """Move the patches of the dispatched ``packages`` (their .gpkg) to ``dispatched``.

    Raises :class:`InputError` (nothing moved) when a patch is unknown to the store or not
    ``reviewed_accepted``, naming the patch, its state and the package.
    """
    tasks = [t for p in packages for t in package_tasks(p)]
    for t in tasks:
        state = store.get(t.patch_id).status.state
        if state is not PatchState.REVIEWED_ACCEPTED:
            raise InputError(
                f"patch {t.patch_id} (task {t.task_id}, package {t.package_id}) is "
                f"{state.value!r}, not 'reviewed_accepted'; only accepted patches can be "
                "dispatched: review it first or leave it out of the package"
            )
    when = at or datetime.now(UTC)
    return [
        store.transition(
            t.patch_id,
            PatchState.DISPATCHED,
            actor=actor,
            role=Role.DISPATCHER,
            reason=dispatch_reason(t),
            at=when,
        )
        for t in tasks
    ]


def record_field_import(
    store: PatchStore,
    report: ImportReport,
    results: Iterable[StoredResult],
    *,
    at: datetime | None = None,
    recorded_by: str = "system",
) -> FieldSync:
    """Record an import in the patch store and move its accepted results' patches.

    ``results``: the field store's results (those of ``report.import_id`` with status
    ``accepted`` are used). The audit record ``field_import`` (subject = import id,
    actor ``recorded_by``: who brought the package in) lists everything the import did,
    rejections with their reasons included.
    """
    when = at or datetime.now(UTC)
    store.record_event(
        actor=recorded_by,
        role=Role.SYSTEM.value,
        action="field_import",
        subject=report.import_id,
        payload=_import_payload(report),
        at=when,
    )
    moved: list[TransitionRecord] = []
    skipped: list[tuple[str, str]] = []
    accepted = set(report.accepted)
    for r in results:
        if r.import_id != report.import_id or r.status != "accepted" or r.task_id not in accepted:
            continue
        state = store.get(r.patch_id).status.state
        if state is not PatchState.DISPATCHED:
            skipped.append((r.patch_id, f"patch is {state.value!r}, not 'dispatched'"))
            continue
        moved.append(_field_checked(store, r, when))
    skipped += [(t, "conflicts with a result already recorded") for t in report.conflicts]
    return FieldSync(
        report.import_id,
        tuple(moved),
        tuple(skipped),
        tuple(i for i, _ in report.rejected),
    )


def _import_payload(report: ImportReport) -> dict[str, Any]:
    """The ``field_import`` audit payload: everything the import did."""
    return {
        "package_id": report.package_id,
        "station_id": report.station_id,
        "content_hash": report.content_hash,
        "accepted": list(report.accepted),
        "conflicts": list(report.conflicts),
        "unchanged": list(report.unchanged),
        "rejected": [{"item": i, "reasons": list(r)} for i, r in report.rejected],
        "points": report.points,
        "photos": report.photos,
    }


def ground_answers(reason: str | None) -> dict[str, str]:
    """The crew's disturbance answers that a ``field_checked`` transition's ``reason``
    records (e.g. ``{"field_severity": "high"}``: the burn severity on the ground, to show
    beside the detected one); empty when it records none."""
    return answers_in_reason(reason)


def _field_checked(store: PatchStore, r: StoredResult, when: datetime) -> TransitionRecord:
    """Move an accepted result's patch ``dispatched → field_checked`` as its crew."""
    ground = reason_of_answers(r.answers)
    return store.transition(
        r.patch_id,
        PatchState.FIELD_CHECKED,
        actor=r.crew,
        role=Role.FIELD_CREW,
        reason=(
            f"field result {r.result_id} (task {r.task_id}, checked {r.checked_at}; "
            f"import {r.import_id}, package {r.package_id}{ground})"
            + (f": {r.notes}" if r.notes else "")
        ),
        at=when,
        hj1156_class=r.hj1156_class,
        outcome=r.outcome,
        ground_answers=dict(r.answers),
    )


def import_field_results(
    path: Path,
    field_store: SqliteFieldStore,
    patch_store: PatchStore,
    *,
    actor: str,
    now: datetime | None = None,
    options: ImportOptions | None = None,
    strict: bool = True,
    recorded_by: str = "system",
) -> tuple[ImportReport, FieldSync]:
    """Import the field package at ``path`` (:func:`import_field_package`) and record it in
    the patch store (:func:`record_field_import`, its ``field_import`` event attributed to
    ``recorded_by``).

    With ``strict``, rejections raise :class:`SubmissionsRejectedError` after the accepted
    results have been recorded and their patches moved (as the field import does).
    """
    moment = now or datetime.now(UTC)
    try:
        report = import_field_package(
            path, field_store, actor=actor, now=moment, options=options, strict=strict
        )
    except SubmissionsRejectedError as exc:
        record_field_import(
            patch_store, exc.report, field_store.results(), at=moment, recorded_by=recorded_by
        )
        raise
    sync = record_field_import(
        patch_store, report, field_store.results(), at=moment, recorded_by=recorded_by
    )
    return report, sync
