"""`bench.bench_tiles` cannot rot: two tiles per layer on the tiny run folder."""

from __future__ import annotations

from pathlib import Path

from bench import bench_tiles
from tests.fixtures.run_folder import write_run_folder


def test_bench_tiles_renders_tiles_of_every_layer_and_reports_percentiles(tmp_path: Path) -> None:
    layout = write_run_folder(tmp_path / "run1")
    report = bench_tiles.main([str(layout.root), "--n", "2", "--zooms", "14"])
    assert [r["layer"] for r in report["rows"]] == ["before", "after", "probability", "mask"]
    for row in report["rows"]:
        assert row["ok"] == 2 and 0 < row["p50_ms"] <= row["p95_ms"] <= row["max_ms"]
