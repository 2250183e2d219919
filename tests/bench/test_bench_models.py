"""`bench.bench_models` cannot rot: every kind of shipped model timed once, small."""

from __future__ import annotations

import json
from pathlib import Path

from bench import bench_models
from tests.fixtures.model import tiny_weights


def test_bench_models_times_each_network_land_cover_and_burned_area(tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    weights.mkdir()
    tiny_weights(weights, name="tiny-a")
    tiny_weights(weights, name="tiny-b", version="0.1")
    args = ["--size", "128", "--raw-tiles", "2", "--repeat", "1", "--burned-size", "32"]
    report = bench_models.main(
        [*args, "--weights-dir", str(weights), "--results", str(tmp_path / "out")]
    )
    models = [r["model"] for r in report["rows"]]
    assert models[:2] == ["tiny-a-v0.0", "tiny-b-v0.1"]
    assert models[2].startswith("landcover") and models[3].startswith("burned-learned")
    assert all(r["mpx_per_s"] > 0 and r["x_baseline"] > 0 for r in report["rows"])
    for network in report["rows"][:2]:  # the product's format, and bfloat16 beside it
        assert network["precision"] == "float32" and network["bfloat16_mpx_per_s"] > 0
    written = json.loads(next((tmp_path / "out").glob("models-*.json")).read_text())
    assert len(written["rows"]) == 4 and written["machine"]["cores"] >= 1
    assert (
        "| tiny-a-v0.0 | change network (tiled) | 4 |"
        in next((tmp_path / "out").glob("models-*.md")).read_text()
    )
