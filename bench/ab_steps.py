"""Time the flow's composite and detect steps alone, for A/B comparisons of two checkouts.

    PYTHONPATH=CHECKOUT python -m bench.ab_steps SCENE_DIR --out OUT [--home HOME] [--chunk 1024]

Runs the ``detect_changes`` flow's own task functions (``composites_and_change``, or in
older checkouts ``composite_to_cog`` for both periods then ``detect``) without Prefect's
engine, on the flow's Dask set-up (:func:`tiandi.flows.runtime.dask_client`: threads of
this process, or the cluster of ``TIANDI_DASK_SCHEDULER``), on a scene of
:mod:`bench.scale_scene` or of ``tiandi demo``. Prints one JSON line: seconds per step,
CPU seconds of the whole process tree and its peak RSS (``psutil``, sampled every 0.2 s).
Use the same scene and alternate the checkouts (A, B, A, B) in one sitting: the load moves.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import psutil


def _tree(proc: psutil.Process) -> tuple[int, float]:
    rss, cpu = 0, 0.0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            rss += p.memory_info().rss
            t = p.cpu_times()
            cpu += t.user + t.system
    return rss, cpu


def _periods(scene: Path) -> tuple[list[Any], list[Any]]:
    """The items of both periods: a scale scene's (4 + 4 dates, or as generated), or what
    the flow's search keeps of a ``tiandi demo`` scene (``scenes.json``; cloud cover <= 80 %)."""
    from bench import scale_scene

    if not (scene / "scenes.json").exists():
        (before, _), (after, _) = scale_scene.periods(scene)
        return before, after
    from tiandi.demo.scene_catalog import AFTER, BEFORE, scene_items

    found = [i for i in scene_items(scene) if float(i.properties["eo:cloud_cover"]) <= 80.0]
    day = {i.id: i.datetime.date().isoformat() for i in found if i.datetime}

    def within(period: str) -> list[Any]:
        start, end = period.split("/")
        return [i for i in found if start <= day[i.id] <= end]

    return within(BEFORE), within(AFTER)


def _steps(
    periods: Any, grid: Any, layout: Any, steps: dict[str, float], chunk: int = 1024
) -> None:
    """The flow's steps: ``composites_and_change`` (one pass) where the checkout has it,
    else ``composite_to_cog`` per period then ``detect``."""
    from tiandi.flows import detect_tasks

    detect_tasks.get_run_logger = lambda: logging.getLogger("bench.ab_steps")  # type: ignore[assignment]
    t = time.perf_counter()
    if hasattr(detect_tasks, "composites_and_change"):
        named = dict(zip(("before", "after"), periods, strict=True))
        detect_tasks.composites_and_change.fn(named, grid, layout, chunk)
        steps["composites_and_change"] = time.perf_counter() - t
        return
    paths = {}
    for label, part in zip(("before", "after"), periods, strict=True):
        t = time.perf_counter()
        path = layout.composite(label)
        paths[label] = detect_tasks.composite_to_cog.fn(part, grid, path, chunk, label)
        steps[f"composite_{label}"] = time.perf_counter() - t
    t = time.perf_counter()
    detect_tasks.detect.fn(paths["before"], paths["after"], layout, chunk)
    steps["detect"] = time.perf_counter() - t


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Composites of both periods and detection; print one JSON line of step seconds."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("scene", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--home", type=Path, default=Path("var/bench-ab"))
    parser.add_argument("--chunk", type=int, default=1024, help="the flow's chunk (px)")
    args = parser.parse_args(argv)
    from tiandi.eo.grid import grid_for_zones
    from tiandi.flows.runtime import dask_client
    from tiandi.redline.run_layout import RunLayout
    from tiandi.redline.zones.read import read_zones
    from tiandi.settings import Settings

    periods = _periods(args.scene)
    grid = grid_for_zones(read_zones(args.scene / "zones.gpkg"), [*periods[0], *periods[1]])
    layout = RunLayout(args.out.resolve())
    me, peak, done = psutil.Process(), [0], threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            peak[0] = max(peak[0], _tree(me)[0])

    steps: dict[str, float] = {}
    with dask_client(Settings(home=args.home.resolve())):
        threading.Thread(target=sample, daemon=True).start()
        cpu0, t0 = _tree(me)[1], time.perf_counter()
        _steps(periods, grid, layout, steps, args.chunk)
        total, cpu = time.perf_counter() - t0, _tree(me)[1] - cpu0
    done.set()
    report = {"grid": list(grid.shape), "chunk": args.chunk, **steps, "total": total,
              "cpu_seconds": cpu, "peak_tree_rss_mb": peak[0] / 2**20}  # fmt: skip
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
