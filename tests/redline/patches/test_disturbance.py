"""Disturbance patches: the change type from the detector, attributes, no human-activity
screening, the mapping unit kept."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from tests.fixtures.redline import CRS, RES, X0, Y0, Scene
from tiandi.errors import InputError
from tiandi.models.base import DisturbanceLayers, disturbance_layers
from tiandi.models.burned import BurnedAreaDetector
from tiandi.redline.patches.disturbance import (
    attribute_columns,
    extract_disturbances,
    screen_disturbances,
)
from tiandi.redline.patches.extract import PatchParams, extract_patches
from tiandi.redline.patches.screening import screen_patches

# A low-severity burn under a canopy that stays green: NBR 0.58 -> 0.28 (dNBR 0.30,
# moderate-low), NDVI 0.82 -> 0.72 (the human-activity rules call it no conversion).
LOW_BURN = {"B04": 0.04, "B08": 0.25, "B12": 0.14}
HIGH_BURN = {"B04": 0.08, "B08": 0.10, "B12": 0.25}


def _zones(height: int, width: int) -> gpd.GeoDataFrame:
    geom = box(X0, Y0 - RES * height, X0 + RES * width, Y0)
    return gpd.GeoDataFrame({"zone_id": ["Z1"], "name": ["forest"]}, geometry=[geom], crs=CRS)


@pytest.fixture(scope="module")
def burned_scene() -> tuple[object, ...]:
    scene = Scene(160, 160)
    for band, value in LOW_BURN.items():
        scene.after[band][20:60, 20:80] = value
    for band, value in HIGH_BURN.items():
        scene.after[band][90:140, 60:140] = value
    _, before, after = scene.datasets()
    detector = BurnedAreaDetector()
    change = detector.detect(before, after)
    return change, before, after, _zones(160, 160), detector


def test_burned_detector_declares_its_layers() -> None:
    layers = disturbance_layers(BurnedAreaDetector())
    assert layers is not None and layers.change_types == ("burned",)
    assert layers.layer_names == ("change_class", "severity", "dnbr")
    assert disturbance_layers(object()) is None


def test_burn_scars_become_burned_patches_with_severity(burned_scene: tuple) -> None:
    change, before, after, zones, detector = burned_scene
    layers = disturbance_layers(detector)
    patches = extract_disturbances(change, before, after, zones, layers)
    assert len(patches) == 2
    assert set(patches["change_type"]) == {"burned"} and set(patches["change_type_zh"]) == {
        "火烧迹地"
    }
    assert set(patches["hj1156_class"]) == {"other"}
    by_size = patches.sort_values("area_m2").reset_index(drop=True)
    assert list(by_size["severity"]) == ["moderate-low", "high"]
    assert by_size["mean_dnbr"].iloc[0] == pytest.approx(0.30, abs=0.03)
    assert by_size["mean_dnbr"].iloc[1] > 0.66
    areas = by_size[[c for c in attribute_columns(layers) if c.endswith("_m2")]].sum(axis=1)
    assert np.allclose(areas, by_size["area_m2"], rtol=1e-3)
    assert (patches["confidence"] > 0.5).all()
    kept, screened = screen_disturbances(patches, 1000.0)
    assert len(kept) == 2 and screened.empty
    # the human-activity path would have thrown the low-severity burn away
    human, dropped = screen_patches(extract_patches(change, before, after, zones))
    assert len(human) == 1 and list(dropped["screen_reason"]) == ["vegetation_remains"]


def test_the_mapping_unit_still_applies(burned_scene: tuple) -> None:
    change, before, after, zones, detector = burned_scene
    params = PatchParams(min_mapping_unit_m2=300_000.0)  # above the low burn (24 ha)
    patches = extract_disturbances(
        change, before, after, zones, disturbance_layers(detector), params
    )
    assert len(patches) == 1 and patches["severity"].iloc[0] == "high"


def test_no_burn_gives_empty_patches_with_the_attribute_columns() -> None:
    scene = Scene(80, 80)
    _, before, after = scene.datasets()
    detector = BurnedAreaDetector()
    layers = disturbance_layers(detector)
    patches = extract_disturbances(
        detector.detect(before, after), before, after, _zones(80, 80), layers
    )
    assert patches.empty and set(attribute_columns(layers)) <= set(patches.columns)


def test_a_human_activity_type_is_refused(burned_scene: tuple) -> None:
    change, before, after, zones, _ = burned_scene
    with pytest.raises(InputError, match="'new' of the detector is no disturbance type"):
        extract_disturbances(change, before, after, zones, DisturbanceLayers(("new",)))


def test_a_chip_with_nan_borders_gives_the_scar_and_no_border_patch() -> None:
    scene = Scene(160, 160)
    for band, value in HIGH_BURN.items():
        scene.after[band][40:100, 40:110] = value
    for arrays in (scene.before, scene.after):
        for a in arrays.values():
            a[:12], a[-12:], a[:, :15], a[:, -15:] = np.nan, np.nan, np.nan, np.nan
    _, before, after = scene.datasets()
    detector = BurnedAreaDetector()
    change = detector.detect(before, after)
    assert (change["change_mask"].values[:12] == 255).all()
    assert (change["severity"].values[:, :15] == 255).all()
    patches = extract_disturbances(
        change, before, after, _zones(160, 160), disturbance_layers(detector)
    )
    assert len(patches) == 1 and patches["severity"].item() == "high"
    # the 5-px smoothing grows a sharp scar by 2 px on each side (the detector's docstring)
    assert patches["area_m2"].item() == pytest.approx(64 * 74 * 100, rel=0.02)


def test_pre_and_post_on_different_grids_are_refused_by_the_detector() -> None:
    _, before, after = Scene(80, 80).datasets()
    with pytest.raises(InputError, match="not on the same grid"):
        BurnedAreaDetector().detect(before, after.assign_coords(x=after.x + 10.0))


def test_a_burn_whose_mean_dnbr_is_unburned_is_screened_out() -> None:
    # forest NBR 0.60; the faint block dries to NBR 0.54 (dNBR 0.06, Key & Benson's
    # "unburned"), which RBR's floor (0.03) still passes on a quiet background
    scene = Scene(120, 120)
    scene.after["B12"][10:50, 10:50] = 0.0956
    for band, value in HIGH_BURN.items():
        scene.after[band][70:110, 60:110] = value
    _, before, after = scene.datasets()
    detector = BurnedAreaDetector()
    layers = disturbance_layers(detector)
    patches = extract_disturbances(
        detector.detect(before, after), before, after, _zones(120, 120), layers
    )
    assert len(patches) == 2
    kept, screened = screen_disturbances(patches, 1000.0)
    assert len(kept) == 1 and kept["mean_dnbr"].iloc[0] > 0.5
    assert list(screened["screen_reason"]) == ["unburned_dnbr"]
    assert screened["mean_dnbr"].iloc[0] < 0.1 and screened["screen_reason_zh"].iloc[0]
