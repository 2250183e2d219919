"""Choose the burned-area detector's parameters by leave-one-fire-out (LOFO).

For each of the fire pairs under ROOT: choose the parameter set with the best summed F1
on the other fires (a grid over index, smoothing, threshold floor and z, vegetation
bound and minimum patch), then score the held-out fire with that choice through
``tiandi.models.burned.evaluate_burned``. The LOFO figure is the confusion matrix
summed over the held-out fires. Beside it: dNBR > 0.1 (``burned-dnbr``) by the same
evaluation code, and the choice on all fires (what ``DEFAULT_PARAMS`` must be).

    PYTHONPATH=. python scripts/experiments/burned/lofo.py \
        --root ../shared/data/s2-burned-areas-california/pairs \
        --json scripts/experiments/burned/results.json

About 4 minutes on one core. Results: README.md beside this script.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import asdict
from pathlib import Path

from tiandi.models.burned import (
    DEFAULT_PARAMS,
    BurnedAreaDetector,
    BurnedAreaParams,
    evaluate_burned,
    list_fires,
    read_fire,
)
from tiandi.models.burned.detector import DNBR_PARAMS
from tiandi.models.metrics import ConfusionMatrix, confusion_matrix, sum_confusion

INDEXES = ("dnbr", "rbr", "rdnbr")
SMOOTH = (1, 3, 5)
FLOORS = tuple(round(0.02 + 0.01 * i, 2) for i in range(9))  # 0.02 .. 0.10
ZS: tuple[float | None, ...] = (None, 1.0, 1.5, 2.0, 2.5, 3.0)
VEG = (0.05, 0.1)
MIN_PIXELS = (1, 25, 100, 200)


def grid() -> list[BurnedAreaParams]:
    """Every candidate parameter set, in a fixed order (ties go to the first)."""
    return [
        BurnedAreaParams(index=i, smooth_px=k, floor=f, z=z, veg_ndvi=v, min_pixels=n)  # type: ignore[arg-type]
        for i, k, f, z, v, n in itertools.product(INDEXES, SMOOTH, FLOORS, ZS, VEG, MIN_PIXELS)
    ]


def confusions(root: Path, fires: list[str], candidates: list[BurnedAreaParams]) -> dict:
    """Confusion matrix of every candidate on every fire (scores computed once per
    fire, index and smoothing; ``decide`` per candidate)."""
    out: dict[tuple[str, BurnedAreaParams], ConfusionMatrix] = {}
    for fire in fires:
        pair = read_fire(root, fire)
        scores = {}
        for p in candidates:
            key = (p.index, p.smooth_px)
            if key not in scores:
                scores[key] = BurnedAreaDetector(p).scores(pair.before, pair.after).compute()
            mask = BurnedAreaDetector(p).decide(scores[key])["change_mask"].values
            out[fire, p] = confusion_matrix(mask, pair.label, name=fire)
        print(f"  {fire}: {len(candidates)} candidates scored", flush=True)
    return out


def best(cms: dict, fires: list[str], candidates: list[BurnedAreaParams]) -> BurnedAreaParams:
    """The candidate with the highest F1 summed over ``fires``."""
    return max(candidates, key=lambda p: sum_confusion(cms[f, p] for f in fires).f1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    start = time.monotonic()
    fires = list_fires(args.root)
    candidates = grid()
    print(f"{len(fires)} fires, {len(candidates)} candidate parameter sets")
    cms = confusions(args.root, fires, candidates)
    held_out: dict[str, ConfusionMatrix] = {}
    chosen: dict[str, dict] = {}
    for fire in fires:
        params = best(cms, [f for f in fires if f != fire], candidates)
        cm = evaluate_burned(args.root, BurnedAreaDetector(params), [fire]).per_fire[fire]
        held_out[fire], chosen[fire] = cm, asdict(params)
        print(f"  held out {fire}: F1 {cm.f1:.3f} with {params}")
    baseline = evaluate_burned(args.root, BurnedAreaDetector(DNBR_PARAMS, name="burned-dnbr"))
    final = best(cms, fires, candidates)
    lofo = sum_confusion(held_out.values())
    print(f"LOFO summed: F1 {lofo.f1:.3f} P {lofo.precision:.3f} R {lofo.recall:.3f}")
    print(f"dNBR > 0.1:  F1 {baseline.overall.f1:.3f} P {baseline.overall.precision:.3f} "
          f"R {baseline.overall.recall:.3f}")  # fmt: skip
    print(f"chosen on all fires: {final} (DEFAULT_PARAMS equal: {final == DEFAULT_PARAMS})")
    for fire in fires:
        print(f"  {fire:<22} LOFO {held_out[fire].f1:.3f}   dNBR>0.1 "
              f"{baseline.per_fire[fire].f1:.3f}")  # fmt: skip
    if args.json:
        doc = {
            "root": str(args.root),
            "candidates": len(candidates),
            "lofo": {
                "overall": lofo.as_dict(),
                "per_fire": {f: c.as_dict() for f, c in held_out.items()},
            },
            "lofo_chosen": chosen,
            "dnbr_0.1": baseline.as_dict(),
            "chosen_on_all": asdict(final),
            "chosen_on_all_in_sample": sum_confusion(cms[f, final] for f in fires).as_dict(),
            "seconds": round(time.monotonic() - start, 1),
        }
        args.json.write_text(json.dumps(doc, indent=2, default=float) + "\n", encoding="utf-8")
        print(f"written {args.json}")


if __name__ == "__main__":
    main()
