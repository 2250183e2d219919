"""The change network: FC-Siam-diff and early fusion, shapes, band sets, no data, size."""

from __future__ import annotations

import pytest
import torch

from tiandi.errors import ModelError
from tiandi.models.oscd import S2_BANDS
from tiandi.models.siamese import (
    RGBN_BANDS,
    SiameseConfig,
    SiameseDiffUNet,
    count_parameters,
    fold_batch_norm,
)


def test_output_has_the_input_size_even_when_not_a_multiple_of_16() -> None:
    torch.manual_seed(0)
    model = SiameseDiffUNet(SiameseConfig(base_channels=4)).eval()
    x1, x2 = torch.rand(2, 13, 37, 45), torch.rand(2, 13, 37, 45)
    out = model(x1, x2)
    assert out.shape == (2, 1, 37, 45)
    assert torch.isfinite(out).all()


def test_four_band_network_and_band_normalisation_stored_as_buffers() -> None:
    model = SiameseDiffUNet(
        SiameseConfig(bands=RGBN_BANDS, base_channels=4, depth=3),
        band_mean=[0.1, 0.1, 0.1, 0.3],
        band_std=[0.05, 0.05, 0.05, 0.1],
    ).eval()
    assert model.bands == RGBN_BANDS
    assert "band_mean" in model.state_dict()
    x = torch.full((1, 4, 16, 16), 0.1)
    normed = model.normalise(x)
    assert torch.allclose(normed[0, :3], torch.zeros(3, 16, 16))
    assert torch.allclose(normed[0, 3], torch.full((16, 16), -2.0))
    assert model(x, x).shape == (1, 1, 16, 16)


def test_nan_inputs_give_finite_logits() -> None:
    model = SiameseDiffUNet(SiameseConfig(bands=RGBN_BANDS, base_channels=4)).eval()
    x = torch.rand(1, 4, 32, 32)
    x[..., :5, :5] = float("nan")
    assert torch.isfinite(model(x, torch.rand(1, 4, 32, 32))).all()


def test_wrong_band_count_or_mismatched_pair_raises_model_error() -> None:
    model = SiameseDiffUNet(SiameseConfig(bands=RGBN_BANDS, base_channels=4))
    with pytest.raises(ModelError, match=r"\(N, 4, H, W\).*B02"):
        model(torch.rand(1, 13, 16, 16), torch.rand(1, 13, 16, 16))
    with pytest.raises(ModelError, match=r"\[1, 4, 16, 16\] and \[1, 4, 16, 8\]"):
        model(torch.rand(1, 4, 16, 16), torch.rand(1, 4, 16, 8))
    with pytest.raises(ModelError, match="band_mean"):
        SiameseDiffUNet(SiameseConfig(bands=RGBN_BANDS), band_mean=[0.0] * 13)
    with pytest.raises(ModelError, match="repeats"):
        SiameseConfig(bands=("B02", "B02"))


def test_default_13_band_network_is_well_under_20_mb() -> None:
    model = SiameseDiffUNet(SiameseConfig(bands=S2_BANDS))
    assert 100_000 < count_parameters(model) < 20 * 2**20 / 4 / 4  # float32, with margin


def test_gradients_reach_the_shared_encoder() -> None:
    model = SiameseDiffUNet(SiameseConfig(bands=RGBN_BANDS, base_channels=4, depth=2))
    loss = model(torch.rand(2, 4, 16, 16), torch.rand(2, 4, 16, 16)).mean()
    loss.backward()  # type: ignore[no-untyped-call]
    conv = next(m for m in model.encoders.modules() if isinstance(m, torch.nn.Conv2d))
    first = conv.weight.grad
    assert first is not None and float(first.abs().sum()) > 0


def test_early_fusion_reads_both_dates_stacked_through_one_encoder() -> None:
    torch.manual_seed(0)
    config = SiameseConfig(bands=RGBN_BANDS, base_channels=4, depth=2, fusion="early")
    model = SiameseDiffUNet(config).eval()
    first = next(m for m in model.encoders.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.in_channels == 8  # 4 bands of each date
    x1, x2 = torch.rand(1, 4, 20, 20), torch.rand(1, 4, 20, 20)
    out = model(x1, x2)
    assert out.shape == (1, 1, 20, 20) and torch.isfinite(out).all()
    # unlike |f1 - f2|, the order of the dates matters: appearing is not disappearing
    assert not torch.allclose(out, model(x2, x1))
    # the Siamese network of the same size has fewer input weights and a symmetric skip
    siam = SiameseDiffUNet(SiameseConfig(bands=RGBN_BANDS, base_channels=4, depth=2))
    assert count_parameters(model) - count_parameters(siam) == 4 * 4 * 9  # 4 more inputs
    assert SiameseConfig.from_dict(config.as_dict()) == config
    legacy = {k: v for k, v in config.as_dict().items() if k != "fusion"}
    assert SiameseConfig.from_dict(legacy).fusion == "siam-diff"  # weights before the field
    with pytest.raises(ModelError, match="fusion 'late'"):
        SiameseConfig(fusion="late")


@pytest.mark.parametrize("fusion", ["siam-diff", "early"])
def test_batch_norm_folded_for_inference_computes_the_same(fusion: str) -> None:
    torch.manual_seed(4)
    model = SiameseDiffUNet(
        SiameseConfig(bands=RGBN_BANDS, base_channels=8, depth=2, fusion=fusion)
    )
    for norm in model.modules():  # statistics of a trained network, not the identity
        if isinstance(norm, torch.nn.BatchNorm2d):
            norm.running_mean.uniform_(-0.5, 0.5)
            norm.running_var.uniform_(0.5, 2.0)
            torch.nn.init.uniform_(norm.weight, 0.5, 1.5)
            torch.nn.init.uniform_(norm.bias, -0.2, 0.2)
    model.eval()
    x, y = torch.rand(2, 4, 40, 48), torch.rand(2, 4, 40, 48)
    with torch.inference_mode():
        expected = model(x, y)
        folded = fold_batch_norm(model)
        got = folded(x, y)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert not folded.training
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
