"""A seed ensemble trained from cross-validations of one recipe with different seeds
(issue 16, part 1; the measurement: ``scripts/experiments/seed_ensemble/``).

    python -m tiandi.models.training_ensemble --root ../shared/data/oscd-train \
        --out siamese-s2-6band-ens.pt --name siamese-s2-6band-ens --version 0.8 \
        --runs S0.cv.json:S0-probs S1.cv.json:S1-probs S2.cv.json:S2-probs

Each run is a cross-validation summary (``--cv-folds K``) with the folder of its kept
out-of-fold probabilities (``--cv-probabilities``); the runs must differ in nothing but
their seeds. The ensemble is chosen as one cross-validation chooses
(:mod:`tiandi.models.training_cv`): the epoch and threshold with the best pooled F1 of
the **mean** of the members' out-of-fold probabilities, over the epochs every run kept.
Then each member is trained on every city from its own seed up to that epoch (the same
schedule), and the members are saved as one :class:`~tiandi.models.ensemble.
MeanOfNetworks` with a card of the ensemble's out-of-fold figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tiandi.errors import InputError
from tiandi.models.ensemble import MeanOfNetworks
from tiandi.models.ensemble_weights import save_ensemble
from tiandi.models.oscd import dataset_checksum
from tiandi.models.siamese import SiameseDiffUNet, count_parameters
from tiandi.models.training_card import card_cv, input_note
from tiandi.models.training_config import TrainConfig
from tiandi.models.training_cv import cities_to_train_on, new_model
from tiandi.models.training_cv_summary import CvSummary
from tiandi.models.training_data import CityArrays, load_city_arrays
from tiandi.models.training_ensemble_choice import (
    check_seed_runs,
    choose_pooled,
    kept_epochs,
    load_probabilities,
    mean_probability,
)
from tiandi.models.training_loop import RunLog, fit_model, seed_everything
from tiandi.models.weights import WeightsFiles, build_card

ARCHITECTURE = (
    "SiameseDiffUNet seed ensemble: {n} networks of one recipe (seeds {seeds}), their "
    "change probabilities averaged pixel by pixel (tiandi.models.ensemble); each member: {one}"
)

#: Share of pixels float16 rounding may move across a threshold (measured on the 14 OSCD
#: cities: 37-60 of 6.5 M for a run's own probabilities, over 16,000 for another seed's).
FLOAT16_SHARE = 1e-4

ENSEMBLE_NOTE = (
    "The out-of-fold figures are those of the members' mean: in each fold, the mean of the "
    "probabilities of one fold model per seed, none of which trained on the fold's cities; "
    "the epoch and threshold were chosen on that mean (scripts/experiments/seed_ensemble/)."
)


def ensemble_summary(
    runs: Sequence[tuple[Path, Path]],
    summaries: Sequence[tuple[Path, CvSummary]],
    cities: Sequence[CityArrays],
    command: str,
) -> tuple[CvSummary, list[TrainConfig]]:
    """The ensemble's own cross-validation summary (its choice on the mean out-of-fold
    probability) and each member's configuration; ``summaries`` are the runs' summaries,
    read once, in the order of ``runs``."""
    configs = check_seed_runs(summaries)
    folders = [Path(p).resolve() for _, p in runs]
    if len(set(folders)) < len(folders):
        raise InputError("two runs name the same probabilities folder; give each run its own")
    expected = sorted(c for fold in summaries[0][1].folds for c in fold)
    if sorted(c.name for c in cities) != expected:
        raise InputError(
            f"the cities of --root ({', '.join(sorted(c.name for c in cities))}) are not "
            f"those the runs cross-validated ({', '.join(expected)}); give the runs' dataset"
        )
    kept = [_checked_folder(sp, s, p, cities) for (sp, s), (_, p) in zip(summaries, runs,
            strict=True)]  # fmt: skip
    epochs = sorted(set.intersection(*kept))
    if not epochs:
        raise InputError(
            "the runs share no kept epoch: "
            + "; ".join(f"{p}: {sorted(k)}" for (_, p), k in zip(runs, kept, strict=True))
        )
    names = [c.name for c in cities]
    by_epoch = {
        e: mean_probability([load_probabilities(p, e, names) for _, p in runs]) for e in epochs
    }
    epoch, threshold, per_city, by_f1 = choose_pooled(by_epoch, cities)
    first = summaries[0][1]
    summary = CvSummary(
        config=first.config,
        folds=first.folds,
        epoch=epoch,
        threshold=threshold,
        per_city=per_city,
        f1_by_epoch=by_f1,
        minutes=sum(s.minutes for _, s in summaries),
        command=command,
    )
    return summary, configs


def ensemble_training(
    configs: Sequence[TrainConfig], epoch: int, runs: Sequence[CvSummary]
) -> dict[str, Any]:
    """The card's ``training`` of an ensemble: the members' schedule (``epochs``, as in a
    single network's card) stopped at ``best_epoch``, one seed per member, the CV runs."""
    first = configs[0]
    return {
        "epochs": first.epochs,
        "steps_per_epoch": first.steps_per_epoch,
        "best_epoch": epoch,
        "epochs_run": epoch,
        "seeds": [c.seed for c in configs],
        "seed_note": "one seed per member (the card's seed is the first member's)",
        "cv_commands": [r.command for r in runs],
    }


def _checked_folder(
    summary_path: Path, summary: CvSummary, folder: Path, cities: Sequence[CityArrays]
) -> set[int]:
    """The epochs ``folder`` kept of the run ``summary``; ``InputError`` when it holds none
    or holds another run's (at the run's choice it classifies more pixels otherwise than
    the run logged than float16 rounding can explain)."""
    kept = set(kept_epochs(folder)) & set(summary.f1_by_epoch)
    if not kept:
        raise InputError(
            f"{folder}: no out-of-fold probability of the run {summary_path} (no epoch-NN "
            "folder of its epochs); rerun its cross-validation with --cv-probabilities"
        )
    if summary.epoch in kept:
        probs = load_probabilities(folder, summary.epoch, [c.name for c in cities])
        per_city = choose_pooled({summary.epoch: probs}, cities, (summary.threshold,))[2]
        logged = summary.per_city
        moved = sum(abs(per_city[c].tp - logged[c].tp) + abs(per_city[c].fp - logged[c].fp)
                    for c in logged)  # fmt: skip
        pixels = sum(cm.tp + cm.fp + cm.fn + cm.tn for cm in logged.values())
        if moved > max(100, FLOAT16_SHARE * pixels):
            raise InputError(
                f"{folder}: its probabilities at the run's epoch {summary.epoch} and "
                f"threshold {summary.threshold:.2f} classify {moved} pixels otherwise than "
                f"the run {summary_path} logged: they are another run's"
            )
    return kept


def train_ensemble(
    root: Path,
    out: Path,
    runs: Sequence[tuple[Path, Path]],
    *,
    name: str,
    version: str,
    command: str,
) -> WeightsFiles:
    """Choose on ``runs`` ((CV summary, probabilities folder) per seed), train each member
    on every city of ``root`` to the chosen epoch and save the ensemble to ``out``."""
    start = time.monotonic()
    root, out = Path(root), Path(out)
    names = cities_to_train_on(root)
    summaries = [(path, CvSummary.read(path)) for path, _ in runs]
    first = summaries[0][1]
    bands = tuple(first.config["bands"])
    norm = str(first.config.get("normalisation", "dataset"))
    patch = int(first.config["patch_size"])
    cities = [load_city_arrays(root, c, bands, patch, norm) for c in names]
    summary, configs = ensemble_summary(runs, summaries, cities, command)
    log = RunLog(out.with_suffix(".train-log.jsonl"))
    try:
        log.write("ensemble_choice", epoch=summary.epoch, threshold=summary.threshold,
                  overall=summary.overall.as_dict(), f1_by_epoch=summary.f1_by_epoch,
                  seeds=[c.seed for c in configs])  # fmt: skip
        members = [_member(config, cities, summary.epoch, log, start) for config in configs]
    finally:
        log.close()
    ensemble = MeanOfNetworks(members).eval()
    training_data, metrics = card_cv(
        root, names, dataset_checksum(root, names, bands), summary, [], None
    )
    training = ensemble_training(configs, summary.epoch, [s for _, s in summaries])
    training["minutes"] = round((time.monotonic() - start) / 60, 1)
    card = build_card(members[0], name=name, version=version, training_data=training_data,
                      training=training, seed=configs[0].seed, command=command, metrics=metrics,
                      notes=[input_note(configs[0].normalisation), ENSEMBLE_NOTE])  # fmt: skip
    card = dataclasses.replace(
        card,
        architecture=ARCHITECTURE.format(
            n=len(members), seeds=", ".join(str(c.seed) for c in configs), one=card.architecture
        ),
        parameters=count_parameters(ensemble),
    )
    return save_ensemble(out, ensemble, card)


def _member(
    config: TrainConfig, cities: Sequence[CityArrays], epoch: int, log: RunLog, start: float
) -> SiameseDiffUNet:
    """One member trained on every city from its seed up to ``epoch``."""
    rng = seed_everything(config.seed, config.num_threads)
    model = new_model(config, cities)
    log.write("member", seed=config.seed, epochs=epoch)
    fit = fit_model(model, cities, [], config, rng, log, start, stop_epoch=epoch, stage="final")
    if fit.best_state is None:  # pragma: no cover - fit_model always runs one epoch
        raise RuntimeError("a member's training ran no epoch")
    model.load_state_dict(fit.best_state)
    return model.eval()


def main(argv: Sequence[str] | None = None) -> None:
    """The command line (module docstring)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--runs", nargs="+", required=True, help="SUMMARY.cv.json:PROBS")
    parser.add_argument("--name", default="siamese-s2-ensemble")
    parser.add_argument("--version", default="0.1")
    args = parser.parse_args(argv)
    runs = []
    for run in args.runs:
        summary, sep, probs = run.partition(":")
        if not sep:
            parser.error(f"--runs {run!r}: give SUMMARY.cv.json:PROBABILITIES_FOLDER")
        runs.append((Path(summary), Path(probs)))
    command = "python -m tiandi.models.training_ensemble " + shlex.join(
        list(argv if argv is not None else sys.argv[1:])
    )
    start = time.monotonic()
    files = train_ensemble(args.root, args.out, runs, name=args.name, version=args.version,
                           command=command)  # fmt: skip
    print(f"ensemble {files.weights} (card {files.card_md.name}) in "
          f"{(time.monotonic() - start) / 60:.1f} min")  # fmt: skip


if __name__ == "__main__":
    main()
