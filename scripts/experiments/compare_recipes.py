"""Compare two training recipes on several seeds each (docs/decisions.md, "One training run
per recipe does not decide").

    python scripts/experiments/compare_recipes.py --a A_SEED0.cv.json A_SEED1.cv.json \
        --b B_SEED0.cv.json B_SEED1.cv.json

Each file is a cross-validation summary (``.cv.json`` of ``--cv-folds``) of one seed. Prints
each run's pooled out-of-fold F1, each recipe's mean and the spread between its seeds, and
the verdict of the rule: the difference of the means counts only when it is larger than
the larger of the two spreads (and each recipe has at least two seeds).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from statistics import mean
from typing import Any


def pooled_f1(path: Path) -> float:
    """Pooled out-of-fold F1 of one cross-validation summary."""
    overall = json.loads(path.read_text(encoding="utf-8"))["overall"]
    tp, fp, fn = overall["tp"], overall["fp"], overall["fn"]
    return float(2 * tp / max(1, 2 * tp + fp + fn))


def compare(a: list[Path], b: list[Path]) -> dict[str, Any]:
    """Means, spreads and the verdict of recipe A against recipe B."""
    fa, fb = [pooled_f1(p) for p in a], [pooled_f1(p) for p in b]
    spread = max(max(fa) - min(fa), max(fb) - min(fb))
    diff = mean(fa) - mean(fb)
    if min(len(fa), len(fb)) < 2:
        verdict = "undecided: each recipe needs at least two seeds"
    elif abs(diff) > spread:
        verdict = f"{'A' if diff > 0 else 'B'} is better (the difference exceeds the seeds' spread)"
    else:
        verdict = "no difference (within the seeds' spread)"
    return {"a": fa, "b": fb, "mean_a": mean(fa), "mean_b": mean(fb), "diff": diff,
            "spread": spread, "verdict": verdict}  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--a", type=Path, nargs="+", required=True)
    parser.add_argument("--b", type=Path, nargs="+", required=True)
    args = parser.parse_args(argv)
    out = compare(args.a, args.b)
    for name in ("a", "b"):
        runs = ", ".join(f"{f:.4f}" for f in out[name])
        print(f"{name.upper()}: {runs}; mean {out[f'mean_{name}']:.4f}")
    print(f"A - B {out['diff']:+.4f}; larger spread between one recipe's seeds {out['spread']:.4f}")
    print(out["verdict"])
    return out


if __name__ == "__main__":
    main()
