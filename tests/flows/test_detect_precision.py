"""The flow's detect step runs a network in the number format the run asked for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from prefect.logging import disable_run_logger

from tests.fixtures.eo import FOREST, Scene, full_grid, make_items
from tiandi.eo.storage import read_composite
from tiandi.flows.detect_tasks import NETWORK_READ_CHUNK, composites_and_change, detect
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


def test_the_one_pass_runs_the_network_in_the_requested_precision(tmp_path: Path) -> None:
    """``composites_and_change``, the step ``detect_changes`` runs, passes the run's options
    to the network it loads (a later step loading it again by name once dropped them)."""
    rng = np.random.default_rng(4)
    scenes = []
    for day, after in (("2025-04-01", False), ("2025-04-11", False), ("2025-08-01", True)):
        reflectance = {}
        for band, value in FOREST.items():
            side = 48 if band in ("B11", "B12") else 96  # the 20 m bands
            reflectance[band] = rng.uniform(0.6, 1.4, (side, side)) * value
            if after:  # a bright clearing in the after period
                reflectance[band][side // 3 : side * 2 // 3, side // 3 : side * 2 // 3] = 0.25
        scenes.append(Scene(day, reflectance=reflectance))
    items = make_items(tmp_path / "in", scenes, size=96)
    periods = {"before": items[:2], "after": items[2:]}
    probs = {}
    for precision in ("float32", "bfloat16"):
        layout = RunLayout(tmp_path / precision)
        with disable_run_logger():
            _, _, paths = composites_and_change.fn(
                periods, full_grid(96), layout, 64, NETWORK, "scl", {"precision": precision}
            )
        probs[precision] = _prob(paths["change_prob"])
    diff = np.abs(probs["bfloat16"] - probs["float32"])
    assert 0 < np.nanmax(diff) < 0.1  # bfloat16 was used, and it is close
