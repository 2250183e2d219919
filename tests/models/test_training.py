"""Training loop on a tiny synthetic OSCD-layout folder: split, log, checkpoint, seeds."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.fixtures.oscd import make_oscd
from tiandi.errors import InputError
from tiandi.models.metrics import IGNORE
from tiandi.models.siamese import SiameseConfig, SiameseDiffUNet
from tiandi.models.training import train_siamese
from tiandi.models.training_config import TrainConfig
from tiandi.models.training_data import (
    augment,
    band_statistics,
    load_city_arrays,
    radiometric_jitter,
)
from tiandi.models.training_loop import change_loss
from tiandi.models.training_scores import choose_threshold, predict_proba
from tiandi.models.weights import load_weights

TINY = TrainConfig(
    val_cities=("gamma",),
    test_cities=(),
    patch_size=16,
    batch_size=2,
    epochs=2,
    steps_per_epoch=3,
    base_channels=4,
    depth=2,
    seed=1,
    num_threads=1,
)


def test_smoke_training_writes_weights_card_and_log_scored_on_validation_city(
    tmp_path: Path,
) -> None:
    root = make_oscd(tmp_path / "oscd")
    out, log = tmp_path / "w" / "m.pt", tmp_path / "w" / "run.jsonl"
    result = train_siamese(root, out, TINY, name="tiny", command="cmd", log_path=log)
    assert result.files is not None and result.files.weights == out
    assert set(result.per_city) == {"gamma"}  # scores only from the validation city
    assert 1 <= result.best_epoch <= 2 and result.epochs_run == 2
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["event"] for e in events] == ["start", "epoch", "epoch", "end"]
    assert events[0]["train"] == ["alpha", "beta"] and events[0]["val"] == ["gamma"]
    assert result.scored_on == "validation" and result.validation == result.per_city
    assert set(events[1]["val"]) == {"gamma"}
    loaded = load_weights(out)
    card = loaded.card
    assert card.training_data["val_cities"] == ["gamma"]
    assert len(card.training_data["checksum_sha256"]) == 64
    assert card.metrics["best_epoch"] == result.best_epoch
    assert card.metrics["overall"]["f1"] == pytest.approx(result.overall.f1)
    assert card.command == "cmd" and card.seed == 1
    # normalisation statistics come from the training cities and travel with the weights
    assert float(loaded.model.band_std.min()) > 0
    assert not torch.allclose(loaded.model.band_mean, torch.zeros_like(loaded.model.band_mean))


def test_test_cities_are_scored_once_with_the_epoch_and_threshold_chosen_on_validation(
    tmp_path: Path,
) -> None:
    root = make_oscd(tmp_path / "oscd", ("alpha", "beta", "gamma", "delta"))
    log = tmp_path / "run.jsonl"
    config = replace(TINY, test_cities=("delta",))
    result = train_siamese(root, tmp_path / "m.pt", config, log_path=log)
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["event"] for e in events] == ["start", "epoch", "epoch", "test", "end"]
    assert events[0]["train"] == ["alpha", "beta"] and events[0]["test"] == ["delta"]
    assert all(set(e["val"]) == {"gamma"} for e in events if e["event"] == "epoch")
    chosen = next(e for e in events if e["event"] == "epoch" and e["epoch"] == result.best_epoch)
    assert chosen["threshold"] == result.threshold  # threshold of the chosen epoch
    assert result.scored_on == "test" and set(result.per_city) == {"delta"}
    assert set(result.validation) == {"gamma"}
    card = load_weights(tmp_path / "m.pt").card
    assert card.metrics["scored_on"] == "test" and card.metrics["threshold"] == result.threshold
    assert set(card.metrics["per_city"]) == {"delta"}
    assert set(card.metrics["validation"]["per_city"]) == {"gamma"}
    assert card.training_data["test_cities"] == ["delta"]
    with pytest.raises(InputError, match="both val_cities and test_cities"):
        replace(TINY, test_cities=("gamma",))


def test_refit_trains_on_validation_cities_up_to_the_chosen_epoch_and_scores_test_once(
    tmp_path: Path,
) -> None:
    root = make_oscd(tmp_path / "oscd", ("alpha", "beta", "gamma", "delta"))
    log = tmp_path / "run.jsonl"
    config = replace(TINY, test_cities=("delta",), epochs=3, refit=True)
    result = train_siamese(root, tmp_path / "m.pt", config, log_path=log)
    events = [json.loads(line) for line in log.read_text().splitlines()]
    kinds = [e["event"] for e in events]
    n = result.best_epoch
    assert kinds == ["start", *["epoch"] * 3, "refit", *["epoch"] * n, "test", "end"]
    refit = events[5 : 5 + n]
    assert all(e["stage"] == "refit" and "val" not in e for e in refit)
    assert [e["epoch"] for e in refit] == list(range(1, n + 1))
    assert events[4]["cities"] == ["alpha", "beta", "gamma"] and events[4]["epochs"] == n
    assert result.refit_epochs == n and set(result.per_city) == {"delta"}
    loaded = load_weights(tmp_path / "m.pt")
    card = loaded.card
    assert card.training_data["train_cities"] == ["alpha", "beta", "gamma"]
    assert card.training_data["selection_train_cities"] == ["alpha", "beta"]
    assert card.training["refit_epochs"] == n
    assert card.metrics["threshold"] == result.threshold  # the first stage's threshold
    assert "first-stage" in card.metrics["validation"]["of"]
    assert "first-stage" in card.to_markdown()
    # the saved normalisation is that of the refit cities (validation city included)
    cities = [load_city_arrays(root, c, config.bands) for c in ("alpha", "beta", "gamma")]
    mean, _ = band_statistics(cities)
    np.testing.assert_allclose(loaded.model.band_mean.flatten().numpy(), mean, rtol=1e-5)
    with pytest.raises(InputError, match="only test cities can score"):
        replace(TINY, refit=True)


def test_threshold_is_chosen_by_overall_f1_over_the_validation_cities(tmp_path: Path) -> None:
    root = make_oscd(tmp_path / "oscd", ("alpha",))
    city = load_city_arrays(root, "alpha", ("B02",))
    truth = city.label == 1
    # probabilities 0.7 on every change pixel, 0.4 on a no-change pixel, 0.1 elsewhere:
    # 0.45-0.70 finds every change pixel and nothing else, so the lowest of them wins
    prob = np.where(truth, 0.7, 0.1).astype(np.float32)
    prob[np.argwhere(city.label == 0)[0][0], np.argwhere(city.label == 0)[0][1]] = 0.4
    assert choose_threshold({"alpha": prob}, [city], (0.3, 0.45, 0.6, 0.8)) == 0.45


def test_radiometric_jitter_keeps_no_data_and_scales_both_dates_alike() -> None:
    images = np.ones((2, 3, 4, 4), dtype=np.float32)
    images[1, 0, 0, 0] = np.nan
    out = radiometric_jitter(images, np.random.default_rng(0), 0.2, 0.0, 0.0)
    assert np.isnan(out[1, 0, 0, 0]) and np.isnan(out).sum() == 1
    np.testing.assert_allclose(out[0, :, 1, 1], out[1, :, 1, 1])  # common gain only
    assert not np.allclose(out[0, :, 1, 1], 1.0)


def test_the_common_offset_shifts_both_dates_alike_and_leaves_older_recipes_as_they_were() -> None:
    images = np.full((2, 3, 4, 4), 0.2, dtype=np.float32)
    out = radiometric_jitter(images, np.random.default_rng(0), 0.0, 0.0, 0.0, 0.05)
    np.testing.assert_allclose(out[0], out[1])  # one offset per band for both dates
    shift = out[0, :, 0, 0] - 0.2
    assert np.all(np.abs(shift) <= 0.05) and np.ptp(shift) > 0  # per band, within ±0.05
    before = radiometric_jitter(images, np.random.default_rng(3), 0.15, 0.05, 0.01)
    again = radiometric_jitter(images, np.random.default_rng(3), 0.15, 0.05, 0.01, 0.0)
    np.testing.assert_array_equal(before, again)  # v0.2/v0.5's draws unchanged
    with pytest.raises(InputError, match="jitter amplitudes must be >= 0"):
        replace(TINY, jitter_common_offset=-0.1)


def test_same_seed_gives_identical_weights(tmp_path: Path) -> None:
    root = make_oscd(tmp_path / "oscd")
    config = replace(TINY, epochs=1)
    train_siamese(root, tmp_path / "a.pt", config)
    train_siamese(root, tmp_path / "b.pt", config)
    a = load_weights(tmp_path / "a.pt").model.state_dict()
    b = load_weights(tmp_path / "b.pt").model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_unknown_validation_city_is_an_input_error(tmp_path: Path) -> None:
    root = make_oscd(tmp_path / "oscd")
    with pytest.raises(InputError, match=r"\['paris'\] are not in the OSCD folder"):
        train_siamese(root, tmp_path / "m.pt", replace(TINY, val_cities=("paris",)))
    with pytest.raises(InputError, match="both"):
        replace(TINY, train_cities=("gamma",))


def test_augmentation_keeps_images_and_labels_aligned_and_can_swap_dates() -> None:
    images = np.zeros((2, 1, 8, 8), dtype=np.float32)
    images[0, 0, 1, 2] = 1.0  # marker in date 1
    images[1, 0, 1, 2] = 2.0  # marker in date 2
    label = np.zeros((8, 8), dtype=np.uint8)
    label[1, 2] = 1
    seen_swap = False
    rng = np.random.default_rng(0)
    for _ in range(20):
        img, lab = augment(images, label, rng)
        assert img.shape == (2, 1, 8, 8) and lab.sum() == 1
        r, c = np.argwhere(lab == 1)[0]
        assert {float(img[0, 0, r, c]), float(img[1, 0, r, c])} == {1.0, 2.0}
        seen_swap |= float(img[0, 0, r, c]) == 2.0
    assert seen_swap


def test_loss_ignores_no_data_pixels_and_rewards_correct_change() -> None:
    label = torch.tensor([[[[1, 0], [0, IGNORE]]]], dtype=torch.uint8)
    good = torch.tensor([[[[8.0, -8.0], [-8.0, 123.0]]]])
    bad = torch.tensor([[[[-8.0, 8.0], [8.0, -123.0]]]])
    for kind in ("bce", "focal", "dice", "bce+dice", "focal+dice"):
        assert float(change_loss(good, label, kind)) < 0.01
        assert float(change_loss(bad, label, kind)) > 0.5
    weighted = change_loss(bad, label, "bce", pos_weight=5.0)
    assert float(weighted) > float(change_loss(bad, label, "bce"))


def test_tiled_prediction_has_no_seams(tmp_path: Path) -> None:
    root = make_oscd(tmp_path / "oscd", ("alpha",))
    city = load_city_arrays(root, "alpha", ("B02", "B03", "B04", "B08"))
    torch.manual_seed(0)
    model = SiameseDiffUNet(
        SiameseConfig(bands=("B02", "B03", "B04", "B08"), base_channels=4, depth=2)
    )
    whole = predict_proba(model, city.images, tile=64)
    tiled = predict_proba(model, city.images, tile=16, margin=16)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


def test_an_early_fusion_network_trains_and_its_card_says_so(tmp_path: Path) -> None:
    root = make_oscd(tmp_path / "oscd")
    out = tmp_path / "w" / "ef.pt"
    result = train_siamese(root, out, replace(TINY, epochs=1, fusion="early"), name="tiny-ef")
    assert result.files is not None
    loaded = load_weights(out)
    assert loaded.model.config.fusion == "early"
    assert loaded.card.architecture.startswith("SiameseDiffUNet (fusion early): FC-EF")
    with pytest.raises(InputError, match="fusion 'both'"):
        replace(TINY, fusion="both")
