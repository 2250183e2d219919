"""City-wise k-fold cross-validation of the change detector, and the final model trained
on every city with the epoch and threshold the cross-validation chose.

- **Folds** (:func:`assign_folds`), fixed before any training: the cities sorted by their
  number of changed pixels (largest first, name on ties), each put into the fold with the
  fewest changed pixels so far (lowest fold on ties). The folds hold about the same
  amount of change; the assignment depends only on the labels.
- **Out-of-fold scores**: for each fold a fresh model (same seed and schedule) is trained
  on the other cities; after every epoch the fold's cities are predicted whole and their
  confusion counts are recorded at every threshold of
  :data:`~tiandi.models.training_config.THRESHOLDS` (run log ``event: "epoch"``,
  ``stage: "cv"``, ``cv_counts``). A city is only ever scored by the fold model that did
  not train on it.
- **Choice**: the epoch and threshold with the best F1 of the *pooled* out-of-fold
  confusion (summed over every city of every fold; earliest epoch, then lowest threshold
  on ties).
- **Final model**: trained from the same seed on every city up to the chosen epoch (same
  learning-rate schedule), saved with that threshold; its card lists the folds, the
  out-of-fold figures per city and overall at the choice, and the other configurations'
  cross-validated F1 (``compare``: their ``.cv.json`` summaries).

The summary of a cross-validation (``<out>.cv.json``) lets the final model be trained
later without repeating it (``from_cv``), e.g. after comparing configurations; a stopped
cross-validation resumes from the folds its run log finished (``resume``,
:mod:`tiandi.models.training_cv_reuse`).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tiandi._io import atomic_path
from tiandi.errors import InputError
from tiandi.models.metrics import ConfusionMatrix
from tiandi.models.oscd import dataset_checksum
from tiandi.models.siamese import SiameseDiffUNet
from tiandi.models.training_card import card_cv, card_training_summary, input_note, jsonable
from tiandi.models.training_config import THRESHOLDS, TrainConfig
from tiandi.models.training_cv_probabilities import check_probabilities, write_probabilities
from tiandi.models.training_cv_reuse import (
    FinishedFolds,
    finished_folds,
    read_run_log,
    settings_differ,
)
from tiandi.models.training_cv_summary import CvSummary
from tiandi.models.training_data import CityArrays, band_statistics, load_city_arrays
from tiandi.models.training_loop import RunLog, fit_model, seed_everything
from tiandi.models.training_scores import predict_cities, score_probabilities
from tiandi.models.weights import WeightsFiles, build_card, save_weights


@dataclass(frozen=True)
class CvTrainResult:
    """The cross-validation and, unless it was only that, the final model's files."""

    summary: CvSummary
    summary_path: Path
    files: WeightsFiles | None
    minutes: float


def assign_folds(change_pixels: Mapping[str, int], k: int) -> list[list[str]]:
    """The cities in ``k`` folds balanced by changed pixels (module docstring); each
    fold's cities in the order they were assigned. ``InputError`` for fewer cities than
    folds."""
    if k < 2 or len(change_pixels) < k:
        raise InputError(
            f"cross-validation needs 2 <= folds <= cities; got {k} folds for "
            f"{len(change_pixels)} cities ({', '.join(change_pixels)})"
        )
    folds: list[list[str]] = [[] for _ in range(k)]
    load = [0] * k
    for city in sorted(change_pixels, key=lambda c: (-change_pixels[c], c)):
        i = min(range(k), key=lambda j: (load[j], j))
        folds[i].append(city)
        load[i] += change_pixels[city]
    return folds


def _pool(
    counts: Mapping[tuple[int, float, str], ConfusionMatrix],
) -> tuple[int, float, dict[int, float]]:
    """The (epoch, threshold) with the best pooled F1, and each epoch's best pooled F1.
    Only epochs that every city was scored at take part."""
    pooled: dict[tuple[int, float], ConfusionMatrix] = {}
    scored: dict[tuple[int, float], int] = {}
    for (epoch, threshold, _), cm in counts.items():
        key = (epoch, threshold)
        pooled[key] = pooled[key] + cm if key in pooled else cm
        scored[key] = scored.get(key, 0) + 1
    everyone = len({city for _, _, city in counts})
    pooled = {k: v for k, v in pooled.items() if scored[k] == everyone}
    best = max(pooled, key=lambda k: (pooled[k].f1, -k[0], -k[1]))
    by_epoch: dict[int, float] = {}
    for (epoch, _), cm in pooled.items():
        by_epoch[epoch] = max(by_epoch.get(epoch, -1.0), cm.f1)
    return best[0], best[1], dict(sorted(by_epoch.items()))


def new_model(config: TrainConfig, cities: Sequence[CityArrays]) -> SiameseDiffUNet:
    """A fresh network of ``config`` with the band statistics of ``cities``."""
    mean, std = band_statistics(cities)
    return SiameseDiffUNet(config.model_config(), band_mean=mean, band_std=std)


def cross_validate(
    cities: Sequence[CityArrays],
    config: TrainConfig,
    log: RunLog,
    start: float,
    command: str = "",
    done: FinishedFolds | None = None,
    probabilities: Path | None = None,
) -> CvSummary:
    """Train one model per fold (``config.cv_folds``) for ``config.cv_epochs`` epochs and
    choose epoch and threshold on the pooled out-of-fold confusion (module docstring).
    ``done``: the folds a stopped run finished, taken instead of trained again.
    ``probabilities``: a folder to keep every out-of-fold probability in
    (:func:`write_probabilities`)."""
    changes = _change_pixels(cities)
    folds = assign_folds(changes, config.cv_folds)
    done = done or FinishedFolds({}, 0.0)
    log.write("cv_folds", folds=folds, change_pixels=changes)
    counts: dict[tuple[int, float, str], ConfusionMatrix] = {}
    for i, fold in enumerate(folds):
        held = [c for c in cities if c.name in fold]
        train = [c for c in cities if c.name not in fold]
        if i in done.events:
            _take_fold(done.events[i], i, fold, train, counts, log)
            continue
        rng = seed_everything(config.seed, config.num_threads)
        model = new_model(config, train)
        log.write("cv_fold", fold=i, held_out=fold, train=[c.name for c in train])

        hook = functools.partial(
            _score_fold, fold=i, held=held, counts=counts, probabilities=probabilities
        )
        fit_model(model, train, [], config, rng, log, start, stop_epoch=config.cv_epochs,
                  stage="cv", epoch_hook=hook)  # fmt: skip
    epoch, threshold, by_epoch = _pool(counts)
    per_city = {c.name: counts[(epoch, threshold, c.name)] for c in cities}
    summary = CvSummary(
        config=jsonable(asdict(config)),
        folds=folds,
        epoch=epoch,
        threshold=threshold,
        per_city=per_city,
        f1_by_epoch=by_epoch,
        minutes=(time.monotonic() - start) / 60 + done.minutes,
        command=command,
    )
    log.write("cv_choice", epoch=epoch, threshold=threshold, overall=summary.overall.as_dict(),
              f1_by_epoch=by_epoch)  # fmt: skip
    return summary


def _take_fold(
    events: list[dict[str, Any]],
    fold: int,
    held: list[str],
    train: Sequence[CityArrays],
    counts: dict[tuple[int, float, str], ConfusionMatrix],
    log: RunLog,
) -> None:
    """A fold a stopped run finished: its confusion counts recorded in ``counts`` and its
    events written again to this run's log (marked resumed)."""
    log.write("cv_fold", fold=fold, held_out=held, train=[c.name for c in train], resumed=True)
    for event in events:
        for threshold, per_city in event["cv_counts"].items():
            for city, (tp, fp, fn, tn) in per_city.items():
                counts[(int(event["epoch"]), float(threshold), city)] = ConfusionMatrix(
                    tp=tp, fp=fp, fn=fn, tn=tn
                )
        log.write(**{**event, "resumed": True})


def _score_fold(
    epoch: int,
    scored: SiameseDiffUNet,
    *,
    fold: int,
    held: Sequence[CityArrays],
    counts: dict[tuple[int, float, str], ConfusionMatrix],
    probabilities: Path | None = None,
) -> dict[str, Any]:
    """Predict the held-out cities of ``fold``, record their confusion at every threshold
    in ``counts`` (and their probabilities in ``probabilities``) and return them for the
    epoch's log line."""
    probs = predict_cities(scored, held)
    if probabilities is not None:
        write_probabilities(probabilities, epoch, probs)
    grid: dict[str, dict[str, list[int]]] = {}
    for t in THRESHOLDS:
        per_city = score_probabilities(probs, held, t)
        for city, cm in per_city.items():
            counts[(epoch, t, city)] = cm
        grid[f"{t:.2f}"] = {k: [v.tp, v.fp, v.fn, v.tn] for k, v in per_city.items()}
    return {"fold": fold, "cv_counts": grid, "cv_counts_order": "tp, fp, fn, tn"}


def _check_reuse(summary: CvSummary, config: TrainConfig, path: Path) -> None:
    differ = settings_differ(summary.config, config)
    if differ:
        raise InputError(
            f"{path}: the cross-validation was run with other settings ({', '.join(differ)}); "
            "train the final model with the options of that run"
        )


def train_cv(
    root: Path,
    out: Path,
    config: TrainConfig,
    *,
    name: str = "siamese-s2",
    version: str = "0.1",
    command: str = "",
    log_path: Path | None = None,
    compare: Sequence[Path] = (),
    cv_only: bool = False,
    from_cv: Path | None = None,
    resume: bool = False,
    probabilities: Path | None = None,
) -> CvTrainResult:
    """Cross-validate ``config`` on every city of ``root`` (or reuse the summary
    ``from_cv``; with ``resume``, take the folds the run log at ``log_path`` finished),
    write the summary to ``<out>.cv.json`` and, unless ``cv_only``, train the final model
    on every city and save it to ``out`` with its card. ``probabilities``: a folder for
    the out-of-fold probabilities of the folds trained (:func:`write_probabilities`)."""
    start = time.monotonic()
    root, out = Path(root), Path(out)
    if config.cv_folds < 2:
        raise InputError(f"cross-validation needs cv_folds >= 2; got {config.cv_folds}")
    others = [CvSummary.read(p) for p in compare]  # fail early, before hours of training
    names = cities_to_train_on(root)
    cities = [
        load_city_arrays(root, c, config.bands, config.patch_size, config.normalisation)
        for c in names
    ]
    # checked before the log is written anew: a resume that fails keeps the stopped log
    done = _stopped_run(log_path, from_cv, config, cities) if resume else None
    check_probabilities(probabilities, from_cv, done)
    log = RunLog(log_path)
    log.write("start", config=jsonable(asdict(config)), cities=names, from_cv=str(from_cv or ""),
              resumed=resume)  # fmt: skip
    try:
        if from_cv is not None:
            summary = CvSummary.read(from_cv)
            _check_reuse(summary, config, from_cv)
        else:
            summary = cross_validate(cities, config, log, start, command, done, probabilities)
        summary_path = out.with_suffix(".cv.json")
        _write_json(summary_path, summary.as_dict())
        files = None
        if not cv_only:
            files = _final(root, out, cities, config, summary, others, compare, start, log,
                           {"name": name, "version": version, "command": command})  # fmt: skip
        minutes = (time.monotonic() - start) / 60
        log.write("end", epoch=summary.epoch, threshold=summary.threshold,
                  overall=summary.overall.as_dict(), minutes=minutes)  # fmt: skip
    finally:
        log.close()
    return CvTrainResult(summary=summary, summary_path=summary_path, files=files, minutes=minutes)


def _stopped_run(
    log_path: Path | None, from_cv: Path | None, config: TrainConfig, cities: Sequence[CityArrays]
) -> FinishedFolds:
    """The folds the stopped run whose log is ``log_path`` finished."""
    if from_cv is not None or log_path is None:
        raise InputError(
            "resuming a cross-validation needs its run log and trains folds, so it takes "
            "neither --from-cv nor a run without a log"
        )
    folds = assign_folds(_change_pixels(cities), config.cv_folds)
    return finished_folds(read_run_log(log_path), log_path, config, folds)


def _change_pixels(cities: Sequence[CityArrays]) -> dict[str, int]:
    return {c.name: int(c.change_index.size) for c in cities}


def cities_to_train_on(root: Path) -> list[str]:
    """Every city of ``root`` with a change map; ``InputError`` when there is none."""
    from tiandi.models.evaluation import labelled_cities

    names = labelled_cities(root)
    if not names:
        raise InputError(f"{root}: no city with a change map to cross-validate on")
    return names


def _final(
    root: Path,
    out: Path,
    cities: Sequence[CityArrays],
    config: TrainConfig,
    summary: CvSummary,
    others: Sequence[CvSummary],
    compare: Sequence[Path],
    start: float,
    log: RunLog,
    meta: dict[str, str],
) -> WeightsFiles:
    """The final model: every city, up to the chosen epoch, saved with the CV card."""
    rng = seed_everything(config.seed, config.num_threads)
    model = new_model(config, cities)
    log.write("final", cities=[c.name for c in cities], epochs=summary.epoch)
    fit = fit_model(
        model, cities, [], config, rng, log, start, stop_epoch=summary.epoch, stage="final"
    )
    if fit.best_state is None:  # pragma: no cover - fit_model always runs one epoch
        raise RuntimeError("final training ran no epoch")
    model.load_state_dict(fit.best_state)
    fit.best_epoch, fit.threshold = summary.epoch, summary.threshold
    names = [c.name for c in cities]
    manifest = root / "MANIFEST.tsv"
    training_data, metrics = card_cv(
        root, names, dataset_checksum(root, names, config.bands), summary,
        [(p.name, s) for p, s in zip(compare, others, strict=True)],
        manifest if manifest.is_file() else None,
    )  # fmt: skip
    training = card_training_summary(config, fit, start)
    training["cv_minutes"] = round(summary.minutes, 1)
    training["cv_command"] = summary.command
    card = build_card(
        model,
        name=meta["name"],
        version=meta["version"],
        training_data=training_data,
        training=training,
        seed=config.seed,
        command=meta["command"],
        metrics=metrics,
        notes=[input_note(config.normalisation), *_reuse_note(summary, meta["command"])],
    )
    return save_weights(out, model, card)


def _reuse_note(summary: CvSummary, command: str) -> list[str]:
    """How to redo everything at once when the final model reused a stored CV."""
    if "--from-cv" not in command or not summary.command:
        return []
    return [
        "The epoch and threshold come from a stored cross-validation (training.cv_command); "
        "that command without --cv-only (and with this --out) runs the cross-validation "
        "and trains this final model in one go."
    ]


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
