"""Compare two cross-validation summaries (``.cv.json`` of ``--cv-folds``): out-of-fold
figures per city, pooled F1, and a bootstrap over cities of the pooled-F1 difference.

    python scripts/experiments/oscd_v3_cv/compare.py A.cv.json B.cv.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def pooled_f1(per_city: dict[str, dict[str, int]], cities: list[str]) -> float:
    """F1 of the confusion summed over ``cities`` (repeats count again)."""
    tp = sum(per_city[c]["tp"] for c in cities)
    fp = sum(per_city[c]["fp"] for c in cities)
    fn = sum(per_city[c]["fn"] for c in cities)
    return 2 * tp / max(1, 2 * tp + fp + fn)


def main(a_path: str, b_path: str, draws: int = 10_000) -> None:
    a = json.loads(Path(a_path).read_text())["per_city"]
    b = json.loads(Path(b_path).read_text())["per_city"]
    cities = list(a)
    print("| city | changed px | A P | A R | A F1 | B P | B R | B F1 |")
    print("|---|---|---|---|---|---|---|---|")
    for c in cities:
        x, y = a[c], b[c]
        print(
            f"| {c} | {x['tp'] + x['fn']} | {x['precision']:.3f} | {x['recall']:.3f} | "
            f"{x['f1']:.3f} | {y['precision']:.3f} | {y['recall']:.3f} | {y['f1']:.3f} |"
        )
    diff = pooled_f1(a, cities) - pooled_f1(b, cities)
    rng = np.random.default_rng(0)
    boot = np.array(
        [
            pooled_f1(a, draw) - pooled_f1(b, draw)
            for draw in ([cities[i] for i in rng.integers(0, len(cities), len(cities))]
                         for _ in range(draws))
        ]
    )  # fmt: skip
    low, high = np.percentile(boot, [2.5, 97.5])
    wins = sum(a[c]["f1"] > b[c]["f1"] for c in cities)
    print(
        f"\npooled F1 A {pooled_f1(a, cities):.4f}, B {pooled_f1(b, cities):.4f}, A - B "
        f"{diff:+.4f}; bootstrap over cities (seed 0, {draws} draws): 95 % interval "
        f"[{low:+.4f}, {high:+.4f}], share <= 0: {(boot <= 0).mean():.3f}; "
        f"A better on {wins} of {len(cities)} cities"
    )


if __name__ == "__main__":
    main(*sys.argv[1:3])
