"""Stable patch identity across runs: link a detection to its earlier self.

Every run names its patches anew (``patch_id`` is a hash of zone and geometry, so it
changes when a patch grows). The patch store keys a patch by ``patch_uid`` instead, which
is given once, when the patch is first seen, and kept by every later detection that
matches it:

- candidates are pairs (known patch, detection) in the same zone whose geometries
  intersect; areas are measured in a projected CRS (the detections' when projected,
  else the UTM zone of their centre);
- a pair matches when the intersection covers at least ``min_overlap`` of the smaller of
  the two (so a patch that grew to many times its size still matches, and a sliver
  touching a neighbour does not);
- pairs are assigned one-to-one, best intersection-over-union first (ties broken by ids,
  so the result is deterministic): when two old patches merged, the detection keeps the
  identity of the one it overlaps most, the other stays as it was; when one patch split,
  the larger part keeps the identity and the other part is new;
- a matched detection larger than its earlier self by more than ``growth_tolerance``
  (relative) and ``min_growth_m2`` (absolute) has change type ``enlarged`` (扩大);
  otherwise it keeps the change type of the detection;
- an unmatched detection gets a new uid: ``PU-`` + 12 hex of sha256(run id, patch id),
  deterministic for a given run.

Matching within the same zone only means a zone re-imported under new ids starts new
identities.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import shapely
from pyproj import CRS

from tiandi.errors import InputError
from tiandi.redline.vocabulary import DISTURBANCE_TYPES, ChangeType


@dataclass(frozen=True)
class IdentityParams:
    """Thresholds of the identity matching (see the module docstring)."""

    min_overlap: float = 0.5
    growth_tolerance: float = 0.10
    min_growth_m2: float = 200.0


@dataclass(frozen=True)
class IdentityMatch:
    """The identity given to one detection (row ``index`` of the detections)."""

    index: int
    patch_uid: str
    linked: bool
    change_type: str
    overlap: float | None = None
    iou: float | None = None
    area_m2: float | None = None
    previous_area_m2: float | None = None


def new_patch_uid(run_id: str, patch_id: str) -> str:
    """The uid of a patch first seen as ``patch_id`` in run ``run_id``."""
    digest = hashlib.sha256(f"{run_id}\x1f{patch_id}".encode()).hexdigest()
    return f"PU-{digest[:12]}"


def _metric_crs(frame: gpd.GeoDataFrame) -> CRS:
    crs = CRS.from_user_input(frame.crs)
    if crs.is_projected:
        return crs
    estimated = frame.estimate_utm_crs()
    return CRS.from_user_input(estimated)


def _check(frame: gpd.GeoDataFrame, label: str, columns: tuple[str, ...]) -> None:
    if frame.crs is None:
        raise InputError(f"{label} have no CRS; set one (the patch store uses EPSG:4490)")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(
            f"{label} lack the columns {missing}; pass frames as written by the patch "
            "extraction (detections) and PatchStore.list_patches (known patches)"
        )


def match_patches(
    known: gpd.GeoDataFrame,
    detected: gpd.GeoDataFrame,
    *,
    run_id: str,
    params: IdentityParams | None = None,
) -> list[IdentityMatch]:
    """Give each row of ``detected`` a ``patch_uid``: an earlier patch's, or a new one.

    ``known`` needs ``patch_uid, zone_id, geometry``; ``detected`` needs ``patch_id,
    zone_id, change_type, geometry``. Returns one :class:`IdentityMatch` per detection,
    in the detections' row order.
    """
    params = params or IdentityParams()
    _check(detected, "detected patches", ("patch_id", "zone_id", "change_type"))
    if detected.empty:
        return []
    metric = _metric_crs(detected)
    det = _Measured.of(detected.to_crs(metric).reset_index(drop=True))
    linked: dict[int, IdentityMatch] = {}
    if not known.empty:
        _check(known, "known patches", ("patch_uid", "zone_id"))
        old = _Measured.of(known.to_crs(metric).reset_index(drop=True))
        linked = _link(_candidate_pairs(det, old, params), det, old, params)
    out: list[IdentityMatch] = []
    for i in range(len(det.frame)):
        match = linked.get(i)
        if match is None:
            uid = new_patch_uid(run_id, str(det.frame.at[i, "patch_id"]))
            match = IdentityMatch(
                i, uid, False, str(det.frame.at[i, "change_type"]), area_m2=_r(float(det.area[i]))
            )
        out.append(match)
    return out


@dataclass(frozen=True)
class _Measured:
    """Patches in a metric CRS (0-based index) with their areas in m²."""

    frame: gpd.GeoDataFrame
    area: Any

    @classmethod
    def of(cls, frame: gpd.GeoDataFrame) -> _Measured:
        return cls(frame, frame.geometry.area.to_numpy())


def _candidate_pairs(
    det: _Measured, old: _Measured, params: IdentityParams
) -> list[tuple[float, float, int, int, float]]:
    """(IoU, overlap, detection, known patch, intersection) of pairs in the same zone that
    overlap enough, best first (ties by patch id, then patch uid)."""
    pairs: list[tuple[float, float, int, int, float]] = []
    tree = shapely.STRtree(old.frame.geometry.to_numpy())
    d_idx, k_idx = tree.query(det.frame.geometry.to_numpy(), predicate="intersects")
    for i, k in zip(d_idx.tolist(), k_idx.tolist(), strict=True):
        if str(det.frame.at[i, "zone_id"]) != str(old.frame.at[k, "zone_id"]):
            continue
        inter = float(
            shapely.area(shapely.intersection(det.frame.geometry[i], old.frame.geometry[k]))
        )
        smaller = min(float(det.area[i]), float(old.area[k]))
        if smaller <= 0 or inter / smaller < params.min_overlap:
            continue
        union = float(det.area[i]) + float(old.area[k]) - inter
        pairs.append((inter / union if union > 0 else 0.0, inter / smaller, i, k, inter))
    pairs.sort(
        key=lambda p: (
            -p[0],
            -p[1],
            str(det.frame.at[p[2], "patch_id"]),
            str(old.frame.at[p[3], "patch_uid"]),
        )
    )
    return pairs


def _link(
    pairs: list[tuple[float, float, int, int, float]],
    det: _Measured,
    old: _Measured,
    params: IdentityParams,
) -> dict[int, IdentityMatch]:
    """Greedy one-to-one linking of the best pairs; a linked patch that grew is enlarged."""
    taken_d: dict[int, IdentityMatch] = {}
    taken_k: set[int] = set()
    for iou, overlap, i, k, _ in pairs:
        if i in taken_d or k in taken_k:
            continue
        taken_k.add(k)
        area, before = float(det.area[i]), float(old.area[k])
        grew = area - before
        enlarged = grew > params.growth_tolerance * before and grew > params.min_growth_m2
        detected = str(det.frame.at[i, "change_type"])
        human = detected not in {t.value for t in DISTURBANCE_TYPES}
        change = ChangeType.ENLARGED.value if enlarged and human else detected
        taken_d[i] = IdentityMatch(
            i,
            str(old.frame.at[k, "patch_uid"]),
            True,
            change,
            round(overlap, 6),
            round(iou, 6),
            _r(area),
            _r(before),
        )
    return taken_d


def _r(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 2)
