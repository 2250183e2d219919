"""Train the Siamese change detector on an OSCD-layout folder.

``train_siamese(root, out, config)`` splits the cities of ``root`` by city into training,
validation and test cities (never trained on), computes the band normalisation
statistics on the training cities, and trains on random patches:

- class imbalance: a share ``change_sample_fraction`` of the patches is centred (with a
  random offset) on a change pixel, and the loss is binary cross-entropy (optionally
  weighted or focal) plus soft Dice of the change class;
- augmentation: horizontal/vertical flips, 90° rotations, temporal swap of the dates,
  and radiometric jitter (a per-band gain shared by both dates, as cities and sensors
  differ, plus small per-date per-band gains and offsets, as dates differ);
- an exponential moving average (EMA) of the weights and batch-norm buffers, which is
  what is scored and saved (it damps the epoch-to-epoch swings of a small dataset);
- fixed seeds (numpy, torch) and an explicit number of torch threads;
- after every epoch the whole validation cities are predicted; the decision threshold
  (unless fixed) and the epoch with the best overall validation F1 (confusion matrix
  summed over all validation pixels) are chosen on them. The test cities are scored
  once, at the end, with that epoch and threshold: their figures are the ones the model
  card reports, as they took no part in any choice;
- with ``refit``, a second stage trains a fresh model with the same seed and schedule on
  the training **and** validation cities, stops at the epoch the first stage chose and
  keeps its threshold (the usual "choose on validation, then fit on all labelled
  non-test data"); those weights are saved and scored on the test cities, the first
  stage's validation figures stay in the card as what chose the epoch;
- a JSON-lines run log records the configuration, every epoch and the outcome.

The command line is ``tiandi run train-change-model`` (the Prefect flow
:mod:`tiandi.flows.train_change_model`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tiandi.models.metrics import ConfusionMatrix, sum_confusion
from tiandi.models.oscd import dataset_checksum
from tiandi.models.siamese import SiameseDiffUNet
from tiandi.models.training_card import (
    card_metrics,
    card_training_data,
    card_training_summary,
    jsonable,
)
from tiandi.models.training_config import CitySplit, TrainConfig, split_cities
from tiandi.models.training_data import CityArrays, band_statistics, load_city_arrays
from tiandi.models.training_loop import Fit, RunLog, fit_model, seed_everything
from tiandi.models.training_scores import predict_cities, score_probabilities
from tiandi.models.weights import WeightsFiles, build_card, save_weights


@dataclass(frozen=True)
class TrainResult:
    """Outcome of a training run: files written, the chosen epoch and threshold, and the
    scores that the model card reports (``per_city``/``overall``: the test cities when
    there are any, else the validation cities, which then flatter the model)."""

    files: WeightsFiles | None
    best_epoch: int
    threshold: float
    best_f1: float  # overall validation F1 of the chosen epoch
    validation: dict[str, ConfusionMatrix]
    per_city: dict[str, ConfusionMatrix]
    overall: ConfusionMatrix
    scored_on: str  # "test" or "validation"
    epochs_run: int  # epochs of the first stage (the one that chose)
    minutes: float
    stopped_by_time: bool
    refit_epochs: int = 0  # epochs of the refit stage (0: no refit)


def train_siamese(
    root: Path,
    out: Path,
    config: TrainConfig = TrainConfig(),
    *,
    name: str = "siamese-s2",
    version: str = "0.1",
    command: str = "",
    log_path: Path | None = None,
) -> TrainResult:
    """Train on the OSCD-layout ``root``; save the chosen epoch to ``out``.

    Returns the files written, the validation scores of the chosen epoch and the scores
    the card reports (test cities when named). Raises ``InputError`` for a bad layout or
    unknown cities.
    """
    start = time.monotonic()
    root, out = Path(root), Path(out)
    meta = {"name": name, "version": version, "command": command}
    rng = seed_everything(config.seed, config.num_threads)
    split = split_cities(root, config)
    log = RunLog(log_path)
    log.write("start", config=jsonable(asdict(config)), **asdict(split))
    try:
        model, fit, refit = _select_and_refit(root, split, config, rng, log, start)
        reported, scored_on = _reported_scores(root, split, config, model, fit)
        overall = sum_confusion(reported.values())
        if scored_on == "test":
            log.write("test", threshold=fit.threshold, overall=overall.as_dict(),
                      per_city={k: v.as_dict() for k, v in reported.items()})  # fmt: skip
        files = _save(out, model, root, split, config, fit, refit, reported, scored_on, start, meta)
        minutes = (time.monotonic() - start) / 60
        log.write("end", best_epoch=fit.best_epoch, threshold=fit.threshold,
                  scored_on=scored_on, overall=overall.as_dict(), minutes=minutes)  # fmt: skip
    finally:
        log.close()
    return TrainResult(
        files=files,
        best_epoch=fit.best_epoch,
        threshold=fit.threshold,
        best_f1=sum_confusion(fit.per_city.values()).f1 if fit.per_city else 0.0,
        validation=fit.per_city,
        per_city=reported,
        overall=overall,
        scored_on=scored_on,
        epochs_run=fit.epochs_run,
        minutes=minutes,
        stopped_by_time=fit.stopped_by_time or (refit is not None and refit.stopped_by_time),
        refit_epochs=refit.epochs_run if refit is not None else 0,
    )


def _save(
    out: Path,
    model: SiameseDiffUNet,
    root: Path,
    split: CitySplit,
    config: TrainConfig,
    fit: Fit,
    refit: Fit | None,
    reported: dict[str, ConfusionMatrix],
    scored_on: str,
    start: float,
    meta: dict[str, str],
) -> WeightsFiles | None:
    """Save the kept state with its card (``meta``: name, version, command); None when
    no epoch was kept."""
    if fit.best_state is None:
        return None
    card = build_card(
        model,
        name=meta["name"],
        version=meta["version"],
        training_data=_card_data(root, split, config, refit=refit is not None),
        training=card_training_summary(config, fit, start, refit),
        seed=config.seed,
        command=meta["command"],
        metrics=card_metrics(fit, reported, scored_on, refit=refit is not None),
    )
    return save_weights(out, model, card)


def _select_and_refit(
    root: Path,
    split: CitySplit,
    config: TrainConfig,
    rng: np.random.Generator,
    log: RunLog,
    start: float,
) -> tuple[SiameseDiffUNet, Fit, Fit | None]:
    """First stage (train, choose epoch and threshold on validation), then the refit stage
    when configured. Returns the model to save (in its kept state) and both fits."""
    train = [
        load_city_arrays(root, c, config.bands, config.patch_size, config.normalisation)
        for c in split.train
    ]
    val = [load_city_arrays(root, c, config.bands, 0, config.normalisation) for c in split.val]
    mean, std = band_statistics(train)
    model = SiameseDiffUNet(config.model_config(), band_mean=mean, band_std=std)
    fit = fit_model(model, train, val, config, rng, log, start)
    refit: Fit | None = None
    if fit.best_state is not None:
        model.load_state_dict(fit.best_state)
        if config.refit:
            model, refit = _refit(root, split, config, fit.best_epoch, train, log, start)
    return model, fit, refit


def _reported_scores(
    root: Path, split: CitySplit, config: TrainConfig, model: SiameseDiffUNet, fit: Fit
) -> tuple[dict[str, ConfusionMatrix], str]:
    """The scores the card reports and on what: the test cities when there are any (and
    an epoch was kept), else the validation figures of the chosen epoch."""
    if fit.best_state is None or not split.test:
        return fit.per_city, "validation"
    test = [load_city_arrays(root, c, config.bands, 0, config.normalisation) for c in split.test]
    return score_probabilities(predict_cities(model, test), test, fit.threshold), "test"


def _card_data(
    root: Path, split: CitySplit, config: TrainConfig, *, refit: bool
) -> dict[str, object]:
    """The card's ``training_data``, with the checksum of every city's files."""
    cities = split.train + split.val + split.test
    checksum = dataset_checksum(root, cities, config.bands)
    return card_training_data(root, split, checksum, refit=refit)


def _refit(
    root: Path,
    split: CitySplit,
    config: TrainConfig,
    epochs: int,
    train: Sequence[CityArrays],
    log: RunLog,
    start: float,
) -> tuple[SiameseDiffUNet, Fit]:
    """Second stage: a fresh model, same seed and schedule, trained on the training and
    validation cities for the ``epochs`` the first stage chose (its last state is kept)."""
    rng = seed_everything(config.seed, config.num_threads)
    cities = [
        *train,
        *(
            load_city_arrays(root, c, config.bands, config.patch_size, config.normalisation)
            for c in split.val
        ),
    ]
    mean, std = band_statistics(cities)
    model = SiameseDiffUNet(config.model_config(), band_mean=mean, band_std=std)
    log.write("refit", cities=[c.name for c in cities], epochs=epochs)
    fit = fit_model(model, cities, [], config, rng, log, start, stop_epoch=epochs, stage="refit")
    if fit.best_state is None:  # pragma: no cover - _fit always runs one epoch
        raise RuntimeError("refit ran no epoch")
    model.load_state_dict(fit.best_state)
    return model, fit
