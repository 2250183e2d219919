"""The scale series: ``tiandi run detect-changes`` at 1x, 4x and 16x area beside the read
floor, a naive eager pipeline and the plain odc-stac + dask pipeline (on three bands as
documented, and on the flow's own work: ``odcstac-all``), on the same files.

    python -m bench.bench_scale [--sizes 2048 4096 8192] [--home var/bench-scale]
        [--stages floor flow naive odcstac odcstac-all] [--naive-cap-gb 8] [--results bench/results]
        [--dist-size 4096 --dist-workers 1 2] [--flow-dask embedded|cluster] [--rss-trace DIR]
        [--dates-per-period 4 [12]] [--dist-dates-per-period 12] [--detector NAME]
        [--precision float32|bfloat16|auto]

For each size (scenes from :mod:`bench.scale_scene`, cached under ``--home``, registered
in that home's embedded catalog): every stage runs as its own process tree, one after the
other, page cache warm (the floor runs first and reads every file). Measured per stage:
wall seconds, CPU seconds of the whole process tree (children waited for), peak RSS of
the whole tree (sum over its processes, sampled every 0.2 s; each process's share at the
peak and when it came in the JSON; every sample per process with ``--rss-trace``), Mpx/s
(pixels of the files the flow reads, decoded once, per second), seconds per Mpx; and the
ratios flow / floor,
naive / flow and odcstac(-all) / flow. The naive run is stopped when its tree passes
``--naive-cap-gb`` and recorded as ``out_of_memory`` with the memory at that point.
Writes ``bench/results/scale-<UTC>.json`` and ``.md`` with the machine's cores and memory.

Services (:mod:`bench.scale_services`): a Prefect server (or ``PREFECT_API_URL``) is
started once for the whole series, its start-up recorded as the ``startup`` row, and
every CLI run of the flow uses it (start-up out of the measured path, as for a batch of
zones); its processes count in the flow's tree RSS and CPU. The flow computes on the CLI's
own Dask cluster, inside its process (``--flow-dask embedded``), or with ``--flow-dask
cluster`` on a scheduler + one worker process with a thread per core started once beside
the Prefect server (what the series measured before the in-process default). ``--dist-size``
runs the flow again at that size on clusters of ``--dist-workers`` worker processes of one
thread each (``flow-dask<N>`` rows) and reports the distributed efficiency; the summary
projects a Ningxia half-year run (:data:`NINGXIA_MPX` decoded, ~12 dates a period) from
the measured s/Mpx, of a scene of ``--dates-per-period 12`` when one ran.
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
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench import scale_scene, scale_services
from bench.bench_composite import REPO, _machine
from bench.scale_services import Services
from tiandi.models.precision import DEFAULT_PRECISION, PRECISIONS

STAGES = ("floor", "flow", "naive", "odcstac", "odcstac-all")
#: Mpx decoded by a half-year run over Ningxia (66,400 km², ~24 dates; issue 17).
NINGXIA_MPX = 76_000.0
#: Dates per period of that run (~24 dates, two periods): the scene to project it from.
NINGXIA_PER_PERIOD = 12


def _tree_rss(*procs: psutil.Process) -> int:
    return sum(_rss_by_process(*procs).values())


def _label(p: psutil.Process) -> str:
    """``<pid> <what>``: the module or script a Python process runs, else its name;
    ``<pid> fork of <ppid>`` for a child with its parent's command line (forked, not yet
    exec'd: its RSS is mostly the parent's pages, counted twice in the tree's sum)."""
    with contextlib.suppress(psutil.Error):
        cmd = p.cmdline()
        parent = p.parent()
        if parent is not None and parent.cmdline() == cmd:
            return f"{p.pid} fork of {parent.pid}"
        if "-m" in cmd[:-1]:
            return f"{p.pid} {cmd[cmd.index('-m') + 1]}"
        if len(cmd) > 1 and cmd[1].endswith(".py"):
            return f"{p.pid} {Path(cmd[1]).name}"
        return f"{p.pid} {p.name()}"
    return str(p.pid)


def _rss_by_process(*procs: psutil.Process) -> dict[psutil.Process, int]:
    """RSS of every process of the trees under ``procs``, by process."""
    return {p: rss for p, (_, rss) in _labelled_rss(*procs).items()}


def _labelled_rss(*procs: psutil.Process) -> dict[psutil.Process, tuple[str, int]]:
    """``(label, RSS)`` of every process of the trees under ``procs``, the label read
    first: a child forked but not yet exec'd is labelled "fork of" with its size then, not
    with the name of what it has become when the label is read (bench/README.md, "The
    682 MB 'STAC server'")."""
    out: dict[psutil.Process, tuple[str, int]] = {}
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            for p in [proc, *proc.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    label = _label(p)
                    out[p] = (label, p.memory_info().rss)
    return out


def _pss(pid: int) -> int:
    """Proportional set size of ``pid`` in bytes (``/proc/PID/smaps_rollup``; 0 where it
    cannot be read): each shared page counted once across the processes that map it, so a
    forked child or the libraries every worker maps are not counted twice, as in a sum of
    RSS."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return 0


def _kill_tree(proc: psutil.Process) -> None:
    for p in [*proc.children(recursive=True), proc]:
        with contextlib.suppress(psutil.Error):
            p.kill()


class _Sampler:
    """Samples the RSS and PSS of a process tree every 0.2 s on its own thread (see
    :func:`timed`). PSS is read (``/proc/PID/smaps_rollup``: ≈ 10 ms of kernel time for a
    1.4 GB process) only when the RSS sum could hold a new peak of it, so the sampler takes
    less CPU from the run it measures."""

    def __init__(
        self, procs: list[psutil.Process], cap_bytes: int | None, trace: Path | None, t0: float
    ) -> None:
        self.procs, self.cap_bytes, self.trace, self.t0 = procs, cap_bytes, trace, t0
        self.peak = self.peak_pss = 0
        self.at_peak: dict[str, Any] = {}
        self.capped = False
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Sampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()

    def _run(self) -> None:
        with contextlib.ExitStack() as stack:
            out = (
                None
                if self.trace is None
                else stack.enter_context(self.trace.open("w", encoding="utf-8"))
            )
            while True:  # one sample at once: a command shorter than a period has one too
                self._sample(out)
                if self.done.wait(0.2):
                    return

    def _sample(self, out: Any) -> None:
        """One sample of the tree: RSS, PSS when it may peak, the trace; the cap enforced."""
        rss = {}
        with contextlib.suppress(psutil.Error):
            rss = _labelled_rss(*self.procs)
        t, total = time.perf_counter() - self.t0, sum(v for _, v in rss.values())
        if total > self.peak_pss:  # a process's PSS is at most its RSS: else no new peak
            self.peak_pss = max(self.peak_pss, sum(_pss(p.pid) for p in rss))
        if out is not None:
            out.writelines(f"{t:.1f}\t{label}\t{v / 2**20:.0f}\n" for label, v in rss.values())
        if total > self.peak:
            self.peak = total
            self.at_peak = {
                "at": t,
                "by": {label: round(v / 2**20) for label, v in rss.values()},
            }
        if self.cap_bytes and self.peak > self.cap_bytes and not self.capped:
            self.capped = True
            _kill_tree(self.procs[0])


def timed(
    cmd: list[str],
    env: dict[str, str],
    cap_bytes: int | None = None,
    services: Services | None = None,
    trace: Path | None = None,
) -> dict[str, Any]:
    """Run ``cmd``: wall, tree CPU (and its split: the command's own process tree,
    ``cpu_command_s``, and the services', ``cpu_services_s``), peak tree RSS (and each
    process's RSS at that peak, ``peak_by_process_mb``, and when, ``peak_at_s``), peak
    tree PSS (``_pss``: shared pages counted once; Linux only, else 0), its last stdout
    JSON line (if any); killed (``out_of_memory``) when the tree's RSS passes
    ``cap_bytes``. The processes of ``services`` (server, scheduler, workers) count in the
    tree's RSS and CPU. ``trace``: a TSV of every sample (seconds, process, RSS MB)."""
    svc = services or Services()
    before, svc_cpu = os.times(), svc.tree_cpu_seconds()
    t0 = time.perf_counter()
    popen = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, text=True)
    with _Sampler([psutil.Process(popen.pid), *svc.processes], cap_bytes, trace, t0) as sampler:
        stdout, _ = popen.communicate()
    after = os.times()
    own = sum(getattr(after, k) - getattr(before, k) for k in ("children_user", "children_system"))
    services_cpu = svc.tree_cpu_seconds() - svc_cpu
    row: dict[str, Any] = {"seconds": time.perf_counter() - t0,
                           "cpu_seconds": own + services_cpu,
                           "cpu_command_s": own, "cpu_services_s": services_cpu,
                           "peak_tree_rss_mb": sampler.peak / 2**20, "status": "ok",
                           "peak_tree_pss_mb": sampler.peak_pss / 2**20,
                           "peak_at_s": sampler.at_peak.get("at"),
                           "peak_by_process_mb": sampler.at_peak.get("by", {})}  # fmt: skip
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if lines:
        row.update(json.loads(lines[-1]))
    if sampler.capped:
        row["status"] = "out_of_memory"
    elif popen.returncode != 0:
        row["status"] = f"failed (exit {popen.returncode})"
    return row


def _env(home: Path) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "TIANDI_HOME": str(home), "PYTHONPATH": path}


#: The flow runs the change-vector baseline unless ``--detector`` names another: the work
#: the odc-stac and naive pipelines do (per-pixel change from the composites). The default
#: detector adds network inference, measured apart by ``bench.bench_tiled_inference``
#: (bench/README.md) and in the whole flow with ``--detector integrated-high``.
FLOW_DETECTOR = "baseline"


def _flow_cmd(scene: Path, out: Path, detector: str, precision: str) -> list[str]:
    return [sys.executable, "-m", "tiandi.cli.app", "run", "detect-changes",
            "--zones", str(scene / "zones.gpkg"), "--before", scale_scene.BEFORE,
            "--after", scale_scene.AFTER, "--detector", detector,
            "--precision", precision, "--out", str(out)]  # fmt: skip


def _flow_found(out: Path) -> dict[str, Any]:
    summary = out / "summary.json"
    if not summary.exists():
        return {}
    data = json.loads(summary.read_text(encoding="utf-8"))
    return {"patches": data.get("n_patches")}


def _per_period(row: dict[str, Any]) -> int:
    """A row's dates a period (rows written before the option were of the usual scenes)."""
    return int(row.get("dates_per_period", scale_scene.PER_PERIOD))


def _run_dir(home: Path, scene: Path, suffix: str = "") -> Path:
    """The flow's output folder for ``scene`` (``scale-8192-d12`` -> ``run-8192-d12``)."""
    return home / "runs" / f"{scene.name.replace('scale-', 'run-')}{suffix}"


def _scene(home: Path, size: int, per_period: int) -> tuple[Path, float]:
    """The scene of ``size`` and ``per_period`` dates a period (generated once) alone in
    the home's catalog, and its input Mpx. Scenes share item ids where they share days, so
    the catalog is written anew: the flow must not find another scene's dates."""
    from tiandi.catalog.store import GeoParquetCatalog
    from tiandi.settings import Settings

    scene = scale_scene.generate(home / "scenes", size, per_period)
    catalog = Settings(home=home).catalog_path
    catalog.unlink(missing_ok=True)
    GeoParquetCatalog(catalog).add(scale_scene.items(scene))
    return scene, sum(_pixels(p) for p in scale_scene.files(scene)) / 1e6


#: Folder of per-process RSS traces of the flow rows (``--rss-trace``); empty: none.
RSS_TRACE: list[Path] = []


def _flow_row(
    scene: Path, out: Path, env: dict[str, str], svc: Services, detector: str, precision: str
) -> dict[str, Any]:
    trace = RSS_TRACE[0] / f"rss-{out.name}.tsv" if RSS_TRACE else None
    cmd = _flow_cmd(scene, out, detector, precision)
    row = timed(cmd, {**env, **svc.env}, services=svc, trace=trace)
    row.update(_flow_found(out))
    row.update({"detector": detector, "precision": precision})
    return row


def measure(
    size: int,
    home: Path,
    stages: list[str],
    naive_cap_gb: float,
    svc: Services | None = None,
    detector: str = FLOW_DETECTOR,
    per_period: int = scale_scene.PER_PERIOD,
    precision: str = DEFAULT_PRECISION,
) -> Iterator[dict[str, Any]]:
    """Every stage at ``size`` (``per_period`` dates a period), one after the other: rows
    with figures and ratios (those of earlier rows completed as later stages arrive). The
    flow runs against ``svc`` (started once for the series) when given."""
    scene, mpx = _scene(home, size, per_period)
    env, rows = _env(home), []
    for stage in stages:
        if stage == "flow":
            out = _run_dir(home, scene)
            row = _flow_row(scene, out, env, svc or Services(), detector, precision)
        else:
            cmd = [sys.executable, "-m", "bench.scale_pipelines", stage, str(scene)]
            cap = int(naive_cap_gb * 2**30) if stage == "naive" else None
            row = timed(cmd, env, cap)
        secs = row["seconds"]
        row.update({"size": size, "stage": stage, "dates_per_period": per_period,
                    "input_mpx": mpx, "mpx_per_s": mpx / secs,
                    "s_per_mpx": secs / mpx})  # fmt: skip
        rows.append(row)
        _ratios(rows)
        yield row  # each row as soon as it is measured (and saved by the caller)


def measure_dist(
    size: int,
    home: Path,
    workers: list[int],
    prefect: Services,
    detector: str = FLOW_DETECTOR,
    per_period: int = scale_scene.PER_PERIOD,
    precision: str = DEFAULT_PRECISION,
) -> Iterator[dict[str, Any]]:
    """The flow at ``size`` (``per_period`` dates a period) on clusters of N one-thread
    worker processes (``flow-daskN``), each cluster started (and its start-up recorded)
    before the run."""
    scene, mpx = _scene(home, size, per_period)
    env = _env(home)
    for n in workers:
        with scale_services.dask_cluster(env, n, 1) as dask:
            svc = Services({**prefect.env, **dask.env}, [*prefect.processes, *dask.processes])
            out = _run_dir(home, scene, f"-dask{n}")
            row = _flow_row(scene, out, env, svc, detector, precision)
        row.update({"size": size, "stage": f"flow-dask{n}", "dates_per_period": per_period,
                    "input_mpx": mpx,
                    "mpx_per_s": mpx / row["seconds"], "s_per_mpx": row["seconds"] / mpx,
                    "x_floor": None, "x_flow": None, **dask.startup})  # fmt: skip
        yield row


def summary(rows: list[dict[str, Any]], startup_s: float) -> dict[str, Any]:
    """Across sizes and clusters: flow s/Mpx per size against the smallest (scenes of
    the usual four dates a period), distributed efficiency, and the Ningxia half-year
    projection from the measured s/Mpx: of the largest scene with Ningxia's dates a period
    when one ran (the outputs are written once a period, so a scene of fewer dates pays
    more of them per Mpx decoded), else of the largest scene."""
    flows = sorted((r for r in rows if r["stage"] == "flow" and r["status"] == "ok"),
                   key=lambda r: (r["size"], _per_period(r)))  # fmt: skip
    out: dict[str, Any] = {"startup_s": startup_s, "ningxia_mpx": NINGXIA_MPX}
    usual = [r for r in flows if _per_period(r) == scale_scene.PER_PERIOD]
    if usual:
        first = usual[0]["s_per_mpx"]
        out["flow_s_per_mpx_vs_smallest"] = {str(r["size"]): r["s_per_mpx"] / first for r in usual}
    if flows:
        like = [r for r in flows if _per_period(r) == NINGXIA_PER_PERIOD]
        largest = (like or flows)[-1]
        out["ningxia_here_s"] = NINGXIA_MPX * largest["s_per_mpx"] + startup_s
        out["ningxia_from_size"] = largest["size"]
        out["ningxia_from_dates_per_period"] = _per_period(largest)
        out["detector"] = largest.get("detector", FLOW_DETECTOR)
    dist = {int(r["stage"].removeprefix("flow-dask")): r for r in rows
            if r["stage"].startswith("flow-dask") and r["status"] == "ok"}  # fmt: skip
    if 1 in dist and len(dist) > 1:
        n = max(dist)
        eff = dist[1]["seconds"] / (n * dist[n]["seconds"])
        out["distributed"] = {"workers": n, "efficiency": eff, "size": dist[1]["size"],
                              "dates_per_period": _per_period(dist[1]),
                              "one_worker_s_per_mpx": dist[1]["s_per_mpx"],
                              "flow_process_cpu_s": {k: r.get("cpu_command_s")
                                                     for k, r in dist.items()},
                              "cpu_s": {k: r.get("cpu_seconds")
                                        for k, r in dist.items()}}  # fmt: skip
        # 10 workers of one core each, scaling as measured from 1 to n workers
        out["ningxia_10_workers_s"] = NINGXIA_MPX * dist[1]["s_per_mpx"] / (10 * eff) + startup_s
    return out


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
        # CPU of the whole tree against the floor's: the fairer ratio on a shared machine
        fcpu = floor["cpu_seconds"] if floor else 0.0
        r["x_floor_cpu"] = r["cpu_seconds"] / fcpu if fcpu > 0 else None


def _fmt(v: Any, spec: str) -> str:
    return "" if v is None else format(v, spec)


def _summary_lines(sm: dict[str, Any]) -> list[str]:
    lines = ["", f"Services started once (Prefect server + Dask cluster): {sm['startup_s']:.1f} s"]
    for size, ratio in sm.get("flow_s_per_mpx_vs_smallest", {}).items():
        lines.append(f"- flow s/Mpx at {size}: {ratio:.2f}x the smallest size's")
    if "distributed" in sm:
        d = sm["distributed"]
        lines.append(f"- distributed efficiency at {d['size']}² "
                     f"({d['dates_per_period']} dates a period), 1 -> {d['workers']} "
                     f"worker processes (1 thread each): {d['efficiency']:.2f}")  # fmt: skip
        for n, own in d.get("flow_process_cpu_s", {}).items():
            if own is not None and d["cpu_s"][n] is not None:  # what does not spread
                lines.append(f"  - {n} worker(s): the flow's own process {own:.1f} CPU-s of "
                             f"the tree's {d['cpu_s'][n]:.1f}")  # fmt: skip
    if "ningxia_here_s" in sm:
        per = sm["ningxia_from_dates_per_period"]
        lines.append(f"- Ningxia half-year ({sm['ningxia_mpx']:,.0f} Mpx, {NINGXIA_PER_PERIOD} "
                     f"dates a period) on this machine, from the s/Mpx at "
                     f"{sm['ningxia_from_size']}² with {per} dates a period: "
                     f"{sm['ningxia_here_s'] / 60:.0f} min")  # fmt: skip
        if per != NINGXIA_PER_PERIOD:
            lines.append(f"  (fewer dates than the run: its outputs, written once a period, "
                         f"cost more per Mpx decoded here; run --dates-per-period "
                         f"{NINGXIA_PER_PERIOD} for the like-for-like figure)")  # fmt: skip
        if sm.get("detector", FLOW_DETECTOR) != FLOW_DETECTOR:
            lines.append(f"  (detector {sm['detector']}: a network's cost grows with the grid's "
                         "pixels per pair, not with the Mpx decoded over the dates, so this "
                         "overstates it; bench/README.md, 'Inference')")  # fmt: skip
    if "ningxia_10_workers_s" in sm:
        lines.append("- on 10 one-core workers (measured 1-worker s/Mpx, measured efficiency): "
                     f"{sm['ningxia_10_workers_s'] / 60:.1f} min")  # fmt: skip
    return lines


def markdown(report: dict[str, Any]) -> str:
    """The report as a markdown table."""
    m = report["machine"]
    lines = [f"# bench_scale {report['started']}", "",
             f"{m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}, "
             f"1-min load average at start {m['load_avg_1m']:.2f}", "",
             "| size | stage | status | wall s | CPU s | peak tree RSS MB | peak tree PSS MB "
             "| Mpx/s | s/Mpx | x floor | x flow | found | CPU x floor | dates a period |",
             "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"]  # fmt: skip
    for r in report["rows"]:
        if r["stage"] == "startup":
            continue
        found = ", ".join(
            f"{k} {r[k]}" for k in ("detector", "patches", "polygons", "changed_px") if k in r
        )
        lines.append(f"| {r['size']} | {r['stage']} | {r['status']} | {r['seconds']:.2f} "
                     f"| {r['cpu_seconds']:.1f} | {r['peak_tree_rss_mb']:.0f} "
                     f"| {r.get('peak_tree_pss_mb', 0):.0f} "
                     f"| {r['mpx_per_s']:.1f} | {r['s_per_mpx']:.4f} "
                     f"| {_fmt(r['x_floor'], '.2f')} | {_fmt(r['x_flow'], '.2f')} "
                     f"| {found} | {_fmt(r.get('x_floor_cpu'), '.1f')} "
                     f"| {r.get('dates_per_period', '')} |")  # fmt: skip
    if "summary" in report:
        lines.extend(_summary_lines(report["summary"]))
    return "\n".join(lines) + "\n"


def _flow_dask(kind: str, home: Path) -> contextlib.AbstractContextManager[Services]:
    """The Dask set-up of the ``flow`` rows: ``embedded``, the CLI's own (a cluster inside
    its process, nothing to start once); ``cluster``, a scheduler and one worker process
    with a thread per core started once and named in ``TIANDI_DASK_SCHEDULER``."""
    if kind == "embedded":
        return contextlib.nullcontext(Services())
    return scale_services.dask_cluster(_env(home), 1, os.cpu_count() or 2)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 4096, 8192])
    parser.add_argument("--home", type=Path, default=Path("var/bench-scale"))
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--naive-cap-gb", type=float, default=8.0)
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--dist-size", type=int, default=None)
    parser.add_argument("--dist-workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--dist-dates-per-period", type=int, default=scale_scene.PER_PERIOD)
    parser.add_argument("--flow-dask", choices=("embedded", "cluster"), default="embedded")
    parser.add_argument("--rss-trace", type=Path, default=None, help="per-process RSS TSVs")
    parser.add_argument("--detector", default=FLOW_DETECTOR, help="the flow's detector")
    parser.add_argument("--precision", default=DEFAULT_PRECISION, choices=PRECISIONS,
                        help="a network's number format (the CLI's)")  # fmt: skip
    parser.add_argument("--dates-per-period", type=int, nargs="+",
                        default=[scale_scene.PER_PERIOD],
                        help=f"scenes of each number of dates a period (Ningxia's half-year "
                             f"run: {NINGXIA_PER_PERIOD})")  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Generate, measure every stage at every size, print and write JSON + markdown."""
    args = _parser().parse_args(argv)
    if args.rss_trace is not None:
        args.rss_trace.mkdir(parents=True, exist_ok=True)
        RSS_TRACE[:] = [args.rss_trace.resolve()]
    home = args.home.resolve()
    started = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report: dict[str, Any] = {"started": started, "machine": _machine(), "rows": []}

    args.results.mkdir(parents=True, exist_ok=True)
    stem = args.results / f"scale-{started}"
    startup_s = 0.0

    def add(row: dict[str, Any]) -> None:  # results rewritten after every stage: a long
        report["rows"].append(row)  # series stopped halfway keeps what it measured so far
        print(json.dumps(row), flush=True)
        report["summary"] = summary(report["rows"], startup_s)
        stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", "utf-8")
        stem.with_suffix(".md").write_text(markdown(report), encoding="utf-8")

    with scale_services.prefect(home) as prefect:
        with _flow_dask(args.flow_dask, home) as dask:
            startup = {**prefect.startup, **dask.startup}
            startup_s = prefect.startup["prefect_server_s"] + dask.startup.get("dask_cluster_s", 0)
            add({"size": None, "stage": "startup", "status": "ok", "seconds": startup_s,
                 **startup})  # fmt: skip
            svc = Services({**prefect.env, **dask.env}, [*prefect.processes, *dask.processes])
            for size in args.sizes:
                for per in args.dates_per_period:
                    rows = measure(size, home, args.stages, args.naive_cap_gb, svc,
                                   args.detector, per, args.precision)  # fmt: skip
                    for row in rows:
                        add(row)
        if args.dist_size:
            dist = measure_dist(args.dist_size, home, args.dist_workers, prefect, args.detector,
                                args.dist_dates_per_period, args.precision)  # fmt: skip
            for row in dist:
                add(row)
    print(markdown(report))
    print(f"# wrote {stem}.json and .md")
    return report


if __name__ == "__main__":
    main()
