"""Land-cover model: shipped weights, probabilities, no-data, bad input, real held-out data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from tests.conftest import shared_data
from tiandi.errors import InputError, ModelError
from tiandi.models import landcover_data as lc_data
from tiandi.models import landcover_eval as lc_eval
from tiandi.models import landcover_train as lt
from tiandi.models.landcover import (
    DEFAULT_WEIGHTS,
    LANDCOVER_BANDS,
    LANDCOVER_CLASSES,
    NO_DATA,
    PROB_NAMES,
    labels_from_proba,
    landcover_probabilities,
    load_landcover,
)

FOREST = [0.03, 0.05, 0.03, 0.32, 0.16, 0.08]
WATER = [0.07, 0.08, 0.06, 0.03, 0.02, 0.01]
BRIGHT_ROCK = [0.28, 0.31, 0.34, 0.38, 0.44, 0.39]


def _pixels(*spectra: list[float]) -> np.ndarray:
    return np.asarray(spectra, dtype=np.float32).T


def test_shipped_weights_load_offline_and_are_small() -> None:
    model = load_landcover()
    assert model.name == "landcover-s2" and model.version == "0.1"
    assert DEFAULT_WEIGHTS.stat().st_size < 5 * 1024 * 1024
    card = json.loads(DEFAULT_WEIGHTS.with_suffix(".json").read_text(encoding="utf-8"))
    assert card["bands"] == list(LANDCOVER_BANDS)
    assert card["metrics"]["eolearn_heldout_pixels"]["overall_accuracy"] > 0.8
    assert "python -m tiandi.models.landcover_train" in card["command"]


def test_probabilities_sum_to_one_and_pick_obvious_classes() -> None:
    model = load_landcover()
    proba = model.predict_proba(_pixels(FOREST, WATER, BRIGHT_ROCK))
    assert proba.shape == (len(LANDCOVER_CLASSES), 3)
    np.testing.assert_allclose(proba.sum(axis=0), 1.0, atol=1e-5)
    labels = [LANDCOVER_CLASSES[i] for i in labels_from_proba(proba)]
    assert labels[1] == "water"
    assert labels[2] == "bare"
    assert labels[0] in ("trees", "grass_shrub")  # BOA forest; trained on L1C


def test_nodata_and_masked_pixels_get_nan_probabilities_and_label_255() -> None:
    model = load_landcover()
    refl = np.repeat(_pixels(FOREST)[:, :, None], 3, axis=2)  # (6, 1, 3)
    refl[2, 0, 0] = np.nan
    valid = np.array([[True, False, True]])
    proba = model.predict_proba(refl, valid=valid)
    assert np.isnan(proba[:, 0, :2]).all()
    assert np.isfinite(proba[:, 0, 2]).all()
    assert labels_from_proba(proba).tolist() == [[NO_DATA, NO_DATA, labels_from_proba(proba)[0, 2]]]


def test_wrong_band_count_or_order_names_the_expected_bands() -> None:
    model = load_landcover()
    with pytest.raises(ModelError, match=r"B02.*B12"):
        model.predict_proba(np.zeros((4, 2, 2), dtype=np.float32))
    swapped = ("B03", "B02", "B04", "B08", "B11", "B12")
    with pytest.raises(ModelError, match=r"expects bands \['B02'"):
        model.predict_proba(np.zeros((6, 2, 2), dtype=np.float32), swapped)


def test_missing_truncated_or_foreign_weights_raise_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="missing"):
        load_landcover(tmp_path / "nope.pt")
    truncated = tmp_path / "cut.pt"
    truncated.write_bytes(DEFAULT_WEIGHTS.read_bytes()[:500])
    with pytest.raises(ModelError, match=r"cut\.pt"):
        load_landcover(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"format": "something-else/1"}, foreign)
    with pytest.raises(ModelError, match="not a tiandi land-cover"):
        load_landcover(foreign)


def test_dataset_inference_is_lazy_chunk_independent_and_checks_bands() -> None:
    model = load_landcover()
    rng = np.random.default_rng(0)
    base = np.asarray([FOREST, WATER, BRIGHT_ROCK], dtype=np.float32)
    pick = rng.integers(0, 3, size=(20, 30))
    refl = base[pick] * rng.uniform(0.9, 1.1, size=(20, 30, 1)).astype(np.float32)
    refl[0, 0, :] = np.nan
    ds = xr.Dataset(
        {b: (("y", "x"), refl[..., i]) for i, b in enumerate(LANDCOVER_BANDS)},
        coords={"y": np.arange(20.0), "x": np.arange(30.0)},
    )
    eager = landcover_probabilities(ds, model)
    lazy = landcover_probabilities(ds.chunk({"y": 7, "x": 11}), model)
    assert lazy["prob_water"].chunks is not None
    for name in (*PROB_NAMES, "landcover"):
        np.testing.assert_array_equal(eager[name].values, lazy[name].values)
    assert eager["landcover"].values[0, 0] == NO_DATA
    assert np.isnan(eager["prob_trees"].values[0, 0])
    assert eager.attrs["model"] == "landcover-s2"
    with pytest.raises(InputError, match="B11"):
        landcover_probabilities(ds.drop_vars("B11"), model)


def test_eolearn_heldout_blocks_accuracy_above_measured_floor() -> None:
    root = shared_data("eolearn-testeopatch")
    scores = lc_eval.evaluate_eolearn(load_landcover(), root)
    # measured 0.8815 for the shipped weights (7509 held-out pixel observations)
    assert scores["overall_accuracy"] >= 0.85
    assert scores["recall"]["trees"] >= 0.9
    assert set(scores["confusion"]["rows"]) == {"trees", "grass_shrub", "built"}


def test_eurosat_heldout_files_patch_accuracy_above_measured_floor() -> None:
    root = shared_data("eurosat-ms-sample")
    scores = lc_eval.evaluate_eurosat(load_landcover(), root)
    assert scores["n"] == 50
    # measured 0.88 (44 of 50 held-out files)
    assert scores["overall_accuracy"] >= 0.8
    assert scores["recall"]["SeaLake"] == 1.0


def test_split_keeps_held_out_blocks_and_files_apart() -> None:
    mask = lc_data.eolearn_test_mask((101, 100))
    assert 0.2 < mask.mean() < 0.3
    root = shared_data("eurosat-ms-sample")
    files = lc_data.eurosat_files(root)
    held = [f for f in files if f.held_out]
    assert len(files) == 200 and len(held) == 50
    assert {f.label for f in held} == set(lc_data.EUROSAT_CLASS_MAP)


def test_training_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    eo, es = shared_data("eolearn-testeopatch"), shared_data("eurosat-ms-sample")
    config = lt.LandCoverTrainConfig(steps=3, synthetic_bare=500, bags_per_step=2)
    m1 = lt.train_landcover(eo, es, tmp_path / "a.pt", config, command="test")
    m2 = lt.train_landcover(eo, es, tmp_path / "b.pt", config, command="test")
    assert m1 == m2
    a, b = load_landcover(tmp_path / "a.pt"), load_landcover(tmp_path / "b.pt")
    for key, tensor in a.net.state_dict().items():
        assert torch.equal(tensor, b.net.state_dict()[key])
    assert (tmp_path / "a.md").read_text(encoding="utf-8").startswith("# landcover-s2 0.1")
