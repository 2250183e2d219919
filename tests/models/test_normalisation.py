"""Per-image and per-pair normalisation: one function for training and inference, the same
numbers in both, invariance to per-band gains and offsets, and old weights unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.fixtures.model import tiny_weights
from tests.fixtures.oscd import make_oscd
from tiandi.errors import InputError, ModelError
from tiandi.models.normalisation import normalise_images, normalise_inputs
from tiandi.models.oscd import read_city, stack_bands
from tiandi.models.registry import load_detector
from tiandi.models.siamese import RGBN_BANDS, SiameseConfig
from tiandi.models.training_config import TrainConfig
from tiandi.models.training_data import load_city_arrays
from tiandi.models.training_scores import predict_proba


@pytest.fixture(scope="module")
def oscd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_oscd(tmp_path_factory.mktemp("norm") / "oscd", ("alpha",))


@pytest.mark.parametrize("normalisation", ["per_image", "per_pair"])
def test_training_arrays_and_detector_inputs_are_normalised_identically(
    oscd: Path, normalisation: str
) -> None:
    train = load_city_arrays(oscd, "alpha", RGBN_BANDS, normalisation=normalisation).images
    city = read_city(oscd, "alpha", bands=RGBN_BANDS)
    eager = normalise_inputs(city.before, city.after, RGBN_BANDS, normalisation)
    lazy = normalise_inputs(city.before.chunk(16), city.after.chunk(16), RGBN_BANDS, normalisation)
    for d in range(2):
        np.testing.assert_array_equal(stack_bands(eager[d], RGBN_BANDS), train[d])
        got = stack_bands(lazy[d].compute(), RGBN_BANDS)
        np.testing.assert_allclose(got, train[d], rtol=0, atol=1e-6)
    n = len(RGBN_BANDS)
    per_date = train.reshape(2, n, -1)
    pooled = np.moveaxis(train, 0, 1).reshape(n, -1)
    flat = per_date if normalisation == "per_image" else pooled
    np.testing.assert_allclose(flat.mean(axis=-1), 0, atol=1e-5)
    np.testing.assert_allclose(flat.std(axis=-1), 1, atol=1e-4)
    if normalisation == "per_pair":  # the difference between the dates is kept
        raw = np.stack([stack_bands(ds, RGBN_BANDS) for ds in (city.before, city.after)])
        ratio = (train[1] - train[0]) / (raw[1] - raw[0])
        spread = np.nanmax(ratio.reshape(n, -1), axis=1) - np.nanmin(ratio.reshape(n, -1), axis=1)
        assert (spread < 1e-3 * np.nanmax(np.abs(ratio))).all()


@pytest.mark.parametrize("normalisation", ["per_image", "per_pair"])
def test_detector_applies_the_training_normalisation(
    oscd: Path, tmp_path: Path, normalisation: str
) -> None:
    weights = tiny_weights(tmp_path, normalisation=normalisation)
    detector = load_detector(str(weights), precision="float32")  # training's format
    assert detector.normalisation == normalisation  # type: ignore[attr-defined]
    city = read_city(oscd, "alpha", bands=RGBN_BANDS)
    train = load_city_arrays(oscd, "alpha", RGBN_BANDS, normalisation=normalisation)
    expected = predict_proba(detector.model, train.images)  # type: ignore[attr-defined]
    got = detector.detect(city.before.chunk(16), city.after.chunk(16))["change_prob"].values
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # L1C -> L2A-like radiometry: a per-band gain and offset of both dates changes nothing
    gains, offsets = (0.8, 0.9, 1.1, 1.2), (-0.05, -0.03, -0.01, 0.0)
    moved = detector.detect(*_shifted(city.before, city.after, gains, offsets))
    np.testing.assert_allclose(moved["change_prob"].values, expected, atol=1e-4)
    # a gain of the after date alone: per_image cancels it, per_pair keeps it as a change
    one_date = detector.detect(*_shifted(city.before, city.after, (1.3,) * 4, (0.0,) * 4, 1))
    diff = np.nanmax(np.abs(one_date["change_prob"].values - expected))
    assert diff < 1e-6 if normalisation == "per_image" else diff > 1e-4


def _shifted(
    before: xr.Dataset,
    after: xr.Dataset,
    gains: tuple[float, ...],
    offsets: tuple[float, ...],
    first: int = 0,
) -> list[xr.Dataset]:
    """Both dates (or, with ``first`` 1, the after date alone) with a gain and an offset
    per band."""
    out = [before.copy(), after.copy()]
    for ds in out[first:]:
        for band, g, o in zip(RGBN_BANDS, gains, offsets, strict=True):
            ds[band] = ds[band] * g + o
    return out


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


@pytest.mark.parametrize("normalisation", ["per_image", "per_pair"])
def test_normalisation_keeps_no_data(normalisation: str) -> None:
    images = np.random.default_rng(0).random((2, 3, 8, 9)).astype(np.float32)
    images[1, 2, 4, 4] = np.nan
    images[0, 1] = np.nan  # a band without data on one date
    out = normalise_images(images, normalisation)
    assert np.isnan(out[1, 2, 4, 4]) and np.isnan(out[0, 1]).all()
    assert np.isfinite(np.delete(out.reshape(-1), np.flatnonzero(np.isnan(images)))).all()
    np.testing.assert_array_equal(normalise_images(images, "dataset"), images)
    with pytest.raises(InputError, match=r"normalisation 'per_scene'.*per_pair"):
        normalise_images(images, "per_scene")
