"""Nested leave-one-fire-out (LOFO) protocol for ``burned-learned``: every choice made
inside the folds, the candidate set declared before any scoring.

Declared candidate set (fixed before the first run; 8 candidates x 64 post-processings):

- post-fire model (LightGBM, as ``learned.py``: 150 trees, 15 leaves, seed 0, 20,000
  pixels per fire):
  ``P0`` trained on the 14 ``post-only`` fires; ``P1`` on those plus the post chips of
  the fire pairs of the training fold (cross-fitted: a pair's post-fire logit, as a
  combiner input, always comes from trees that did not see that pair, and the held-out
  fire's from trees that saw neither it nor, in the outer loop, anything of it);
- combiner features (logistic regression, L2 1.0):
  ``F0`` z5 L5 veg (today's); ``F1`` F0 + z15 L15 (multi-scale context);
  ``F2`` F1 + sd5_dnbr sd5_nbr_post (texture); ``F3`` F1 + z31 L31 (wider context);
- post-processing: threshold 0.15 0.2 0.25 0.3 0.4 0.5 0.6 0.7; minimum patch 1 or
  200 px; region growing from the threshold's seeds down to half the threshold, or none;
  holes of at most 400 px filled, or none (always gated by dNBR > 0).

Protocol for one held-out fire K (the outer fold):
1. for each candidate, an inner LOFO on the 6 other pairs (combiner fitted on 5,
   post-processing chosen by summed F1 on those 5, the 6th scored; pixels summed);
2. the candidate with the best inner-LOFO F1 (ties: the first declared) is fitted on the
   6 pairs, its post-processing chosen on them, and K is scored through
   ``evaluate_burned`` with exactly that detector.
The LOFO figure is the confusion matrix summed over the 7 held-out fires. The shipped
weights: the same protocol with the 7 pairs as the training set (the candidate by LOFO
on the 7, fitted on the 7). Beside it, each candidate's own outer LOFO (not the figure to
quote: picking the best of those would be a choice made on the held-out fires).

    PYTHONPATH=. python scripts/experiments/burned/protocol.py \\
        --data ../shared/data/s2-burned-areas-california \\
        --weights tiandi/models/weights/burned-learned-v0.2.json \\
        --json scripts/experiments/burned/protocol-results.json
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
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
    _nd,
    _post_logit,
    burned_mask,
    pair_features,
    post_features,
)
from tiandi.models.burned.pairs import _read_chip, _read_mask
from tiandi.models.metrics import ConfusionMatrix, sum_confusion

_spec = importlib.util.spec_from_file_location(
    "learned_script", Path(__file__).with_name("learned.py")
)
assert _spec is not None and _spec.loader is not None
base = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(base)

POST_MODELS = ("P0", "P1")
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "F0": ("z5", "L5", "veg"),
    "F1": ("z5", "L5", "veg", "z15", "L15"),
    "F2": ("z5", "L5", "veg", "z15", "L15", "sd5_dnbr", "sd5_nbr_post"),
    "F3": ("z5", "L5", "veg", "z15", "L15", "z31", "L31"),
}
ALL_FEATURES = tuple(dict.fromkeys(itertools.chain(*FEATURE_SETS.values())))
CANDIDATES = [(p, f) for p in POST_MODELS for f in FEATURE_SETS]
THRESHOLDS = (0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7)
MIN_PIXELS = (1, 200)
GROW = (False, True)
FILL = (0, 400)
POSTPROC = list(itertools.product(THRESHOLDS, MIN_PIXELS, GROW, FILL))


class Data:
    """Every fire's arrays, the boosters and the post-fire logits they give, cached."""

    def __init__(self, data: Path) -> None:
        self.pairs_root = data / "pairs"
        self.fires = list_fires(self.pairs_root)
        self.post_rows: list[tuple[np.ndarray, np.ndarray]] = []
        post_root = data / "post-only"
        self.post_fires = sorted(p.name for p in post_root.iterdir() if (p / "mask.tif").is_file())
        for fire in self.post_fires:
            label, grid = _read_mask(post_root / fire / "mask.tif", fire)
            post = _read_chip(post_root / fire / "post.tif", grid, fire, [])
            b = {k: np.asarray(post[k].values, dtype=np.float64) for k in ("B04", "B08", "B12")}
            self.post_rows.append(
                base.sample(post_features(b["B04"], b["B08"], b["B12"]), label, base.SEED)
            )
        self.bands: dict[str, dict[str, np.ndarray]] = {}
        self.label: dict[str, np.ndarray] = {}
        self.dropped: dict[str, np.ndarray] = {}
        self.nodata: dict[str, np.ndarray] = {}
        self.post: dict[str, np.ndarray] = {}
        self.pair_rows: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for fire in self.fires:
            pair = read_fire(self.pairs_root, fire)
            b = {
                f"{p}_{k}": np.asarray(ds[k].values, np.float64)
                for p, ds in (("pre", pair.before), ("post", pair.after))
                for k in ("B04", "B08", "B12")
            }
            self.bands[fire], self.label[fire] = b, pair.label
            with np.errstate(divide="ignore", invalid="ignore"):
                dnbr = _nd(b["pre_B08"], b["pre_B12"]) - _nd(b["post_B08"], b["post_B12"])
            self.dropped[fire] = np.nan_to_num(dnbr) > 0
            self.nodata[fire] = ~np.all([np.isfinite(v) for v in b.values()], axis=0)
            self.post[fire] = post_features(b["post_B04"], b["post_B08"], b["post_B12"])
            self.pair_rows[fire] = base.sample(self.post[fire], pair.label, base.SEED)
        self._boosters: dict[tuple[str, ...], Any] = {}
        self._feats: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}
        self._samples: dict[tuple[str, tuple[str, ...], tuple[str, ...]], Any] = {}

    def booster(self, pair_fires: tuple[str, ...]) -> Any:
        """Trees on the post-only fires plus the post chips of ``pair_fires``."""
        key = tuple(sorted(pair_fires))
        if key not in self._boosters:
            rows = self.post_rows + [self.pair_rows[f] for f in key]
            x = np.concatenate([r[0] for r in rows])
            y = np.concatenate([r[1] for r in rows])
            self._boosters[key] = lightgbm.train(base.TREES, lightgbm.Dataset(x, y), base.ROUNDS)
        return self._boosters[key]

    def features(self, fire: str, seen: tuple[str, ...]) -> np.ndarray:
        """All combiner features of ``fire`` with trees that saw the pairs ``seen``."""
        key = (fire, tuple(sorted(seen)))
        if key not in self._feats:
            logit = _post_logit(self.booster(key[1]), self.post[fire])
            self._feats[key] = pair_features(self.bands[fire], logit, ALL_FEATURES)
        return self._feats[key]

    def sample(self, fire: str, seen: tuple[str, ...], names: tuple[str, ...]) -> Any:
        key = (fire, tuple(sorted(seen)), names)
        if key not in self._samples:
            cols = [ALL_FEATURES.index(n) for n in names]
            self._samples[key] = base.sample(
                self.features(fire, seen)[..., cols], self.label[fire], base.SEED
            )
        return self._samples[key]


def seen_by(post_model: str, train: list[str], fire: str) -> tuple[str, ...]:
    """The pairs whose post chips trained the trees that give ``fire``'s logit, when the
    combiner is trained on ``train`` (cross-fitted: never ``fire`` itself)."""
    if post_model == "P0":
        return ()
    return tuple(f for f in train if f != fire)


def prob_of(comb: Combiner, feats: np.ndarray, cols: list[int], nodata: np.ndarray) -> np.ndarray:
    """The combiner's probability, NaN where a band is (as the detector)."""
    with np.errstate(over="ignore"):
        prob = 1 / (1 + np.exp(-comb.logit(np.nan_to_num(feats[..., cols]))))
    return np.where(nodata, np.nan, prob)


def counts(mask: np.ndarray, label: np.ndarray) -> np.ndarray:
    ok = label != 255
    m, truth = mask[ok], label[ok] == 1
    return np.array([(m & truth).sum(), (m & ~truth).sum(), (~m & truth).sum()])


def f1_of(c: np.ndarray) -> float:
    return float(2 * c[0] / max(2 * c[0] + c[1] + c[2], 1))


def postproc_mask(prob: np.ndarray, dropped: np.ndarray, pp: tuple) -> np.ndarray:
    t, n, grow, fill = pp
    return burned_mask(prob, dropped, t, n, t / 2 if grow else None, fill)


def fit(d: Data, cand: tuple[str, str], train: list[str]) -> dict[str, Any]:
    """Combiner and post-processing of ``cand`` fitted on the pairs ``train``."""
    post_model, fset = cand
    names = FEATURE_SETS[fset]
    cols = [ALL_FEATURES.index(n) for n in names]
    xs, ys = zip(*(d.sample(f, seen_by(post_model, train, f), names) for f in train), strict=True)
    comb = base.fit_logistic(np.concatenate(xs), np.concatenate(ys))
    probs = [
        (prob_of(comb, d.features(f, seen_by(post_model, train, f)), cols, d.nodata[f]), f)
        for f in train
    ]
    best: tuple[float, tuple] | None = None
    for pp in POSTPROC:
        total = sum(counts(postproc_mask(p, d.dropped[f], pp), d.label[f]) for p, f in probs)
        score = f1_of(total)
        if best is None or score > best[0]:
            best = (score, pp)
    assert best is not None
    return {"cand": cand, "combiner": comb, "pp": best[1], "cols": cols, "train": train}


def score(d: Data, model: dict[str, Any], fire: str) -> np.ndarray:
    """Counts (tp, fp, fn) of ``model`` on ``fire`` (not in its training set)."""
    seen = tuple(model["train"]) if model["cand"][0] == "P1" else ()
    prob = prob_of(model["combiner"], d.features(fire, seen), model["cols"], d.nodata[fire])
    return counts(postproc_mask(prob, d.dropped[fire], model["pp"]), d.label[fire])


def lofo(d: Data, cand: tuple[str, str], fires: list[str]) -> np.ndarray:
    """Summed counts of ``cand`` by LOFO over ``fires``."""
    return sum(score(d, fit(d, cand, [f for f in fires if f != k]), k) for k in fires)


def protocol(d: Data, train: list[str]) -> tuple[dict[str, Any], dict[str, float]]:
    """The candidate with the best LOFO F1 over ``train``, fitted on ``train``."""
    inner = {f"{p}/{f}": f1_of(lofo(d, (p, f), train)) for p, f in CANDIDATES}
    best = max(CANDIDATES, key=lambda c: (inner[f"{c[0]}/{c[1]}"], -CANDIDATES.index(c)))
    return fit(d, best, train), inner


def weights_doc(d: Data, model: dict[str, Any], **meta: Any) -> dict[str, Any]:
    post_model, fset = model["cand"]
    seen = tuple(sorted(model["train"])) if post_model == "P1" else ()
    t, n, grow, fill = model["pp"]
    return {
        "name": "burned-learned",
        "format": "tiandi.burned-learned/2",
        "post_model": d.booster(seen).model_to_string(),
        "post_model_pairs": list(seen),
        "features": list(FEATURE_SETS[fset]),
        "combiner": model["combiner"].as_dict(),
        "threshold": t,
        "min_pixels": n,
        "grow_low": t / 2 if grow else None,
        "fill_holes": fill,
        "candidate": f"{post_model}/{fset}",
        "trained_on_pairs": list(model["train"]),
        **meta,
    }


def outer_lofo(
    d: Data, meta: dict[str, Any], start: float
) -> tuple[dict[str, ConfusionMatrix], dict[str, Any]]:
    """The protocol with each pair held out in turn, scored through ``evaluate_burned``."""
    held: dict[str, ConfusionMatrix] = {}
    chosen: dict[str, Any] = {}
    for k in d.fires:
        train = [f for f in d.fires if f != k]
        model, inner = protocol(d, train)
        doc = weights_doc(d, model, **meta)
        ev = evaluate_burned(d.pairs_root, BurnedLearnedDetector(doc), [k]).per_fire[k]
        mine = score(d, model, k)
        if not np.array_equal([ev.tp, ev.fp, ev.fn], mine):
            print(f"  ! {k}: evaluate_burned {ev.tp, ev.fp, ev.fn} != arrays {mine}")
        held[k] = ev
        chosen[k] = {"candidate": doc["candidate"], "pp": model["pp"], "inner_f1": inner}
        print(
            f"  held out {k}: F1 {ev.f1:.3f} (P {ev.precision:.3f} R {ev.recall:.3f}) "
            f"{doc['candidate']} {model['pp']} [{time.monotonic() - start:.0f} s]",
            flush=True,
        )
    return held, chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    start = time.monotonic()
    d = Data(args.data)
    fires = d.fires
    meta = {"post_model_fires": d.post_fires}
    held, chosen = outer_lofo(d, meta, start)
    total = sum_confusion(held.values())
    print(f"PROTOCOL LOFO summed: F1 {total.f1:.3f} P {total.precision:.3f} R {total.recall:.3f}")
    per_candidate = {}
    for p, f in CANDIDATES:
        c = lofo(d, (p, f), fires)
        per_candidate[f"{p}/{f}"] = {
            "f1": f1_of(c),
            "precision": float(c[0] / max(c[0] + c[1], 1)),
            "recall": float(c[0] / max(c[0] + c[2], 1)),
        }
        print(f"  candidate {p}/{f} alone: LOFO F1 {f1_of(c):.3f}", flush=True)
    final_model, final_inner = protocol(d, fires)
    final = weights_doc(d, final_model, **meta)
    final["lofo"] = {
        "overall": total.as_dict(),
        "per_fire": {f: c.as_dict() for f, c in held.items()},
    }
    det = BurnedLearnedDetector(final)
    t0, px = time.monotonic(), 0
    for fire in fires:
        pair = read_fire(d.pairs_root, fire)
        det.detect(pair.before, pair.after)
        px += pair.label.size
    mpx_s = px / 1e6 / (time.monotonic() - t0)
    print(f"final: {final['candidate']} {final_model['pp']}; {mpx_s:.3f} Mpx/s")
    if args.weights:
        args.weights.write_text(json.dumps(final, indent=1) + "\n", encoding="utf-8")
    if args.json:
        out = {
            "lofo": final["lofo"],
            "lofo_chosen": chosen,
            "candidates_alone": per_candidate,
            "final": {
                k: final[k]
                for k in (
                    "candidate",
                    "features",
                    "threshold",
                    "min_pixels",
                    "grow_low",
                    "fill_holes",
                    "combiner",
                )
            },
            "final_inner_lofo_f1": final_inner,
            "mpx_per_s": round(mpx_s, 3),
            "seconds": round(time.monotonic() - start, 1),
        }
        args.json.write_text(json.dumps(out, indent=2, default=float) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
