"""Cache, per OSCD training city, the 6-band network's probability (siamese-s2-6band-v0.2,
the integrated detector's network), the bands the spectral tests read (both dates) and
the change map, so that rule variants are scored without re-running the network.

    OMP_NUM_THREADS=1 nice -n 10 python scripts/experiments/levels/cache_oscd.py \
        ../shared/data/oscd-train /tmp/levels/oscd
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from tiandi.models.evaluation import labelled_cities
from tiandi.models.evidence import BANDS
from tiandi.models.oscd import read_city
from tiandi.models.registry import load_detector


def main(root: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    net = load_detector("siamese-s2-6band-v0.2")
    for name in labelled_cities(root):
        path = out / f"{name}.npz"
        if path.exists():
            continue
        city = read_city(root, name, bands=BANDS)
        prob = np.asarray(net.probability(city.before, city.after).values, dtype=np.float32)
        arrays = {"prob": prob, "label": np.asarray(city.label)}
        for period, ds in (("b", city.before), ("a", city.after)):
            for band in BANDS[:5]:
                arrays[f"{period}_{band}"] = np.asarray(ds[band].values, dtype=np.float32)
        np.savez_compressed(path, **arrays)
        print(name, prob.shape, flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
