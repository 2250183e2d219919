"""Dieback alerts → patches (图斑) inside zones, and the clear-cut rule.

:func:`dieback_patches` turns the per-pixel alerts of :func:`tiandi.models.dieback.alert_maps`
into patches of change type ``dieback`` (林木枯死, HJ 1156 class ``other``):

1. Connected alert pixels (provisional or confirmed, 4-connectivity) form a patch;
   patches under ``min_mapping_unit_m2`` are dropped, outlines simplified by half a pixel.
2. Per patch: ``alert_status`` (``confirmed`` when at least half its pixels are
   confirmed, else ``provisional``), ``first_date`` / ``last_date`` (earliest and latest
   anomalous date of its pixels), ``max_z`` (largest drop, robust SDs),
   ``n_anomalous_dates`` (median over its pixels), ``confidence``
   (:func:`tiandi.models.dieback.confidence`), ``bare_share`` and ``rectangularity``.
3. **Clear-cut rule**: harvest and clearing take the canopy down to bare soil along
   straight, surveyed edges, while a dying stand keeps standing (dead) trees with ragged
   edges. A patch is a *clear-cut* — left to the human-activity path (``detect_changes``,
   an HJ 1156 change) and not a dieback alert — when both hold:
   ``bare_share`` ≥ ``clearcut_bare_share`` (0.5; a pixel is bare after when the land
   cover of the monitoring period is ``bare`` or ``built``, or its NDVI < 0.3 with
   BSI > 0.05 on its last anomalous date: the caller's ``bare_after`` mask), and
   ``rectangularity`` (area / minimum rotated rectangle, in metres) ≥
   ``clearcut_rectangularity`` (0.85: a rasterised rectangle scores ≥ 0.9, a disc π/4 =
   0.785, ragged stands less). Bare but irregular stays dieback (a severe die-off);
   straight-edged but still vegetated stays dieback (a plantation block dying).
4. Clip to the zones: one row per patch and zone, with the zone's attributes.

Returns the dieback patches and the clear-cuts (with ``screen_reason`` ``clear_cut``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyproj
import rasterio.features
import shapely
from affine import Affine
from scipy import ndimage

from tiandi.errors import InputError
from tiandi.models.dieback import (
    STATUS_CONFIRMED,
    STATUS_PROVISIONAL,
    AlertMaps,
    DiebackParams,
    confidence,
)
from tiandi.redline.patches._rows import HEAD_COLUMNS, patch_head
from tiandi.redline.patches._shapes import areas_m2, as_polygonal, metric_geoms, simplify
from tiandi.redline.patches.classify import ShapeMetrics
from tiandi.redline.vocabulary import ChangeType, HJ1156Class
from tiandi.redline.zones.read import content_hash

DIEBACK_COLUMNS: tuple[str, ...] = (
    *HEAD_COLUMNS,
    "confidence",
    "alert_status",
    "first_date",
    "last_date",
    "max_z",
    "n_anomalous_dates",
    "confirmed_share",
    "bare_share",
    "rectangularity",
    "n_pixels",
)
_FLOAT = {"area_m2", "area_ha", "area_mu", "confidence", "max_z"}
_FLOAT |= {"confirmed_share", "bare_share", "rectangularity"}
_INT = {"n_anomalous_dates", "n_pixels"}


@dataclass(frozen=True)
class DiebackPatchParams:
    """Parameters of :func:`dieback_patches` (see the module docstring)."""

    min_mapping_unit_m2: float = 1000.0
    min_part_m2: float = 100.0
    clearcut_bare_share: float = 0.5
    clearcut_rectangularity: float = 0.85


@dataclass(frozen=True)
class _Stats:
    """Per-label statistics (index = label) of the alert components."""

    n: npt.NDArray[np.int64]
    confirmed: npt.NDArray[np.int64]
    bare: npt.NDArray[np.int64]
    first: npt.NDArray[np.float64]
    last: npt.NDArray[np.float64]
    max_z: npt.NDArray[np.float64]
    n_anom: npt.NDArray[np.float64]


def _stats(labels: npt.NDArray[np.int32], k: int, alerts: AlertMaps, bare: Any) -> _Stats:
    flat = labels.ravel()
    idx = np.arange(k + 1)

    def count(values: Any) -> npt.NDArray[np.int64]:
        return np.bincount(flat, weights=np.asarray(values, float).ravel(), minlength=k + 1).astype(
            np.int64
        )

    def reduce(fn: Any, values: Any) -> npt.NDArray[np.float64]:
        out = np.asarray(fn(values, labels, idx), dtype=np.float64)
        return out

    max_z = np.where(np.isfinite(alerts.max_z), alerts.max_z, -np.inf)
    return _Stats(
        count(labels > 0),
        count(alerts.status == STATUS_CONFIRMED),
        count(np.asarray(bare, bool) & (labels > 0)),
        reduce(ndimage.minimum, np.where(alerts.first >= 0, alerts.first, 32767)),
        reduce(ndimage.maximum, alerts.last),
        reduce(ndimage.maximum, max_z),
        reduce(ndimage.median, alerts.n_anomalous),
    )


def _components(
    alerts: AlertMaps, transform: Affine
) -> tuple[npt.NDArray[np.int32], int, dict[int, Any]]:
    mask = (alerts.status == STATUS_PROVISIONAL) | (alerts.status == STATUS_CONFIRMED)
    labels, k = ndimage.label(mask)  # 4-connectivity (the default structure)
    labels = labels.astype(np.int32)
    polys: dict[int, Any] = {}
    for geojson, value in rasterio.features.shapes(
        labels, mask=mask, connectivity=4, transform=transform
    ):
        lab = int(value)
        poly = shapely.geometry.shape(geojson)
        polys[lab] = shapely.union(polys[lab], poly) if lab in polys else poly
    return labels, int(k), polys


def _attributes(
    lab: int, s: _Stats, alerts: AlertMaps, metric: Any, dparams: DiebackParams
) -> dict[str, Any]:
    n = max(int(s.n[lab]), 1)
    status = "confirmed" if s.confirmed[lab] / n >= 0.5 else "provisional"
    max_z = float(s.max_z[lab]) if np.isfinite(s.max_z[lab]) else float("nan")
    n_anom = round(float(s.n_anom[lab]))
    shape = ShapeMetrics.from_geometry(metric)
    return {
        "alert_status": status,
        "first_date": alerts.dates[int(s.first[lab])].isoformat(),
        "last_date": alerts.dates[int(s.last[lab])].isoformat(),
        "max_z": round(max_z, 2),
        "n_anomalous_dates": n_anom,
        "confirmed_share": round(s.confirmed[lab] / n, 3),
        "bare_share": round(s.bare[lab] / n, 3),
        "rectangularity": round(shape.rectangularity, 3),
        "n_pixels": int(s.n[lab]),
        "confidence": confidence(status, max_z, n_anom, dparams),
    }


def dieback_patches(
    alerts: AlertMaps,
    transform: Affine,
    crs: str | pyproj.CRS,
    zones: gpd.GeoDataFrame,
    bare_after: npt.NDArray[np.bool_],
    params: DiebackPatchParams | None = None,
    dparams: DiebackParams | None = None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """``(dieback, clear_cuts)``: patches of the alert pixels inside ``zones`` (in ``crs``).

    ``transform``/``crs`` are the grid of the alert maps; ``bare_after`` marks pixels bare
    in the monitoring period (same grid). ``InputError`` when the shapes differ."""
    params = params or DiebackPatchParams()
    dparams = dparams or DiebackParams()
    crs = pyproj.CRS.from_user_input(crs)
    if bare_after.shape != alerts.status.shape:
        raise InputError(
            f"bare-after mask has shape {bare_after.shape}, the alerts {alerts.status.shape}; "
            "pass both on the same grid"
        )
    labels, k, polys = _components(alerts, transform)
    if k == 0:
        return _empty(crs), _empty(crs, clear_cut=True)
    s = _stats(labels, k, alerts, bare_after)
    keep = sorted(polys)
    areas = areas_m2([polys[lab] for lab in keep], crs)
    keep = [lab for lab, a in zip(keep, areas, strict=True) if a >= params.min_mapping_unit_m2]
    pixel = abs(transform.a)
    geoms = simplify([polys[lab] for lab in keep], 0.5 * pixel)
    metric = metric_geoms(geoms, crs)
    zones_c = zones.to_crs(crs)
    rows: list[dict[str, Any]] = []
    cuts: list[dict[str, Any]] = []
    for lab, geom, mgeom in zip(keep, geoms, metric, strict=True):
        attrs = _attributes(lab, s, alerts, mgeom, dparams)
        is_cut = (
            attrs["bare_share"] >= params.clearcut_bare_share
            and attrs["rectangularity"] >= params.clearcut_rectangularity
        )
        (cuts if is_cut else rows).extend(_pieces(geom, attrs, zones_c, crs, params))
    for row in cuts:
        row["screen_reason"] = "clear_cut"
    return _frame(rows, crs), _frame(cuts, crs, clear_cut=True)


def _pieces(
    geom: Any,
    attrs: dict[str, Any],
    zones: gpd.GeoDataFrame,
    crs: pyproj.CRS,
    params: DiebackPatchParams,
) -> list[dict[str, Any]]:
    out = []
    for z in sorted(zones.sindex.query(geom, predicate="intersects")):
        zone = zones.iloc[int(z)]
        piece = as_polygonal(geom.intersection(shapely.make_valid(zone.geometry)))
        if piece is None:
            continue
        area = areas_m2([piece], crs)[0]
        if area < params.min_part_m2:
            continue
        zone_id = str(zone["zone_id"])
        out.append(
            {
                **patch_head(
                    "TB-" + content_hash(zone_id, piece)[:12],
                    zone_id,
                    zone,
                    zone.get("name"),
                    area,
                    ChangeType.DIEBACK,
                    HJ1156Class.OTHER,
                ),
                **attrs,
                "geometry": piece,
            }
        )
    return out


def _frame(rows: list[dict[str, Any]], crs: pyproj.CRS, *, clear_cut: bool = False) -> Any:
    if not rows:
        return _empty(crs, clear_cut=clear_cut)
    cols = [*DIEBACK_COLUMNS, *(["screen_reason"] if clear_cut else []), "geometry"]
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)
    return out.sort_values(["zone_id", "patch_id"], kind="stable").reset_index(drop=True)[cols]


def _empty(crs: pyproj.CRS, *, clear_cut: bool = False) -> gpd.GeoDataFrame:
    """No patches, with the columns and dtypes of a non-empty result."""
    cols = [*DIEBACK_COLUMNS, *(["screen_reason"] if clear_cut else [])]
    data = {
        c: pd.Series([], dtype="float64" if c in _FLOAT else "int64" if c in _INT else object)
        for c in cols
    }
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=crs), crs=crs)
