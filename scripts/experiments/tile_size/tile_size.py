"""How much the tiles' size changes a change network's output (issue 17: fewer forward
passes per pixel) on the OSCD training cities: the probability maps of the product's
tiling (tiles 256 px, overlap 32, blocks 896) against larger tiles with the same overlap
and margin, and the pooled confusion at the card's threshold. A comparison of tilings of
one network, not a test score (v0.2 was trained on eight of these cities). Runs in the
product's number format (``auto``).

    python scripts/experiments/tile_size/tile_size.py NETWORK TILE:BLOCK [TILE:BLOCK ...]
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


def main(network: str, sizes: list[tuple[int, int]]) -> None:
    cities = sorted(p.name for p in LABELS.iterdir() if p.is_dir())
    detector = load_detector(network, num_threads=2)
    base = detector.tiling  # type: ignore[attr-defined]
    configs = {t: replace(base, tile=t, block=b) for t, b in sizes}
    per: dict[int, list] = {t: [] for t in [base.tile, *configs]}
    worst: dict[int, float] = dict.fromkeys(configs, 0.0)
    flips: dict[int, int] = dict.fromkeys(configs, 0)
    pixels = 0
    for name in cities:
        city = read_city(ROOT, name, bands=detector.bands)  # type: ignore[attr-defined]
        detector.tiling = base  # type: ignore[attr-defined]
        ref = detector.detect(city.before, city.after)
        per[base.tile].append(confusion_matrix(ref["change_mask"].values, city.label))
        pixels += int(np.isfinite(ref["change_prob"].values).sum())
        for t, cfg in configs.items():
            detector.tiling = cfg  # type: ignore[attr-defined]
            out = detector.detect(city.before, city.after)
            per[t].append(confusion_matrix(out["change_mask"].values, city.label))
            diff = np.abs(out["change_prob"].values - ref["change_prob"].values)
            worst[t] = max(worst[t], float(np.nanmax(diff)))
            flips[t] += int((out["change_mask"].values != ref["change_mask"].values).sum())
    for t in [base.tile, *configs]:
        total = sum_confusion(per[t])
        passes = (t / (t - base.overlap)) ** 2
        extra = (
            ""
            if t == base.tile
            else f"; max |Δp| {worst[t]:.3f}, mask differs on {flips[t]} of {pixels} px"
        )
        print(
            f"{network} tile {t} ({passes:.2f} passes/px): pooled P {total.precision:.4f} "
            f"R {total.recall:.4f} F1 {total.f1:.4f}{extra}"
        )


if __name__ == "__main__":
    pairs = [tuple(int(v) for v in a.split(":")) for a in sys.argv[2:]]
    main(sys.argv[1], [(t, b) for t, b in pairs])
