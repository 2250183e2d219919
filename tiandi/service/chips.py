"""Before/after image chips of one patch, cut from its run's composites.

``GET /api/v1/patches/{key}/chip/{before|after}.png``: true colour (B04 B03 B02, the
field packages' fixed stretch) around the patch with a margin of 8 pixels, enlarged with
nearest neighbour to at least 192 px, the patch outline drawn in yellow
(:func:`tiandi.redline.field.chips.patch_chip`). The composite comes from the run that
last detected the patch (its ``last_run``), found through the store's record of the run
folder; 404 when the patch, the run's folder or the composite is gone.
"""

from __future__ import annotations

import io
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from tiandi.errors import InputError, NotFoundError
from tiandi.redline.field.chips import patch_chip
from tiandi.redline.store.run_folder import run_folder
from tiandi.redline.vocabulary import STORE_CRS
from tiandi.service.auth import TokenInfo
from tiandi.service.deps import ERROR_RESPONSES, READERS, require, store

Reader = Annotated[TokenInfo, Depends(require(*READERS))]
router = APIRouter(tags=["tiles"], responses=ERROR_RESPONSES)


@router.get(
    "/patches/{key}/chip/{period}.png",
    summary="A before or after true-colour chip of a patch (PNG, outline in yellow)",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "The chip."}},
)
def patch_chip_png(
    key: str, period: Literal["before", "after"], _: Reader, request: Request
) -> Response:
    """The chip of patch ``key`` (PU-… or TB-…) from the composite of ``period``."""
    found = store(request)
    try:
        patch = found.get(key)
    except InputError as exc:
        raise NotFoundError(str(exc)) from None
    run_id = patch.attributes.get("last_run") or patch.attributes.get("first_run")
    if not run_id:
        raise NotFoundError(f"patch {key!r} names no run; it cannot have chips")
    layout = run_folder(found, str(run_id))
    path = layout.composite(period)
    if not path.is_file():
        raise NotFoundError(
            f"run {run_id!r} of patch {key!r} has no {period} composite ({path}); "
            "restore the run folder or re-run detect-changes"
        )
    image = patch_chip(path, patch.geometry, STORE_CRS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return Response(buffer.getvalue(), media_type="image/png")
