"""Ecologists' merge and split of patches (合并/拆分): thin routes over the patch store's
:meth:`~tiandi.redline.store.reshape.SqlPatchReshape.merge` and ``split``.

Each request names the version of every patch it was made on; when one has changed the
answer is 409 (``stale_version``, nothing written). The originals end ``superseded``;
the new patches are ``screened`` with a history that names their origin, and every
record is attributed to the token's holder (role ``ecologist``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from tiandi.errors import InputError, NotFoundError
from tiandi.redline.store.lifecycle import Role
from tiandi.redline.store.reshape import MAX_MERGE, ReshapeResult
from tiandi.redline.store.reshape_geom import from_geojson
from tiandi.redline.vocabulary import HJ1156Class
from tiandi.service.auth import ServiceRole, TokenInfo
from tiandi.service.deps import WRITE_ERROR_RESPONSES, require, store
from tiandi.service.geojson import clean_dict, feature

router = APIRouter(tags=["review"], responses=WRITE_ERROR_RESPONSES)
Ecologist = Annotated[TokenInfo, Depends(require(ServiceRole.ECOLOGIST))]


class PatchRef(BaseModel):
    """One patch and the version the decision was made on."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=100, description="patch_uid (PU-…) or TB-… id.")
    version: int = Field(ge=0, description="The patch's `version` when it was read.")


class MergeRequest(BaseModel):
    """Merge two or more patches of one zone and one run into one."""

    model_config = ConfigDict(extra="forbid")

    patches: list[PatchRef] = Field(min_length=2, max_length=MAX_MERGE)
    hj1156_class: HJ1156Class | None = Field(
        default=None, description="Class of the new patch (default: the largest original's)."
    )
    reason: str = Field(min_length=1, max_length=2000, description="Why they are one patch.")


class SplitRequest(BaseModel):
    """Split one patch by a line, or into given parts (GeoJSON, EPSG:4490)."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=0, description="The patch's `version` when it was read.")
    line: dict[str, Any] | None = Field(
        default=None, description="A GeoJSON LineString crossing the patch."
    )
    parts: list[dict[str, Any]] | None = Field(
        default=None, min_length=2, max_length=100, description="GeoJSON (Multi)Polygons."
    )
    reason: str | None = Field(default=None, max_length=2000, description="Why (optional).")


def _answer(request: Request, result: ReshapeResult) -> dict[str, Any]:
    found = store(request)
    features = []
    for uid in result.created:
        patch = found.get(uid)
        features.append(feature(uid, patch.attributes, patch.geometry, found.version(uid)))
    originals = []
    for uid in result.originals:
        originals.append({"patch_uid": uid, "state": found.get(uid).status.state.value})
    return clean_dict(
        {
            result.kind: originals,
            "patches": {"type": "FeatureCollection", "features": features},
        }
    )


def _known(request: Request, key: str) -> None:
    try:
        store(request).get(key)
    except InputError as exc:
        raise NotFoundError(str(exc)) from None


@router.post("/patches/merge", status_code=201, summary="Merge patches into one")
def merge_patches(body: MergeRequest, token: Ecologist, request: Request) -> dict[str, Any]:
    """The union of the patches becomes one new patch; the originals are superseded."""
    for ref in body.patches:
        _known(request, ref.id)
    cls = None if body.hj1156_class is None else body.hj1156_class.value
    result = store(request).merge(
        [(ref.id, ref.version) for ref in body.patches],
        actor=token.holder,
        role=Role.ECOLOGIST,
        reason=body.reason,
        hj1156_class=cls,
        at=datetime.now(UTC),
    )
    return _answer(request, result)


@router.post("/patches/{key}/split", status_code=201, summary="Split a patch into parts")
def split_patch(key: str, body: SplitRequest, token: Ecologist, request: Request) -> dict[str, Any]:
    """The parts a line cuts the patch into (or the given parts) become new patches."""
    _known(request, key)
    if (body.line is None) == (body.parts is None):
        raise InputError("split needs either 'line' (a GeoJSON LineString) or 'parts'")
    line = None if body.line is None else from_geojson(body.line, "line", ("LineString",))
    parts = None
    if body.parts is not None:
        kinds = ("Polygon", "MultiPolygon")
        parts = [from_geojson(p, f"part {i}", kinds) for i, p in enumerate(body.parts)]
    result = store(request).split(
        key,
        body.version,
        actor=token.holder,
        role=Role.ECOLOGIST,
        line=line,
        parts=parts,
        reason=body.reason,
        at=datetime.now(UTC),
    )
    return _answer(request, result)
