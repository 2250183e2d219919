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
from tiandi.models.training_cv_summary import CvSummary, describe_config
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
        f"±{config.jitter_date_offset}"
        + (
            f", per-band offset ±{config.jitter_common_offset} shared by both dates)"
            if config.jitter_common_offset
            else ")"
        )
        if any(config.jitter)
        else ""
    )
    if jitter and config.normalisation != "dataset":
        jitter += (
            f" on the {config.normalisation.replace('_', '-')} standardised values "
            "(offsets in standard deviations)"
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
    metrics: dict[str, Any] = {
        "split": split,
        "scored_on": scored_on,
        "threshold": fit.threshold,
        "best_epoch": fit.best_epoch,
    }
    if fit.per_city:  # none without validation cities (a fixed threshold, the last epoch)
        metrics["validation"] = {
            "of": validation_of,
            "per_city": {k: v.as_dict() for k, v in fit.per_city.items()},
            "overall": sum_confusion(fit.per_city.values()).as_dict(),
        }
    metrics["per_city"] = {k: v.as_dict() for k, v in reported.items()}
    metrics["overall"] = sum_confusion(reported.values()).as_dict() if reported else {}
    return metrics


def card_cv(
    root: Path,
    cities: list[str],
    checksum: str,
    summary: CvSummary,
    compared: list[tuple[str, CvSummary]],
    manifest: Path | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The card's ``training_data`` and ``metrics`` of a model trained on every city
    after a city-wise cross-validation chose its epoch and threshold."""
    folds = [f"fold {i + 1}: {', '.join(f)}" for i, f in enumerate(summary.folds)]
    data: dict[str, Any] = {
        "dataset": "OSCD, Onera Satellite Change Detection (Daudt et al. 2018), OSCD layout",
        "folder": root.name,
        "train_cities": cities,  # the saved weights saw every city
        "val_cities": cities,  # each chose the epoch and threshold, out of fold
        "test_cities": [],
        "cv_folds": folds,
        "fold_rule": (
            "cities sorted by changed pixels (largest first), each to the fold with the "
            "fewest changed pixels so far; fixed before training"
        ),
        "checksum_sha256": checksum,
        "checksum_method": (
            "sha256 over sorted lines '<relative path>\\t<sha256 of file>' of every image "
            "band file (both dates) and change map of the cities"
        ),
        "labels_licence": "CC BY-NC-SA (OSCD change maps); imagery: modified Copernicus data",
    }
    if manifest is not None:
        data["manifest_sha256"] = sha256_file(manifest)
    this = f"this model: {describe_cv(summary)}"
    metrics: dict[str, Any] = {
        "split": (
            "out-of-fold (city-wise cross-validation): each city scored by the fold model "
            "that never trained on it, at the epoch and threshold chosen on the pooled "
            "out-of-fold confusion of all cities (one choice over every epoch and threshold, "
            "so slightly optimistic); the saved weights were then trained on every city"
        ),
        "scored_on": "cross-validation",
        "threshold": summary.threshold,
        "best_epoch": summary.epoch,
        "cv_f1_by_epoch": [f"{e}: {f:.4f}" for e, f in summary.f1_by_epoch.items()],
        "configs_compared": [this, *(f"{n}: {describe_cv(s)}" for n, s in compared)],
        "per_city": {k: v.as_dict() for k, v in summary.per_city.items()},
        "overall": summary.overall.as_dict(),
    }
    return data, metrics


def describe_cv(summary: CvSummary) -> str:
    """One line: a configuration and its cross-validated choice and F1."""
    return (
        f"{describe_config(summary.config)} -> CV F1 {summary.overall.f1:.4f} "
        f"(epoch {summary.epoch}, threshold {summary.threshold:.2f}, "
        f"{summary.minutes:.0f} min)"
    )


def input_note(normalisation: str) -> str:
    """What input the weights expect, for the card's notes."""
    if normalisation == "per_pair":
        return (
            "Input: Sentinel-2 reflectance scaled 0-1, L2A surface reflectance (what the "
            "product composites) or L1C top-of-atmosphere; both dates are standardised per "
            "band with the moments of the pair over the whole image before the network "
            "(normalisation per_pair, done by SiameseDetector), so a per-band offset and gain "
            "shared by both dates (L1C vs L2A) cancels, while one date's own haze or "
            "calibration does not. Trained on OSCD L1C top-of-atmosphere reflectance."
        )
    if normalisation == "per_image":
        return (
            "Input: Sentinel-2 reflectance scaled 0-1, L2A surface reflectance (what the "
            "product composites) or L1C top-of-atmosphere; each date is standardised per "
            "band over the whole image before the network (normalisation per_image, done by "
            "SiameseDetector), so per-band offsets and gains of a date (L1C vs L2A, haze, "
            "calibration) cancel. Trained on OSCD L1C top-of-atmosphere reflectance."
        )
    return (
        "Input: Sentinel-2 reflectance scaled 0-1, standardised with the training cities' "
        "statistics (normalisation dataset). Trained on OSCD L1C top-of-atmosphere "
        "reflectance; L2A surface reflectance differs in offset and gain per band."
    )
