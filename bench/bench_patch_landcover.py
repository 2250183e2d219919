"""Land cover for patch classes: whole scene vs inside the candidate patches only.

    .venv/bin/python -m bench.bench_patch_landcover RUN_DIR [--repeat 2]

``RUN_DIR`` is the output folder of a ``detect_changes`` run (its composites and change
maps are read back, as ``make_patches`` does). On the flow's own Dask set-up
(:func:`tiandi.flows.runtime.dask_client`) it extracts the candidate patches once, then
times, alternating ``--repeat`` times, the land-cover step of ``make_patches`` the old way
(``landcover_probabilities`` of both composites, lazily, zonal means in windows: the
model runs over the whole scene) and the new way (:func:`patch_landcover_means`: the model
runs on the patches' boxes only), checks the reclassified patches are equal, and prints
one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Time both ways on the same candidates; print one JSON line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--zones", type=Path, required=True)
    args = parser.parse_args(argv)
    from tiandi.eo.storage import read_composite
    from tiandi.flows.change_maps import read_change
    from tiandi.flows.runtime import dask_client
    from tiandi.models.landcover import landcover_probabilities, load_landcover
    from tiandi.redline.patches.classify_landcover import (
        patch_landcover_means,
        reclassify_from_means,
        reclassify_with_landcover,
    )
    from tiandi.redline.patches.extract import extract_patches
    from tiandi.redline.run_layout import RunLayout
    from tiandi.redline.zones.read import read_zones
    from tiandi.settings import Settings

    layout = RunLayout(args.run.resolve())
    model = load_landcover()
    times: dict[str, list[float]] = {"whole_scene": [], "inside_patches": []}
    with dask_client(Settings()):
        before = read_composite(layout.composite("before"))
        after = read_composite(layout.composite("after"))
        change = read_change(
            {"change_prob": layout.change_prob, "change_mask": layout.change_mask}, 1024
        )
        cands = extract_patches(change, before, after, read_zones(args.zones))
        results = {}
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            results["whole_scene"] = reclassify_with_landcover(
                cands,
                landcover_probabilities(before, model),
                landcover_probabilities(after, model),
            )
            times["whole_scene"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            results["inside_patches"] = reclassify_from_means(
                cands,
                patch_landcover_means(cands, before, model),
                patch_landcover_means(cands, after, model),
            )
            times["inside_patches"].append(time.perf_counter() - t0)
    equal = results["whole_scene"].equals(results["inside_patches"])
    report = {"candidates": len(cands), "grid": list(before["B02"].shape), "equal": equal,
              "seconds": times, "speedup_of_min": min(times["whole_scene"])
              / min(times["inside_patches"])}  # fmt: skip
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
