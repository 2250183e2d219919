"""`bench.bench_patches` cannot rot: a small mask, both pipelines, the report written."""

from __future__ import annotations

import json
from pathlib import Path

from bench import bench_patches


def test_bench_patches_runs_both_pipelines_on_the_same_blobs(tmp_path: Path) -> None:
    report = bench_patches.main(
        ["--size", "512", "--blobs", "120", "--zones", "3", "--results", str(tmp_path)]
    )
    user, tiandi = report["rows"]
    assert (user["stage"], tiandi["stage"]) == ("user", "tiandi")
    # the same pieces up to the product's smallest-part rule and simplification
    assert user["pieces"] > 100 and abs(tiandi["pieces"] - user["pieces"]) <= 0.05 * user["pieces"]
    assert report["tiandi_over_user"] == round(tiandi["seconds"] / user["seconds"], 3)
    written = json.loads(next(tmp_path.glob("patches-*.json")).read_text(encoding="utf-8"))
    assert written["rows"] == report["rows"] and next(tmp_path.glob("patches-*.md")).is_file()
