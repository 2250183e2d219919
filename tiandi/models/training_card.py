"""The model card sections of a change-detector training run (what data, how trained,
which scores on which cities)."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tiandi._io import sha256_file
from tiandi.models.metrics import ConfusionMatrix, sum_confusion
from tiandi.models.training_config import CitySplit, TrainConfig
from tiandi.models.training_loop import Fit


def jsonable(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with tuples as lists (JSON)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def card_training_data(
    root: Path, split: CitySplit, checksum: str, *, refit: bool = False
) -> dict[str, Any]:
    """The card's ``training_data``: cities by role, checksums, licence."""
    manifest = root / "MANIFEST.tsv"
    info: dict[str, Any] = {
        "dataset": "OSCD, Onera Satellite Change Detection (Daudt et al. 2018), OSCD layout",
        "folder": root.name,
        # the saved weights saw these cities (the validation cities too after a refit)
        "train_cities": [*split.train, *split.val] if refit else split.train,
        "val_cities": split.val,
        "test_cities": split.test,
        "checksum_sha256": checksum,
        "checksum_method": (
            "sha256 over sorted lines '<relative path>\\t<sha256 of file>' of every image "
            "band file (both dates) and change map of the train, validation and test cities"
        ),
        "labels_licence": "CC BY-NC-SA (OSCD change maps); imagery: modified Copernicus data",
    }
    if refit:
        info["selection_train_cities"] = split.train
        info["refit"] = (
            "epoch and threshold chosen by a first model trained on selection_train_cities "
            "and scored on val_cities; the saved weights were then trained from the same "
            "seed on train_cities (selection + validation cities) up to that epoch"
        )
    if manifest.is_file():
        info["manifest_sha256"] = sha256_file(manifest)
    return info


def card_training_summary(
    config: TrainConfig, fit: Fit, start: float, refit: Fit | None = None
) -> dict[str, Any]:
    """The card's ``training``: the configuration and how the run went."""
    summary = jsonable(asdict(config))
    jitter = (
        f", radiometric jitter (per-band gain ±{config.jitter_common_gain} shared by both "
        f"dates, per-date per-band gain ±{config.jitter_date_gain} and offset "
        f"±{config.jitter_date_offset})"
        if config.jitter_common_gain or config.jitter_date_gain or config.jitter_date_offset
        else ""
    )
    ema = (
        f"; saved weights are the EMA (decay {config.ema_decay}) of the weights and BN buffers"
        if config.ema_decay
        else ""
    )
    summary.update(
        {
            "epochs_run": fit.epochs_run,
            "best_epoch": fit.best_epoch,
            "stopped_by_time_budget": fit.stopped_by_time
            or (refit is not None and refit.stopped_by_time),
            "refit_epochs": refit.epochs_run if refit is not None else 0,
            "minutes": round((time.monotonic() - start) / 60, 1),
            "device": "cpu",
            "augmentation": "random 90° rotations, horizontal/vertical flips, temporal swap"
            + jitter,
            "optimiser": "AdamW, 5 % linear warm-up then cosine decay per step" + ema,
        }
    )
    return summary


def card_metrics(
    fit: Fit, reported: dict[str, ConfusionMatrix], scored_on: str, *, refit: bool = False
) -> dict[str, Any]:
    """The card's ``metrics``: validation figures and the reported (test) figures."""
    split = (
        "test cities: never trained on, never used to choose the epoch or threshold; scored once"
        if scored_on == "test"
        else "validation cities (never trained on); epoch and threshold chosen on them, so "
        "these figures flatter the model"
    )
    validation_of = (
        "the first-stage model (not trained on the validation cities), which chose the "
        "epoch and threshold; the saved weights were refit on them"
        if refit
        else "the saved weights (epoch and threshold chosen on these cities)"
    )
    return {
        "split": split,
        "scored_on": scored_on,
        "threshold": fit.threshold,
        "best_epoch": fit.best_epoch,
        "validation": {
            "of": validation_of,
            "per_city": {k: v.as_dict() for k, v in fit.per_city.items()},
            "overall": sum_confusion(fit.per_city.values()).as_dict() if fit.per_city else {},
        },
        "per_city": {k: v.as_dict() for k, v in reported.items()},
        "overall": sum_confusion(reported.values()).as_dict() if reported else {},
    }
