"""The candidate level rules of PROTOCOL.md, on the evidence bits of tiandi.models.evidence
plus one extra bit (64) for the strong vegetation loss of C4/C5; OSCD scoring from the
cache of cache_oscd.py.

    python scripts/experiments/levels/rules.py /tmp/levels/oscd
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tiandi.eo.indices import index_array
from tiandi.models.base import NO_DATA
from tiandi.models.baseline import change_mask
from tiandi.models.evidence import (
    EVIDENCE_BITS,
    NETWORK_HIGH_BIT,
    EvidenceParams,
    evidence_bits,
)
from tiandi.models.metrics import confusion_matrix, sum_confusion

STRONG_BIT = 64
RULES = ("C0", "C1", "C2", "C3", "C4", "C5")
UNSEEN = ("beihai", "bordeaux", "hongkong", "mumbai", "pisa", "rennes")


def bits_with_strong(
    prob: Any,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    *,
    threshold: float,
    params: EvidenceParams | None = None,
) -> np.ndarray:
    params = params if params is not None else EvidenceParams()
    bits = evidence_bits(prob, before, after, threshold=threshold, params=params)
    nb, na = index_array("ndvi", before), index_array("ndvi", after)
    mb, ma = index_array("ndmi", before), index_array("ndmi", after)
    with np.errstate(invalid="ignore"):
        strong = (nb >= 0.6) & (na - nb <= -0.4) & (ma - mb <= -0.2)
    out = bits | np.where(strong & (bits != NO_DATA), STRONG_BIT, 0).astype(np.uint8)
    out[bits == NO_DATA] = NO_DATA
    return out


def level_rule(bits: Any, rule: str) -> np.ndarray:
    b = np.asarray(bits, dtype=np.uint8)
    has = {n: (b & v) > 0 for n, v in EVIDENCE_BITS.items()}
    net, net_high = has["network"], (b & NETWORK_HIGH_BIT) > 0
    strong = (b & STRONG_BIT) > 0
    veg = has["vegetation_loss"] | has["bare_soil"]
    water = has["water_gain"] | has["water_loss"]
    spectral = ("vegetation_loss", "water_gain", "water_loss", "bare_soil")
    n_spec = sum(has[s].astype(np.uint8) for s in spectral)
    any_spec = n_spec >= 1
    if rule == "C0":
        high = (net & net_high) | (n_spec >= 2)
    elif rule == "C1":
        high = net | (n_spec >= 2)
    elif rule == "C2":
        high = (net & net_high) | (veg & water)
    elif rule == "C3":
        high = net | (veg & water)
    elif rule == "C4":
        high = net | (veg & water) | (strong & has["bare_soil"])
    elif rule == "C5":
        high = net | (veg & water) | strong
    else:
        raise ValueError(rule)
    level = np.zeros(b.shape, dtype=np.uint8)
    level[net | any_spec] = 1
    level[high] = 2
    level[net & any_spec] = 3
    level[b == NO_DATA] = NO_DATA
    return level


def city_bits(path: Path) -> tuple[np.ndarray, np.ndarray]:
    d = np.load(path)
    before = {k[2:]: d[k] for k in d.files if k.startswith("b_")}
    after = {k[2:]: d[k] for k in d.files if k.startswith("a_")}
    return bits_with_strong(d["prob"], before, after, threshold=0.35), d["label"]


def main(cache: Path) -> None:
    per: dict[str, dict[str, Any]] = {r: {} for r in RULES}
    for path in sorted(cache.glob("*.npz")):
        bits, label = city_bits(path)
        for rule in RULES:
            level = level_rule(bits, rule)
            nodata = level == NO_DATA
            mask = change_mask((level >= 2) & ~nodata, nodata, 4)
            per[rule][path.stem] = confusion_matrix(mask, label, name=path.stem)
    out = {}
    for rule in RULES:
        cms = per[rule]
        unseen = sum_confusion([cms[c] for c in UNSEEN]).as_dict()
        allc = sum_confusion(cms.values()).as_dict()
        out[rule] = {
            "unseen6": unseen,
            "all14": allc,
            "per_city_f1": {c: round(cm.as_dict()["f1"], 3) for c, cm in cms.items()},
        }
        print(
            f"{rule}: unseen6 F1 {unseen['f1']:.3f} (P {unseen['precision']:.3f} "
            f"R {unseen['recall']:.3f})  all14 F1 {allc['f1']:.3f} "
            f"(P {allc['precision']:.3f} R {allc['recall']:.3f})"
        )
    Path(cache.parent / "oscd_rules.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
