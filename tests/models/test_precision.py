"""The change networks' number format at inference: float32 or bfloat16 (auto by the CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.fixtures.model import tiny_weights
from tiandi.errors import InputError
from tiandi.models import precision as precision_module
from tiandi.models.precision import check_precision, compute_in, resolved
from tiandi.models.registry import load_detector, network_precision
from tiandi.models.siamese import RGBN_BANDS, SiameseConfig, SiameseDiffUNet
from tiandi.models.siamese_detector import SiameseDetector
from tiandi.models.tiling import predict_array
from tiandi.models.tiling_grid import TileConfig


def _net() -> SiameseDiffUNet:
    torch.manual_seed(0)
    config = SiameseConfig(bands=RGBN_BANDS, base_channels=8, depth=2)
    return SiameseDiffUNet(config).eval()


def _pair(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    before = rng.random((4, *shape), dtype=np.float32)
    return before, before + 0.3 * rng.random((4, *shape), dtype=np.float32)


def test_bfloat16_computes_in_bfloat16_close_to_float32() -> None:
    net, (before, after) = _net(), _pair((90, 110))
    config = TileConfig(tile=64, overlap=16, margin=4, precision="float32")
    exact = predict_array(net, before, after, config)
    config16 = TileConfig(tile=64, overlap=16, margin=4, precision="bfloat16")
    half = predict_array(net, before, after, config16)
    assert half.dtype == np.float32 and half.shape == exact.shape
    diff = np.abs(half - exact)
    assert diff.max() > 1e-6  # really another format, not float32 again
    assert diff.max() < 2e-2 and diff.mean() < 2e-3
    # the same bytes on every call: the tiles' batches do not depend on the run
    np.testing.assert_array_equal(half, predict_array(net, before, after, config16))


def test_float32_is_the_untouched_forward_pass() -> None:
    net, (before, after) = _net(), _pair((64, 64))
    prob = predict_array(net, before, after, TileConfig(tile=64, overlap=16, precision="float32"))
    with torch.inference_mode():
        logits = net(torch.from_numpy(before[None]), torch.from_numpy(after[None]))
    np.testing.assert_allclose(prob, torch.sigmoid(logits)[0, 0].numpy(), atol=1e-6)


@pytest.mark.parametrize(("native", "expected"), [(True, "bfloat16"), (False, "float32")])
def test_auto_follows_the_cpu(monkeypatch: pytest.MonkeyPatch, native: bool, expected: str) -> None:
    monkeypatch.setattr(precision_module, "bfloat16_native", lambda: native)
    assert resolved("auto") == expected
    assert resolved("float32") == "float32" and resolved("bfloat16") == "bfloat16"
    with compute_in("auto"):
        assert torch.is_autocast_enabled("cpu") is native


def test_auto_on_this_machine_gives_what_it_resolves_to(tmp_path: Path) -> None:
    before, after = _pair((48, 40))
    chosen = resolved("auto")
    probs = {}
    for precision in ("auto", chosen):
        detector = load_detector(str(tiny_weights(tmp_path)), precision=precision)
        assert isinstance(detector, SiameseDetector)
        assert detector.tiling.precision == precision
        probs[precision] = predict_array(detector.model, before, after, detector.tiling)
    np.testing.assert_array_equal(probs["auto"], probs[chosen])


def test_an_unknown_precision_is_named_with_the_choices() -> None:
    with pytest.raises(InputError, match=r"'half' is not one of auto, float32, bfloat16"):
        check_precision("half", "--precision")
    with pytest.raises(InputError, match="precision 'fp16' must be one of"):
        TileConfig(precision="fp16")  # type: ignore[arg-type]
    assert check_precision("bfloat16") == "bfloat16"


def test_float32_is_the_default_everywhere_a_network_is_loaded() -> None:
    assert TileConfig().precision == "float32"
    assert network_precision(load_detector("integrated-high")) == "float32"
    assert network_precision(load_detector("siamese-s2-6band-v0.2")) == "float32"


def test_the_integrated_detector_passes_the_precision_to_its_network() -> None:
    detector = load_detector("integrated-high", precision="float32")
    network = detector.network  # type: ignore[attr-defined]
    assert network.tiling.precision == "float32"
    assert network_precision(detector) == "float32"
    assert network_precision(load_detector("integrated-high", precision="bfloat16")) == "bfloat16"
    assert network_precision(load_detector("baseline", precision="bfloat16")) is None
