"""Train ``burned-learned`` and score it leave-one-fire-out (LOFO) on the fire pairs.

1. Post-fire model (LightGBM, 150 trees of 15 leaves, seed 0) on the 14 ``post-only``
   fires (20,000 pixels drawn per fire): no fire pair is among them.
2. For each of the 7 pairs held out in turn: the combiner (logistic regression, L2 1.0,
   Newton steps) on the other 6 pairs (20,000 pixels each), its threshold (0.3-0.7) and
   minimum patch (1 or 200 px) chosen by summed F1 on those 6, then the held-out fire
   scored through ``evaluate_burned`` with exactly that detector.
3. The shipped weights: the combiner and choice on all 7 pairs.

    PYTHONPATH=. python scripts/experiments/burned/learned.py \
        --data ../shared/data/s2-burned-areas-california \
        --weights var/burned-learned-v0.1.json \
        --json scripts/experiments/burned/learned-results.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np

from tiandi.models.burned import evaluate_burned, list_fires, read_fire
from tiandi.models.burned.learned import (
    BurnedLearnedDetector,
    Combiner,
    _keep_large,
    _nd,
    _post_logit,
    pair_features,
    post_features,
)
from tiandi.models.burned.pairs import _read_chip, _read_mask
from tiandi.models.metrics import ConfusionMatrix, sum_confusion

SEED = 0
PER_FIRE = 20000
TREES = {
    "objective": "binary",
    "num_leaves": 15,
    "learning_rate": 0.05,
    "min_data_in_leaf": 200,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "feature_fraction": 0.8,
    "seed": SEED,
    "num_threads": 1,
    "deterministic": True,
    "verbose": -1,
}
ROUNDS = 150
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
MIN_PIXELS = (1, 200)


def sample(feats: np.ndarray, label: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    x = feats.reshape(-1, feats.shape[-1])
    y = label.ravel()
    ok = np.isfinite(x).all(axis=1) & (y != 255)
    x, y = x[ok], y[ok]
    pick = np.random.default_rng(seed).permutation(len(y))[:PER_FIRE]
    return x[pick], y[pick].astype(np.float64)


def train_post(root: Path) -> tuple[Any, list[str]]:
    xs, ys, fires = [], [], sorted(p.name for p in root.iterdir() if (p / "mask.tif").is_file())
    for fire in fires:
        label, grid = _read_mask(root / fire / "mask.tif", fire)
        post = _read_chip(root / fire / "post.tif", grid, fire, [])
        b = {k: np.asarray(post[k].values, dtype=np.float64) for k in ("B04", "B08", "B12")}
        x, y = sample(post_features(b["B04"], b["B08"], b["B12"]), label, SEED)
        xs.append(x)
        ys.append(y)
    booster = lightgbm.train(
        TREES, lightgbm.Dataset(np.concatenate(xs), np.concatenate(ys)), ROUNDS
    )
    return booster, fires


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0) -> Combiner:
    mean, sd = x.mean(0), x.std(0) + 1e-9
    a = np.c_[np.ones(len(x)), (x - mean) / sd]
    w = np.zeros(a.shape[1])
    ridge = l2 * np.eye(len(w))
    ridge[0, 0] = 0.0
    for _ in range(30):
        p = 1 / (1 + np.exp(-a @ w))
        grad = a.T @ (p - y) + ridge @ w
        hess = (a * (p * (1 - p))[:, None]).T @ a + ridge
        w -= np.linalg.solve(hess, grad)
    return Combiner(list(mean), list(sd), list(w))


def counts(mask: np.ndarray, label: np.ndarray) -> np.ndarray:
    ok = label != 255
    m, truth = mask[ok], label[ok] == 1
    return np.array([(m & truth).sum(), (m & ~truth).sum(), (~m & truth).sum()])


def choose(comb: Combiner, fires: list[str], data: dict) -> tuple[float, int]:
    probs = [
        (1 / (1 + np.exp(-comb.logit(np.nan_to_num(data[f][0])))), data[f][1], data[f][2])
        for f in fires
    ]
    best: tuple[float, float, int] | None = None
    for t in THRESHOLDS:
        for n in MIN_PIXELS:
            tp, fp, fn = sum(counts(_keep_large((p >= t) & d, n), lab) for p, lab, d in probs)
            f1 = 2 * tp / max(2 * tp + fp + fn, 1)
            if best is None or f1 > best[0]:
                best = (f1, t, n)
    assert best is not None
    return best[1], best[2]


def weights_doc(booster: Any, comb: Combiner, t: float, n: int, **meta: Any) -> dict:
    return {
        "name": "burned-learned",
        "format": "tiandi.burned-learned/1",
        "post_model": booster.model_to_string(),
        "combiner": comb.as_dict(),
        "threshold": t,
        "min_pixels": n,
        **meta,
    }


def fit(fires: list[str], data: dict, booster: Any, **meta: Any) -> dict:
    xs, ys = zip(*(sample(*data[f][:2], SEED) for f in fires), strict=True)
    comb = fit_logistic(np.concatenate(xs), np.concatenate(ys))
    t, n = choose(comb, fires, data)
    return weights_doc(booster, comb, t, n, trained_on_pairs=fires, **meta)


def fire_data(pairs_root: Path, fire: str, booster: Any) -> tuple[Any, Any, Any]:
    """Features, label and the NBR-drop gate of one fire pair."""
    pair = read_fire(pairs_root, fire)
    bands = {
        f"pre_{k}": np.asarray(pair.before[k].values, np.float64) for k in ("B04", "B08", "B12")
    }
    bands |= {
        f"post_{k}": np.asarray(pair.after[k].values, np.float64) for k in ("B04", "B08", "B12")
    }
    post = post_features(bands["post_B04"], bands["post_B08"], bands["post_B12"])
    with np.errstate(divide="ignore", invalid="ignore"):
        dnbr = _nd(bands["pre_B08"], bands["pre_B12"]) - _nd(bands["post_B08"], bands["post_B12"])
    dropped = np.nan_to_num(dnbr) > 0  # the detector's gate: a burn lowers NBR
    return (pair_features(bands, _post_logit(booster, post)), pair.label, dropped)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    start = time.monotonic()
    booster, post_fires = train_post(args.data / "post-only")
    pairs_root = args.data / "pairs"
    fires = list_fires(pairs_root)
    data = {fire: fire_data(pairs_root, fire, booster) for fire in fires}
    meta = {"post_model_fires": post_fires}
    held: dict[str, ConfusionMatrix] = {}
    chosen = {}
    for fire in fires:
        doc = fit([f for f in fires if f != fire], data, booster, **meta)
        held[fire] = evaluate_burned(pairs_root, BurnedLearnedDetector(doc), [fire]).per_fire[fire]
        chosen[fire] = {"threshold": doc["threshold"], "min_pixels": doc["min_pixels"]}
        print(f"  held out {fire}: F1 {held[fire].f1:.3f} {chosen[fire]}", flush=True)
    lofo = sum_confusion(held.values())
    print(f"LOFO summed: F1 {lofo.f1:.3f} P {lofo.precision:.3f} R {lofo.recall:.3f}")
    final = fit(fires, data, booster, **meta)
    final["lofo"] = {
        "overall": lofo.as_dict(),
        "per_fire": {f: c.as_dict() for f, c in held.items()},
    }
    det = BurnedLearnedDetector(final)
    t0, px = time.monotonic(), 0
    for fire in fires:
        pair = read_fire(pairs_root, fire)
        det.detect(pair.before, pair.after)
        px += pair.label.size
    mpx_s = px / 1e6 / (time.monotonic() - t0)
    print(
        f"final: threshold {final['threshold']} min_pixels {final['min_pixels']}; {mpx_s:.2f} Mpx/s"
    )
    if args.weights:
        args.weights.write_text(json.dumps(final, indent=1) + "\n", encoding="utf-8")
    if args.json:
        doc = {
            "lofo": final["lofo"],
            "lofo_chosen": chosen,
            "final": {k: final[k] for k in ("threshold", "min_pixels", "combiner")},
            "mpx_per_s": round(mpx_s, 3),
            "seconds": round(time.monotonic() - start, 1),
        }
        args.json.write_text(json.dumps(doc, indent=2, default=float) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
