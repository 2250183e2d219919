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

ROOT = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "oscd-train"
LABELS = ROOT / "Onera Satellite Change Detection dataset - Train Labels"


def main(network: str, reference: int, overlaps: list[int]) -> None:
    cities = sorted(p.name for p in LABELS.iterdir() if p.is_dir())
    detector = load_detector(network, num_threads=2)
    tiling = detector.tiling  # type: ignore[attr-defined]
    base = replace(tiling, overlap=reference, margin=min(tiling.margin, reference // 2))
    configs = {o: replace(base, overlap=o, margin=min(base.margin, o // 2)) for o in overlaps}
    per: dict[int, list] = {o: [] for o in [base.overlap, *overlaps]}
    worst: dict[int, float] = dict.fromkeys(overlaps, 0.0)
    flips: dict[int, int] = dict.fromkeys(overlaps, 0)
    pixels = 0
    for name in cities:
        city = read_city(ROOT, name, bands=detector.bands)  # type: ignore[attr-defined]
        detector.tiling = base  # type: ignore[attr-defined]
        ref = detector.detect(city.before, city.after)
        per[base.overlap].append(confusion_matrix(ref["change_mask"].values, city.label))
        pixels += int(np.isfinite(ref["change_prob"].values).sum())
        for o, cfg in configs.items():
            detector.tiling = cfg  # type: ignore[attr-defined]
            out = detector.detect(city.before, city.after)
            per[o].append(confusion_matrix(out["change_mask"].values, city.label))
            diff = np.abs(out["change_prob"].values - ref["change_prob"].values)
            worst[o] = max(worst[o], float(np.nanmax(diff)))
            flips[o] += int((out["change_mask"].values != ref["change_mask"].values).sum())
    for o in [base.overlap, *overlaps]:
        total = sum_confusion(per[o])
        tiles = (base.tile / (base.tile - o)) ** 2
        extra = (
            ""
            if o == base.overlap
            else f"; max |Δp| {worst[o]:.3f}, mask differs on {flips[o]} of {pixels} px"
        )
        print(
            f"{network} overlap {o} ({tiles:.2f} passes/px): pooled P {total.precision:.4f} "
            f"R {total.recall:.4f} F1 {total.f1:.4f}{extra}"
        )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), [int(a) for a in sys.argv[3:]])
