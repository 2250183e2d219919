"""What screening burned groups whose mean dNBR is Key & Benson's "unburned" does on the
fire pairs: ``burned-rbr``'s mask per fire, its 8-connected groups, those with mean dNBR
below 0.1 removed; the burned class scored before and after, pixels summed over fires.

    PYTHONPATH=. python scripts/experiments/burned/unburned_screen.py \
        --root ../shared/data/s2-burned-areas-california/pairs

The flow applies the rule to patches (``screen_disturbances``, reason ``unburned_dnbr``);
groups of the mask are the closest pixel-level equivalent. In-sample: ``burned-rbr``'s
parameters were chosen on these pairs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy.ndimage import label
from scipy.ndimage import mean as label_mean

from tiandi.models.burned.detector import BurnedAreaDetector
from tiandi.models.burned.pairs import list_fires, read_fire
from tiandi.models.metrics import ConfusionMatrix, confusion_matrix, sum_confusion
from tiandi.redline.patches.disturbance import UNBURNED_MAX_DNBR


def screened_mask(mask: np.ndarray, dnbr: np.ndarray) -> tuple[np.ndarray, int, int]:
    """``mask`` without its burned groups of mean dNBR below the bound; (mask, groups
    removed, pixels removed)."""
    groups, n = label(mask == 1, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return mask, 0, 0
    means = np.asarray(label_mean(np.nan_to_num(dnbr), groups, index=np.arange(1, n + 1)))
    drop = np.concatenate([[False], means < UNBURNED_MAX_DNBR])
    out = mask.copy()
    out[drop[groups]] = 0
    return out, int(drop.sum()), int(drop[groups].sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    root = parser.parse_args().root
    detector = BurnedAreaDetector(name="burned-rbr")
    before: list[ConfusionMatrix] = []
    after: list[ConfusionMatrix] = []
    for fire in list_fires(root):
        pair = read_fire(root, fire)
        change = detector.detect(pair.before, pair.after)
        mask = np.asarray(change["change_mask"].values)
        kept, groups, pixels = screened_mask(mask, np.asarray(change["dnbr"].values))
        print(f"{fire}: {groups} group(s), {pixels} px screened")
        before.append(confusion_matrix(mask, pair.label, name=fire))
        after.append(confusion_matrix(kept, pair.label, name=fire))
    for name, cms in (("without the rule", before), ("with the rule", after)):
        d = sum_confusion(cms).as_dict()
        print(f"{name}: P {d['precision']:.3f} R {d['recall']:.3f} F1 {d['f1']:.3f}")


if __name__ == "__main__":
    main()
