"""`make bench` cannot rot: one run of the composite benchmark at a tiny size.

The benchmark is not a test (its figures are not asserted); this only checks that it runs
end to end from a relative ``--out`` as ``make bench`` calls it, and that its JSON and
markdown results carry every stage's figures and ratio to the read floor.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench import bench_composite

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
