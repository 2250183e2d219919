"""Pooled out-of-fold F1 by epoch over the cities two cross-validation run logs have both
scored (a run stopped before its last fold compared with a complete one on its folds).

    python scripts/experiments/oscd_6band_focal/partial.py A.train-log.jsonl B.train-log.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

Counts = dict[tuple[int, str, str], list[int]]  # (epoch, threshold, city) -> tp, fp, fn, tn


def load(path: str) -> Counts:
    out: Counts = {}
    for line in Path(path).read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "epoch" and "cv_counts" in event:
            for threshold, cities in event["cv_counts"].items():
                for city, counts in cities.items():
                    out[(event["epoch"], threshold, city)] = counts
    return out


def best_f1(counts: Counts, epoch: int, cities: list[str]) -> tuple[float, str]:
    """The best pooled F1 of ``epoch`` over the thresholds, and that threshold."""
    best = (0.0, "")
    for threshold in sorted({k[1] for k in counts}):
        rows = [counts.get((epoch, threshold, c)) for c in cities]
        if any(r is None for r in rows):
            continue
        tp, fp, fn = (sum(r[i] for r in rows if r is not None) for i in range(3))
        best = max(best, (2 * tp / max(1, 2 * tp + fp + fn), threshold))
    return best


def main(a_path: str, b_path: str) -> None:
    a, b = load(a_path), load(b_path)
    cities = sorted({k[2] for k in a} & {k[2] for k in b})
    epochs = sorted({k[0] for k in b if all((k[0], k[1], c) in b for c in cities)})
    print("cities", ", ".join(cities))
    print("| epoch | A F1 (threshold) | B F1 (threshold) |\n|---|---|---|")
    for epoch in epochs:
        (fa, ta), (fb, tb) = best_f1(a, epoch, cities), best_f1(b, epoch, cities)
        print(f"| {epoch} | {fa:.4f} ({ta}) | {fb:.4f} ({tb}) |")


if __name__ == "__main__":
    main(*sys.argv[1:3])
