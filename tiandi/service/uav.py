"""High-resolution evidence of a patch: the chips ``tiandi ingest uav`` and ``ingest gf`` cut.

``tiandi ingest uav`` writes ``<home>/uav/<item id>/chips/index.csv`` and one PNG per
patch the orthophoto covers (:mod:`tiandi.eo.chips`); ``tiandi ingest gf --patches`` does
the same under ``<home>/gf/<product>/chips/`` from the orthorectified (pan-sharpened) GF
image (``Settings.detail_paths`` names both folders). ``GET /patches/{key}/uav`` lists
the chips of a patch from both (matched by its patch_uid or any of its detection ids),
UAV first, each with its ``source`` ("uav" or "gf"); ``GET /uav/{item_id}/chips/{patch_id}.png``
serves one. Files are only ever found through an index row, never by a name the client
sends, so no path leaves the folders.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse

from tiandi.errors import InputError, NotFoundError
from tiandi.service.auth import TokenInfo
from tiandi.service.deps import API_PREFIX, ERROR_RESPONSES, READERS, app_settings, require, store

Reader = Annotated[TokenInfo, Depends(require(*READERS))]
router = APIRouter(tags=["tiles"], responses=ERROR_RESPONSES)


def detail_chip_rows(folders: Sequence[Path]) -> list[dict[str, str]]:
    """Every row of every ``<folder>/<item>/chips/index.csv``, with the chip's folder and
    ``source`` (the name of the folder it came from: "uav", "gf")."""
    rows: list[dict[str, str]] = []
    for folder in folders:
        for index in sorted(folder.glob("*/chips/index.csv")):
            with index.open(newline="", encoding="utf-8") as f:
                for row in csv.DictReader(f):
                    rows.append({**row, "folder": str(index.parent), "source": folder.name})
    return rows


def _patch_ids(request: Request, key: str) -> set[str]:
    found = store(request)
    try:
        patch = found.get(key)
    except InputError as exc:
        raise NotFoundError(str(exc)) from None
    ids = {patch.patch_uid, key}
    ids.update(str(d["patch_id"]) for d in found.detections(patch.patch_uid) if d.get("patch_id"))
    return ids


@router.get(
    "/patches/{key}/uav",
    summary="UAV and GF chips of a patch (from tiandi ingest uav / ingest gf --patches)",
)
def patch_uav_chips(key: str, _: Reader, request: Request) -> dict[str, Any]:
    """The high-resolution chips covering patch ``key``: item, source, coverage, ground
    sample distance, URL."""
    ids = _patch_ids(request, key)
    chips = [
        {
            "item_id": row["item_id"],
            "source": row["source"],
            "patch_id": row["patch_id"],
            "coverage": float(row["coverage"]),
            "gsd_m": float(row["gsd_m"]),
            "url": f"{API_PREFIX}/uav/{row['item_id']}/chips/{row['patch_id']}.png",
        }
        for row in detail_chip_rows(app_settings(request).detail_paths)
        if row["patch_id"] in ids
    ]
    return {"patch": key, "chips": chips}


@router.get(
    "/uav/{item_id}/chips/{patch_id}.png",
    summary="One UAV chip (PNG)",
    response_class=FileResponse,
    responses={200: {"content": {"image/png": {}}, "description": "The chip."}},
)
def uav_chip_png(item_id: str, patch_id: str, _: Reader, request: Request) -> FileResponse:
    """The chip of ``patch_id`` cut from UAV or GF item ``item_id``; 404 when there is none."""
    for row in detail_chip_rows(app_settings(request).detail_paths):
        if row["item_id"] == item_id and row["patch_id"] == patch_id:
            path = Path(row["folder"]) / Path(row["chip"]).name
            if path.is_file():
                return FileResponse(path, media_type="image/png")
    raise NotFoundError(
        f"no chip of patch {patch_id!r} in item {item_id!r}; list a patch's chips with "
        "GET /api/v1/patches/{key}/uav (chips come from `tiandi ingest uav --patches` "
        "and `tiandi ingest gf --patches`)"
    )
