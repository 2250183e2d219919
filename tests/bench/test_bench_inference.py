"""`bench.bench_tiled_inference` cannot rot: the tiled pass and both raw layouts, once, small."""

from __future__ import annotations

from pathlib import Path

from bench import bench_tiled_inference
from tests.fixtures.model import tiny_weights


def test_bench_tiled_inference_times_the_tiler_and_both_layouts(tmp_path: Path) -> None:
    weights = tiny_weights(tmp_path)
    args = ["--size", "192", "--chunk", "96", "--tile", "64", "--overlap", "16"]
    report = bench_tiled_inference.main([*args, "--weights", str(weights), "--raw-tiles", "2"])
    assert report["finite_share"] == 1.0  # every pixel predicted
    assert report["tiled_mpx_per_s"] > 0
    assert report["raw_tiles_per_s_NCHW"] > 0 and report["raw_tiles_per_s_channels-last"] > 0
