"""`make bench` cannot rot: one run of the composite and scale benchmarks at a tiny size.

The benchmark is not a test (its figures are not asserted); this only checks that it runs
end to end from a relative ``--out`` as ``make bench`` calls it, and that its JSON and
markdown results carry every stage's figures and ratio to the read floor.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench import bench_composite, bench_scale

SIZE = 256


@pytest.mark.slow
def test_bench_composite_runs_once_and_writes_figures_and_ratios(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a relative --out, as `make bench` passes var/bench
    report = bench_composite.main(["--sizes", str(SIZE), "--out", "var/bench",
                                   "--results", "results"])  # fmt: skip

    assert report is not None
    (json_file,) = (tmp_path / "results").glob("composite-*.json")
    saved = json.loads(json_file.read_text(encoding="utf-8"))
    assert saved == report
    assert saved["machine"]["cores"] >= 1 and saved["machine"]["memory_gb"] > 0
    rows = {r["stage"]: r for r in saved["rows"]}
    assert set(rows) == {"floor", "direct", "flow"}
    for row in rows.values():
        assert row["size"] == SIZE
        assert row["seconds"] > 0 and row["mpx_per_s"] > 0 and row["peak_rss_mb"] > 0
        assert math.isfinite(row["x_floor"]) and row["x_floor"] > 0
    assert rows["floor"]["x_floor"] == 1.0
    assert rows["flow"]["x_floor"] == rows["flow"]["seconds"] / rows["floor"]["seconds"]

    markdown = json_file.with_suffix(".md").read_text(encoding="utf-8")
    assert "cores" in markdown and "GB" in markdown
    for stage in ("floor", "direct", "flow"):
        row = rows[stage]
        assert f"| {SIZE} | {stage} | {row['seconds']:.2f} |" in markdown
        assert f"| {row['x_floor']:.2f} |" in markdown


@pytest.mark.slow
def test_bench_scale_runs_every_stage_once_and_writes_figures_and_ratios(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_server: str
) -> None:
    monkeypatch.chdir(tmp_path)
    # the flow stage's CLI run uses the session's Prefect server instead of starting one
    monkeypatch.setenv("PREFECT_API_URL", prefect_server)
    # --flow-dask cluster: the series' Dask scheduler + worker started once and timed too
    # (the default runs the flow on the CLI's in-process cluster: nothing to start)
    report = bench_scale.main(["--sizes", str(SIZE), "--home", "var/bench-scale",
                               "--results", "results", "--flow-dask", "cluster"])  # fmt: skip

    (json_file,) = (tmp_path / "results").glob("scale-*.json")
    saved = json.loads(json_file.read_text(encoding="utf-8"))
    assert saved == report
    assert saved["machine"]["cores"] >= 1 and saved["machine"]["memory_gb"] > 0
    rows = {r["stage"]: r for r in saved["rows"]}
    assert set(rows) == {"startup", "floor", "flow", "naive", "odcstac", "odcstac-all"}
    startup = rows.pop("startup")  # services started once, outside the flow's figures
    assert startup["dask_cluster_s"] > 0 and startup["dask_workers"] == 1
    assert startup["seconds"] == startup["prefect_server_s"] + startup["dask_cluster_s"]
    assert saved["summary"]["flow_s_per_mpx_vs_smallest"] == {str(SIZE): 1.0}
    assert saved["summary"]["ningxia_here_s"] > startup["seconds"]
    for row in rows.values():
        assert row["status"] == "ok", row
        assert row["size"] == SIZE and row["input_mpx"] > 0
        assert row["seconds"] > 0 and row["cpu_seconds"] >= 0 and row["peak_tree_rss_mb"] > 0
        # the CPU split: the command's own processes and the services (server, cluster)
        assert row["cpu_seconds"] == row["cpu_command_s"] + row["cpu_services_s"]
        assert row["cpu_command_s"] > 0
        # shared pages once: at most the sum of RSS, and something measured
        assert 0 < row["peak_tree_pss_mb"] <= row["peak_tree_rss_mb"] * 1.05
        assert row["mpx_per_s"] > 0 and row["s_per_mpx"] > 0
    assert rows["floor"]["x_floor"] == 1.0 and rows["flow"]["x_flow"] == 1.0
    assert rows["naive"]["x_flow"] == rows["naive"]["seconds"] / rows["flow"]["seconds"]
    # the same detector on the same medians: the naive and the odc-stac run of the flow's
    # work find the same changed pixels
    assert rows["odcstac-all"]["changed_px"] == rows["naive"]["changed_px"]
    assert rows["flow"]["patches"] >= 0  # the CLI run wrote its summary
    assert rows["flow"]["detector"] == "baseline"  # the default of --detector
    markdown = json_file.with_suffix(".md").read_text(encoding="utf-8")
    assert "cores" in markdown and "GB" in markdown
    for stage in rows:
        assert f"| {SIZE} | {stage} | ok |" in markdown
    assert "| detector baseline, patches " in markdown


def test_a_naive_run_over_its_memory_cap_is_recorded_not_raised() -> None:
    import sys

    hog = "import numpy as np, time; a = np.ones(2**26); time.sleep(30)"  # 512 MiB
    row = bench_scale.timed([sys.executable, "-c", hog], {}, cap_bytes=128 * 2**20)
    assert row["status"] == "out_of_memory"
    assert row["peak_tree_rss_mb"] > 128 and row["seconds"] < 30


def test_a_command_shorter_than_the_sampling_period_has_its_memory_measured() -> None:
    import sys

    # 50 ms: the sampler's first sample waited a whole period (0.2 s) and missed it
    row = bench_scale.timed([sys.executable, "-c", "import time; time.sleep(0.05)"], {})
    assert row["status"] == "ok" and row["seconds"] < 0.2
    assert 0 < row["peak_tree_pss_mb"] <= row["peak_tree_rss_mb"]


def test_timed_names_each_process_at_the_peak_and_traces_every_sample(tmp_path: Path) -> None:
    import sys

    child = "import numpy as np, time; a = np.ones(2**24); time.sleep(1.5)"  # 128 MiB
    parent = f"import subprocess, sys, time; subprocess.run([sys.executable, '-c', {child!r}])"
    trace = tmp_path / "rss.tsv"
    row = bench_scale.timed([sys.executable, "-c", parent], {}, trace=trace)
    assert row["status"] == "ok" and len(row["peak_by_process_mb"]) == 2
    biggest = max(row["peak_by_process_mb"].values())
    assert biggest >= 128 and sum(row["peak_by_process_mb"].values()) == pytest.approx(
        row["peak_tree_rss_mb"], abs=2
    )
    assert 0 < row["peak_at_s"] < row["seconds"]
    samples = [line.split("\t") for line in trace.read_text(encoding="utf-8").splitlines()]
    assert len({pid for _, pid, _ in samples}) == 2 and max(float(r) for *_, r in samples) >= 128


def test_summary_projects_ningxia_from_the_measured_seconds_per_mpx() -> None:
    rows = [
        {"stage": "flow", "status": "ok", "size": 2048, "s_per_mpx": 0.5},
        {"stage": "flow", "status": "ok", "size": 4096, "s_per_mpx": 0.6},
        {"stage": "flow-dask1", "status": "ok", "size": 4096, "seconds": 100.0, "s_per_mpx": 1.0,
         "cpu_seconds": 90.0, "cpu_command_s": 20.0},
        {"stage": "flow-dask2", "status": "ok", "size": 4096, "seconds": 62.5, "s_per_mpx": 0.6,
         "cpu_seconds": 95.0, "cpu_command_s": 21.0},
    ]  # fmt: skip
    sm = bench_scale.summary(rows, startup_s=10.0)
    assert sm["flow_s_per_mpx_vs_smallest"] == {"2048": 1.0, "4096": 1.2}
    assert sm["ningxia_here_s"] == 76_000 * 0.6 + 10.0  # from the largest size measured
    assert sm["distributed"]["efficiency"] == 100.0 / (2 * 62.5)  # 0.8
    assert sm["ningxia_10_workers_s"] == 76_000 * 1.0 / (10 * 0.8) + 10.0
    assert sm["distributed"]["flow_process_cpu_s"] == {1: 20.0, 2: 21.0}
    lines = "\n".join(bench_scale._summary_lines(sm))
    assert "2 worker(s): the flow's own process 21.0 CPU-s of the tree's 95.0" in lines


def test_the_projection_of_a_network_detector_says_it_overstates_the_network() -> None:
    rows = [{"stage": "flow", "status": "ok", "size": 4096, "s_per_mpx": 0.6}]
    plain = "\n".join(bench_scale._summary_lines(bench_scale.summary(rows, startup_s=1.0)))
    assert "Ningxia" in plain and "overstates" not in plain  # the baseline: no caveat
    rows[0]["detector"] = "integrated-high"
    lines = "\n".join(bench_scale._summary_lines(bench_scale.summary(rows, startup_s=1.0)))
    assert "detector integrated-high" in lines and "overstates" in lines


def test_ningxia_is_projected_from_a_scene_of_its_dates_a_period_when_one_ran() -> None:
    rows = [
        {"stage": "flow", "status": "ok", "size": 2048, "s_per_mpx": 0.5, "dates_per_period": 4},
        {"stage": "flow", "status": "ok", "size": 4096, "s_per_mpx": 0.6, "dates_per_period": 12},
        {"stage": "flow", "status": "ok", "size": 8192, "s_per_mpx": 0.4, "dates_per_period": 4},
    ]
    sm = bench_scale.summary(rows, startup_s=10.0)
    # sizes compared on the usual scenes only; the projection from the 12-date scene
    assert sm["flow_s_per_mpx_vs_smallest"] == {"2048": 1.0, "8192": 0.8}
    assert sm["ningxia_here_s"] == 76_000 * 0.6 + 10.0
    assert sm["ningxia_from_size"] == 4096 and sm["ningxia_from_dates_per_period"] == 12
    like = "\n".join(bench_scale._summary_lines(sm))
    assert "with 12 dates a period" in like and "like-for-like" not in like
    # without one: the largest scene, and the summary says its dates differ from the run's
    unlike = "\n".join(bench_scale._summary_lines(bench_scale.summary(rows[::2], startup_s=10.0)))
    assert "8192² with 4 dates a period" in unlike and "--dates-per-period 12" in unlike
