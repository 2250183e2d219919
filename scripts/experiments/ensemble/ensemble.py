"""Two shipped networks averaged, measured on OSCD cities neither of them saw.

    python scripts/experiments/ensemble/ensemble.py [--root ../shared/data/oscd-train]

``siamese-s2-13band-v0.3`` (threshold 0.5) and ``siamese-s2-6band-v0.2`` (0.35) were
trained on the same eight cities (abudhabi, beirut, bercy, cupertino, paris, saclay_e,
nantes, aguasclaras); the six other training cities of the folder are unseen by both.
Each city is predicted by each network as the product does (no augmentation), and the two
are combined by rules fixed before the run (PROTOCOL.md):

- ``margin``: the mean of the two members' log-odds, each taken relative to its own
  card's threshold (``logit(p) - logit(t)``), read at 0: every member keeps its own
  decision boundary and the ensemble follows the more confident one;
- ``mean``: the mean probability read at the mean of the two thresholds (0.425).

Pooled precision, recall and F1 at those fixed thresholds are the figures that count; the
best threshold of these cities is printed for information only.
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
MEMBERS = ("siamese-s2-13band-v0.3", "siamese-s2-6band-v0.2")
THRESHOLDS = np.round(np.arange(0.10, 0.96, 0.05), 2)
F32 = npt.NDArray[np.float32]


def _logit(p: F32 | float) -> F32:
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(q / (1 - q)).astype(np.float32)


def _counts(pred: npt.NDArray[np.bool_], label: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    valid = label != 255
    p, truth = pred[valid], label[valid] == 1
    return np.array([(p & truth).sum(), (p & ~truth).sum(), (~p & truth).sum()], dtype=np.int64)


def _scores(counts: npt.NDArray[np.int64]) -> str:
    tp, fp, fn = (int(c) for c in counts)
    f1 = 2 * tp / max(2 * tp + fp + fn, 1)
    return f"F1 {f1:.3f} (P {tp / max(tp + fp, 1):.3f}, R {tp / max(tp + fn, 1):.3f})"


def _predictions(
    members: list[tuple[str, torch.nn.Module, float]], root: Path, city: str
) -> tuple[dict[str, npt.NDArray[np.bool_]], F32, npt.NDArray[np.uint8]]:
    """Each member's and each combination's change mask of ``city``, the mean
    probability and the labels."""
    probs, margins, masks, label = [], [], {}, None
    for name, model, threshold in members:
        arrays = load_city_arrays(root, city, model.bands, normalisation=model.config.normalisation)
        p = predict_proba(model, arrays.images)
        probs.append(p)
        margins.append(_logit(p) - _logit(threshold))
        masks[name] = p >= threshold
        label = arrays.label
    assert label is not None
    mean = np.mean(probs, axis=0)
    masks["margin"] = np.mean(margins, axis=0) >= 0
    masks["mean"] = mean >= float(np.mean([t for _, _, t in members]))
    return masks, mean, label


def main() -> None:
    """Print per-city and pooled scores of each member and each combination."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path("../shared/data/oscd-train"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    members = []
    for name in MEMBERS:
        loaded = load_weights(WEIGHTS_DIR / f"{name}.pt")
        members.append((name, loaded.model.eval(), float(loaded.card.metrics["threshold"])))
    pooled: dict[str, npt.NDArray[np.int64]] = {}
    sweep = np.zeros((len(THRESHOLDS), 3), dtype=np.int64)
    for city in UNSEEN:
        masks, mean, label = _predictions(members, args.root, city)
        counts = {row: _counts(mask, label) for row, mask in masks.items()}
        for row, c in counts.items():
            pooled[row] = pooled.get(row, 0) + c
        sweep += np.stack([_counts(mean >= t, label) for t in THRESHOLDS])
        print(city, "; ".join(f"{row} {_scores(c)}" for row, c in counts.items()), flush=True)
    for row, c in pooled.items():
        print(f"pooled {row}: {_scores(c)}")
    f1 = 2 * sweep[:, 0] / np.maximum(2 * sweep[:, 0] + sweep[:, 1] + sweep[:, 2], 1)
    best = int(np.argmax(f1))
    print(
        f"mean probability at the best threshold of these cities (information only): "
        f"{THRESHOLDS[best]}: {_scores(sweep[best])}"
    )


if __name__ == "__main__":
    main()
