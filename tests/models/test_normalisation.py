"""Per-image normalisation: one function for training and inference, the same numbers in
both, invariance to per-band gains and offsets, and old weights unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.model import tiny_weights
from tests.fixtures.oscd import make_oscd
from tiandi.errors import InputError, ModelError
from tiandi.models.normalisation import normalise_dataset, normalise_images
from tiandi.models.oscd import read_city, stack_bands
from tiandi.models.registry import load_detector
from tiandi.models.siamese import RGBN_BANDS, SiameseConfig
from tiandi.models.training_config import TrainConfig
from tiandi.models.training_data import load_city_arrays
from tiandi.models.training_scores import predict_proba


@pytest.fixture(scope="module")
def oscd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_oscd(tmp_path_factory.mktemp("norm") / "oscd", ("alpha",))


def test_training_arrays_and_detector_inputs_are_normalised_identically(oscd: Path) -> None:
    train = load_city_arrays(oscd, "alpha", RGBN_BANDS, normalisation="per_image").images
    city = read_city(oscd, "alpha", bands=RGBN_BANDS)
    for d, ds in enumerate((city.before, city.after)):
        eager = stack_bands(normalise_dataset(ds, RGBN_BANDS), RGBN_BANDS)
        lazy = stack_bands(normalise_dataset(ds.chunk(16), RGBN_BANDS).compute(), RGBN_BANDS)
        np.testing.assert_array_equal(eager, train[d])
        np.testing.assert_allclose(lazy, train[d], rtol=0, atol=1e-6)
    flat = train.reshape(2, len(RGBN_BANDS), -1)
    np.testing.assert_allclose(flat.mean(axis=2), 0, atol=1e-5)
    np.testing.assert_allclose(flat.std(axis=2), 1, atol=1e-4)


def test_detector_applies_the_training_normalisation(oscd: Path, tmp_path: Path) -> None:
    detector = load_detector(str(tiny_weights(tmp_path, normalisation="per_image")))
    assert detector.normalisation == "per_image"  # type: ignore[attr-defined]
    city = read_city(oscd, "alpha", bands=RGBN_BANDS)
    train = load_city_arrays(oscd, "alpha", RGBN_BANDS, normalisation="per_image")
    expected = predict_proba(detector.model, train.images)  # type: ignore[attr-defined]
    got = detector.detect(city.before.chunk(16), city.after.chunk(16))["change_prob"].values
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # L1C -> L2A-like radiometry: a per-band gain and offset per date changes nothing
    gains, offsets = (0.8, 0.9, 1.1, 1.2), (-0.05, -0.03, -0.01, 0.0)
    shifted = [ds.copy() for ds in (city.before, city.after)]
    for ds in shifted:
        for band, g, o in zip(RGBN_BANDS, gains, offsets, strict=True):
            ds[band] = ds[band] * g + o
    moved = detector.detect(*shifted)["change_prob"].values
    np.testing.assert_allclose(moved, expected, atol=1e-4)


def test_weights_without_the_field_keep_dataset_normalisation(tmp_path: Path) -> None:
    old = SiameseConfig(bands=RGBN_BANDS).as_dict()
    del old["normalisation"]
    assert SiameseConfig.from_dict(old).normalisation == "dataset"
    shipped = load_detector("siamese-s2-6band-v0.2")
    assert shipped.normalisation == "dataset"  # type: ignore[attr-defined]
    assert "normalisation" not in shipped.card.config  # type: ignore[attr-defined]
    with pytest.raises(ModelError, match="normalisation 'per_band'"):
        SiameseConfig(normalisation="per_band")
    with pytest.raises(InputError, match="normalisation 'x'"):
        TrainConfig(normalisation="x")


def test_per_image_normalisation_keeps_no_data() -> None:
    images = np.random.default_rng(0).random((2, 3, 8, 9)).astype(np.float32)
    images[1, 2, 4, 4] = np.nan
    images[0, 1] = np.nan  # a band without data
    out = normalise_images(images)
    assert np.isnan(out[1, 2, 4, 4]) and np.isnan(out[0, 1]).all()
    assert np.isfinite(np.delete(out.reshape(-1), np.flatnonzero(np.isnan(images)))).all()
