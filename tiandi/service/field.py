"""Field crews over HTTP: their station's tasks, its current package, their results.

A ``field`` token is bound to one station and reaches only that station (403 for another);
an ``operator`` token reaches every station.

- ``GET /stations/{id}/tasks``: the patches whose latest dispatch went to the station and
  that are still ``dispatched`` (from the store's dispatch transitions, read back by
  :func:`tiandi.redline.field.lifecycle.dispatched_task`).
- ``GET /stations/{id}/package``: the station's current package, the GeoPackage
  ``<home>/field/packages/<id>/<id>.gpkg`` (:attr:`Settings.field_packages_dir`): where
  ``tiandi dispatch`` writes by default (``--out`` omitted), one folder per station,
  replaced whole by the next dispatch.
- ``POST /stations/{id}/results``: a returned package (multipart: ``package`` and its
  ``photos``), received by :func:`tiandi.service.uploads.receive_package` into
  ``<home>/field/received/<id>/UP-…/`` and imported with the validated field import
  (:func:`tiandi.redline.field.lifecycle.import_field_results`, not strict: rejected
  submissions go to quarantine and the answer counts them). The ``field_import`` audit
  event names the token's holder. A refused upload leaves nothing behind.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from tiandi.errors import AuthError, NotFoundError, UploadError
from tiandi.redline.field.importer import ImportOptions, ImportReport
from tiandi.redline.field.lifecycle import (
    FieldSync,
    dispatched_task,
    import_field_results,
    package_tasks,
)
from tiandi.redline.field.results_store import SqliteFieldStore
from tiandi.redline.store.lifecycle import PatchState
from tiandi.service.auth import ServiceRole, TokenInfo
from tiandi.service.deps import app_settings, error_responses, require, store
from tiandi.service.uploads import OPENAPI_BODY, Received, discard, receive_package, safe_name
from tiandi.settings import Settings

router = APIRouter(
    tags=["field"], responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422)
)
StationUser = Annotated[TokenInfo, Depends(require(ServiceRole.FIELD, ServiceRole.OPERATOR))]
GPKG_MEDIA_TYPE = "application/geopackage+sqlite3"


def own_station(token: TokenInfo, station_id: str) -> str:
    """``station_id`` when ``token`` may act for it (403 otherwise) and it is a safe name."""
    if token.role is ServiceRole.FIELD and token.station_id != station_id:
        raise AuthError(
            f"token {token.token_id} is bound to station {token.station_id!r}, not {station_id!r}",
            status=403,
            code="forbidden",
        )
    return str(safe_name(station_id))


@router.get("/stations/{station_id}/tasks", summary="A station's open tasks")
def station_tasks(station_id: str, token: StationUser, request: Request) -> dict[str, Any]:
    """Patches dispatched to ``station_id`` and not yet checked in the field, with the
    package and task they were sent in. A field token sees only its own station."""
    own_station(token, station_id)
    found = store(request)
    tasks = []
    for uid, reason in sorted(found.latest_reasons("dispatch").items()):
        task = dispatched_task(uid, reason)
        if task is None or task.station_id != station_id:
            continue
        status = found.get(uid).status
        if status.state is PatchState.DISPATCHED:
            tasks.append(
                {
                    "patch_uid": uid,
                    "state": status.state.value,
                    "package_id": task.package_id,
                    "task_id": task.task_id,
                    "dispatch": reason,
                }
            )
    return {"station_id": station_id, "tasks": tasks}


def package_path(settings: Settings, station_id: str) -> Path:
    """Where the service finds the station's current package."""
    return settings.field_packages_dir / station_id / f"{station_id}.gpkg"


@router.get(
    "/stations/{station_id}/package",
    summary="Download the station's current field package (GeoPackage)",
    response_class=FileResponse,
    responses={200: {"content": {GPKG_MEDIA_TYPE: {}}}},
)
def station_package(station_id: str, token: StationUser, request: Request) -> FileResponse:
    """The GeoPackage (tasks, form, basemap) that ``tiandi dispatch`` last wrote for the
    station; 404 when none was dispatched to it."""
    safe = own_station(token, station_id)
    path = package_path(app_settings(request), safe)
    if not path.is_file():
        raise NotFoundError(
            f"station {station_id!r} has no field package at {path}; dispatch one with "
            "`tiandi dispatch --run RUN_DIR` (it writes <TIANDI_HOME>/field/packages/<station>/)"
        )
    return FileResponse(path, media_type=GPKG_MEDIA_TYPE, filename=path.name)


def _upload_folder(settings: Settings, station_id: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return settings.home / "field" / "received" / station_id / f"UP-{stamp}-{secrets.token_hex(4)}"


def _import(
    received: Received, station_id: str, settings: Settings, request: Request, holder: str
) -> tuple[ImportReport, FieldSync]:
    """Check the package is the station's, then the validated import (not strict)."""
    tasks = package_tasks(received.package)
    sent_to = tasks[0].station_id if tasks else None
    if sent_to is not None and sent_to != station_id:
        raise UploadError(
            f"package {received.package.name} was dispatched to station {sent_to!r}, not "
            f"{station_id!r}; upload it to /api/v1/stations/{sent_to}/results",
            code="wrong_station",
        )
    limit = int(settings.field_upload_max_mb * 1e6)
    return import_field_results(
        received.package,
        SqliteFieldStore(settings.field_results_path),
        store(request),
        actor=holder,
        options=ImportOptions(max_bytes=limit),
        strict=False,
        recorded_by=holder,
    )


def _answer(report: ImportReport, sync: FieldSync, received: Received) -> dict[str, Any]:
    return {
        "import_id": report.import_id,
        "package_id": report.package_id,
        "station_id": report.station_id,
        "accepted": len(report.accepted),
        "quarantined": len(report.rejected),
        "conflicts": len(report.conflicts),
        "unchanged": len(report.unchanged),
        "points": report.points,
        "photos": report.photos,
        "accepted_tasks": list(report.accepted),
        "quarantined_items": [{"item": i, "reasons": list(r)} for i, r in report.rejected],
        "field_checked": [t.patch_id for t in sync.transitions],
        "skipped": [{"patch": p, "why": w} for p, w in sync.skipped],
        "warnings": list(report.warnings),
        "received_bytes": received.size,
    }


@router.post(
    "/stations/{station_id}/results",
    summary="Upload a returned field package (validated import; rejects quarantined)",
    openapi_extra=OPENAPI_BODY,
    responses={
        409: {"description": "This content was imported before (nothing changed)"},
        413: {"description": "Larger than TIANDI_FIELD_UPLOAD_MAX_MB"},
        415: {"description": "Not a GeoPackage"},
    },
)
async def upload_results(station_id: str, token: StationUser, request: Request) -> dict[str, Any]:
    """Receive the package and its photos, import them, and report accepted and
    quarantined counts; a refused upload writes nothing."""
    safe = own_station(token, station_id)
    settings = app_settings(request)
    limit = int(settings.field_upload_max_mb * 1e6)
    received = await receive_package(request, _upload_folder(settings, safe), limit)
    try:
        report, sync = await run_in_threadpool(
            _import, received, safe, settings, request, token.holder
        )
    except BaseException:
        discard(received.folder)
        raise
    return _answer(report, sync, received)
