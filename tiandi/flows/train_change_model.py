"""The ``train_change_model`` Prefect flow: check the data → train → evaluate the saved weights.

Thin tasks around library functions: :func:`tiandi.models.training.split_cities` (the
only task that retries, and only on I/O errors), :func:`tiandi.models.training.train_siamese`
(which chooses the epoch and threshold on the validation cities, scores the test cities
once and writes the weights with :func:`tiandi.models.weights.save_weights`: ``.pt``,
model card ``.json``/``.md``, and the JSON-lines run log), and
:func:`tiandi.models.evaluation.evaluate_oscd`, which reloads the written weights as a
:class:`~tiandi.models.siamese_detector.SiameseDetector` and scores the test cities (the
validation cities when no test city is named) with the pipeline's tiler; the figures go to
``<out>.eval.json``.

``cross_validate_change_model`` (``--cv-folds K``) is the city-wise cross-validation of
:mod:`tiandi.models.training_cv`: it chooses on every city in turn and trains the final
model on all of them, so there is no held-out city to re-evaluate it on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tiandi.errors import ModelError
from tiandi.flows.runtime import retry_on
from tiandi.models.evaluation import OscdEvaluation, evaluate_oscd, write_evaluation
from tiandi.models.siamese_detector import SiameseDetector
from tiandi.models.tiling_grid import TileConfig
from tiandi.models.training import TrainResult, train_siamese
from tiandi.models.training_config import CitySplit, TrainConfig, split_cities
from tiandi.models.training_cv import CvTrainResult, train_cv
from tiandi.models.weights import WeightsFiles


class RunOptions(TypedDict):
    """What every training run takes from the request: the card's name, version and
    command, and the run log."""

    name: str
    version: str
    command: str
    log_path: Path


@dataclass(frozen=True)
class TrainChangeModelRequest:
    """What to train on, where to write it, and how (``config``)."""

    root: Path
    out: Path
    config: TrainConfig = field(default_factory=TrainConfig)
    name: str = "siamese-s2"
    version: str = "0.1"
    command: str = ""
    log: Path | None = None  # None: <out without .pt>.train-log.jsonl
    # cross-validation only (config.cv_folds > 0): stop after the CV summary; reuse a
    # stored summary instead of running it; other configurations' summaries for the card
    cv_only: bool = False
    from_cv: Path | None = None
    compare: tuple[Path, ...] = ()
    # resume a stopped cross-validation from the folds its run log (log_path) finished
    resume_cv: bool = False
    # keep every out-of-fold probability in this folder (training_cv.write_probabilities)
    cv_probabilities: Path | None = None

    def run_options(self) -> RunOptions:
        """The keyword arguments every training run takes from the request (card and log)."""
        return {
            "name": self.name,
            "version": self.version,
            "command": self.command,
            "log_path": self.log_path,
        }

    @property
    def log_path(self) -> Path:
        """The JSON-lines run log."""
        return self.log if self.log is not None else self.out.with_suffix(".train-log.jsonl")

    @property
    def evaluation_path(self) -> Path:
        """The validation figures of the written weights."""
        return self.out.with_suffix(".eval.json")


@dataclass(frozen=True)
class TrainChangeModelResult:
    """The files written, the training outcome and the re-evaluation of the weights."""

    files: WeightsFiles
    training: TrainResult
    evaluation: OscdEvaluation
    evaluation_json: Path


_retry_on_io = retry_on(OSError, TimeoutError)  # retries only on I/O errors


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2, retry_condition_fn=_retry_on_io)
def check_dataset(root: Path, config: TrainConfig) -> CitySplit:
    """Training, validation and test cities of ``root`` (``InputError`` for a bad layout)."""
    split = split_cities(root, config)
    get_run_logger().info(
        "OSCD %s: train on %s, validate on %s, test on %s", root, split.train, split.val,
        split.test or "(none)",
    )  # fmt: skip
    return split


@task(cache_policy=NO_CACHE)
def train(request: TrainChangeModelRequest) -> TrainResult:
    """Train and save the chosen epoch with its model card and run log."""
    result = train_siamese(request.root, request.out, request.config, **request.run_options())
    get_run_logger().info(
        "best epoch %d of %d (%.1f min), threshold %.2f, %s, %s F1 %.4f",
        result.best_epoch,
        result.epochs_run,
        result.minutes,
        result.threshold,
        f"validation F1 {result.best_f1:.4f}" if result.validation else "no validation cities",
        result.scored_on,
        result.overall.f1,
    )
    return result


@task(cache_policy=NO_CACHE)
def evaluate(
    weights: Path, root: Path, cities: list[str], num_threads: int, out: Path
) -> OscdEvaluation:
    """Reload the written weights and score them on ``cities``."""
    detector = SiameseDetector(weights, tiling=TileConfig(num_threads=num_threads))
    evaluation = evaluate_oscd(root, detector, cities)
    write_evaluation(evaluation, out)
    get_run_logger().info(
        "reloaded %s: F1 %.4f over %s, written to %s",
        weights.name,
        evaluation.overall.f1,
        ", ".join(cities),
        out.name,
    )
    return evaluation


@flow(name="train_change_model")
def train_change_model(request: TrainChangeModelRequest) -> TrainChangeModelResult:
    """Train the Siamese change detector on an OSCD-layout folder and evaluate the result."""
    split = check_dataset(request.root, request.config)
    result = train(request)
    if result.files is None:
        raise ModelError(
            f"training on {request.root} wrote no weights to {request.out}; run at least one epoch"
        )
    evaluation = evaluate(
        result.files.weights,
        request.root,
        split.test or split.val,
        request.config.num_threads,
        request.evaluation_path,
    )
    return TrainChangeModelResult(
        files=result.files,
        training=result,
        evaluation=evaluation,
        evaluation_json=request.evaluation_path,
    )


@task(cache_policy=NO_CACHE)
def cross_validate(request: TrainChangeModelRequest) -> CvTrainResult:
    """City-wise cross-validation, then (unless ``cv_only``) the final model on all cities."""
    result = train_cv(
        request.root,
        request.out,
        request.config,
        **request.run_options(),
        compare=request.compare,
        cv_only=request.cv_only,
        from_cv=request.from_cv,
        resume=request.resume_cv,
        probabilities=request.cv_probabilities,
    )
    summary = result.summary
    get_run_logger().info(
        "%d folds: epoch %d, threshold %.2f, out-of-fold F1 %.4f; summary %s%s",
        len(summary.folds),
        summary.epoch,
        summary.threshold,
        summary.overall.f1,
        result.summary_path.name,
        f"; final weights {result.files.weights}" if result.files else "",
    )
    return result


@flow(name="cross_validate_change_model")
def cross_validate_change_model(request: TrainChangeModelRequest) -> CvTrainResult:
    """City-wise k-fold cross-validation of the Siamese change detector on every city of
    an OSCD-layout folder, then the final model trained on all of them
    (:mod:`tiandi.models.training_cv`)."""
    return cross_validate(request)
