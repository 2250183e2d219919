"""Where a recorded run's folder is: the run id → its :class:`RunLayout`.

``detect_changes`` (and the demo cycle) record a run with ``RunInfo.source`` set to the
absolute path of its output folder (``RunLayout(request.out.resolve()).root``), in both
the GeoPackage and the PostGIS store; :func:`run_folder` reads it back, so a service
finds a run's COGs and ``patches.gpkg`` from nothing but its run id. Nothing is added to
``summary.json``.
"""

from __future__ import annotations

from pathlib import Path

from tiandi.errors import NotFoundError
from tiandi.redline.run_layout import RunLayout
from tiandi.redline.store.gpkg import PatchStore
from tiandi.redline.store.records import RunInfo


def run_info(store: PatchStore, run_id: str) -> RunInfo:
    """The store's record of ``run_id``; ``NotFoundError`` naming the run when unknown."""
    for info, _ in store.runs():
        if info.run_id == run_id:
            return info
    raise NotFoundError(
        f"run {run_id!r} is not recorded in the patch store; list the recorded runs "
        "(GET /api/v1/runs) and pass one of their run_id"
    )


def run_folder(store: PatchStore, run_id: str) -> RunLayout:
    """The layout of the folder ``run_id`` was recorded from.

    ``NotFoundError`` naming the run when it is unknown, when it was recorded without an
    absolute folder path, or when that folder is gone (moved or deleted)."""
    source = run_info(store, run_id).source
    folder = Path(source) if source else None
    if folder is None or not folder.is_absolute():
        raise NotFoundError(
            f"run {run_id!r} was recorded without its output folder (source {source!r}); "
            "record it again from its folder with detect-changes"
        )
    if not folder.is_dir():
        raise NotFoundError(
            f"the output folder of run {run_id!r} ({folder}) is gone; restore it there or "
            "re-run detect-changes"
        )
    return RunLayout(folder)
