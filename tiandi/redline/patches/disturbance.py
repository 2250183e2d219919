"""Patches of ecological disturbances (burn scars, water change, reclamation, ...).

A disturbance detector (:func:`tiandi.models.base.disturbance_layers`) says which change
types it maps; its per-pixel ``change_class`` (0 none, k = the k-th type, 255 no data;
``change_mask`` when it maps one type) decides the change type of a patch. So, unlike
the human-activity path:

- patches are extracted per change type (:func:`extract_patches` on ``change_class ==
  k``; the windows, minimum mapping unit, simplification and zone clipping are the same),
  so each patch has exactly one type;
- the HJ 1156 class is ``other`` (a disturbance is no human activity), the change type
  the detector's, ``class_confidence`` 1 and ``confidence`` the patch's mean
  ``change_prob`` (the detector's own score); no land-cover reclassification;
- screening (:func:`screen_disturbances`) drops pieces below the minimum mapping unit
  and burned patches whose mean dNBR is Key & Benson's "unburned" (< 0.1); the
  human-activity rules (``vegetation_remains``, ``weak_spectral_change``, ...)
  would throw away a burn scar or a flooded field;
- attributes per patch from the detector's attribute layers: for a categorical layer
  ``L`` with classes ``c``, ``L`` = the class most pixels of the patch have and
  ``L_<c>_m2`` the area of each class (the patch area split by pixel shares); for a
  float layer ``L``, ``mean_L``;
- ``reclamation`` (围填海) is only kept in coastal zones (a truthy ``coastal`` zone
  attribute, or a zone id in ``coastal_zones``); elsewhere such a patch is ``water_loss``.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import xarray as xr

from tiandi.errors import InputError
from tiandi.models.base import NO_DATA, DisturbanceLayers
from tiandi.models.burned.detector import SEVERITY_BREAKS
from tiandi.redline.patches._grid import Grid, grid_of
from tiandi.redline.patches.extract import PatchParams, extract_patches
from tiandi.redline.vocabulary import SCREEN_REASONS_ZH, ChangeType, HJ1156Class

UNBURNED_MAX_DNBR = SEVERITY_BREAKS[0]
"""A burned patch whose mean dNBR is below this (0.1, Key & Benson 2006) is screened out."""

__all__ = [
    "UNBURNED_MAX_DNBR",
    "attribute_columns",
    "change_class_layer",
    "coastal_zone_ids",
    "extract_disturbances",
    "screen_disturbances",
]


def _types(layers: DisturbanceLayers) -> list[ChangeType]:
    out = []
    for t in layers.change_types:
        try:
            ctype = ChangeType(t)
        except ValueError:
            ctype = None
        if ctype is None or not ctype.is_disturbance:
            known = ", ".join(sorted(c.value for c in ChangeType if c.is_disturbance))
            raise InputError(
                f"change type {t!r} of the detector is no disturbance type; use one of {known}"
            )
        out.append(ctype)
    return out


def change_class_layer(change: xr.Dataset, layers: DisturbanceLayers) -> xr.DataArray:
    """``change_class`` of ``change``, or ``change_mask`` for a detector of one type."""
    if "change_class" in change:
        return change["change_class"]
    if len(layers.change_types) == 1 and "change_mask" in change:
        return change["change_mask"]
    raise InputError(
        f"the change dataset has no 'change_class' layer (it has {', '.join(map(str, change))});"
        f" a detector of {len(layers.change_types)} change types must write one"
    )


def attribute_columns(layers: DisturbanceLayers) -> list[str]:
    """The attribute columns :func:`extract_disturbances` adds, in order."""
    cols: list[str] = []
    for name, classes in layers.class_layers.items():
        cols += [name, *(f"{name}_{_slug(c)}_m2" for c in classes)]
    return cols + [f"mean_{name}" for name in layers.mean_layers]


def coastal_zone_ids(zones: gpd.GeoDataFrame, coastal_zones: Collection[str] = ()) -> set[str]:
    """Ids of the zones marked coastal (a truthy ``coastal`` attribute) or named in
    ``coastal_zones`` (by zone id or name)."""
    wanted = {str(z) for z in coastal_zones}
    ids = set(wanted)
    if "zone_id" not in zones:
        return ids
    if "name" in zones:  # a zone may be named by its name too
        ids |= {str(z) for z, n in zip(zones["zone_id"], zones["name"], strict=True) if n in wanted}
    if "coastal" in zones:
        flags = zones["coastal"].map(_truthy).astype(bool)
        ids |= {str(z) for z in zones.loc[flags, "zone_id"]}
    return ids


def extract_disturbances(
    change: xr.Dataset,
    before: xr.Dataset,
    after: xr.Dataset,
    zones: gpd.GeoDataFrame,
    layers: DisturbanceLayers,
    params: PatchParams | None = None,
    coastal_zones: Collection[str] = (),
) -> gpd.GeoDataFrame:
    """Patches of each change type of ``layers`` inside ``zones`` (see the module
    docstring): the columns of :func:`extract_patches` plus :func:`attribute_columns`."""
    types = _types(layers)
    params = params if params is not None else PatchParams()
    klass = change_class_layer(change, layers)
    frames = []
    for k, ctype in enumerate(types, start=1):
        other = klass.where(klass == NO_DATA, 0)  # 255 stays no data, the rest none
        mask = other.where(klass != k, 1).astype("uint8")
        found = extract_patches(change.assign(change_mask=mask), before, after, zones, params)
        frames.append(_as_disturbance(found, ctype))
    out = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)
    coastal = coastal_zone_ids(zones, coastal_zones)
    inland = (out["change_type"] == ChangeType.RECLAMATION.value) & ~out["zone_id"].isin(coastal)
    out.loc[inland, "change_type"] = ChangeType.WATER_LOSS.value
    out.loc[inland, "change_type_zh"] = ChangeType.WATER_LOSS.zh
    out = _with_attributes(out, change, layers)
    return out.sort_values(["zone_id", "patch_id"], kind="stable").reset_index(drop=True)


def screen_disturbances(
    patches: gpd.GeoDataFrame, min_mapping_unit_m2: float
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """(kept, screened): pieces below the minimum mapping unit (``below_mmu``) and burned
    patches whose mean dNBR is below :data:`UNBURNED_MAX_DNBR`, Key & Benson's bound of
    the unburned class (``unburned_dnbr``: a relative index or a learned score can pass
    its threshold where NBR barely dropped, e.g. a field a little drier after); no
    human-activity rule applies to a disturbance."""
    small = patches["area_m2"] < min_mapping_unit_m2
    unburned = pd.Series(False, index=patches.index)
    if "mean_dnbr" in patches.columns:
        dnbr = pd.to_numeric(patches["mean_dnbr"], errors="coerce")
        unburned = (patches["change_type"] == ChangeType.BURNED.value) & (dnbr < UNBURNED_MAX_DNBR)
    drop = small | unburned
    kept = patches[~drop].reset_index(drop=True)
    screened = patches[drop].copy()
    reasons = np.where(small[drop], "below_mmu", "unburned_dnbr")
    screened["screen_reason"] = pd.Series(reasons, dtype=object).values
    screened["screen_reason_zh"] = screened["screen_reason"].map(SCREEN_REASONS_ZH)
    return kept, screened.reset_index(drop=True)


def _as_disturbance(found: gpd.GeoDataFrame, ctype: ChangeType) -> gpd.GeoDataFrame:
    out = found.copy()
    out["change_type"] = ctype.value
    out["change_type_zh"] = ctype.zh
    out["hj1156_class"] = HJ1156Class.OTHER.value
    out["hj1156_zh"] = HJ1156Class.OTHER.zh
    out["class_confidence"] = 1.0
    prob = out["mean_prob"].astype("float64")
    out["confidence"] = prob.clip(0.0, 1.0).round(3).where(prob.notna(), 0.5)
    return out


def _with_attributes(
    patches: gpd.GeoDataFrame, change: xr.Dataset, layers: DisturbanceLayers
) -> gpd.GeoDataFrame:
    cols = attribute_columns(layers)
    if patches.empty:
        extra = {
            c: pd.Series([], dtype=object if c in layers.class_layers else "float64") for c in cols
        }
        return patches.assign(**extra)
    grid = grid_of(change, "change")
    local = patches.to_crs(grid.crs)
    rows = [
        _patch_attributes(geom, float(area), change, layers, grid)
        for geom, area in zip(local.geometry.values, patches["area_m2"], strict=True)
    ]
    values = pd.DataFrame(rows, index=patches.index, columns=cols)
    return patches.assign(**{c: values[c] for c in cols})


def _patch_attributes(
    geom: Any, area_m2: float, change: xr.Dataset, layers: DisturbanceLayers, grid: Grid
) -> dict[str, Any]:
    """The attributes of one patch from the pixels its geometry covers."""
    inv = ~grid.transform
    x0, y0, x1, y1 = geom.bounds
    cs, rs = zip(*(inv @ (x, y) for x in (x0, x1) for y in (y0, y1)), strict=True)
    r0, r1 = max(math.floor(min(rs)), 0), min(math.ceil(max(rs)), grid.height)
    c0, c1 = max(math.floor(min(cs)), 0), min(math.ceil(max(cs)), grid.width)
    out: dict[str, Any] = {}
    if r0 >= r1 or c0 >= c1:
        return out
    inside = rasterio.features.geometry_mask(
        [geom], out_shape=(r1 - r0, c1 - c0), transform=grid.window_transform(r0, c0), invert=True
    )
    for name, classes in layers.class_layers.items():
        if name not in change:
            continue
        values = grid.read(change[name], (r0, r1), (c0, c1))[inside]
        values = values[values < len(classes)].astype("int64")
        counts = np.bincount(values, minlength=len(classes))[: len(classes)]
        total = int(counts.sum())
        out[name] = classes[int(np.argmax(counts))] if total else None
        for c, n in zip(classes, counts, strict=True):
            out[f"{name}_{_slug(c)}_m2"] = round(area_m2 * n / total, 1) if total else math.nan
    for name in layers.mean_layers:
        if name not in change:
            continue
        values = grid.read(change[name], (r0, r1), (c0, c1))[inside].astype("float64")
        values = values[np.isfinite(values)]
        out[f"mean_{name}"] = round(float(values.mean()), 4) if values.size else math.nan
    return out


def _slug(name: str) -> str:
    return name.replace("-", "_").replace(" ", "_")


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "y", "coastal", "是")
    try:
        return bool(value) and not (isinstance(value, float) and math.isnan(value))
    except (TypeError, ValueError):
        return False
