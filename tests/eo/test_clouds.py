"""Cloud masks: s2cloudless on real eo-learn frames, geometric shadows, Landsat QA_PIXEL."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import shared_data
from tests.realdata import EOLEARN_BANDS, EOLEARN_FRAME_TIMESTAMPS
from tiandi.eo.clouds import (
    S2CLOUDLESS_BANDS,
    SCL_CLEAR,
    SCL_CLOUD,
    SCL_NO_DATA,
    SCL_SHADOW,
    cloud_shadow_mask,
    landsat_cloud_mask,
    landsat_qa_flags,
    mask_agreement,
    s2_cloud_mask,
    s2_cloud_probability,
    scl_from_masks,
    shadow_offsets,
)
from tiandi.errors import InputError


def _frames() -> tuple[np.ndarray, np.ndarray]:
    root = shared_data("eolearn-testeopatch")
    scenes = np.load(root / "REFERENCE_SCENES.npy")
    clm = np.load(root / "TestEOPatch" / "mask" / "CLM.npy")[..., 0].astype(bool)
    idx = [EOLEARN_BANDS.index(b) for b in S2CLOUDLESS_BANDS]
    toa = np.moveaxis(scenes[..., idx], -1, 1)  # (5, 10, H, W)
    truth = np.stack([clm[t] for t in EOLEARN_FRAME_TIMESTAMPS])
    return toa, truth


def test_s2cloudless_tells_cloudy_from_clear_real_frames_and_matches_clm() -> None:
    toa, truth = _frames()
    masks = []
    for frame, cloudy in zip(toa, truth.mean(axis=(1, 2)) > 0.5, strict=True):
        prob = s2_cloud_probability(frame)
        mask = s2_cloud_mask(prob)
        masks.append(mask)
        if cloudy:
            assert np.nanmean(prob) > 0.5 and mask.mean() > 0.95
        else:
            assert np.nanmean(prob) < 0.1 and mask.mean() < 0.01
    scores = mask_agreement(np.stack(masks), truth)
    assert scores["accuracy"] >= 0.999  # measured 0.9997 (frames 0, 1 cloudy; 2-4 clear)
    assert scores["iou"] >= 0.998


def test_mask_postprocessing_agrees_with_clm_on_partly_cloudy_dates() -> None:
    root = shared_data("eolearn-testeopatch")
    clp = np.load(root / "TestEOPatch" / "data" / "CLP_S2C.npy")[..., 0]
    clm = np.load(root / "TestEOPatch" / "mask" / "CLM.npy")[..., 0].astype(bool)
    masks = np.stack([s2_cloud_mask(p) for p in clp])
    scores = mask_agreement(masks, clm)
    assert scores["iou"] >= 0.93  # measured 0.938 over 68 dates
    assert scores["accuracy"] >= 0.97  # measured 0.975


def test_nan_band_gives_nan_probability() -> None:
    toa, _ = _frames()
    frame = toa[2].copy()
    frame[3, :5, :5] = np.nan
    prob = s2_cloud_probability(frame)
    assert np.isnan(prob[:5, :5]).all() and np.isfinite(prob[5:, 5:]).all()


def test_wrong_bands_or_digital_numbers_raise_input_error() -> None:
    with pytest.raises(InputError, match=r"B01.*B12"):
        s2_cloud_probability(np.zeros((13, 4, 4), dtype=np.float32), S2CLOUDLESS_BANDS)
    swapped = ("B02", "B01", *S2CLOUDLESS_BANDS[2:])
    with pytest.raises(InputError, match="in this order"):
        s2_cloud_probability(np.zeros((10, 4, 4), dtype=np.float32), swapped)
    with pytest.raises(InputError, match="digital"):
        s2_cloud_probability(np.full((10, 4, 4), 1200.0, dtype=np.float32))


def test_shadow_offsets_point_away_from_the_sun() -> None:
    # sun in the south at 45° zenith: shadows fall north (up), 100 px per 1000 m at 10 m
    assert shadow_offsets(180.0, 45.0, heights_m=[1000.0]) == [(-100, 0)]
    # sun in the east: shadows fall west (left)
    assert shadow_offsets(90.0, 45.0, heights_m=[500.0]) == [(0, -50)]
    with pytest.raises(InputError, match="zenith"):
        shadow_offsets(180.0, 89.0)


def test_geometric_shadow_found_on_dark_pixels_beside_the_cloud() -> None:
    cloud = np.zeros((60, 60), dtype=bool)
    cloud[40:50, 20:30] = True
    bright = np.full((60, 60), 0.3, dtype=np.float32)
    dark_nir = bright.copy()
    dark_nir[20:30, 20:30] = 0.05  # the true shadow: 20 px north of the cloud
    dark_nir[45:55, 45:55] = 0.05  # dark but nowhere near a projected cloud
    swir = np.where(dark_nir < 0.1, 0.04, 0.3).astype(np.float32)
    shadow = cloud_shadow_mask(
        cloud,
        dark_nir,
        swir,
        swir,
        sun_azimuth_deg=180.0,
        sun_zenith_deg=45.0,
        heights_m=range(100, 400, 50),
    )
    assert shadow[20:30, 20:30].mean() > 0.9
    assert not shadow[45:55, 45:55].any()
    assert not (shadow & cloud).any()


def test_scl_from_masks_codes() -> None:
    cloud = np.array([[True, False, False, False]])
    shadow = np.array([[True, True, False, False]])
    nodata = np.array([[False, False, False, True]])
    scl = scl_from_masks(cloud, shadow, nodata)
    assert scl.tolist() == [[SCL_CLOUD, SCL_SHADOW, SCL_CLEAR, SCL_NO_DATA]]


def _qa(*bits: int, cloud_conf: int = 1, shadow_conf: int = 1, snow_conf: int = 1,
        cirrus_conf: int = 1) -> int:  # fmt: skip
    value = sum(1 << b for b in bits)
    return value | cloud_conf << 8 | shadow_conf << 10 | snow_conf << 12 | cirrus_conf << 14


def test_landsat_qa_pixel_bits_decode_per_usgs_table() -> None:
    clear = _qa(6)
    assert clear == 21824  # the value USGS documents for clear land, low confidences
    water = _qa(6, 7)
    assert water == 21952
    cloud = _qa(1, 3, cloud_conf=3)
    assert cloud == 22280 + 2  # high-confidence cloud (22280) plus the dilated-cloud bit
    shadow = _qa(4, shadow_conf=3)
    cirrus = _qa(2, cirrus_conf=3)
    dilated = _qa(1)
    fill = 1
    qa = np.array([[clear, water, cloud, shadow, cirrus, dilated, fill]], dtype=np.uint16)
    f = landsat_qa_flags(qa)
    assert f.clear.tolist() == [[True, True, False, False, False, False, False]]
    assert f.water.tolist() == [[False, True, False, False, False, False, False]]
    assert f.cloud.tolist() == [[False, False, True, False, False, False, False]]
    assert f.cloud_shadow[0, 3] and f.cirrus[0, 4] and f.dilated_cloud[0, 5] and f.fill[0, 6]
    assert f.cloud_confidence[0].tolist() == [1, 1, 3, 1, 1, 1, 0]
    assert f.shadow_confidence[0, 3] == 3 and f.cirrus_confidence[0, 4] == 3
    assert landsat_cloud_mask(qa).tolist() == [[False, False, True, True, True, True, True]]
    only_cloud = landsat_cloud_mask(qa, dilated=False, cirrus=False, shadow=False)
    assert only_cloud.tolist() == [[False, False, True, False, False, False, True]]


def test_float_qa_pixel_is_rejected() -> None:
    with pytest.raises(InputError, match="uint16"):
        landsat_qa_flags(np.array([[21824.0]]))
