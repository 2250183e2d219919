"""The service benchmark cannot rot: one run at a tiny size (200 patches, 3 calls a shape).

Its figures are not asserted; this checks that it fills a store, serves it with
``tiandi serve`` on loopback, pages through every patch, writes its JSON with p50/p95
and requests/s for every query shape, and leaves no server running.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import bench_service


@pytest.mark.slow
def test_bench_service_runs_once_and_writes_every_shape(tmp_path: Path) -> None:
    results = tmp_path / "results" / "service.json"
    report = bench_service.main(["--patches", "200", "--repeat", "3", "--results", str(results)])

    saved = json.loads(results.read_text(encoding="utf-8"))
    assert saved == report and saved["patches"] == 200
    expected = {*bench_service.shapes(200), "page_all_per_page_1000", "page_all_pass"}
    assert set(saved["shapes"]) == expected
    for row in saved["shapes"].values():
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["max_ms"] and row["req_per_s"] > 0
    assert saved["shapes"]["page_100"]["n"] == 3
