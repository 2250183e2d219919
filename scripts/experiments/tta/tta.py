"""Test-time augmentation (TTA) measured on OSCD cities a network never saw.

    python scripts/experiments/tta/tta.py NAME [--root ../shared/data/oscd-train]

``NAME`` is a shipped network trained on eight cities (``siamese-s2-13band-v0.3``,
``siamese-s2-6band-v0.2``); the six other training cities of the folder (beihai,
hongkong, pisa, rennes, bordeaux, mumbai) are unseen by it. Each city is predicted as is,
averaged over 4 flips/rotations (``flip4``) and over the 8 rotations x flips of the
square (``d8``); the pooled F1 is given at the card's threshold (the figure that counts)
and, for information only, at the best threshold of these cities.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from tiandi.models.registry import WEIGHTS_DIR
from tiandi.models.training_data import load_city_arrays
from tiandi.models.training_scores import predict_proba
from tiandi.models.weights import load_weights

UNSEEN = ("beihai", "hongkong", "pisa", "rennes", "bordeaux", "mumbai")
THRESHOLDS = np.round(np.arange(0.10, 0.96, 0.05), 2)


def _counts(prob: npt.NDArray[np.float32], label: npt.NDArray[np.uint8], t: float) -> list[int]:
    valid = (label != 255) & ~np.isnan(prob)
    pred, truth = prob[valid] >= t, label[valid] == 1
    return [int((pred & truth).sum()), int((pred & ~truth).sum()), int((~pred & truth).sum())]


def _f1(tp: float, fp: float, fn: float) -> float:
    return 2 * tp / max(2 * tp + fp + fn, 1)


def _views(
    model: torch.nn.Module, images: npt.NDArray[np.float32]
) -> list[npt.NDArray[np.float32]]:
    """The probability of every rotation x flip of the city, turned back: order (k, flip)."""
    out = []
    for k in range(4):
        for flip in (False, True):
            x = np.rot90(images, k, axes=(2, 3))
            x = x[..., ::-1] if flip else x
            p = predict_proba(model, np.ascontiguousarray(x))
            p = p[..., ::-1] if flip else p
            out.append(np.rot90(p, -k, axes=(0, 1)))
    return out


def main() -> None:
    """Print per-city and pooled F1 of each variant."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("name")
    parser.add_argument("--root", type=Path, default=Path("../shared/data/oscd-train"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    loaded = load_weights(WEIGHTS_DIR / f"{args.name}.pt")
    model = loaded.model.eval()
    threshold = float(loaded.card.metrics.get("threshold", 0.5))
    pooled = {v: np.zeros((len(THRESHOLDS), 3)) for v in ("plain", "flip4", "d8")}
    for city in UNSEEN:
        arrays = load_city_arrays(
            args.root, city, model.bands, normalisation=model.config.normalisation
        )
        views = _views(model, arrays.images)
        variants = {
            "plain": views[0],
            "flip4": np.mean([views[i] for i in (0, 1, 4, 5)], axis=0),
            "d8": np.mean(views, axis=0),
        }
        row = []
        for name, prob in variants.items():
            pooled[name] += [_counts(prob, arrays.label, t) for t in THRESHOLDS]
            row.append(f"{name} {_f1(*_counts(prob, arrays.label, threshold)):.3f}")
        print(f"{city}: F1 at {threshold}: " + ", ".join(row), flush=True)
    at = int(np.argmin(abs(THRESHOLDS - threshold)))
    for name, counts in pooled.items():
        tp, fp, fn = counts[at]
        best = max(range(len(THRESHOLDS)), key=lambda j: _f1(*counts[j]))
        print(
            f"{args.name} {name}: pooled F1 {_f1(tp, fp, fn):.3f} (P {tp / max(tp + fp, 1):.3f}, "
            f"R {tp / max(tp + fn, 1):.3f}) at the card's {threshold}; best "
            f"{_f1(*counts[best]):.3f} at {THRESHOLDS[best]} (information only)"
        )


if __name__ == "__main__":
    main()
