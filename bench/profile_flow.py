"""Measure ``tiandi run detect-changes`` as a user runs it, beside the read floor.

    .venv/bin/python -m bench.profile_flow [--size 2048] [--home var/bench-flow]
        [--profiler none|pyinstrument|py-spy] [--out var/bench-flow/prof]

Makes the demo scene of ``--size`` (``tiandi demo``'s generator, cached under
``--home``) and registers its items in the embedded catalog, then in the same sitting:

- ``floor``: rasterio decodes every block of every input file (all bands and SCL of all
  dates) once on all cores, page cache warm;
- ``flow``: the CLI (``python -m tiandi.cli.app run detect-changes``, which starts the
  Prefect server, the Dask cluster and rustac serve itself) on the demo's zones,
  stations and truth; wall time, CPU time of the whole process tree and its peak RSS
  (sum over the tree, sampled every 0.2 s).

``--profiler pyinstrument`` runs the CLI under pyinstrument (the client process: the
flow, its tasks and the time they wait on Dask) and writes ``flow.pyinstrument.{txt,html}``;
``--profiler py-spy`` records every process of the tree (``--subprocesses``: the Dask
worker, the Prefect server) into ``flow.py-spy.txt`` (collapsed stacks). Neither tool is
a dependency of tiandi: install them beside it (``pip install --target DIR pyinstrument
py-spy`` and ``PYTHONPATH=DIR``). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from bench.bench_composite import REPO
from bench.bench_scale import FLOW_DETECTOR


def _floor(scene_dir: Path) -> dict[str, float]:
    from concurrent.futures import ThreadPoolExecutor

    import rasterio

    paths = sorted(scene_dir.glob("scenes/*/*.tif"))

    def read(path: Path) -> int:
        with rasterio.open(path) as src:
            return sum(src.read(1, window=win).size for _, win in src.block_windows(1))

    t0 = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        pixels = sum(pool.map(read, paths))
    return {"seconds": time.perf_counter() - t0, "mpx": pixels / 1e6, "files": len(paths)}


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def _timed(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run ``cmd``; wall, CPU of the tree (children waited for) and peak tree RSS."""
    before = os.times()
    t0 = time.perf_counter()
    popen = subprocess.Popen(cmd, env=env, cwd=REPO)
    proc, peak, done = psutil.Process(popen.pid), [0], threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            with contextlib.suppress(psutil.Error):
                peak[0] = max(peak[0], _tree_rss(proc))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rc = popen.wait()
    done.set()
    sampler.join()
    after = os.times()
    if rc != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {rc}")
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": cpu,
            "peak_tree_rss_mb": peak[0] / 2**20}  # fmt: skip


def _cli(scene_dir: Path, out: Path) -> list[str]:
    from tiandi.demo.scene_catalog import AFTER, BEFORE

    return ["-m", "tiandi.cli.app", "run", "detect-changes",
            "--zones", str(scene_dir / "zones.gpkg"), "--before", BEFORE, "--after", AFTER,
            "--stations", str(scene_dir / "stations.gpkg"),
            "--truth", str(scene_dir / "truth.gpkg"), "--detector", FLOW_DETECTOR,
            "--out", str(out)]  # fmt: skip


def _profiled(args: list[str], profiler: str, out: Path) -> list[str]:
    if profiler == "pyinstrument":
        return [sys.executable, "-m", "pyinstrument", "--no-color", "-r", "text",
                "-o", str(out / "flow.pyinstrument.txt"), *args]  # fmt: skip
    if profiler == "py-spy":
        return ["py-spy", "record", "--subprocesses", "--idle", "--format", "raw",
                "--rate", "50", "-o", str(out / "flow.py-spy.txt"), "--",
                sys.executable, *args]  # fmt: skip
    return [sys.executable, *args]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Scene, floor, then the CLI flow (optionally under a profiler); print one JSON line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--home", type=Path, default=Path("var/bench-flow"))
    parser.add_argument("--profiler", choices=["none", "pyinstrument", "py-spy"], default="none")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    from rich.console import Console

    from tiandi.demo.run import prepare_scene
    from tiandi.settings import Settings

    home = args.home.resolve()
    env = {**os.environ, "TIANDI_HOME": str(home), "PYTHONPATH": os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}  # fmt: skip
    scene_dir = prepare_scene(Settings(home=home), size=args.size, seed=0, console=Console())
    out = (args.out or home / "prof").resolve()
    out.mkdir(parents=True, exist_ok=True)
    floor = _floor(scene_dir)
    run_dir = out / f"run-{args.size}-{args.profiler}"
    cmd = _profiled(_cli(scene_dir, run_dir), args.profiler, out)
    flow = _timed(cmd, env)
    report = {"size": args.size, "profiler": args.profiler, "floor": floor, "flow": flow,
              "flow_x_floor": flow["seconds"] / floor["seconds"], "cores": os.cpu_count(),
              "load_avg_1m_at_end": os.getloadavg()[0]}  # fmt: skip
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
