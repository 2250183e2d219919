"""What screening burned groups whose NIR did not drop does on the fire pairs, on top of
the unburned-dNBR screen: a detector's mask per fire, its 8-connected groups; removed
are those with mean dNBR below 0.1 (``unburned_dnbr``), then those whose mean NIR (B08)
after is not below the mean before (``nir_not_lower``); the burned class scored after
each step, pixels summed over fires.

    PYTHONPATH=. python scripts/experiments/burned/nir_screen.py \
        --root ../shared/data/s2-burned-areas-california/pairs [--detector burned-area]

The flow applies both rules to patches (``screen_disturbances``); groups of the mask are
the closest pixel-level equivalent. In-sample for the detectors' parameters (chosen on
these pairs); the NIR rule has no parameter.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy.ndimage import label
from scipy.ndimage import mean as label_mean

from tiandi.models.burned.pairs import list_fires, read_fire
from tiandi.models.metrics import ConfusionMatrix, confusion_matrix, sum_confusion
from tiandi.models.registry import load_detector
from tiandi.redline.patches.disturbance import UNBURNED_MAX_DNBR


def _group_means(groups: np.ndarray, n: int, values: np.ndarray) -> np.ndarray:
    return np.asarray(label_mean(np.nan_to_num(values), groups, index=np.arange(1, n + 1)))


def screened(
    mask: np.ndarray, dnbr: np.ndarray, nir_before: np.ndarray, nir_after: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(mask without unburned groups, mask without those and the NIR-rising ones,
    groups removed by the NIR rule, their pixels)."""
    groups, n = label(mask == 1, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return mask, mask, 0, 0
    unburned = np.concatenate([[False], _group_means(groups, n, dnbr) < UNBURNED_MAX_DNBR])
    rising = _group_means(groups, n, nir_after) >= _group_means(groups, n, nir_before)
    rising = np.concatenate([[False], rising]) & ~unburned
    first, both = mask.copy(), mask.copy()
    first[unburned[groups]] = 0
    both[(unburned | rising)[groups]] = 0
    return first, both, int(rising.sum()), int(rising[groups].sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--detector", default="burned-rbr")
    args = parser.parse_args()
    detector = load_detector(args.detector)
    steps: dict[str, list[ConfusionMatrix]] = {"mask": [], "unburned_dnbr": [], "+nir": []}
    for fire in list_fires(args.root):
        pair = read_fire(args.root, fire)
        change = detector.detect(pair.before, pair.after)
        mask = np.asarray(change["change_mask"].values)
        nir = [np.asarray(p["B08"].values, dtype=np.float64) for p in (pair.before, pair.after)]
        first, both, groups, pixels = screened(mask, np.asarray(change["dnbr"].values), *nir)
        inside = int(((mask == 1) & (first == 1) & (both == 0) & (pair.label == 1)).sum())
        print(
            f"{fire}: NIR rule removes {groups} group(s), {pixels} px "
            f"({inside} inside the perimeter)"
        )
        for name, m in (("mask", mask), ("unburned_dnbr", first), ("+nir", both)):
            steps[name].append(confusion_matrix(m, pair.label, name=fire))
    for name, cms in steps.items():
        d = sum_confusion(cms).as_dict()
        print(f"{name}: P {d['precision']:.3f} R {d['recall']:.3f} F1 {d['f1']:.3f}")


if __name__ == "__main__":
    main()
