"""detect_changes with a named detector: unknown names and band mismatches fail early."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from typer.testing import CliRunner

from tests.fixtures.flow import Services
from tests.fixtures.model import tiny_weights
from tiandi.cli.app import app
from tiandi.errors import ModelError
from tiandi.flows.detect_changes import DetectChangesRequest, detect_changes
from tiandi.models.integrated import IntegratedDetector
from tiandi.models.names import DEFAULT_DETECTOR
from tiandi.models.registry import is_known_detector, known_detectors, load_detector


def test_request_defaults_to_the_integrated_detector_at_level_high() -> None:
    request = DetectChangesRequest(
        Path("z.gpkg"), "2025-01-01/2025-02-01", "2025-03-01/2025-04-01", Path("o")
    )
    assert request.detector == DEFAULT_DETECTOR == "integrated-high"
    detector = load_detector(request.detector)
    assert isinstance(detector, IntegratedDetector) and detector.min_level == "high"
    assert "baseline" in known_detectors()  # still there by name


def test_an_integrated_name_can_pin_another_shipped_network() -> None:
    detector = load_detector("integrated-high@siamese-s2-6band-v0.5")
    assert isinstance(detector, IntegratedDetector)
    assert detector.min_level == "high" and detector.name == "integrated-high@siamese-s2-6band-v0.5"
    assert detector.network.version == "0.5" and detector.threshold == detector.network.threshold
    default = load_detector("integrated")
    assert isinstance(default, IntegratedDetector) and default.network.version == "0.2"
    assert is_known_detector("integrated@siamese-s2-6band-v0.5")
    assert not is_known_detector("integrated@nope") and not is_known_detector("nope@x")
    assert not is_known_detector("integrated@baseline")
    refused = r"not a shipped change network.*siamese-s2-6band-v0\.5"
    for name in ("integrated-high@nope", "integrated@baseline"):
        with pytest.raises(ModelError, match=refused):
            load_detector(name)


def test_cli_unknown_detector_fails_before_anything_starts(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["run", "detect-changes", "--zones", str(tmp_path / "z.gpkg"),
         "--before", "2025-01-01/2025-06-30", "--after", "2025-07-01/2025-12-31",
         "--out", str(tmp_path / "out"), "--detector", "nope"],
        env={"TIANDI_HOME": str(tmp_path / "home")},
    )  # fmt: skip
    assert result.exit_code == 2
    assert "unknown detector 'nope'" in result.output and "baseline" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_13_band_weights_on_the_l2a_demo_fail_before_compositing(
    services: Services, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    request = services.request(out, detector="siamese-s2-13band-v0.3")
    with pytest.raises(ModelError, match="missing B01") as info:
        detect_changes(request, services.configured)
    assert "siamese-s2-13band-v0.3.pt" in str(info.value)
    assert not out.exists()


@pytest.mark.slow
def test_trained_weights_run_through_the_flow_on_the_dask_cluster(
    services: Services, tmp_path: Path
) -> None:
    weights = tiny_weights(tmp_path / "w")  # untrained, 4 of the composite's 6 bands
    out = tmp_path / "run"
    result = detect_changes(services.request(out, detector=str(weights)), services.configured)
    assert result.summary.detector == "tiny-rgbn"
    item = result.output_items[0]
    assert (item.properties["tiandi:model"], item.properties["tiandi:model_version"]) == (
        "tiny-rgbn",
        "0.0",
    )
    with rasterio.open(out / "change" / "change_prob.tif") as src:
        prob = src.read(1)
    valid = prob[np.isfinite(prob)]
    assert valid.size > 0.5 * prob.size and ((valid >= 0) & (valid <= 1)).all()
