"""The learned burned-area detector (``burned-learned``) on tiny synthetic composites."""

from __future__ import annotations

import json

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from tiandi.errors import InputError, ModelError
from tiandi.models.base import ChangeDetector
from tiandi.models.burned.learned import (
    LEARNED_WEIGHTS,
    PAIR_FEATURES_V1,
    BurnedLearnedDetector,
    burned_mask,
    nan_mean,
    pair_features,
)
from tiandi.models.registry import load_detector


def _composite(b04: float, b08: np.ndarray | float, b12: np.ndarray | float, shape=(60, 60)):
    full = {name: np.broadcast_to(np.float32(v), shape).astype(np.float32)
            for name, v in (("B04", b04), ("B08", b08), ("B12", b12))}  # fmt: skip
    coords = {"y": np.arange(shape[0], 0, -1) * 20.0, "x": np.arange(shape[1]) * 20.0}
    return xr.Dataset({k: (("y", "x"), v) for k, v in full.items()}, coords=coords)


@pytest.fixture(scope="module")
def detector() -> BurnedLearnedDetector:
    return BurnedLearnedDetector()


def _scene() -> tuple[xr.Dataset, xr.Dataset]:
    shape = (60, 60)
    post_b08 = np.full(shape, 0.30, dtype=np.float32)
    post_b12 = np.full(shape, 0.10, dtype=np.float32)
    post_b08[5:25, 5:25], post_b12[5:25, 5:25] = 0.10, 0.25  # dNBR 0.93: high severity
    return _composite(0.05, 0.30, 0.10), _composite(0.08, post_b08, post_b12)


def test_burn_scar_found_with_severity(detector: BurnedLearnedDetector) -> None:
    out = detector.detect(*_scene())
    mask, severity = out["change_mask"].values, out["severity"].values
    assert mask[8:22, 8:22].all() and (severity[8:22, 8:22] == 4).all()
    assert not mask[35:, 35:].any() and not severity[35:, 35:].any()
    assert out["change_prob"].values[15, 15] > 0.5 > out["change_prob"].values[50, 50]
    assert out.attrs["change_type"] == "burned" and out.attrs["model"] == "burned-learned"
    assert set(out.data_vars) >= {"change_prob", "change_mask", "severity", "dnbr"}


def test_no_data_gives_255_and_lazy_input_matches(detector: BurnedLearnedDetector) -> None:
    before, after = _scene()
    after["B12"][:3, :] = np.nan
    eager = detector.detect(before, after)
    assert (eager["change_mask"].values[:3] == 255).all()
    assert (eager["severity"].values[:3] == 255).all()
    assert np.isnan(eager["change_prob"].values[:3]).all()
    lazy = detector.detect(before.chunk(30), after.chunk(30))
    for layer in ("change_mask", "severity"):
        np.testing.assert_array_equal(lazy[layer].values, eager[layer].values)
    assert isinstance(before.chunk(30)["B04"].data, da.Array)


def test_bad_inputs_are_clear_errors(detector: BurnedLearnedDetector, tmp_path) -> None:
    before, after = _scene()
    with pytest.raises(InputError, match="not on the same grid"):
        detector.detect(before, after.isel(y=slice(0, 40)))
    with pytest.raises(InputError, match="lacks band"):
        detector.detect(before.drop_vars("B12"), after)
    with pytest.raises(ModelError, match="cannot read burned-learned weights"):
        BurnedLearnedDetector(tmp_path / "missing.json")


def test_registered_small_and_nan_mean_ignores_nan() -> None:
    detector = load_detector("burned-learned")
    assert isinstance(detector, BurnedLearnedDetector) and isinstance(detector, ChangeDetector)
    assert detector.bands == ("B04", "B08", "B12")
    assert LEARNED_WEIGHTS.stat().st_size < 1_000_000
    x = np.array([[1.0, np.nan, 3.0]])
    mean = nan_mean(x, 3)[0]
    assert mean[0] == 1.0 and mean[2] == 3.0 and np.isnan(mean[1])


def test_burned_mask_grows_from_seeds_fills_holes_and_keeps_the_dnbr_gate() -> None:
    prob = np.zeros((12, 12))
    prob[2:10, 2:10] = 0.4  # a weak patch ...
    prob[5, 5] = 0.9  # ... with one confident seed
    prob[6, 7] = 0.0  # a one-pixel hole
    prob[0, 11] = 0.4  # weak and unconnected to a seed
    dropped = np.ones(prob.shape, dtype=bool)
    dropped[3, 3] = False  # NBR did not drop here
    assert burned_mask(prob, dropped, 0.5).sum() == 1
    grown = burned_mask(prob, dropped, 0.5, grow_low=0.3)
    assert grown[2:10, 2:10].sum() == 64 - 2 and not grown[0, 11] and not grown[3, 3]
    filled = burned_mask(prob, dropped, 0.5, grow_low=0.3, fill_holes=4)
    assert filled[6, 7] and not filled[3, 3]  # the gate holds after filling
    assert not burned_mask(prob, dropped, 0.5, grow_low=0.3, min_pixels=100).any()


def test_weights_name_their_features_and_unknown_ones_are_errors() -> None:
    doc = json.loads(LEARNED_WEIGHTS.read_text(encoding="utf-8"))
    detector = BurnedLearnedDetector(doc)
    assert detector.features == tuple(doc["features"])
    legacy = {k: v for k, v in doc.items() if k not in ("features", "grow_low", "fill_holes")}
    legacy["combiner"] = {"mean": [0.0] * 3, "sd": [1.0] * 3, "weights": [0.0, 1.0, 1.0, 0.0]}
    assert BurnedLearnedDetector(legacy).features == PAIR_FEATURES_V1  # format 1 weights
    with pytest.raises(ModelError, match="combiner feature 'z5x' is unknown"):
        BurnedLearnedDetector({**legacy, "features": ["z5x", "L5", "veg"]})
    with pytest.raises(ModelError, match="2 combiner features named, 3 weighted"):
        BurnedLearnedDetector({**legacy, "features": ["z5", "L5"]})
    values = {"pre_B04": 0.05, "pre_B08": 0.3, "pre_B12": 0.1, "post_B08": 0.2, "post_B12": 0.2}
    feats = pair_features(
        {k: np.full((4, 4), v) for k, v in values.items()},
        np.zeros((4, 4)),
        ("z5", "L15", "sd5_dnbr", "veg"),
    )
    assert feats.shape == (4, 4, 4) and (feats[..., 2] < 1e-6).all() and (feats[..., 3] == 1).all()
