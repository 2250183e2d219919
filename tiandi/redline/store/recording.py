"""Record a detection run in the patch store: identity, import, screening as lifecycle.

:func:`record_detections` is what a flow calls after extracting and screening patches:
the kept and screened-out patches are matched against the patches already in the store
(:func:`tiandi.redline.store.identity.match_patches`), then imported in one transaction
(:meth:`~tiandi.redline.store.sql.SqlPatchStore.import_run`): new identities enter as
``detected``, closed ones detected again reopen (回头看), and screening becomes the
lifecycle step ``detected → screened`` (kept) or ``detected → rejected`` (screened out,
with the screening reason), by actor ``system``.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import shapely

from tiandi.errors import InputError
from tiandi.redline.store.gpkg import PatchStore
from tiandi.redline.store.identity import IdentityParams, match_patches
from tiandi.redline.store.lifecycle import PatchState
from tiandi.redline.store.records import DetectedPatch, ImportSummary, RunInfo, plain
from tiandi.redline.vocabulary import STORE_CRS

# Re-exported for callers that import it with record_detections; it lives in zones.
from tiandi.redline.zones.version import zone_set_version as zone_set_version

_NOT_ATTRIBUTES = {"geometry", "screen_reason", "screen_reason_zh"}


def _detections_frame(
    patches: gpd.GeoDataFrame, screened: gpd.GeoDataFrame | None
) -> gpd.GeoDataFrame:
    frames = [patches.assign(screen_reason="")]
    if screened is not None and not screened.empty:
        if "screen_reason" not in screened.columns:
            raise InputError(
                "screened patches lack the column screen_reason; pass the second frame "
                "returned by tiandi.redline.patches.screening.screen_patches"
            )
        other = screened if screened.crs == patches.crs else screened.to_crs(patches.crs)
        frames.append(other)
    both = pd.concat(frames, ignore_index=True)
    return gpd.GeoDataFrame(both, geometry="geometry", crs=patches.crs)


def record_detections(
    store: PatchStore,
    patches: gpd.GeoDataFrame,
    screened: gpd.GeoDataFrame | None,
    run: RunInfo,
    *,
    params: IdentityParams | None = None,
) -> ImportSummary:
    """Match a run's kept (``patches``) and screened-out (``screened``) patches to the
    store's patches and record them; returns what the import did.

    Both frames have the columns of :func:`tiandi.redline.patches.extract.extract_patches` (any
    CRS); ``screened`` also ``screen_reason``. A run id already recorded changes nothing.
    """
    if patches.crs is None:
        raise InputError(f"patches of run {run.run_id!r} have no CRS; set the grid CRS")
    store.ensure()
    detected = _detections_frame(patches, screened)
    known = store.list_patches()
    known = known[known["state"] != PatchState.SUPERSEDED.value]  # merged or split away
    matches = match_patches(known, detected, run_id=run.run_id, params=params)
    in_store = detected.to_crs(STORE_CRS).reset_index(drop=True)
    out: list[DetectedPatch] = []
    for m in matches:
        row = in_store.iloc[m.index]
        geom = row.geometry
        if geom.geom_type == "Polygon":
            geom = shapely.MultiPolygon([geom])
        attrs = {k: plain(v) for k, v in row.items() if k not in _NOT_ATTRIBUTES}
        out.append(
            DetectedPatch(
                patch_uid=m.patch_uid,
                linked=m.linked,
                geometry=geom,
                attributes=attrs,
                change_type=m.change_type,
                screen_reason=str(row.get("screen_reason") or ""),
                overlap=m.overlap,
                iou=m.iou,
                previous_area_m2=m.previous_area_m2,
            )
        )
    return store.import_run(run, out)
