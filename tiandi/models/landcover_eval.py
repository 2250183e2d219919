"""Held-out evaluation of the land-cover model: per-pixel scores on the eo-learn held-out
blocks and patch scores on the held-out EuroSAT files (splits in
:mod:`tiandi.models.landcover_data`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tiandi.models.landcover import LANDCOVER_CLASSES, LandCoverModel
from tiandi.models.landcover_data import (
    EUROSAT_CLASS_MAP,
    Array,
    eolearn_arrays,
    eolearn_labels,
    eolearn_test_mask,
    eurosat_files,
    eurosat_reflectance,
)


def confusion_counts(truth: Array, pred: Array, n_true: int, n_pred: int) -> Array:
    """(n_true, n_pred) counts of integer labels; negative or out-of-range entries skipped."""
    t = np.asarray(truth).ravel().astype(np.int64)
    p = np.asarray(pred).ravel().astype(np.int64)
    ok = (t >= 0) & (t < n_true) & (p >= 0) & (p < n_pred)
    flat = np.bincount(t[ok] * n_pred + p[ok], minlength=n_true * n_pred)
    return flat.reshape(n_true, n_pred)


def _scores(counts: Array, rows: Sequence[str], cols: Sequence[str]) -> dict[str, Any]:
    """Overall accuracy (diagonal where row and column name the same class) and recalls."""
    total = int(counts.sum())
    correct = sum(int(counts[i, list(cols).index(r)]) for i, r in enumerate(rows) if r in cols)
    recall = {}
    for i, r in enumerate(rows):
        n = int(counts[i].sum())
        if n and r in cols:
            recall[r] = round(int(counts[i, list(cols).index(r)]) / n, 4)
    keep = [i for i in range(len(rows)) if counts[i].sum() > 0]
    return {
        "overall_accuracy": round(correct / total, 4) if total else 0.0,
        "n": total,
        "recall": recall,
        "confusion": {
            "rows": [rows[i] for i in keep],
            "cols": list(cols),
            "counts": [[int(v) for v in counts[i]] for i in keep],
        },
    }


def evaluate_eolearn(model: LandCoverModel, root: Path) -> dict[str, Any]:
    """Per-pixel scores on the held-out blocks of the three clear frames (L1C as is)."""
    frames, lulc = eolearn_arrays(root)
    labels = eolearn_labels(lulc)
    test = eolearn_test_mask(labels.shape) & (labels >= 0)
    n = len(LANDCOVER_CLASSES)
    counts = np.zeros((n, n), dtype=np.int64)
    for frame in frames:
        pred = np.argmax(model.predict_proba(frame), axis=0)
        counts += confusion_counts(labels[test], pred[test], n, n)
    out = _scores(counts, LANDCOVER_CLASSES, LANDCOVER_CLASSES)
    out["description"] = "pixels of held-out blocks x 3 clear frames; truth rows, predicted cols"
    return out


def evaluate_eurosat(model: LandCoverModel, root: Path) -> dict[str, Any]:
    """Patch scores on the held-out files: dominant predicted class and class presence."""
    labels = sorted(EUROSAT_CLASS_MAP)
    n = len(LANDCOVER_CLASSES)
    counts = np.zeros((len(labels), n), dtype=np.int64)
    presence: dict[str, list[float]] = {}
    for item in eurosat_files(root):
        if not item.held_out:
            continue
        proba = model.predict_proba(eurosat_reflectance(root, item))
        mean = np.nanmean(proba.reshape(n, -1), axis=1)
        counts[labels.index(item.label), int(np.argmax(mean))] += 1
        share = float(np.mean(np.argmax(proba, axis=0) == EUROSAT_CLASS_MAP[item.label]))
        presence.setdefault(item.label, []).append(share)
    mapped = [LANDCOVER_CLASSES[EUROSAT_CLASS_MAP[lab]] for lab in labels]
    total = int(counts.sum())
    correct = sum(int(counts[i, EUROSAT_CLASS_MAP[lab]]) for i, lab in enumerate(labels))
    out: dict[str, Any] = {
        "overall_accuracy": round(correct / total, 4) if total else 0.0,
        "n": total,
        "recall": {
            lab: round(int(counts[i, EUROSAT_CLASS_MAP[lab]]) / max(int(counts[i].sum()), 1), 4)
            for i, lab in enumerate(labels)
        },
        "presence_rate": {
            lab: round(float(np.mean([s >= 0.05 for s in shares])), 4)
            for lab, shares in sorted(presence.items())
        },
        "mean_pixel_share_of_label_class": {
            lab: round(float(np.mean(shares)), 4) for lab, shares in sorted(presence.items())
        },
        "confusion": {
            "rows": [f"{lab} ({m})" for lab, m in zip(labels, mapped, strict=True)],
            "cols": list(LANDCOVER_CLASSES),
            "counts": [[int(v) for v in row] for row in counts],
        },
        "description": "held-out files; predicted = argmax of the patch-mean probability; "
        "presence_rate = share of patches with >= 5 % pixels of the label's class",
    }
    return out


def evaluate_heldout(
    model: LandCoverModel, eolearn_root: Path, eurosat_root: Path
) -> dict[str, Any]:
    """Held-out scores on both data sets."""
    return {
        "eolearn_heldout_pixels": evaluate_eolearn(model, eolearn_root),
        "eurosat_heldout_patches": evaluate_eurosat(model, eurosat_root),
    }
