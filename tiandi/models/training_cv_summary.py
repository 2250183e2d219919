"""The outcome of a city-wise cross-validation (:mod:`tiandi.models.training_cv`): the
folds, the pooled choice and its figures, as written to and read from ``<out>.cv.json``;
what the model card (:mod:`tiandi.models.training_card`) says of it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tiandi.errors import InputError
from tiandi.models.metrics import ConfusionMatrix, sum_confusion


@dataclass(frozen=True)
class CvSummary:
    """Outcome of a cross-validation: the folds, the pooled choice and its figures."""

    config: dict[str, Any]
    folds: list[list[str]]
    epoch: int
    threshold: float
    per_city: dict[str, ConfusionMatrix]  # out-of-fold, at the chosen epoch and threshold
    f1_by_epoch: dict[int, float]  # pooled F1 at each epoch's best threshold
    minutes: float
    command: str = ""  # the command that ran the cross-validation

    @property
    def overall(self) -> ConfusionMatrix:
        """The pooled out-of-fold confusion at the choice."""
        return sum_confusion(self.per_city.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (what ``<out>.cv.json`` holds)."""
        return {
            "config": self.config,
            "describe": describe_config(self.config),
            "folds": self.folds,
            "epoch": self.epoch,
            "threshold": self.threshold,
            "per_city": {k: v.as_dict() for k, v in self.per_city.items()},
            "overall": self.overall.as_dict(),
            "f1_by_epoch": {str(k): v for k, v in self.f1_by_epoch.items()},
            "minutes": round(self.minutes, 1),
            "command": self.command,
        }

    @classmethod
    def read(cls, path: Path) -> CvSummary:
        """A summary written by :func:`cross_validate`; ``InputError`` when unreadable."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(
                config=dict(data["config"]),
                folds=[list(f) for f in data["folds"]],
                epoch=int(data["epoch"]),
                threshold=float(data["threshold"]),
                per_city={k: _cm(k, v) for k, v in data["per_city"].items()},
                f1_by_epoch={int(k): float(v) for k, v in data["f1_by_epoch"].items()},
                minutes=float(data["minutes"]),
                command=str(data.get("command", "")),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(
                f"{path}: not a cross-validation summary ({type(exc).__name__}: {exc}); "
                "pass the .cv.json a `--cv-folds` run wrote"
            ) from exc


def _cm(city: str, counts: Mapping[str, Any]) -> ConfusionMatrix:
    return ConfusionMatrix(
        tp=int(counts["tp"]), fp=int(counts["fp"]), fn=int(counts["fn"]), tn=int(counts["tn"])
    )


def describe_config(config: Mapping[str, Any]) -> str:
    """One line naming what the compared configurations differ in."""
    return (
        f"normalisation {config.get('normalisation', 'dataset')}, jitter common gain "
        f"±{config['jitter_common_gain']}, date gain ±{config['jitter_date_gain']}, date "
        f"offset ±{config['jitter_date_offset']}, common offset "
        f"±{config.get('jitter_common_offset', 0.0)}, loss {config['loss']}, "
        f"{config['epochs']} epochs x {config['steps_per_epoch']} steps"
    )
