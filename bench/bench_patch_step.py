"""The patch step alone (``make_patches``) on a finished run's outputs, under each Dask set-up.

    .venv/bin/python -m bench.bench_patch_step RUN_DIR --zones ZONES
        [--dask threads inprocess process] [--repeat 1]

``RUN_DIR`` is the output folder of ``tiandi run detect-changes`` (its change maps and
composites are read back, as the flow does); ``ZONES`` the zones file of that run. For
each ``--dask`` set-up, alternating ``--repeat`` times, it runs the flow's own task
function (``make_patches.fn``) with the baseline's patch parameters and the shipped land
cover, under: ``threads`` (no client: Dask's threads, the CLI's default since 6 December),
``inprocess`` (a distributed client of a one-worker cluster in this process, the CLI's
default before), ``process`` (a client of one worker process, as a
``TIANDI_DASK_SCHEDULER`` cluster). It checks that every set-up finds
the same patches and prints one JSON line: seconds per set-up and the patches found.
Run it from another checkout (``PYTHONPATH=CHECKOUT``) to compare code.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SETUPS = ("threads", "inprocess", "process")


@contextlib.contextmanager
def _dask(setup: str) -> Iterator[None]:
    if setup == "threads":
        yield
        return
    from distributed import Client, LocalCluster

    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=1,
            threads_per_worker=2,
            processes=setup == "process",
            memory_limit=0,
            dashboard_address=None,
        ) as cluster,
        Client(cluster),  # type: ignore[no-untyped-call]
    ):
        yield


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Time the patch step under each set-up; print one JSON line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--zones", type=Path, required=True)
    parser.add_argument("--dask", nargs="+", choices=SETUPS, default=list(SETUPS))
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    from prefect.logging import disable_run_logger

    from tiandi.flows.detect_tasks import make_patches
    from tiandi.models.landcover import load_landcover
    from tiandi.redline.patches.extract import PatchParams
    from tiandi.redline.run_layout import RunLayout
    from tiandi.redline.zones.read import read_zones

    logging.getLogger("distributed").setLevel(logging.WARNING)
    layout = RunLayout(args.run.resolve())
    change = {"change_mask": layout.change_mask, "change_prob": layout.change_prob}
    before, after = layout.composite("before"), layout.composite("after")
    zones, model = read_zones(args.zones), load_landcover()
    seconds: dict[str, list[float]] = {s: [] for s in args.dask}
    found: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="tiandi-bench-patches-") as tmp:
        for _ in range(args.repeat):
            for setup in args.dask:
                with _dask(setup), disable_run_logger():
                    start = time.perf_counter()
                    patches, _ = make_patches.fn(
                        change, before, after, zones, PatchParams(), Path(tmp) / "p.gpkg",
                        1024, model,
                    )  # fmt: skip
                    seconds[setup].append(round(time.perf_counter() - start, 2))
                found[setup] = sorted(patches["patch_id"])
    if len({tuple(ids) for ids in found.values()}) != 1:
        counts = {setup: len(ids) for setup, ids in found.items()}
        raise SystemExit(f"the Dask set-ups found different patches: {counts}")
    report = {"seconds": seconds, "patches": len(next(iter(found.values())))}
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
