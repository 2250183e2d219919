"""`bench.bench_patch_step` cannot rot: the patch step of the demo run under two set-ups."""

from __future__ import annotations

from pathlib import Path

from bench import bench_patch_step
from tests.fixtures.flow import Services


def test_bench_patch_step_times_each_setup_and_finds_the_same_patches(
    services: Services, demo_run: Path
) -> None:
    report = bench_patch_step.main(
        [
            str(demo_run),
            "--zones",
            str(services.scene / "zones.gpkg"),
            "--dask",
            "threads",
            "inprocess",
        ]
    )
    assert set(report["seconds"]) == {"threads", "inprocess"}
    assert all(len(times) == 1 and times[0] > 0 for times in report["seconds"].values())
    assert report["patches"] > 0
