"""Saving and loading weights with model cards; clear errors for bad weights files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tiandi.errors import ModelError
from tiandi.models.siamese import RGBN_BANDS, SiameseConfig, SiameseDiffUNet
from tiandi.models.weights import FORMAT, build_card, load_weights, save_weights

METRICS = {
    "per_city": {
        "valcity": {"tn": 90, "fp": 2, "fn": 3, "tp": 5, "precision": 5 / 7, "recall": 5 / 8,
                    "f1": 10 / 15, "overall_accuracy": 0.95},
    },
    "overall": {"tn": 90, "fp": 2, "fn": 3, "tp": 5, "precision": 5 / 7, "recall": 5 / 8,
                "f1": 10 / 15, "overall_accuracy": 0.95},
}  # fmt: skip


def _model(bands: tuple[str, ...] = RGBN_BANDS, base: int = 4) -> SiameseDiffUNet:
    torch.manual_seed(0)
    return SiameseDiffUNet(
        SiameseConfig(bands=bands, base_channels=base, depth=2),
        band_mean=[0.1] * len(bands),
        band_std=[0.2] * len(bands),
    )


def _save(path: Path, model: SiameseDiffUNet) -> None:
    card = build_card(
        model,
        name="test-model",
        version="0.0",
        training_data={"checksum_sha256": "abc", "train_cities": ["a", "b"]},
        training={"epochs": 1},
        seed=3,
        command="tiandi run train-change-model --root X --out Y",
        metrics=METRICS,
    )
    save_weights(path, model, card)


def test_saved_weights_load_back_with_the_same_outputs_and_card(tmp_path: Path) -> None:
    model = _model().eval()
    path = tmp_path / "m.pt"
    _save(path, model)
    loaded = load_weights(path, bands=RGBN_BANDS)
    x1, x2 = torch.rand(1, 4, 24, 24), torch.rand(1, 4, 24, 24)
    assert torch.equal(loaded.model(x1, x2), model(x1, x2))
    assert not loaded.model.training
    assert loaded.card.bands == list(RGBN_BANDS)
    assert loaded.card.seed == 3
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["training_data"]["checksum_sha256"] == "abc"
    assert card["metrics"]["overall"]["tp"] == 5
    md = path.with_suffix(".md").read_text()
    assert "| valcity | 0.7143 | 0.6250 | 0.6667 |" in md
    assert "tiandi run train-change-model --root X --out Y" in md
    assert not list(tmp_path.glob(".*tmp*"))


def test_missing_weights_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"nope\.pt: weights file is missing"):
        load_weights(tmp_path / "nope.pt")


def test_truncated_weights_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    _save(path, _model())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match=r"m\.pt: cannot read the weights.*truncated"):
        load_weights(path)


def test_weights_for_another_band_set_name_file_and_expected_bands(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    _save(path, _model())
    thirteen = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10",
                "B11", "B12")  # fmt: skip
    with pytest.raises(ModelError, match=r"m\.pt: weights are for bands \['B02'.*\(N, 4, H, W\)"):
        load_weights(path, bands=thirteen)


def test_tensor_shape_mismatch_names_tensor_and_expected_shape(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    _save(path, _model())
    payload = torch.load(path, weights_only=True)
    payload["config"]["base_channels"] = 8  # file claims another architecture
    torch.save(payload, path)
    with pytest.raises(ModelError, match=r"tensor 'encoders.0.0.weight' has shape \[4, 4, 3, 3\], "
                       r"expected \[8, 4, 3, 3\]"):  # fmt: skip
        load_weights(path)


def test_foreign_torch_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(ModelError, match=rf"other\.pt: not a tiandi.*{FORMAT}"):
        load_weights(path)


def test_card_bands_must_match_model(tmp_path: Path) -> None:
    model = _model()
    card = build_card(model, name="x", version="0", training_data={}, training={}, seed=0,
                      command="", metrics={})  # fmt: skip
    other = _model(bands=("B02", "B03", "B04"))
    with pytest.raises(ModelError, match="differ from the model"):
        save_weights(tmp_path / "m.pt", other, card)
    assert not (tmp_path / "m.pt").exists()
