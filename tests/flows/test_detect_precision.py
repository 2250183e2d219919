"""The flow's detect step runs a network in the number format the run asked for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from prefect.logging import disable_run_logger

from tiandi.eo.storage import read_composite
from tiandi.flows.detect_tasks import NETWORK_READ_CHUNK, detect
from tiandi.models.registry import load_detector
from tiandi.redline.run_layout import RunLayout

NETWORK = "siamese-s2-6band-v0.2"


def _prob(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return np.asarray(src.read(1))


def test_detect_runs_the_network_in_the_requested_precision(demo_run: Path, tmp_path: Path) -> None:
    composites = [RunLayout(demo_run).composite(p) for p in ("before", "after")]
    probs = {}
    for precision in ("float32", "bfloat16"):
        layout = RunLayout(tmp_path / precision)
        with disable_run_logger():
            paths = detect.fn(*composites, layout, 256, NETWORK, {"precision": precision})
        probs[precision] = _prob(paths["change_prob"])
    direct = load_detector(NETWORK, precision="float32").probability(
        *(read_composite(p, NETWORK_READ_CHUNK) for p in composites)
    )
    np.testing.assert_array_equal(probs["float32"], direct.values)
    diff = np.abs(probs["bfloat16"] - probs["float32"])
    assert 0 < np.nanmax(diff) < 0.1  # bfloat16 was used, and it is close
