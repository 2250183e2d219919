"""The scale series: ``tiandi run detect-changes`` at 1x, 4x and 16x area beside the read
floor, a naive eager pipeline and the plain odc-stac + dask pipeline, on the same files.

    python -m bench.bench_scale [--sizes 2048 4096 8192] [--home var/bench-scale]
        [--stages floor flow naive odcstac] [--naive-cap-gb 8] [--results bench/results]

For each size (scenes from :mod:`bench.scale_scene`, cached under ``--home``, registered
in that home's embedded catalog): every stage runs as its own process tree, one after the
other, page cache warm (the floor runs first and reads every file). Measured per stage:
wall seconds, CPU seconds of the whole process tree (children waited for), peak RSS of
the whole tree (sum over its processes, sampled every 0.2 s), Mpx/s (pixels of the files
the flow reads, decoded once, per second), seconds per Mpx; and the ratios flow / floor,
naive / flow and odcstac / flow. The naive run is stopped when its tree passes
``--naive-cap-gb`` and recorded as ``out_of_memory`` with the memory at that point.
Writes ``bench/results/scale-<UTC>.json`` and ``.md`` with the machine's cores and memory.
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench import scale_scene
from bench.bench_composite import REPO, _machine

STAGES = ("floor", "flow", "naive", "odcstac")


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def _kill_tree(proc: psutil.Process) -> None:
    for p in [*proc.children(recursive=True), proc]:
        with contextlib.suppress(psutil.Error):
            p.kill()


def timed(cmd: list[str], env: dict[str, str], cap_bytes: int | None = None) -> dict[str, Any]:
    """Run ``cmd``: wall, tree CPU, peak tree RSS, its last stdout JSON line (if any);
    killed (``out_of_memory``) when the tree's RSS passes ``cap_bytes``."""
    before = os.times()
    t0 = time.perf_counter()
    popen = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, text=True)
    proc, peak, done, capped = psutil.Process(popen.pid), [0], threading.Event(), [False]

    def sample() -> None:
        while not done.wait(0.2):
            with contextlib.suppress(psutil.Error):
                peak[0] = max(peak[0], _tree_rss(proc))
            if cap_bytes and peak[0] > cap_bytes and not capped[0]:
                capped[0] = True
                _kill_tree(proc)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = popen.communicate()
    done.set()
    sampler.join()
    after = os.times()
    cpu = sum(getattr(after, k) - getattr(before, k) for k in ("children_user", "children_system"))
    row: dict[str, Any] = {"seconds": time.perf_counter() - t0, "cpu_seconds": cpu,
                           "peak_tree_rss_mb": peak[0] / 2**20, "status": "ok"}  # fmt: skip
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if lines:
        row.update(json.loads(lines[-1]))
    if capped[0]:
        row["status"] = "out_of_memory"
    elif popen.returncode != 0:
        row["status"] = f"failed (exit {popen.returncode})"
    return row


def _env(home: Path) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "TIANDI_HOME": str(home), "PYTHONPATH": path}


def _flow_cmd(scene: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "tiandi.cli.app", "run", "detect-changes",
            "--zones", str(scene / "zones.gpkg"), "--before", scale_scene.BEFORE,
            "--after", scale_scene.AFTER, "--out", str(out)]  # fmt: skip


def _flow_found(out: Path) -> dict[str, Any]:
    summary = out / "summary.json"
    if not summary.exists():
        return {}
    data = json.loads(summary.read_text(encoding="utf-8"))
    return {"patches": data.get("n_patches")}


def measure(size: int, home: Path, stages: list[str], naive_cap_gb: float) -> list[dict[str, Any]]:
    """Every stage at ``size``, one after the other; rows with figures and ratios."""
    from tiandi.catalog.store import GeoParquetCatalog
    from tiandi.settings import Settings

    scene = scale_scene.generate(home / "scenes", size)
    GeoParquetCatalog(Settings(home=home).catalog_path).add(scale_scene.items(scene))
    mpx = sum(_pixels(p) for p in scale_scene.files(scene)) / 1e6
    env, rows = _env(home), []
    for stage in stages:
        if stage == "flow":
            out = home / "runs" / f"run-{size}"
            row = timed(_flow_cmd(scene, out), env)
            row.update(_flow_found(out))
        else:
            cmd = [sys.executable, "-m", "bench.scale_pipelines", stage, str(scene)]
            cap = int(naive_cap_gb * 2**30) if stage == "naive" else None
            row = timed(cmd, env, cap)
        secs = row["seconds"]
        row.update({"size": size, "stage": stage, "input_mpx": mpx,
                    "mpx_per_s": mpx / secs, "s_per_mpx": secs / mpx})  # fmt: skip
        rows.append(row)
    _ratios(rows)
    return rows


def _pixels(path: Path) -> int:
    import rasterio

    with rasterio.open(path) as src:
        return int(src.width * src.height)


def _ratios(rows: list[dict[str, Any]]) -> None:
    by = {r["stage"]: r for r in rows}
    floor, flow = by.get("floor"), by.get("flow")
    for r in rows:
        r["x_floor"] = r["seconds"] / floor["seconds"] if floor else None
        r["x_flow"] = r["seconds"] / flow["seconds"] if flow else None


def _fmt(v: Any, spec: str) -> str:
    return "" if v is None else format(v, spec)


def markdown(report: dict[str, Any]) -> str:
    """The report as a markdown table."""
    m = report["machine"]
    lines = [f"# bench_scale {report['started']}", "",
             f"{m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}, "
             f"1-min load average at start {m['load_avg_1m']:.2f}", "",
             "| size | stage | status | wall s | CPU s | peak tree RSS MB | Mpx/s | s/Mpx "
             "| x floor | x flow | found |",
             "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]  # fmt: skip
    for r in report["rows"]:
        found = ", ".join(f"{k} {r[k]}" for k in ("patches", "polygons", "changed_px") if k in r)
        lines.append(f"| {r['size']} | {r['stage']} | {r['status']} | {r['seconds']:.2f} "
                     f"| {r['cpu_seconds']:.1f} | {r['peak_tree_rss_mb']:.0f} "
                     f"| {r['mpx_per_s']:.1f} | {r['s_per_mpx']:.4f} "
                     f"| {_fmt(r['x_floor'], '.2f')} | {_fmt(r['x_flow'], '.2f')} "
                     f"| {found} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Generate, measure every stage at every size, print and write JSON + markdown."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 4096, 8192])
    parser.add_argument("--home", type=Path, default=Path("var/bench-scale"))
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--naive-cap-gb", type=float, default=8.0)
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)
    home = args.home.resolve()
    started = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report: dict[str, Any] = {"started": started, "machine": _machine(), "rows": []}
    for size in args.sizes:
        for row in measure(size, home, args.stages, args.naive_cap_gb):
            report["rows"].append(row)
            print(json.dumps(row), flush=True)
    args.results.mkdir(parents=True, exist_ok=True)
    stem = args.results / f"scale-{started}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    stem.with_suffix(".md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    print(f"# wrote {stem}.json and .md")
    return report


if __name__ == "__main__":
    main()
