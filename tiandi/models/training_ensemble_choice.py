"""Choosing a seed ensemble on its members' kept out-of-fold probabilities, and checking
that the runs are one recipe (:mod:`tiandi.models.training_ensemble`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tiandi.errors import InputError
from tiandi.models.metrics import ConfusionMatrix, sum_confusion
from tiandi.models.training_config import THRESHOLDS, TrainConfig
from tiandi.models.training_cv_probabilities import probability_path
from tiandi.models.training_cv_reuse import ADDED_SETTINGS, settings_differ
from tiandi.models.training_cv_summary import CvSummary
from tiandi.models.training_data import CityArrays
from tiandi.models.training_scores import score_probabilities

Probs = dict[str, npt.NDArray[np.float32]]
_EPOCH = re.compile(r"epoch-(\d+)")


def kept_epochs(folder: Path) -> list[int]:
    """The epochs whose out-of-fold probabilities ``folder`` holds (``epoch-NN``);
    ``InputError`` when the folder does not exist."""
    if not Path(folder).is_dir():
        raise InputError(
            f"{folder}: no such folder of out-of-fold probabilities; give the folder the "
            "cross-validation's --cv-probabilities wrote"
        )
    found = (_EPOCH.fullmatch(p.name) for p in Path(folder).iterdir() if p.is_dir())
    return sorted(int(m.group(1)) for m in found if m)


def load_probabilities(folder: Path, epoch: int, cities: Sequence[str]) -> Probs:
    """One run's out-of-fold probabilities of ``epoch`` (float32); ``InputError`` naming
    the file a city lacks."""
    probs: Probs = {}
    for city in cities:
        path = probability_path(folder, epoch, city)
        if not path.is_file():
            raise InputError(
                f"{path}: no out-of-fold probability of {city} at epoch {epoch}; rerun the "
                "cross-validation with --cv-probabilities"
            )
        probs[city] = np.load(path).astype(np.float32)
    return probs


def mean_probability(members: Sequence[Probs]) -> Probs:
    """The members' mean probability, city by city (NaN where any member has none);
    ``InputError`` naming a city whose members' grids differ."""
    out: Probs = {}
    for city in members[0]:
        shapes = {m[city].shape for m in members}
        if len(shapes) > 1:
            raise InputError(
                f"city {city}: the runs' probabilities have different shapes "
                f"({', '.join(str(s) for s in sorted(shapes))}); ensemble runs of one dataset"
            )
        out[city] = np.mean([m[city] for m in members], axis=0)
    return out


def choose_pooled(
    by_epoch: Mapping[int, Probs],
    cities: Sequence[CityArrays],
    thresholds: Sequence[float] = THRESHOLDS,
) -> tuple[int, float, dict[str, ConfusionMatrix], dict[int, float]]:
    """The cross-validation's rule over kept probabilities: the (epoch, threshold) with the
    best pooled F1 (earliest epoch, then lowest threshold on ties), each city's confusion
    there, and each epoch's best pooled F1."""
    best: tuple[float, int, float] | None = None
    by_f1: dict[int, float] = {}
    per_city: dict[str, ConfusionMatrix] = {}
    for epoch, probs in sorted(by_epoch.items()):
        for t in thresholds:
            scored = score_probabilities(probs, cities, t)
            f1 = sum_confusion(scored.values()).f1
            by_f1[epoch] = max(by_f1.get(epoch, -1.0), f1)
            if best is None or (f1, -epoch, -t) > best:
                best, per_city = (f1, -epoch, -t), scored
    if best is None:
        raise InputError("no epoch to choose from: the runs share no kept epoch")
    return -best[1], -best[2], per_city, by_f1


def config_of(summary: CvSummary) -> TrainConfig:
    """The training configuration a cross-validation summary was run with."""
    known = {f.name for f in fields(TrainConfig)}
    values = {**ADDED_SETTINGS, **summary.config}
    kept: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in known
    }
    return TrainConfig(**kept)


def check_seed_runs(summaries: Sequence[tuple[Path, CvSummary]]) -> list[TrainConfig]:
    """Each run's configuration; ``InputError`` unless there are at least two runs that
    differ only in their seeds, over the same folds."""
    if len(summaries) < 2:
        raise InputError("a seed ensemble needs at least two cross-validation runs")
    configs = [config_of(s) for _, s in summaries]
    first_path, first = summaries[0]
    seeds = [c.seed for c in configs]
    if len(set(seeds)) != len(seeds):
        raise InputError(f"the runs' seeds repeat ({seeds}); give one run per seed")
    for (path, summary), config in zip(summaries[1:], configs[1:], strict=True):
        differ = [k for k in settings_differ(first.config, config) if k != "seed"]
        if differ or summary.folds != first.folds:
            raise InputError(
                f"{path}: not the same recipe as {first_path} (differs in "
                f"{', '.join(differ) or 'its folds'}); an ensemble takes runs that differ "
                "only in --seed"
            )
    return configs
