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

import hashlib

import geopandas as gpd
import pandas as pd
import shapely

from tiandi.errors import InputError
from tiandi.redline.store.gpkg import PatchStore
from tiandi.redline.store.identity import IdentityParams, match_patches
from tiandi.redline.store.sql import STORE_CRS, DetectedPatch, ImportSummary, RunInfo, plain

_NOT_ATTRIBUTES = {"geometry", "screen_reason", "screen_reason_zh"}


def zone_set_version(zones: gpd.GeoDataFrame) -> str:
    """The version of a zone set: ``zones.attrs["zone_set_version"]`` when the importer
    set one, else ``sha256:`` + 16 hex over the sorted zone ids and their geometries
    (EPSG:4490 WKB, 7 decimals), so the same zones read from any format give the same
    version."""
    given = zones.attrs.get("zone_set_version")
    if given:
        return str(given)
    if zones.crs is None:
        raise InputError("zones have no CRS; a zone set version needs georeferenced zones")
    geo = zones.to_crs(STORE_CRS)
    digest = hashlib.sha256()
    ids = geo["zone_id"].astype(str) if "zone_id" in geo.columns else pd.Series(geo.index)
    for zid, geom in sorted(zip(ids.astype(str), geo.geometry, strict=True), key=lambda p: p[0]):
        rounded = shapely.set_precision(geom, 1e-7)
        digest.update(zid.encode() + b"\x1f" + bytes(shapely.to_wkb(rounded, byte_order=1)))
    return f"sha256:{digest.hexdigest()[:16]}"


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
