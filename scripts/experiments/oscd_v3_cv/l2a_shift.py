"""How much a per-band L1C -> L2A-like shift moves a change network's OSCD scores.

Both dates get the same per-band offset and gain (roughly what atmospheric correction
does to a clear scene: the path radiance of blue and green removed, a small gain), the
network is run on the shifted and the original reflectance, and the change class is
scored against the labels.

    python scripts/experiments/oscd_v3_cv/l2a_shift.py MODEL CITY [CITY ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from tiandi.models.metrics import confusion_matrix, sum_confusion
from tiandi.models.oscd import read_city
from tiandi.models.registry import load_detector

ROOT = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "oscd-train"
OFFSET = {"B02": -0.05, "B03": -0.03, "B04": -0.02, "B08": -0.01, "B11": 0.0, "B12": 0.0}
GAIN = 1.08


def main(model: str, cities: list[str]) -> None:
    detector = load_detector(model, num_threads=2)
    bands = list(OFFSET)
    for label, shift in (("L1C as is", False), ("L2A-like shift", True)):
        per_city = {}
        for name in cities:
            city = read_city(ROOT, name, bands=bands)
            before, after = city.before, city.after
            if shift:
                before, after = before.copy(), after.copy()
                for ds in (before, after):
                    for b in bands:
                        ds[b] = np.clip(ds[b] * GAIN + OFFSET[b], 0, None)
            mask = detector.detect(before, after)["change_mask"].values
            per_city[name] = confusion_matrix(mask, city.label, name=name)
        overall = sum_confusion(per_city.values())
        cells = ", ".join(f"{k} {v.f1:.3f}" for k, v in per_city.items())
        print(f"{model} {label}: {cells}; pooled P {overall.precision:.3f} "
              f"R {overall.recall:.3f} F1 {overall.f1:.3f}")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
