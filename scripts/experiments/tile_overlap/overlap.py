"""How much the tiles' overlap changes a change network's output (issue 17: fewer forward
passes per pixel) on the OSCD training cities: the probability maps of the product's
tiling (tiles 256 px, overlap 64) against smaller overlaps, and the pooled confusion at
the card's threshold. A comparison of tilings of one network, not a test score (v0.2 was
trained on eight of these cities). The first overlap is the reference (64: the product's
before session 16); margins are min(8, overlap / 2).

    python scripts/experiments/tile_overlap/overlap.py NETWORK REFERENCE OVERLAP [OVERLAP ...]
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from tiandi.models.metrics import confusion_matrix, sum_confusion
from tiandi.models.oscd import read_city
from tiandi.models.registry import load_detector
from tiandi.models.tiling_grid import TileConfig

ROOT = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "oscd-train"
LABELS = ROOT / "Onera Satellite Change Detection dataset - Train Labels"


def compare(network: str, tilings: dict[str, TileConfig]) -> None:
    """Print pooled P, R, F1 of ``network`` under each tiling (the first is the reference),
    with the largest probability change and the mask pixels changed against it."""
    cities = sorted(p.name for p in LABELS.iterdir() if p.is_dir())
    detector = load_detector(network, num_threads=2)
    labels = list(tilings)
    per: dict[str, list] = {k: [] for k in labels}
    worst: dict[str, float] = dict.fromkeys(labels, 0.0)
    flips: dict[str, int] = dict.fromkeys(labels, 0)
    pixels = 0
    for name in cities:
        city = read_city(ROOT, name, bands=detector.bands)  # type: ignore[attr-defined]
        ref = None
        for label in labels:
            detector.tiling = tilings[label]  # type: ignore[attr-defined]
            out = detector.detect(city.before, city.after)
            per[label].append(confusion_matrix(out["change_mask"].values, city.label))
            if ref is None:
                ref = out
                pixels += int(np.isfinite(ref["change_prob"].values).sum())
                continue
            diff = np.abs(out["change_prob"].values - ref["change_prob"].values)
            worst[label] = max(worst[label], float(np.nanmax(diff)))
            flips[label] += int((out["change_mask"].values != ref["change_mask"].values).sum())
    for label in labels:
        total = sum_confusion(per[label])
        cfg = tilings[label]
        passes = (cfg.tile / (cfg.tile - cfg.overlap)) ** 2
        extra = (
            ""
            if label == labels[0]
            else f"; max |Δp| {worst[label]:.3f}, mask differs on {flips[label]} of {pixels} px"
        )
        print(
            f"{network} {label} ({passes:.2f} passes/px): pooled P {total.precision:.4f} "
            f"R {total.recall:.4f} F1 {total.f1:.4f}{extra}"
        )


def main(network: str, reference: int, overlaps: list[int]) -> None:
    tiling = load_detector(network).tiling  # type: ignore[attr-defined]
    tilings = {
        f"overlap {o}": replace(tiling, overlap=o, margin=min(tiling.margin, o // 2))
        for o in [reference, *overlaps]
    }
    compare(network, tilings)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), [int(a) for a in sys.argv[3:]])
