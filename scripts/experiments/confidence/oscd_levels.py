"""Per-city confusion counts of the integrated detector's parts on OSCD-layout cities.

One pass of ``integrated`` per city; counts (tp, fp, fn against the change labels, no-data
pixels left out) for the network alone (probability ≥ its threshold: the exact mask of
``siamese-s2-6band-v0.2``), for confidence level ≥ 1, ≥ 2 and = 3 (without the detector's
4-pixel speck removal) and for each evidence bit. Figures in docs/decisions.md
("Confidence levels")::

    PYTHONPATH=. .venv/bin/python scripts/experiments/confidence/oscd_levels.py \\
        --root ../shared/data/oscd-train --out oscd-levels.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from tiandi.models.evaluation import labelled_cities
from tiandi.models.evidence import EVIDENCE_BITS, NETWORK_HIGH_BIT
from tiandi.models.integrated import IntegratedDetector
from tiandi.models.oscd import read_city
from tiandi.models.registry import load_detector


def _counts(mask: np.ndarray, label: np.ndarray, ok: np.ndarray) -> dict[str, int]:
    return {
        "tp": int((mask & label & ok).sum()),
        "fp": int((mask & ~label & ok).sum()),
        "fn": int((~mask & label & ok).sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    detector = load_detector("integrated", num_threads=args.threads)
    assert isinstance(detector, IntegratedDetector)
    found: dict[str, dict[str, object]] = {}
    for city in labelled_cities(args.root):
        data = read_city(args.root, city, bands=detector.bands)
        out = detector.detect(data.before, data.after)
        level = np.asarray(out["confidence_level"].values)
        bits = np.asarray(out["evidence"].values)
        prob = np.asarray(out["change_prob"].values)
        label = np.asarray(data.label).astype(bool)
        ok = level != 255
        row: dict[str, object] = {"n": int(ok.sum())}
        row["network"] = _counts(prob >= detector.threshold, label, ok)
        for k in (1, 2, 3):
            row[f"lev>={k}"] = _counts(level >= k, label, ok)
        for name, bit in [*EVIDENCE_BITS.items(), ("network_high", NETWORK_HIGH_BIT)]:
            row[f"ev_{name}"] = _counts(((bits & bit) > 0) & ok, label, ok)
        found[city] = row
        print(city, row["network"], row["lev>=1"], flush=True)
    args.out.write_text(json.dumps(found, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
