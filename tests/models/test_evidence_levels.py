"""The integrated detector's evidence tests and confidence-level rule on small synthetic
arrays: each evidence fires on its own signature, each level is reachable, no data stays
no data, and the detector's layers agree with the rule."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from tiandi.errors import InputError
from tiandi.models.evidence import (
    EVIDENCE_BITS,
    NETWORK_HIGH_BIT,
    STRONG_VEGETATION_BIT,
    EvidenceParams,
    evidence_bits,
    level_of,
    patch_level,
)

# reflectance signatures (B02 B03 B04 B08 B11): forest, bare soil, water, grass
FOREST = {"B02": 0.03, "B03": 0.05, "B04": 0.03, "B08": 0.35, "B11": 0.15}
BARE = {"B02": 0.10, "B03": 0.13, "B04": 0.17, "B08": 0.22, "B11": 0.30}
WATER = {"B02": 0.06, "B03": 0.07, "B04": 0.05, "B08": 0.03, "B11": 0.01}
GRASS = {"B02": 0.04, "B03": 0.07, "B04": 0.05, "B08": 0.30, "B11": 0.20}
DRY_GRASS = {"B02": 0.06, "B03": 0.08, "B04": 0.09, "B08": 0.25, "B11": 0.28}
CROP = {"B02": 0.05, "B03": 0.08, "B04": 0.08, "B08": 0.25, "B11": 0.22}  # NDVI 0.52


def _bands(*pixels: dict[str, float]) -> dict[str, np.ndarray]:
    return {b: np.array([[p[b] for p in pixels]], dtype=np.float32) for b in FOREST}


def _bits(prob: list[float], before: list[dict], after: list[dict]) -> np.ndarray:
    return evidence_bits(
        np.array([prob], dtype=np.float32), _bands(*before), _bands(*after), threshold=0.35
    )[0]


def test_each_evidence_fires_on_its_own_signature() -> None:
    bits = _bits(
        [0.5, 0.1, 0.1, 0.1, 0.1, 0.1],
        [GRASS, FOREST, GRASS, WATER, GRASS, GRASS],
        [GRASS, DRY_GRASS, WATER, GRASS, BARE, GRASS],
    )
    net, veg, gain, loss, bare = (EVIDENCE_BITS[n] for n in EVIDENCE_BITS)
    assert bits[0] == net  # the network alone, below its high score
    assert bits[1] & veg and not bits[1] & net  # forest cleared to dry grass
    assert bits[2] == gain and bits[3] == loss  # water came, water went
    assert bits[4] & bare and bits[4] & veg  # grass to bare soil: both tests agree
    assert bits[5] == 0  # nothing changed
    high = _bits([0.9], [GRASS], [GRASS])[0]
    assert high == net | NETWORK_HIGH_BIT


def test_each_level_is_reachable_by_the_rule() -> None:
    net, veg, gain, bare = (
        EVIDENCE_BITS[n] for n in ("network", "vegetation_loss", "water_gain", "bare_soil")
    )
    strong = STRONG_VEGETATION_BIT
    cases = {
        0: 0,
        veg: 1,  # nominal: one spectral test
        veg | bare: 1,  # nominal: two tests of one family (a harvested field fires both)
        net: 2,  # high: the network alone, at its threshold (below its old high score)
        net | NETWORK_HIGH_BIT: 2,  # the high score is recorded, it changes nothing
        veg | gain: 2,  # high: tests of both families agree
        veg | strong: 2,  # high: dense vegetation cleared (strong vegetation loss)
        bare | veg | strong: 2,
        net | gain: 3,  # highest: network and a spectral test on the same pixel
        net | NETWORK_HIGH_BIT | veg | bare: 3,
        255: 255,  # no data stays no data
    }
    bits = np.array([list(cases)], dtype=np.uint8)
    assert level_of(bits)[0].tolist() == list(cases.values())


def test_a_cleared_forest_is_high_a_harvested_field_nominal() -> None:
    bits = _bits([0.1, 0.1, 0.1], [FOREST, CROP, FOREST], [BARE, BARE, DRY_GRASS])
    veg, bare = EVIDENCE_BITS["vegetation_loss"], EVIDENCE_BITS["bare_soil"]
    assert bits[0] == veg | bare | STRONG_VEGETATION_BIT  # forest (NDVI 0.84) to soil
    assert bits[1] == veg | bare  # a field (NDVI 0.52, drop 0.39) harvested: not strong
    assert bits[2] == veg  # forest to dry grass: NDVI drop 0.37 < 0.4
    assert level_of(bits[None, :])[0].tolist() == [2, 1, 1]
    weaker = EvidenceParams(strong_ndvi_before=0.5, strong_ndvi_drop=0.35)  # looser: a field
    field = evidence_bits(
        np.array([[0.1]], dtype=np.float32), _bands(CROP), _bands(BARE), threshold=0.35,
        params=weaker,
    )  # fmt: skip
    assert field[0, 0] & STRONG_VEGETATION_BIT and level_of(field)[0, 0] == 2


def test_no_data_in_either_period_or_the_network_is_no_data() -> None:
    nan = dict.fromkeys(FOREST, np.nan)
    bits = _bits([0.9, np.nan], [nan, GRASS], [BARE, BARE])
    assert bits.tolist() == [255, 255]


def test_a_patch_takes_the_highest_level_held_by_a_quarter_of_its_pixels() -> None:
    assert patch_level([1.0, 0.3, 0.2], 0.25) == "high"
    assert patch_level([1.0, 0.3, 0.25], 0.25) == "highest"
    assert patch_level([1.0, 0.1, 0.0], 0.25) == "nominal"
    assert patch_level([0.1, 0.0, 0.0], 0.25) is None


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(InputError, match="high_score"):
        EvidenceParams(high_score=1.5)
    with pytest.raises(InputError, match="ndvi_drop"):
        EvidenceParams(ndvi_drop=0)
    with pytest.raises(InputError, match="strong_ndmi_drop"):
        EvidenceParams(strong_ndmi_drop=-0.1)


def test_the_detectors_layers_follow_the_rule() -> None:
    from tiandi.models.integrated import IntegratedDetector
    from tiandi.models.registry import load_detector

    network = load_detector("siamese-s2-6band-v0.2")
    detector = IntegratedDetector(network, min_pixels=1)
    coords = {"y": np.arange(6.0), "x": np.arange(1.0)}

    def ds(pixels: list[dict]) -> xr.Dataset:
        arr = _bands(*pixels)
        return xr.Dataset({b: (("y", "x"), a.T) for b, a in arr.items()}, coords=coords)

    before = ds([GRASS, FOREST, GRASS, WATER, GRASS, GRASS])
    after = ds([GRASS, DRY_GRASS, WATER, GRASS, BARE, GRASS])
    prob = xr.DataArray(
        np.array([[0.9], [0.5], [0.1], [0.1], [0.5], [0.1]], dtype=np.float32),
        dims=("y", "x"),
        coords=coords,
    )
    out = detector.layers(prob, before, after)
    level = out["confidence_level"].values[:, 0].tolist()
    assert level == [2, 3, 1, 1, 3, 0]
    assert out["change_mask"].values[:, 0].tolist() == [1, 1, 1, 1, 1, 0]
    strict = IntegratedDetector(network, min_level="highest", min_pixels=1)
    assert strict.layers(prob, before, after)["change_mask"].values[:, 0].tolist() == [
        0,
        1,
        0,
        0,
        1,
        0,
    ]
