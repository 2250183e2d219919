"""Does smoothing the seed ensemble's out-of-fold probabilities before the threshold help?
(issue 16, part 1; read after v0.8 was shipped, so it decides nothing by itself)

    python scripts/experiments/seed_ensemble/smoothing.py --root ../shared/data/oscd-train \
        --runs seed0/probs seed1/probs seed2/probs --epoch 10

For each Gaussian sigma (pixels), the mean probability of the runs at ``--epoch`` is
smoothed per city and scored by pooled F1 at the best threshold over the 14 cities, and
with the threshold chosen without each city (leave one city out). Then the per-city F1
at the pooled threshold against each city's own best threshold (an oracle).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from tiandi.models.training_config import parse_bands
from tiandi.models.training_data import load_city_arrays
from tiandi.models.training_ensemble_choice import load_probabilities, mean_probability

THRESHOLDS = np.arange(0.20, 0.81, 0.02)
SIGMAS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)


def counts(prob: npt.NDArray[np.floating], label: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    """(thresholds, 3): TP, FP, FN of ``prob >= t`` against the labels (255 ignored)."""
    valid = (label != 255) & np.isfinite(prob)
    truth, p = label[valid] == 1, prob[valid]
    return np.array([[np.sum((p >= t) & truth), np.sum((p >= t) & ~truth),
                      np.sum((p < t) & truth)] for t in THRESHOLDS])  # fmt: skip


def f1(c: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """F1 per threshold row of ``counts``."""
    return 2 * c[..., 0] / np.maximum(2 * c[..., 0] + c[..., 1] + c[..., 2], 1)


def main(argv: list[str] | None = None) -> None:
    """Print the pooled F1 by sigma, then the per-city table at sigma 0."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--runs", type=Path, nargs="+", required=True)
    parser.add_argument("--epoch", type=int, default=10)
    parser.add_argument("--bands", default="B02,B03,B04,B08,B11,B12")
    args = parser.parse_args(argv)
    names = sorted(p.stem for p in (args.runs[0] / f"epoch-{args.epoch:02d}").glob("*.npy"))
    bands = parse_bands(args.bands)
    labels = {n: load_city_arrays(args.root, n, bands, 96, "dataset").label for n in names}
    mean = mean_probability([load_probabilities(r, args.epoch, names) for r in args.runs])
    for sigma in SIGMAS:
        per = {}
        for n in names:
            prob = np.nan_to_num(mean[n].astype(np.float32), nan=0.0)
            per[n] = counts(ndimage.gaussian_filter(prob, sigma) if sigma else prob, labels[n])
        total = sum(per.values())
        best = int(np.argmax(f1(total)))
        loco = sum(per[n][int(np.argmax(f1(total - per[n])))] for n in names)
        print(f"sigma {sigma}: pooled F1 {f1(total)[best]:.4f} at {THRESHOLDS[best]:.2f}; "
              f"threshold chosen without each city {f1(loco):.4f}")  # fmt: skip
        if sigma == 0.0:
            table = [(n, f1(per[n])[best], f1(per[n]).max(), THRESHOLDS[f1(per[n]).argmax()])
                     for n in names]  # fmt: skip
            oracle = sum(per[n][int(np.argmax(f1(per[n])))] for n in names)
    print(f"pooled F1 with each city at its own best threshold (oracle): {f1(oracle):.4f}")
    print("city: F1 at the pooled threshold, at its own best threshold (oracle)")
    for n, pooled, own, t in table:
        print(f"  {n:12s} {pooled:.3f}  {own:.3f} at {t:.2f}")


if __name__ == "__main__":
    main()
