"""Score a change detector on fire pairs (``<root>/<fire>/{pre,post,mask}.tif``).

Each fire is read on its mask's grid with pre and post aligned by georeference
(:func:`tiandi.models.burned.pairs.read_fire`); the detector's ``change_mask`` is compared
with the perimeter mask. Figures are those of the burned class per fire and overall, the
overall from the confusion matrix summed over every scored pixel of every fire (not an
average of fires). Pixels without data in either chip (mask 255) are not scored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tiandi._io import atomic_path
from tiandi.errors import InputError
from tiandi.models.base import ChangeDetector
from tiandi.models.burned.pairs import list_fires, read_fire
from tiandi.models.metrics import ConfusionMatrix, confusion_matrix, sum_confusion

__all__ = ["BurnedEvaluation", "evaluate_burned", "write_evaluation"]


@dataclass(frozen=True)
class BurnedEvaluation:
    """Per-fire and overall confusion matrices of one detector on one folder of fires."""

    model: str
    model_version: str
    root: str
    per_fire: dict[str, ConfusionMatrix]
    notes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    fitted_on: tuple[str, ...] = ()  # scored fires whose data fitted or chose the detector

    @property
    def overall(self) -> ConfusionMatrix:
        """The confusion matrix summed over every scored pixel of every fire."""
        return sum_confusion(self.per_fire.values())

    @property
    def unseen(self) -> tuple[str, ...]:
        """The scored fires the detector was neither fitted nor chosen on."""
        return tuple(f for f in self.per_fire if f not in self.fitted_on)

    @property
    def overall_unseen(self) -> ConfusionMatrix | None:
        """The confusion matrix summed over the unseen fires (None when there are none)."""
        unseen = self.unseen
        return sum_confusion(self.per_fire[f] for f in unseen) if unseen else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures: counts, precision, recall, F1 and OA of the burned class;
        ``fitted_on`` lists the scored fires that fitted or chose the detector (their figures,
        and ``overall``, are not test scores), ``overall_unseen`` sums the others."""
        unseen = self.overall_unseen
        return {
            "model": self.model,
            "model_version": self.model_version,
            "root": self.root,
            "fires": list(self.per_fire),
            "per_fire": {fire: cm.as_dict() for fire, cm in self.per_fire.items()},
            "overall": self.overall.as_dict(),
            "overall_method": "confusion matrix summed over all scored pixels of all fires",
            "alignment_notes": {fire: list(n) for fire, n in self.notes.items() if n},
            "fitted_on": list(self.fitted_on),
            "overall_unseen": None if unseen is None else unseen.as_dict(),
        }


def evaluate_burned(
    root: Path,
    detector: ChangeDetector,
    fires: Sequence[str] | None = None,
    *,
    progress: Callable[[str, ConfusionMatrix], None] | None = None,
) -> BurnedEvaluation:
    """Run ``detector`` on ``fires`` of ``root`` (default: every fire folder with a mask)
    and count its ``change_mask`` against the perimeter masks.

    ``InputError`` for an empty or bad folder, unknown fires or a fire without pre.tif.
    """
    root = Path(root)
    present = list_fires(root)
    names = list(fires) if fires else present
    unknown = [f for f in names if f not in present]
    if unknown:
        raise InputError(
            f"{root}: fires {', '.join(unknown)} are not there; present: {', '.join(present)}"
        )
    per_fire: dict[str, ConfusionMatrix] = {}
    notes: dict[str, tuple[str, ...]] = {}
    for name in names:
        pair = read_fire(root, name)
        change = detector.detect(pair.before, pair.after)
        mask = np.asarray(change["change_mask"].values)
        cm = confusion_matrix(mask, pair.label, name=f"fire {name}")
        per_fire[name] = cm
        notes[name] = pair.notes
        if progress is not None:
            progress(name, cm)
    return BurnedEvaluation(
        model=detector.name,
        model_version=detector.version,
        root=str(root),
        per_fire=per_fire,
        notes=notes,
        fitted_on=tuple(f for f in per_fire if f in getattr(detector, "fitted_on", ())),
    )


def write_evaluation(evaluation: BurnedEvaluation, path: Path) -> Path:
    """Write the figures as JSON (sorted keys, atomic); return ``path``."""
    path = Path(path)
    text = json.dumps(evaluation.as_dict(), indent=2, sort_keys=True, ensure_ascii=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return path
