"""SiameseDetector behind the ChangeDetector protocol, and the detector registry."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from tests.fixtures.model import tiny_weights
from tiandi.errors import ModelError
from tiandi.models.base import NO_DATA, ChangeDetector
from tiandi.models.baseline import BaselineDetector
from tiandi.models.registry import available_detectors, detector_bands, load_detector
from tiandi.models.siamese import RGBN_BANDS
from tiandi.models.siamese_detector import SiameseDetector
from tiandi.models.tiling_grid import TileConfig

L2A_BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")


def _composite(
    bands: tuple[str, ...], shape: tuple[int, int] = (40, 48), seed: int = 0
) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    coords = {"y": 100.0 - 10.0 * np.arange(shape[0]), "x": 10.0 * np.arange(shape[1])}
    data = {b: (("y", "x"), rng.random(shape, dtype=np.float32) * 0.3) for b in bands}
    data["clear_count"] = (("y", "x"), np.full(shape, 3, dtype=np.uint8))
    return xr.Dataset(data, coords=coords)


def test_shipped_weights_are_registered_with_name_and_version_from_the_card() -> None:
    assert "siamese-s2-13band-v0.3" in available_detectors()
    detector = load_detector("siamese-s2-13band-v0.3")
    assert isinstance(detector, SiameseDetector) and isinstance(detector, ChangeDetector)
    assert (detector.name, detector.version) == ("siamese-s2-13band", "0.3")
    assert len(detector_bands(detector)) == 13


def test_baseline_names_give_the_baseline_detector() -> None:
    for name in ("baseline", "baseline-cva"):
        detector = load_detector(name)
        assert isinstance(detector, BaselineDetector)
        assert detector_bands(detector) == L2A_BANDS


def test_unknown_detector_is_a_model_error_listing_the_known_ones() -> None:
    with pytest.raises(ModelError, match=r"siamese-s2-13band-v0\.3") as info:
        load_detector("siamese-l2a-v9")
    assert "siamese-l2a-v9" in str(info.value) and "baseline" in str(info.value)


def test_13_band_model_on_6_band_composite_names_file_bands_and_the_baseline() -> None:
    detector = load_detector("siamese-s2-13band-v0.3")
    composite = _composite(L2A_BANDS)
    with pytest.raises(ModelError) as info:
        detector.detect(composite, composite)
    message = str(info.value)
    assert "siamese-s2-13band-v0.3.pt" in message
    assert "B01, B02, B03, B04, B05" in message  # the bands it needs
    assert "has B02, B03, B04, B08, B11, B12" in message  # the bands given
    assert "missing B01" in message and "--detector baseline" in message


def test_detector_gives_lazy_probability_and_mask_with_no_data(tmp_path: Path) -> None:
    path = tiny_weights(tmp_path)
    detector = load_detector(path.stem, weights_dir=tmp_path, threshold=0.5)
    before, after = _composite(RGBN_BANDS, seed=1), _composite(RGBN_BANDS, seed=2)
    before["B03"][5, 7] = np.nan
    change = detector.detect(before.chunk(16), after.chunk(16))
    assert isinstance(change["change_prob"].data, da.Array)
    assert change.attrs["model"] == "tiny-rgbn" and change.attrs["model_version"] == "0.0"
    prob, mask = change["change_prob"].values, change["change_mask"].values
    assert np.isnan(prob[5, 7]) and mask[5, 7] == NO_DATA
    assert np.isnan(prob).sum() == 1 and (mask == NO_DATA).sum() == 1
    valid = ~np.isnan(prob)
    np.testing.assert_array_equal(mask[valid], (prob[valid] >= 0.5).astype(np.uint8))
    eager = SiameseDetector(path).detect(before, after)["change_prob"].values
    np.testing.assert_allclose(eager, prob, atol=1e-6)


def test_detector_runs_channels_last_with_the_numbers_of_the_plain_layout(
    tmp_path: Path,
) -> None:
    import torch

    from tiandi.models.weights import load_weights

    path = tiny_weights(tmp_path)
    detector = SiameseDetector(path, tiling=TileConfig(precision="float32"))
    conv = next(p for p in detector.model.parameters() if p.ndim == 4)
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert not conv.is_contiguous()  # really reordered, not a 1x1 kernel that is both
    before, after = _composite(RGBN_BANDS, seed=1), _composite(RGBN_BANDS, seed=2)
    prob = detector.probability(before, after).values
    plain = load_weights(path).model.eval()  # NCHW weights, as training holds them
    b, a = (
        torch.from_numpy(np.stack([ds[n].values for n in RGBN_BANDS])[None])
        for ds in (before, after)
    )
    with torch.inference_mode():
        direct = torch.sigmoid(plain(b, a))[0, 0].numpy()  # one tile covers the 40 x 48 px
    np.testing.assert_allclose(prob, direct, atol=1e-6)


def test_a_weights_path_is_accepted_and_a_missing_one_named(tmp_path: Path) -> None:
    path = tiny_weights(tmp_path)
    assert load_detector(str(path)).name == "tiny-rgbn"
    with pytest.raises(ModelError, match=r"gone\.pt"):
        load_detector(str(tmp_path / "gone.pt"))


def test_other_models_weights_in_the_folder_are_not_change_detectors(tmp_path: Path) -> None:
    tiny_weights(tmp_path)
    (tmp_path / "landcover-v1.pt").write_bytes(b"not used")
    (tmp_path / "landcover-v1.json").write_text('{"architecture": "LandCoverNet: MLP"}')
    assert available_detectors(tmp_path) == ["baseline", "tiny-rgbn-v0.0"]
    with pytest.raises(ModelError, match="not a change detector"):
        load_detector("landcover-v1", weights_dir=tmp_path)


@pytest.mark.parametrize(
    ("name", "normalisation", "bands", "steps"),
    [
        ("siamese-s2-6band-v0.3", "per_image", L2A_BANDS, 100),
        ("siamese-s2-6band-v0.4", "per_image", L2A_BANDS, 200),  # v0.3's recipe, full schedule
        ("siamese-s2-6band-v0.5", "dataset", L2A_BANDS, 200),  # v0.2's recipe, full schedule
        ("siamese-s2-6band-v0.6", "dataset", L2A_BANDS, 200),  # v0.5 + common offset
        ("siamese-s2-6band-v0.7", "dataset", L2A_BANDS, 200),  # v0.6 with focal + Dice
        ("siamese-s2-13band-v0.4", "dataset", None, 200),
    ],
)
def test_shipped_cv_models_are_trained_and_scored_on_all_fourteen_cities(
    name: str, normalisation: str, bands: tuple[str, ...] | None, steps: int
) -> None:
    from tiandi.models.evaluation import training_cities

    detector = load_detector(name)
    assert isinstance(detector, SiameseDetector) and detector.normalisation == normalisation
    assert detector_bands(detector) == bands or (bands is None and len(detector.bands) == 13)
    card = detector.card
    assert card.metrics["scored_on"] == "cross-validation"  # out-of-fold figures only
    assert detector.threshold == card.metrics["threshold"]
    cities = training_cities(detector)
    assert len(cities) == 14 and training_cities(detector, "val") == cities
    assert sorted(card.metrics["per_city"]) == sorted(cities)
    assert len(card.training_data["cv_folds"]) == 4
    assert card.training["steps_per_epoch"] == steps
    if normalisation == "per_image":
        assert "L2A" in card.notes[0]
    offset = card.training.get("jitter_common_offset", 0.0)  # cards before it: none
    assert offset == (0.05 if name.endswith(("v0.6", "v0.7")) else 0.0)
    assert card.training["loss"] == ("focal+dice" if name.endswith("v0.7") else "bce+dice")


def test_the_network_integrated_runs_is_still_the_8_city_v02() -> None:
    from tiandi.models.integrated import DEFAULT_NETWORK

    assert DEFAULT_NETWORK == "siamese-s2-6band-v0.2"
    assert load_detector(DEFAULT_NETWORK).normalisation == "dataset"  # type: ignore[attr-defined]
