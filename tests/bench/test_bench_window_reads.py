"""`bench.bench_window_reads` cannot rot: two small tiled files, both readers timed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from bench import bench_window_reads


def _tiled(path: Path) -> None:
    profile = {
        "driver": "GTiff", "height": 200, "width": 150, "count": 1, "dtype": "uint16",
        "tiled": True, "blockxsize": 64, "blockysize": 64, "compress": "deflate",
        "crs": "EPSG:32648", "transform": from_origin(500000, 4000000, 10, 10),
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.arange(200 * 150, dtype=np.uint16).reshape(1, 200, 150))


def test_both_readers_are_timed(tmp_path: Path) -> None:
    for name in ("a", "b"):
        _tiled(tmp_path / f"{name}.tif")
    (row,) = bench_window_reads.main([str(tmp_path), "--window", "64", "--repeat", "1"])
    assert all(seconds >= 0 for seconds in row) and len(row) == 2


def test_a_folder_without_rasters_is_named(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"no \.tif files"):
        bench_window_reads.main([str(tmp_path)])
