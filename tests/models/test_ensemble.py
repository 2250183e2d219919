"""Seed ensembles: the mean of networks' probabilities as one module, saved as one weights
file, loaded by the registry, and trained from cross-validations that kept their
out-of-fold probabilities."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from tests.fixtures.oscd import make_oscd
from tiandi.errors import InputError, ModelError
from tiandi.models.ensemble import MeanOfNetworks
from tiandi.models.ensemble_weights import save_ensemble
from tiandi.models.registry import available_detectors, load_detector
from tiandi.models.siamese import RGBN_BANDS, SiameseConfig, SiameseDiffUNet
from tiandi.models.siamese_detector import SiameseDetector
from tiandi.models.training_config import TrainConfig
from tiandi.models.training_cv import train_cv
from tiandi.models.training_cv_summary import CvSummary
from tiandi.models.training_data import load_city_arrays
from tiandi.models.training_ensemble import main
from tiandi.models.training_ensemble_choice import (
    choose_pooled,
    load_probabilities,
    mean_probability,
)
from tiandi.models.weights import build_card, load_weights

CONFIG = SiameseConfig(bands=RGBN_BANDS, base_channels=4, depth=2)


def _members(n: int, config: SiameseConfig = CONFIG) -> list[SiameseDiffUNet]:
    out = []
    for seed in range(n):
        torch.manual_seed(seed)
        out.append(SiameseDiffUNet(config).eval())
    return out


def _pair() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    return torch.rand(2, 4, 16, 16, generator=g) * 0.3, torch.rand(2, 4, 16, 16, generator=g) * 0.3


def test_the_ensemble_reads_the_mean_of_its_members_probabilities() -> None:
    members = _members(3)
    before, after = _pair()
    with torch.inference_mode():
        expected = torch.stack([torch.sigmoid(m(before, after)) for m in members]).mean(0)
        got = torch.sigmoid(MeanOfNetworks(members)(before, after))
    assert torch.allclose(got, expected, atol=1e-6)
    with pytest.raises(ModelError, match="at least two networks"):
        MeanOfNetworks(members[:1])
    other = SiameseDiffUNet(replace(CONFIG, base_channels=8))
    with pytest.raises(ModelError, match="member 1 has another architecture"):
        MeanOfNetworks([members[0], other])


def test_an_ensemble_is_saved_loaded_and_detects_as_one_network(tmp_path: Path) -> None:
    ensemble = MeanOfNetworks(_members(2))
    card = build_card(ensemble.members[0], name="tiny-ens", version="0.1", training_data={},
                      training={}, seed=0, command="test", metrics={"threshold": 0.4})  # fmt: skip
    files = save_ensemble(tmp_path / "tiny-ens-v0.1.pt", ensemble, card)
    loaded = load_weights(files.weights)
    assert isinstance(loaded.model, MeanOfNetworks) and len(loaded.model.members) == 2
    before, after = _pair()
    with torch.inference_mode():
        assert torch.allclose(loaded.model(before, after), ensemble.eval()(before, after))
    assert "tiny-ens-v0.1" in available_detectors(tmp_path)
    detector = load_detector("tiny-ens-v0.1", weights_dir=tmp_path)
    assert isinstance(detector, SiameseDetector) and detector.threshold == 0.4
    coords = {"y": 100.0 - 10.0 * np.arange(24), "x": 10.0 * np.arange(20)}
    rng = np.random.default_rng(0)
    ds = [
        xr.Dataset({b: (("y", "x"), rng.random((24, 20), dtype=np.float32) * 0.3)
                    for b in RGBN_BANDS}, coords=coords)
        for _ in range(2)
    ]  # fmt: skip
    out = detector.detect(*ds)
    prob = out["change_prob"].values
    assert prob.shape == (24, 20) and np.isfinite(prob).all() and 0 < prob.min() <= prob.max() < 1
    payload = torch.load(files.weights, weights_only=True)
    payload["state_dicts"] = payload["state_dicts"][:1]
    torch.save(payload, tmp_path / "one.pt")
    with pytest.raises(ModelError, match="at least two state dicts"):
        load_weights(tmp_path / "one.pt")


CV = TrainConfig(val_cities=(), test_cities=(), cv_folds=2, patch_size=16, batch_size=2,
                 epochs=2, steps_per_epoch=2, base_channels=4, depth=2, seed=2, num_threads=1,
                 normalisation="per_image")  # fmt: skip


def test_an_ensemble_is_chosen_on_its_mean_out_of_fold_probability_and_trained(
    tmp_path: Path,
) -> None:
    root = make_oscd(tmp_path / "oscd")
    runs = []
    for seed in (2, 3):
        out = tmp_path / f"s{seed}" / "m.pt"
        train_cv(root, out, replace(CV, seed=seed), cv_only=True, probabilities=out.parent / "p")
        runs.append(f"{out.with_suffix('.cv.json')}:{out.parent / 'p'}")
    target = tmp_path / "ens" / "tiny-ens.pt"
    main(["--root", str(root), "--out", str(target), "--runs", *runs, "--name", "tiny-ens"])
    # the card's choice is the pooled rule over the mean of the two runs' probabilities
    names = ["alpha", "beta", "gamma"]
    cities = [load_city_arrays(root, c, CV.bands, CV.patch_size, CV.normalisation) for c in names]
    by_epoch = {
        e: mean_probability([load_probabilities(tmp_path / f"s{s}" / "p", e, names)
                             for s in (2, 3)])
        for e in (1, 2)
    }  # fmt: skip
    epoch, threshold, per_city, _ = choose_pooled(by_epoch, cities)
    for seed in (2, 3):  # on one run's own probabilities, the rule repeats the run's choice
        alone = {e: load_probabilities(tmp_path / f"s{seed}" / "p", e, names) for e in (1, 2)}
        summary = CvSummary.read(tmp_path / f"s{seed}" / "m.cv.json")
        assert choose_pooled(alone, cities)[:3] == (
            summary.epoch,
            summary.threshold,
            summary.per_city,
        )
    card = json.loads(target.with_suffix(".json").read_text())
    assert card["metrics"]["threshold"] == threshold and card["training"]["best_epoch"] == epoch
    assert card["training"]["seeds"] == [2, 3] and "seed ensemble" in card["architecture"]
    assert card["metrics"]["per_city"]["beta"]["tp"] == per_city["beta"].tp
    loaded = load_weights(target)
    assert isinstance(loaded.model, MeanOfNetworks) and len(loaded.model.members) == 2
    log = [json.loads(line) for line in target.with_suffix(".train-log.jsonl").open()]
    assert [e["seed"] for e in log if e["event"] == "member"] == [2, 3]


def test_an_ensemble_takes_only_runs_of_one_recipe_with_their_probabilities(
    tmp_path: Path,
) -> None:
    root = make_oscd(tmp_path / "oscd")
    a, b = tmp_path / "a" / "m.pt", tmp_path / "b" / "m.pt"
    train_cv(root, a, CV, cv_only=True, probabilities=a.parent / "p")
    train_cv(root, b, replace(CV, seed=3, lr=0.1), cv_only=True)
    out = ["--root", str(root), "--out", str(tmp_path / "x.pt")]
    run_a = f"{a.with_suffix('.cv.json')}:{a.parent / 'p'}"
    with pytest.raises(InputError, match=r"not the same recipe.*lr"):
        main([*out, "--runs", run_a, f"{b.with_suffix('.cv.json')}:{b.parent / 'p'}"])
    with pytest.raises(InputError, match="seeds repeat"):
        main([*out, "--runs", run_a, run_a])
    c = tmp_path / "c" / "m.pt"
    train_cv(root, c, replace(CV, seed=4), cv_only=True)  # no probabilities kept
    run_c = f"{c.with_suffix('.cv.json')}:{c.parent / 'p'}"
    with pytest.raises(InputError, match="no such folder of out-of-fold probabilities"):
        main([*out, "--runs", run_a, run_c])
    (c.parent / "p").mkdir()
    with pytest.raises(InputError, match=r"no out-of-fold probability of the run.*--cv-prob"):
        main([*out, "--runs", run_a, run_c])
    with pytest.raises(InputError, match="same probabilities folder"):
        main([*out, "--runs", run_a, f"{c.with_suffix('.cv.json')}:{a.parent / 'p'}"])
    # a folder that is not the summary's run: its counts at the run's choice differ
    other = json.loads(a.with_suffix(".cv.json").read_text())
    other["config"]["seed"] = 5
    for counts in other["per_city"].values():
        counts["tp"], counts["fp"] = counts["tp"] + 300, max(0, counts["fp"] - 300)
    (tmp_path / "other.cv.json").write_text(json.dumps(other))
    shutil.copytree(a.parent / "p", tmp_path / "q")
    with pytest.raises(InputError, match=r"pixels otherwise than the run .* another run's"):
        main([*out, "--runs", run_a, f"{tmp_path / 'other.cv.json'}:{tmp_path / 'q'}"])
    fewer = make_oscd(tmp_path / "fewer", cities=("alpha", "beta"))
    with pytest.raises(InputError, match="are not those the runs cross-validated"):
        main(["--root", str(fewer), *out[2:], "--runs", run_a, run_c])
    assert not (tmp_path / "x.pt").exists()


def test_the_shipped_ensemble_averages_three_networks_at_its_cards_threshold() -> None:
    detector = load_detector("siamese-s2-6band-v0.8")
    assert isinstance(detector, SiameseDetector)
    model = detector.model
    assert isinstance(model, MeanOfNetworks) and len(model.members) == 3
    assert detector.threshold == 0.55 and detector.card.training["seeds"] == [0, 1, 2]
    overall = detector.card.metrics["overall"]
    assert overall["f1"] == pytest.approx(0.5066, abs=1e-4)  # the members' mean, out of fold
    g = torch.Generator().manual_seed(1)
    before, after = (torch.rand(1, 6, 64, 64, generator=g) * 0.3 for _ in range(2))
    with torch.inference_mode():
        mean = torch.stack([torch.sigmoid(m(before, after)) for m in model.members]).mean(0)
        assert torch.allclose(torch.sigmoid(model(before, after)), mean, atol=1e-5)


def test_the_mean_probability_is_no_data_where_any_member_has_none() -> None:
    a = {"x": np.array([[0.2, np.nan], [0.6, 0.8]], np.float32)}
    b = {"x": np.array([[0.4, 0.5], [np.nan, 0.2]], np.float32)}
    mean = mean_probability([a, b])["x"]
    assert np.allclose(mean[0, 0], 0.3) and np.allclose(mean[1, 1], 0.5)
    assert np.isnan(mean[0, 1]) and np.isnan(mean[1, 0])
    with pytest.raises(InputError, match="city x: the runs' probabilities have different"):
        mean_probability([a, {"x": np.zeros((3, 2), np.float32)}])
