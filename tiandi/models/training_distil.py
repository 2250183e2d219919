"""A smaller change network taught by a shipped one (knowledge distillation; issue 17,
the default detector's network over whole provinces; the measurement:
``scripts/experiments/distilled_network/``).

    python -m tiandi.models.training_distil --teacher siamese-s2-6band-v0.2 \
        --root ../shared/data/oscd-train --out siamese-s2-6band-lite.pt \
        --name siamese-s2-6band-lite --version 0.1 --base-channels 8 \
        --test-cities beihai,hongkong,pisa,rennes,bordeaux,mumbai

The student has the teacher's architecture, bands, input normalisation, band statistics
and decision threshold, with fewer channels (``--base-channels``). It is trained on the
cities the teacher was trained on (its card's ``train_cities``; no other imagery) to give
the teacher's change probabilities on the same augmented patches (flips, rotations,
temporal swap, radiometric jitter; :func:`tiandi.models.training_loop.distillation_loss`),
not the labels: what it learns is the teacher's behaviour, including on inputs shifted as
L2A surface reflectance is from the L1C top-of-atmosphere reflectance OSCD holds. The
test cities (which neither network trained on) are scored for both at the end; the card
reports the student's figures with the teacher's beside them.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tiandi.errors import InputError, TiandiError
from tiandi.models.metrics import ConfusionMatrix, sum_confusion
from tiandi.models.oscd import dataset_checksum, list_cities
from tiandi.models.registry import WEIGHTS_DIR
from tiandi.models.siamese import SiameseDiffUNet, fold_batch_norm
from tiandi.models.training_card import (
    card_metrics,
    card_training_data,
    card_training_summary,
    jsonable,
)
from tiandi.models.training_config import CitySplit, TrainConfig
from tiandi.models.training_data import CityArrays, load_city_arrays
from tiandi.models.training_loop import RunLog, fit_model, seed_everything
from tiandi.models.training_scores import predict_cities, score_probabilities
from tiandi.models.weights import (
    LoadedModel,
    WeightsFiles,
    build_card,
    load_weights,
    save_weights,
)

DISTILLATION_LOSS = (
    "distillation: binary cross-entropy against the teacher's change probabilities on the "
    "same augmented patches (temperature 1; labels only choose change-centred patches and "
    "mask no data)"
)
"""What the card's ``training.loss`` says of a distilled network."""


def load_teacher(teacher: str) -> tuple[Path, LoadedModel, SiameseDiffUNet]:
    """A single shipped network by name (``siamese-s2-6band-v0.2``) or a weights path:
    its file, what was loaded and the network."""
    path = Path(teacher)
    if not path.is_file():
        path = WEIGHTS_DIR / f"{teacher.removesuffix('.pt')}.pt"
    if not path.is_file():
        raise InputError(
            f"--teacher {teacher}: neither a weights file nor a shipped network "
            f"({WEIGHTS_DIR}); give e.g. siamese-s2-6band-v0.2"
        )
    loaded = load_weights(path)
    if not isinstance(loaded.model, SiameseDiffUNet):
        raise InputError(f"--teacher {teacher}: an ensemble; distil from a single network")
    return path, loaded, loaded.model


def chosen_cities(loaded: LoadedModel) -> list[str]:
    """The cities a teacher chose its epoch and threshold on and did not train on (its card's
    ``val_cities`` less its ``train_cities``): a student keeps that threshold, so its card
    lists them as its validation cities, which ``tiandi evaluate oscd`` marks."""
    data = loaded.card.training_data
    trained = {str(c) for c in data.get("train_cities", ())}
    return [str(c) for c in data.get("val_cities", ()) if str(c) not in trained]


def student_config(
    loaded: LoadedModel, net: SiameseDiffUNet, test_cities: Sequence[str], **options: Any
) -> TrainConfig:
    """The student's training configuration: the teacher's bands, depth, attention,
    fusion, normalisation and threshold, its training cities, and ``options`` (any other
    :class:`TrainConfig` field: base_channels, epochs, seed, ...)."""
    teacher = net.config
    data = loaded.card.training_data
    trained = tuple(str(c) for c in data.get("train_cities", ()))
    if not trained or "threshold" not in loaded.card.metrics:
        raise InputError(
            f"{loaded.card.name} v{loaded.card.version}: its card names no train_cities or no "
            "threshold, which a student takes from it; distil from a network trained by "
            "tiandi run train-change-model"
        )
    if not test_cities:
        raise InputError("--test-cities: name at least one city the teacher never saw")
    if overlap := sorted((set(trained) | set(chosen_cities(loaded))) & set(test_cities)):
        raise InputError(
            f"--test-cities {', '.join(overlap)}: the teacher {loaded.card.name} "
            f"v{loaded.card.version} was trained or validated on them; test on cities it "
            "never saw"
        )
    return TrainConfig(
        bands=teacher.bands, depth=teacher.depth, attention=teacher.attention,
        fusion=teacher.fusion, normalisation=teacher.normalisation,
        threshold=float(loaded.card.metrics["threshold"]), train_cities=trained,
        val_cities=(), test_cities=tuple(test_cities), **options,
    )  # fmt: skip


def distil(
    root: Path,
    out: Path,
    teacher: str,
    config_options: dict[str, Any],
    *,
    name: str,
    version: str,
    command: str,
) -> tuple[WeightsFiles, dict[str, ConfusionMatrix], dict[str, ConfusionMatrix]]:
    """Train a student of ``teacher`` on ``root`` (module docstring) and save it to
    ``out``; returns its files and the test cities' confusion matrices of the student and
    the teacher, both at the teacher's threshold."""
    start = time.monotonic()
    root, out = Path(root), Path(out)
    teacher_path, loaded, net = load_teacher(teacher)
    options = dict(config_options)
    test_cities = tuple(options.pop("test_cities", ()))
    config = student_config(loaded, net, test_cities, **options)
    if missing := sorted(set(config.train_cities + test_cities) - set(list_cities(root))):
        raise InputError(f"{root}: no city {', '.join(missing)}; give the OSCD training folder")
    rng = seed_everything(config.seed, config.num_threads)
    train = [
        load_city_arrays(root, c, config.bands, config.patch_size, config.normalisation)
        for c in config.train_cities
    ]
    student = SiameseDiffUNet(
        config.model_config(),
        band_mean=net.band_mean.flatten().tolist(),
        band_std=net.band_std.flatten().tolist(),
    )
    log = RunLog(out.with_suffix(".train-log.jsonl"))
    try:
        log.write("start", config=jsonable(asdict(config)), teacher=str(teacher_path.name))
        teacher_net = fold_batch_norm(net).eval()
        fit = fit_model(student, train, [], config, rng, log, start, stage="distil",
                        teacher=teacher_net, epoch_hook=_progress(config, start))  # fmt: skip
        assert fit.best_state is not None  # without validation the last epoch is kept
        student.load_state_dict(fit.best_state)
        student.eval()
        taught, own = _scores(root, config, [student, teacher_net], test_cities)
        log.write("test", threshold=config.threshold,
                  student=sum_confusion(taught.values()).as_dict(),
                  teacher=sum_confusion(own.values()).as_dict())  # fmt: skip
    finally:
        log.close()
    split = CitySplit(list(config.train_cities), chosen_cities(loaded), list(test_cities))
    checksum = dataset_checksum(root, [*split.train, *split.val, *split.test], config.bands)
    training = card_training_summary(config, fit, start)
    training["teacher"] = f"{loaded.card.name} v{loaded.card.version} ({teacher_path.name})"
    card = build_card(
        student, name=name, version=version, seed=config.seed, command=command,
        training_data=card_training_data(root, split, checksum),
        training=_distillation_training(training),
        metrics=_metrics(card_metrics(fit, taught, "test"), loaded, own),
        notes=[_note(loaded, net, config)],
    )  # fmt: skip
    return save_weights(out, student, card), taught, own


def _distillation_training(training: dict[str, Any]) -> dict[str, Any]:
    """The card's ``training`` of a student: the loss is the distillation's."""
    training.pop("pos_weight", None)
    return {**training, "loss": DISTILLATION_LOSS}


def _metrics(
    metrics: dict[str, Any], loaded: LoadedModel, own: dict[str, ConfusionMatrix]
) -> dict[str, Any]:
    """The student's card metrics with its teacher's on the same test cities beside them."""
    teacher = {"name": loaded.card.name, "version": loaded.card.version,
               "overall": sum_confusion(own.values()).as_dict(),
               "per_city": {k: v.as_dict() for k, v in own.items()}}  # fmt: skip
    return {**metrics, "teacher": teacher}


def _progress(config: TrainConfig, start: float) -> Callable[[int, Any], dict[str, Any]]:
    """An epoch hook that prints the run's progress (the run log has the figures)."""

    def hook(epoch: int, _model: Any) -> dict[str, Any]:
        minutes = (time.monotonic() - start) / 60
        print(f"epoch {epoch}/{config.epochs} ({minutes:.1f} min)", flush=True)
        return {}

    return hook


def _scores(
    root: Path, config: TrainConfig, nets: Sequence[Any], cities: Sequence[str]
) -> tuple[dict[str, ConfusionMatrix], ...]:
    """Each network's confusion matrices on ``cities`` at the configuration's threshold."""
    arrays: list[CityArrays] = [
        load_city_arrays(root, c, config.bands, 0, config.normalisation) for c in cities
    ]
    threshold = float(config.threshold or 0.5)
    return tuple(score_probabilities(predict_cities(n, arrays), arrays, threshold) for n in nets)


def _note(loaded: LoadedModel, net: SiameseDiffUNet, config: TrainConfig) -> str:
    return (
        f"Distilled from {loaded.card.name} v{loaded.card.version} "
        f"({net.config.base_channels} base channels; this network "
        f"{config.base_channels}): trained to give the teacher's change probabilities on "
        f"the teacher's training cities ({', '.join(config.train_cities)}), not their "
        "labels; its threshold is the teacher's. It expects what the teacher expects."
    )


def main(argv: Sequence[str] | None = None) -> None:
    """The command line (module docstring)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--teacher", required=True, help="a shipped network or a .pt path")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--name", default="siamese-s2-lite")
    parser.add_argument("--version", default="0.1")
    parser.add_argument("--test-cities", required=True,
                        help="comma-separated cities the teacher never saw")  # fmt: skip
    for flag, kind, default in _OPTIONS:
        parser.add_argument(f"--{flag.replace('_', '-')}", type=kind, default=default)
    args = parser.parse_args(argv)
    options = {flag: getattr(args, flag) for flag, _, _ in _OPTIONS}
    options["test_cities"] = tuple(c for c in args.test_cities.split(",") if c)
    command = "python -m tiandi.models.training_distil " + shlex.join(
        list(argv if argv is not None else sys.argv[1:])
    )
    try:
        files, taught, own = distil(
            args.root, args.out, args.teacher, options,
            name=args.name, version=args.version, command=command,
        )  # fmt: skip
    except TiandiError as exc:
        parser.exit(2, f"error: {exc}\n")
    student, teacher = sum_confusion(taught.values()), sum_confusion(own.values())
    print(f"student {files.weights}: test F1 {student.f1:.4f} (P {student.precision:.3f} "
          f"R {student.recall:.3f}); teacher {teacher.f1:.4f} (P {teacher.precision:.3f} "
          f"R {teacher.recall:.3f})")  # fmt: skip


_OPTIONS: tuple[tuple[str, type, Any], ...] = (
    ("base_channels", int, 8),
    ("epochs", int, 12),
    ("steps_per_epoch", int, 200),
    ("patch_size", int, 96),
    ("batch_size", int, 8),
    ("lr", float, 1e-3),
    ("weight_decay", float, 1e-2),
    ("dropout", float, 0.0),
    ("ema_decay", float, 0.995),
    ("jitter_common_gain", float, 0.15),
    ("jitter_date_gain", float, 0.05),
    ("jitter_date_offset", float, 0.01),
    ("jitter_common_offset", float, 0.05),
    ("seed", int, 0),
    ("num_threads", int, 2),
)
"""The student's training options (:class:`TrainConfig` fields) and their defaults."""


if __name__ == "__main__":
    main()
