"""Patch-level scores against known events (the demo's truth, or a reference survey).

A truth event counts only when it intersects the zones (a pipeline must not report events
outside them). It is *found* when at least one patch intersects it; a patch is *correct*
when it intersects at least one truth event (any event: a patch on an event outside the
zones cannot exist because patches are clipped to zones). Then

- precision = correct patches / patches, recall = found events / events in zones,
  F1 their harmonic mean (0.0 when undefined: no patches, no events);
- with ``other_changes`` (known changes that are no event of the scored kind, e.g. the
  demo's planted burn scar or dieback stand): a patch on none of the events but on one of
  them is a real change found (``n_on_other``), counted correct in ``precision``;
  ``precision_events_only`` counts it false. Recall and class accuracy are the events';
- recall per ``kind`` of event;
- class accuracy among correct patches: a patch's reference class is the ``hj1156_class``
  of the event it overlaps most; accuracy per reference class and overall.

These are detection scores for a demo and for regression tests, not area estimates: for
mapped-area accuracy use the Olofsson et al. (2014) sampling design (``accuracy.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np

from tiandi.errors import InputError
from tiandi.redline.patches.extract import write_patches

__all__ = ["PatchScores", "patch_scores", "write_patches"]


@dataclass(frozen=True)
class PatchScores:
    """Patch-level detection scores (see the module docstring)."""

    precision: float
    recall: float
    f1: float
    n_patches: int
    n_truth: int
    n_correct: int = 0
    n_found: int = 0
    recall_by_kind: dict[str, float] = field(default_factory=dict)
    n_truth_by_kind: dict[str, int] = field(default_factory=dict)
    class_accuracy: float = 0.0
    class_accuracy_by_class: dict[str, float] = field(default_factory=dict)
    n_on_other: int = 0
    precision_events_only: float | None = None


def patch_scores(
    patches: gpd.GeoDataFrame,
    truth: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    other_changes: gpd.GeoDataFrame | None = None,
) -> PatchScores:
    """Score ``patches`` against ``truth`` events (``kind``, ``hj1156_class``) in ``zones``
    (and ``other_changes``, see the module docstring).

    All three are brought to the CRS of ``patches``. Raises :class:`InputError` when a
    frame has no CRS or ``truth`` lacks ``kind``.
    """
    for name, frame in (("patches", patches), ("truth", truth), ("zones", zones)):
        if frame.crs is None:
            raise InputError(f"{name} have no CRS; read them with their reader (pyogrio)")
    if "kind" not in truth:
        raise InputError("truth has no 'kind' column; expected the demo's truth.gpkg 'events'")
    crs = patches.crs
    truth_c = _inside(truth.to_crs(crs).reset_index(drop=True), zones.to_crs(crs))
    pats = patches.reset_index(drop=True)

    pairs_t, pairs_p, correct, found = _matches(pats, truth_c)
    on_other = np.zeros(len(pats), dtype=bool)
    if other_changes is not None and len(other_changes) and len(pats):
        hit = pats.sindex.query(other_changes.to_crs(crs).geometry.values, predicate="intersects")
        on_other[np.unique(hit[1])] = True
        on_other &= ~correct
    n_p, n_t = len(pats), len(truth_c)
    strict = float(correct.sum() / n_p) if n_p else 0.0
    precision = float((correct | on_other).sum() / n_p) if n_p else 0.0
    recall = float(found.sum() / n_t) if n_t else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0

    kinds = truth_c["kind"].astype(str).to_numpy()
    n_by_kind = {k: int((kinds == k).sum()) for k in sorted(set(kinds))}
    by_kind = {k: float(found[kinds == k].mean()) for k in n_by_kind}
    acc, acc_by = _class_accuracy(pats, truth_c, pairs_p, pairs_t)
    return PatchScores(
        precision=round(precision, 4),
        recall=round(recall, 4),
        f1=round(f1, 4),
        n_patches=n_p,
        n_truth=n_t,
        n_correct=int(correct.sum()),
        n_found=int(found.sum()),
        recall_by_kind=by_kind,
        n_truth_by_kind=n_by_kind,
        class_accuracy=acc,
        class_accuracy_by_class=acc_by,
        n_on_other=int(on_other.sum()),
        precision_events_only=None if other_changes is None else round(strict, 4),
    )


def _inside(truth: gpd.GeoDataFrame, zones: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The events of ``truth`` that intersect ``zones`` (same CRS)."""
    in_zones = np.zeros(len(truth), dtype=bool)
    if len(zones) and len(truth):
        hit = zones.sindex.query(truth.geometry.values, predicate="intersects")
        in_zones[np.unique(hit[0])] = True
    return truth[in_zones].reset_index(drop=True)


def _matches(
    pats: gpd.GeoDataFrame, truth: gpd.GeoDataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(truth positions, patch positions) of every intersecting pair, then which patches
    are correct and which events found."""
    pairs_p: np.ndarray = np.empty(0, dtype=int)
    pairs_t: np.ndarray = np.empty(0, dtype=int)
    if len(pats) and len(truth):
        pairs_t, pairs_p = pats.sindex.query(truth.geometry.values, predicate="intersects")
    correct = np.zeros(len(pats), dtype=bool)
    correct[pairs_p] = True
    found = np.zeros(len(truth), dtype=bool)
    found[pairs_t] = True
    return pairs_t, pairs_p, correct, found


def _class_accuracy(
    pats: gpd.GeoDataFrame,
    truth: gpd.GeoDataFrame,
    pairs_p: np.ndarray,
    pairs_t: np.ndarray,
) -> tuple[float, dict[str, float]]:
    if "hj1156_class" not in pats or "hj1156_class" not in truth or len(pairs_p) == 0:
        return 0.0, {}
    best: dict[int, tuple[float, int]] = {}
    for p, t in zip(pairs_p.tolist(), pairs_t.tolist(), strict=True):
        overlap = float(pats.geometry.iloc[p].intersection(truth.geometry.iloc[t]).area)
        if p not in best or overlap > best[p][0]:
            best[p] = (overlap, t)
    right: dict[str, list[bool]] = {}
    for p in sorted(best):
        ref = str(truth["hj1156_class"].iloc[best[p][1]])
        right.setdefault(ref, []).append(str(pats["hj1156_class"].iloc[p]) == ref)
    flat = [ok for oks in right.values() for ok in oks]
    overall = round(sum(flat) / len(flat), 4)
    return overall, {k: round(sum(v) / len(v), 4) for k, v in sorted(right.items())}
