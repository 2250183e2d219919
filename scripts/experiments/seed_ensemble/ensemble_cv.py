"""Score a seed ensemble from the out-of-fold probabilities of cross-validations
(`PROTOCOL.md`; issue 16, part 1).

    python scripts/experiments/seed_ensemble/ensemble_cv.py --root ../shared/data/oscd-train \
        --runs RUN0/probs RUN1/probs [RUN2/probs] --bands B02,B03,B04,B08,B11,B12 \
        --out scripts/experiments/seed_ensemble/result.md

Each ``--runs`` folder is what ``tiandi run train-change-model --cv-folds K
--cv-probabilities DIR`` kept (``epoch-NN/<city>.npy``). Every run and the mean of all of
them are scored with the cross-validation's rule (the epoch and threshold with the best
pooled out-of-fold F1); a bootstrap over cities compares the ensemble with each member at
the members' own choices.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from statistics import mean

import numpy as np

from tiandi.models.metrics import ConfusionMatrix, sum_confusion
from tiandi.models.training_config import parse_bands
from tiandi.models.training_data import CityArrays, load_city_arrays
from tiandi.models.training_ensemble_choice import (
    Probs,
    choose_pooled,
    kept_epochs,
    load_probabilities,
    mean_probability,
)

Choice = tuple[int, float, dict[str, ConfusionMatrix]]


def choose(by_epoch: dict[int, Probs], cities: Sequence[CityArrays]) -> Choice:
    """The cross-validation's rule (``training_ensemble_choice.choose_pooled``)."""
    epoch, threshold, per_city, _ = choose_pooled(by_epoch, cities)
    return epoch, threshold, per_city


def bootstrap(
    a: Mapping[str, ConfusionMatrix], b: Mapping[str, ConfusionMatrix], draws: int = 10_000
) -> tuple[float, float, float]:
    """Share of city resamples where A's pooled F1 beats B's, and the 95 % interval of
    the difference."""
    rng = np.random.default_rng(0)
    names = sorted(a)
    diffs = []
    for _ in range(draws):
        pick = [names[i] for i in rng.integers(0, len(names), len(names))]
        diffs.append(sum_confusion(a[c] for c in pick).f1 - sum_confusion(b[c] for c in pick).f1)
    d = np.array(diffs)
    return float((d > 0).mean()), float(np.quantile(d, 0.025)), float(np.quantile(d, 0.975))


def report(runs: Sequence[Path], names: Sequence[str], singles: Sequence[Choice],
           ensemble: Choice, epochs: Sequence[int]) -> str:  # fmt: skip
    """The result as Markdown: each run's choice, the verdict, per city, the bootstraps."""
    lines = [f"epochs scored: {epochs[0]}–{epochs[-1]}; cities: {', '.join(names)}", ""]
    lines += ["| run | epoch | threshold | pooled F1 | P | R |", "|---|---:|---:|---:|---:|---:|"]
    labelled = [*((str(r), s) for r, s in zip(runs, singles, strict=True)),
                (f"mean of {len(runs)}", ensemble)]  # fmt: skip
    for label, (epoch, t, per_city) in labelled:
        cm = sum_confusion(per_city.values())
        lines.append(f"| {label} | {epoch} | {t:.2f} | {cm.f1:.4f} | {cm.precision:.3f} "
                     f"| {cm.recall:.3f} |")  # fmt: skip
    f1s = [sum_confusion(s[2].values()).f1 for s in singles]
    ens = sum_confusion(ensemble[2].values()).f1
    spread = max(f1s) - min(f1s)
    better = ens - mean(f1s) > spread and ens > max(f1s)
    verdict = "**better**" if better else "**no gain**"
    lines += ["", f"members' mean {mean(f1s):.4f}, spread {spread:.4f}; ensemble − mean "
              f"{ens - mean(f1s):+.4f}, − best member {ens - max(f1s):+.4f}: {verdict} by "
              "the protocol's rule", ""]  # fmt: skip
    lines += ["| city | " + " | ".join(f"member {i}" for i in range(len(singles))) + " | mean |",
              "|---|" + "---:|" * (len(singles) + 1)]  # fmt: skip
    for c in names:
        row = [s[2][c].f1 for s in singles] + [ensemble[2][c].f1]
        lines.append(f"| {c} | " + " | ".join(f"{f:.3f}" for f in row) + " |")
    for i, s in enumerate(singles):
        share, lo, hi = bootstrap(ensemble[2], s[2])
        lines.append(f"\nbootstrap over cities, ensemble against member {i}: ahead in "
                     f"{100 * share:.1f} % of 10,000 draws, 95 % interval "
                     f"{lo:+.3f} … {hi:+.3f}")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Score the runs and their mean; print (and write ``--out``) the Markdown report."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--runs", type=Path, nargs="+", required=True)
    parser.add_argument("--bands", default="B02,B03,B04,B08,B11,B12")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    epochs = sorted(set.intersection(*(set(kept_epochs(r)) for r in args.runs)))
    names = sorted(p.stem for p in (args.runs[0] / f"epoch-{epochs[0]:02d}").glob("*.npy"))
    bands = parse_bands(args.bands)
    cities = [load_city_arrays(args.root, n, bands, 96, "dataset") for n in names]
    singles = [
        choose({e: load_probabilities(r, e, names) for e in epochs}, cities) for r in args.runs
    ]
    averaged = {e: mean_probability([load_probabilities(r, e, names) for r in args.runs])
            for e in epochs}  # fmt: skip
    epoch, threshold, per_city, by_f1 = choose_pooled(averaged, cities)
    ensemble = (epoch, threshold, per_city)
    text = report(args.runs, names, singles, ensemble, epochs)
    text += (
        "\nthe mean's best pooled F1 by epoch: "
        + ", ".join(f"{e} {f:.4f}" for e, f in sorted(by_f1.items(), key=lambda kv: int(kv[0])))
        + "\n"
    )
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
