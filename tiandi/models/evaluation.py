"""Score a change detector on a folder with the OSCD layout.

Every city is read on its date-1 10 m grid with the bands the detector needs
(:func:`tiandi.models.oscd.read_city`), the detector's ``change_mask`` is compared with the
city's change map, and the change class is scored per city and overall. The overall
scores come from the confusion matrix summed over all pixels of all cities (not from
averaging the cities). Pixels without data in any band of either date (mask 255) are not
scored. For the baseline on OSCD (L1C top-of-atmosphere reflectance, no SCL) this means
its six bands B02 B03 B04 B08 B11 B12 as they are, without atmospheric correction.

Cities a trained model saw in training (its model card's ``train_cities``) are flagged:
their figures are not scores. So are the cities anything else was chosen on: the card's
``val_cities`` (epoch and threshold) and a detector's own ``chosen_on`` (the integrated
detector's confidence-level rule).
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
from tiandi.models.metrics import ConfusionMatrix, confusion_matrix, sum_confusion
from tiandi.models.oscd import label_file, list_cities, read_city
from tiandi.models.registry import detector_bands


@dataclass(frozen=True)
class OscdEvaluation:
    """Per-city and overall confusion matrices of one detector on one OSCD folder."""

    model: str
    model_version: str
    root: str
    per_city: dict[str, ConfusionMatrix]
    bands: tuple[str, ...]
    seen_in_training: tuple[str, ...] = field(default=())
    chosen_on: tuple[str, ...] = field(default=())  # validation cities, cities a rule was chosen on

    @property
    def overall(self) -> ConfusionMatrix:
        """The confusion matrix summed over every pixel of every city."""
        return sum_confusion(self.per_city.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures: counts, precision, recall, F1 and OA of the change class."""
        return {
            "model": self.model,
            "model_version": self.model_version,
            "root": self.root,
            "bands": list(self.bands),
            "cities": list(self.per_city),
            "per_city": {
                city: {
                    **cm.as_dict(),
                    "seen_in_training": city in self.seen_in_training,
                    "chosen_on": city in self.chosen_on,
                }
                for city, cm in self.per_city.items()
            },
            "overall": self.overall.as_dict(),
            "overall_method": "confusion matrix summed over all scored pixels of all cities",
            "seen_in_training": list(self.seen_in_training),
            "chosen_on": list(self.chosen_on),
        }


def training_cities(detector: ChangeDetector, role: str = "train") -> tuple[str, ...]:
    """The cities a trained detector's model card lists under ``<role>_cities`` (``train``:
    trained on; ``val``: epoch and threshold chosen on them); none for the baseline."""
    card = getattr(detector, "card", None)
    data = getattr(card, "training_data", None) or {}
    return tuple(str(c) for c in data.get(f"{role}_cities", ()))


def chosen_cities(detector: ChangeDetector) -> tuple[str, ...]:
    """The cities something of ``detector`` was chosen on: its card's validation cities
    and the detector's own ``chosen_on`` (e.g. the integrated detector's level rule)."""
    own = tuple(str(c) for c in getattr(detector, "chosen_on", ()))
    return (*training_cities(detector, "val"), *own)


def labelled_cities(root: Path) -> list[str]:
    """The cities of ``root`` that have a change map."""
    return [c for c in list_cities(root) if label_file(root, c) is not None]


def evaluate_oscd(
    root: Path,
    detector: ChangeDetector,
    cities: Sequence[str] | None = None,
    *,
    progress: Callable[[str, ConfusionMatrix], None] | None = None,
) -> OscdEvaluation:
    """Run ``detector`` on ``cities`` of the OSCD-layout ``root`` (default: every city with
    a change map) and count its change mask against the labels.

    ``InputError`` for a bad layout, unknown cities or cities without a change map.
    """
    root = Path(root)
    names = list(cities) if cities else labelled_cities(root)
    if not names:
        raise InputError(f"{root}: no city with a change map to evaluate on")
    present = list_cities(root)
    unknown = [c for c in names if c not in present]
    if unknown:
        raise InputError(
            f"{root}: cities {', '.join(unknown)} are not in the OSCD folder; "
            f"present: {', '.join(present)}"
        )
    bands = detector_bands(detector)
    per_city: dict[str, ConfusionMatrix] = {}
    for name in names:
        city = read_city(root, name, bands=bands)
        if city.label is None:  # read_city requires the label; kept for the type checker
            raise InputError(f"OSCD city '{name}' under {root} has no change map")
        change = detector.detect(city.before, city.after)
        mask = np.asarray(change["change_mask"].values)
        cm = confusion_matrix(mask, city.label, name=f"city {name}")
        per_city[name] = cm
        if progress is not None:
            progress(name, cm)
    seen = tuple(c for c in names if c in training_cities(detector))
    return OscdEvaluation(
        model=detector.name,
        model_version=detector.version,
        root=str(root),
        per_city=per_city,
        bands=bands,
        seen_in_training=seen,
        chosen_on=tuple(c for c in names if c in chosen_cities(detector)),
    )


def write_evaluation(evaluation: OscdEvaluation, path: Path) -> Path:
    """Write the figures as JSON (sorted keys, atomic); return ``path``."""
    path = Path(path)
    text = json.dumps(evaluation.as_dict(), indent=2, sort_keys=True, ensure_ascii=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return path
