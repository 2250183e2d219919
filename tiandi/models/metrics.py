"""Binary change-detection scores from a confusion matrix.

Everything is about the *change* class: precision, recall and F1 of change, and the
overall accuracy over both classes. Scores over several scenes come from the confusion
matrix summed over all their pixels (``sum_confusion``), never from averaging per-scene
scores. When a denominator is zero (no predicted or no true change) the score is 0.0,
as scikit-learn does with ``zero_division=0``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tiandi.errors import InputError

IGNORE = 255
"""Label or prediction value of a pixel that is not scored (no data)."""


@dataclass(frozen=True)
class ConfusionMatrix:
    """Pixel counts of a binary change map against its truth (change = positive)."""

    tn: int = 0
    fp: int = 0
    fn: int = 0
    tp: int = 0

    def __add__(self, other: ConfusionMatrix) -> ConfusionMatrix:
        return ConfusionMatrix(
            tn=self.tn + other.tn,
            fp=self.fp + other.fp,
            fn=self.fn + other.fn,
            tp=self.tp + other.tp,
        )

    @property
    def total(self) -> int:
        """Number of scored pixels."""
        return self.tn + self.fp + self.fn + self.tp

    @property
    def precision(self) -> float:
        """Share of predicted change that is true change."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        """Share of true change that is predicted as change."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall (= Dice of the change class)."""
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def overall_accuracy(self) -> float:
        """Share of scored pixels classified correctly (both classes)."""
        return _ratio(self.tp + self.tn, self.total)

    def as_dict(self) -> dict[str, float | int]:
        """Counts and scores as a JSON-ready mapping."""
        return {
            "tn": self.tn,
            "fp": self.fp,
            "fn": self.fn,
            "tp": self.tp,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "overall_accuracy": self.overall_accuracy,
        }


def _ratio(num: int, den: int) -> float:
    return float(num) / float(den) if den else 0.0


def confusion_matrix(
    pred: npt.ArrayLike, truth: npt.ArrayLike, *, name: str = "prediction"
) -> ConfusionMatrix:
    """Count tn/fp/fn/tp of a 0/1 prediction against a 0/1 truth of the same shape.

    Pixels where either array is ``IGNORE`` (255) are not counted. Any other value
    than 0, 1 or 255 raises ``InputError`` naming ``name``.
    """
    p = np.asarray(pred)
    t = np.asarray(truth)
    if p.shape != t.shape:
        raise InputError(
            f"{name}: prediction shape {p.shape} differs from truth shape {t.shape}; "
            "score a prediction on the grid of its labels"
        )
    for label, arr in (("prediction", p), ("truth", t)):
        bad = ~np.isin(arr, (0, 1, IGNORE))
        if bad.any():
            values = np.unique(arr[bad])[:5].tolist()
            raise InputError(
                f"{name}: {label} holds values {values} besides 0 (no change), 1 (change) "
                f"and {IGNORE} (no data); convert it to 0/1/{IGNORE} first"
            )
    valid = (p != IGNORE) & (t != IGNORE)
    pv = p[valid] == 1
    tv = t[valid] == 1
    tp = int(np.count_nonzero(pv & tv))
    fp = int(np.count_nonzero(pv & ~tv))
    fn = int(np.count_nonzero(~pv & tv))
    tn = int(pv.size - tp - fp - fn)
    return ConfusionMatrix(tn=tn, fp=fp, fn=fn, tp=tp)


def sum_confusion(matrices: Iterable[ConfusionMatrix]) -> ConfusionMatrix:
    """Sum confusion matrices: the overall score over all pixels of all scenes."""
    total = ConfusionMatrix()
    for cm in matrices:
        total = total + cm
    return total
