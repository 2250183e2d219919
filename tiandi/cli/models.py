"""``tiandi evaluate oscd`` and ``tiandi run train-change-model``: change models.

Registered on the main app by :mod:`tiandi.cli.app` (one import line there).
"""

from __future__ import annotations

import shlex
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tiandi.cli.common import PrecisionOption, friendly_errors, load_settings, make_console
from tiandi.errors import InputError
from tiandi.models.metrics import ConfusionMatrix
from tiandi.models.names import DEFAULT_DETECTOR
from tiandi.models.precision import DEFAULT_PRECISION

if TYPE_CHECKING:
    from tiandi.flows.train_change_model import TrainChangeModelRequest, TrainChangeModelResult
    from tiandi.models.evaluation import OscdEvaluation
    from tiandi.models.training_config import TrainConfig
    from tiandi.models.training_cv import CvTrainResult

evaluate_app = typer.Typer(help="Score change detectors on labelled data.", no_args_is_help=True)


def _names(value: str | None, option: str) -> list[str]:
    names = [v.strip() for v in (value or "").split(",") if v.strip()]
    if value is not None and not names:
        raise InputError(f"{option} {value!r} names nothing; write e.g. bordeaux,mumbai")
    return names


def _row(table: Table, name: str, cm: ConfusionMatrix, style: str = "") -> None:
    table.add_row(
        name,
        f"{cm.precision:.4f}",
        f"{cm.recall:.4f}",
        f"{cm.f1:.4f}",
        f"{cm.overall_accuracy:.4f}",
        f"{cm.tp}",
        f"{cm.fp}",
        f"{cm.fn}",
        f"{cm.tn}",
        style=style,
    )


def _table(title: str, evaluation: OscdEvaluation) -> Table:
    """Per city and overall, the cities a model was trained or chosen on dimmed."""
    table = Table(title=title)
    table.add_column("city", no_wrap=True)
    for column in ("P", "R", "F1", "OA", "TP", "FP", "FN", "TN"):
        table.add_column(column, justify="right")
    for city, cm in evaluation.per_city.items():
        seen = city in evaluation.seen_in_training
        note = " (trained on)" if seen else " (chosen on)" if city in evaluation.chosen_on else ""
        _row(table, city + note, cm, "dim" if note else "")
    _row(table, "overall", evaluation.overall, "bold")
    return table


@evaluate_app.command("oscd")
@friendly_errors
def evaluate_oscd_command(
    root: Annotated[Path, typer.Option(help="Folder with the OSCD layout (Images, Labels).")],
    cities: Annotated[
        str | None, typer.Option(help="Comma-separated cities (default: all with labels).")
    ] = None,
    model: Annotated[
        str,
        typer.Option(
            help="Detector: integrated-high (the product's default), integrated[-highest], "
            "integrated-high@NETWORK (another shipped 6-band network inside it), baseline, "
            "a shipped weights name, or a .pt file."
        ),
    ] = DEFAULT_DETECTOR,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the figures to this JSON file.")
    ] = None,
    threads: Annotated[int, typer.Option(help="Torch threads of a trained model.")] = 2,
    precision: PrecisionOption = DEFAULT_PRECISION,
) -> None:
    """Run a change detector on OSCD-layout cities and print precision (P), recall (R), F1
    and overall accuracy (OA) of the change class per city and overall (summed confusion
    matrix)."""
    from tiandi.models.evaluation import evaluate_oscd, write_evaluation
    from tiandi.models.precision import check_precision
    from tiandi.models.registry import load_detector, network_precision

    if threads < 1:
        raise InputError(f"--threads {threads} must be at least 1")
    fmt = check_precision(precision, "--precision")
    detector = load_detector(model, num_threads=threads, precision=fmt)
    console = make_console()
    computed = network_precision(detector)
    in_fmt = f" (network in {computed})" if computed else ""
    console.print(f"{detector.name} {detector.version} on {root}{in_fmt}")
    evaluation = evaluate_oscd(
        root,
        detector,
        _names(cities, "--cities") or None,
        progress=lambda city, cm: console.print(f"  {city}: F1 {cm.f1:.4f}"),
    )
    console.print(_table(f"change class, {detector.name} {detector.version}", evaluation))
    if evaluation.seen_in_training:
        console.print(
            f"[yellow]note:[/] {', '.join(evaluation.seen_in_training)} were training cities "
            "of this model; their figures (and the overall) are not scores on unseen data"
        )
    if evaluation.chosen_on:
        console.print(
            f"[yellow]note:[/] {', '.join(evaluation.chosen_on)} chose this model's epoch and "
            "threshold (validation cities) or its confidence-level rule; their figures "
            "flatter it"
        )
    if json_out is not None:
        write_evaluation(evaluation, json_out)
        console.print(f"written {json_out}")


_ValCities = Annotated[
    str | None,
    typer.Option(
        help="Validation cities (epoch and threshold chosen on them) [default: "
        "nantes,aguasclaras; none with --cv-folds]."
    ),
]
_TestCities = Annotated[
    str | None,
    typer.Option(
        help="Test cities, scored once at the end ('' for none) [default: "
        "bordeaux,mumbai; none with --cv-folds]."
    ),
]
_MaxMinutes = Annotated[
    float | None, typer.Option(help="Stop after the epoch that passes this time.")
]
_Refit = Annotated[
    bool,
    typer.Option(
        help="After choosing epoch and threshold, train again on train + validation "
        "cities up to that epoch and save that (needs test cities)."
    ),
]
_CvFolds = Annotated[
    int,
    typer.Option(
        help="City-wise cross-validation over every labelled city with this many folds "
        "(epoch and threshold chosen on the pooled out-of-fold confusion), then the "
        "final model on all cities (0: validation/test cities instead)."
    ),
]
_CvOnly = Annotated[
    bool, typer.Option(help="With --cv-folds: write the CV summary, train no final model.")
]
_FromCv = Annotated[
    Path | None,
    typer.Option(help="With --cv-folds: reuse this .cv.json instead of cross-validating."),
]
_Fusion = Annotated[
    str,
    typer.Option(
        help="How the dates meet: siam-diff (shared encoder, feature differences) or "
        "early (FC-EF: both dates stacked as one input)."
    ),
]
_ResumeCv = Annotated[
    bool,
    typer.Option(
        help="With --cv-folds: keep the folds a stopped run of the same command finished "
        "(its run log beside --out) and train only the others."
    ),
]
_CvLastEpoch = Annotated[
    int,
    typer.Option(
        help="With --cv-folds: train and score each fold for this many epochs of the "
        "--epochs schedule only (0: all); the same epochs as the full run, sooner."
    ),
]
_CvProbabilities = Annotated[
    Path | None,
    typer.Option(
        help="With --cv-folds: keep every out-of-fold probability here "
        "(epoch-NN/<city>.npy, float16), e.g. to score an ensemble of runs."
    ),
]
_CompareCv = Annotated[
    str | None,
    typer.Option(help="With --cv-folds: other configurations' .cv.json files for the card."),
]
_EmaDecay = Annotated[
    float, typer.Option(help="EMA of the weights that is scored and saved (0: none).")
]
_Threshold = Annotated[
    float | None, typer.Option(help="Fixed decision threshold (default: chosen on val).")
]
_Loss = Annotated[str, typer.Option(help="bce, focal, dice, bce+dice, focal+dice.")]
_Jitter = Annotated[
    float,
    typer.Option(
        help="Radiometric jitter amplitude (reflectance; standard deviations when standardised)."
    ),
]


@friendly_errors
def run_train_change_model(
    root: Annotated[Path, typer.Option(help="Folder with the OSCD layout.")],
    out: Annotated[Path, typer.Option(help="Weights file to write (.pt; card beside it).")],
    epochs: Annotated[int, typer.Option(help="Epochs.")] = 24,
    steps_per_epoch: Annotated[int, typer.Option(help="Batches per epoch.")] = 200,
    patch_size: Annotated[int, typer.Option(help="Training patch side (px).")] = 96,
    batch_size: Annotated[int, typer.Option(help="Patches per batch.")] = 8,
    bands: Annotated[str, typer.Option(help="s2-13, rgbn or B02,B03,...")] = "s2-13",
    val_cities: _ValCities = None,
    test_cities: _TestCities = None,
    base_channels: Annotated[int, typer.Option(help="Width of the first level.")] = 16,
    depth: Annotated[int, typer.Option(help="Levels of the U-Net (2-5).")] = 4,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 5e-4,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay.")] = 1e-2,
    dropout: Annotated[float, typer.Option(help="Decoder dropout.")] = 0.3,
    ema_decay: _EmaDecay = 0.995,
    threshold: _Threshold = None,
    loss: _Loss = "bce+dice",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    num_threads: Annotated[int, typer.Option(help="Torch threads.")] = 2,
    max_minutes: _MaxMinutes = None,
    refit: _Refit = False,
    name: Annotated[str, typer.Option(help="Model name in the card.")] = "siamese-s2",
    version: Annotated[str, typer.Option(help="Model version in the card.")] = "0.1",
    normalisation: Annotated[
        str, typer.Option(help="Input normalisation: dataset, per_image or per_pair.")
    ] = "dataset",
    jitter_common_gain: _Jitter = 0.15,
    jitter_date_gain: _Jitter = 0.05,
    jitter_date_offset: _Jitter = 0.01,
    jitter_common_offset: Annotated[
        float,
        typer.Option(
            help="Per-band offset shared by both dates (± reflectance; L1C vs L2A); 0: none."
        ),
    ] = 0.0,
    fusion: _Fusion = "siam-diff",  # siamese.SIAM_DIFF (this module does not import torch)
    cv_folds: _CvFolds = 0,
    cv_only: _CvOnly = False,
    from_cv: _FromCv = None,
    resume_cv: _ResumeCv = False,
    compare_cv: _CompareCv = None,
    cv_last_epoch: _CvLastEpoch = 0,
    cv_probabilities: _CvProbabilities = None,
) -> None:
    """Train the Siamese change detector (Prefect flow train_change_model) and evaluate it,
    or cross-validate it city by city and train the final model (``--cv-folds``)."""
    options = dict(locals())
    settings = load_settings()
    from tiandi.flows.runtime import prefect_session
    from tiandi.flows.train_change_model import cross_validate_change_model, train_change_model

    request = _train_request(options)
    with prefect_session(settings):
        if cv_folds:
            cv = cross_validate_change_model(request)
            _print_cv(make_console(), cv, request.log_path)
            return
        result = train_change_model(request)
    _print_training(make_console(), result, request.log_path)


def _train_request(options: dict[str, Any]) -> TrainChangeModelRequest:
    """The flow's request from the command's options (``InputError`` for CV-only options
    without ``--cv-folds``)."""
    from tiandi.flows.train_change_model import TrainChangeModelRequest

    cv_options = ("cv_only", "from_cv", "compare_cv", "resume_cv", "cv_last_epoch",
                  "cv_probabilities")  # fmt: skip
    if options["cv_folds"] == 0 and any(options[k] for k in cv_options):
        raise InputError(
            "--cv-only, --from-cv, --resume-cv, --compare-cv, --cv-last-epoch and "
            "--cv-probabilities need --cv-folds K (K >= 2)"
        )
    return TrainChangeModelRequest(
        root=options["root"],
        out=options["out"],
        config=_train_config(options),
        name=options["name"],
        version=options["version"],
        command="tiandi run train-change-model " + shlex.join(_command_args(options)),
        cv_only=options["cv_only"],
        from_cv=options["from_cv"],
        resume_cv=options["resume_cv"],
        cv_probabilities=options["cv_probabilities"],
        compare=tuple(Path(p) for p in _names(options["compare_cv"], "--compare-cv")),
    )


#: Options that go to TrainConfig unchanged.
_CONFIG_OPTIONS = (
    "epochs", "steps_per_epoch", "patch_size", "batch_size", "base_channels", "depth", "lr",
    "weight_decay", "dropout", "ema_decay", "threshold", "loss", "seed", "num_threads",
    "max_minutes", "refit", "normalisation", "jitter_common_gain", "jitter_date_gain",
    "jitter_date_offset", "jitter_common_offset", "fusion", "cv_folds", "cv_last_epoch",
)  # fmt: skip
#: Options written into the model card's command line, in this order.
_COMMAND_OPTIONS = (
    "root", "out", "epochs", "steps_per_epoch", "patch_size", "batch_size", "bands",
    "val_cities", "test_cities", "base_channels", "depth", "lr", "weight_decay", "dropout",
    "ema_decay", "loss", "seed", "num_threads", "name", "version", "normalisation",
    "jitter_common_gain", "jitter_date_gain", "jitter_date_offset", "jitter_common_offset",
    "fusion",
)  # fmt: skip


def _train_config(options: dict[str, Any]) -> TrainConfig:
    """The training configuration of the command's options."""
    from tiandi.models.training_config import (
        DEFAULT_TEST_CITIES,
        DEFAULT_VAL_CITIES,
        TrainConfig,
        parse_bands,
    )

    cv = options["cv_folds"] > 0
    val_cities = options["val_cities"]
    if val_cities is None:
        val_cities = "" if cv else ",".join(DEFAULT_VAL_CITIES)
    test_cities = options["test_cities"]
    if test_cities is None:
        test_cities = "" if cv else ",".join(DEFAULT_TEST_CITIES)
    return replace(
        TrainConfig(),
        bands=parse_bands(options["bands"]),
        val_cities=tuple(_names(val_cities, "--val-cities") if val_cities else ()),
        test_cities=tuple(_names(test_cities, "--test-cities") if test_cities else ()),
        **{key: options[key] for key in _CONFIG_OPTIONS},
    )


def _command_args(options: dict[str, Any]) -> list[str]:
    """The command's options as arguments, for the model card."""
    args = []
    for key in _COMMAND_OPTIONS:
        if options[key] is not None:
            args += [f"--{key.replace('_', '-')}", str(options[key])]
    for key in ("threshold", "max_minutes", "from_cv", "compare_cv", "cv_probabilities"):
        if options[key] is not None:
            args += [f"--{key.replace('_', '-')}", str(options[key])]
    for key in ("cv_folds", "cv_last_epoch"):
        if options[key]:
            args += [f"--{key.replace('_', '-')}", str(options[key])]
    for flag in ("refit", "cv_only"):
        if options[flag]:
            args.append(f"--{flag.replace('_', '-')}")
    return args


def _print_training(console: Console, result: TrainChangeModelResult, log_path: Path) -> None:
    """Where the weights are and how they scored."""
    overall, training = result.evaluation.overall, result.training
    chosen = (f"validation F1 {training.best_f1:.4f}; " if training.validation
              else "no validation cities (fixed threshold, last epoch kept); ")  # fmt: skip
    refit = f"refit on training + validation cities for {training.refit_epochs} epochs; "
    console.print(
        f"weights {result.files.weights} (card {result.files.card_md.name}); best epoch "
        f"{training.best_epoch} of {training.epochs_run}, threshold {training.threshold:.2f}; "
        + chosen + (refit if training.refit_epochs else "")
        + f"{training.scored_on} ({', '.join(result.evaluation.per_city)}): P "
        f"{overall.precision:.4f} R {overall.recall:.4f} F1 {overall.f1:.4f} OA "
        f"{overall.overall_accuracy:.4f}"
    )  # fmt: skip
    console.print(f"figures {result.evaluation_json}; run log {log_path}")


def _print_cv(console: Console, result: CvTrainResult, log_path: Path) -> None:
    """The folds, the pooled choice and where the files are."""
    summary = result.summary
    for i, fold in enumerate(summary.folds):
        console.print(f"fold {i + 1}: {', '.join(fold)}")
    table = Table(title=f"out-of-fold, epoch {summary.epoch}, threshold {summary.threshold:.2f}")
    table.add_column("city", no_wrap=True)
    for column in ("P", "R", "F1", "OA", "TP", "FP", "FN", "TN"):
        table.add_column(column, justify="right")
    for city, cm in summary.per_city.items():
        _row(table, city, cm)
    _row(table, "overall (pooled)", summary.overall, "bold")
    console.print(table)
    console.print(f"CV summary {result.summary_path}; run log {log_path}")
    if result.files is not None:
        console.print(
            f"final weights {result.files.weights} (card {result.files.card_md.name}), "
            f"trained on all {len(summary.per_city)} cities for {summary.epoch} epochs"
        )
