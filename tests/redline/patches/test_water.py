"""Water change and coastlines on a synthetic scene placed on a real coastal zone (Borkum
Riff, a German North Sea marine reserve, ../shared/data/natura2000-northsea-mpa)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr

from tiandi.errors import InputError
from tiandi.models.base import disturbance_layers
from tiandi.models.registry import load_detector
from tiandi.models.water import WaterChangeDetector, WaterParams
from tiandi.redline.patches.disturbance import extract_disturbances, screen_disturbances
from tiandi.redline.patches.water import (
    NO_DATA_STATUS,
    NO_WATER,
    coastlines,
    water_by_zone,
    write_water_report,
)
from tiandi.redline.zones.read import read_zones

MPA = Path(__file__).resolve().parents[4] / "shared/data/natura2000-northsea-mpa"
SHAPES = MPA / "MPA_NorthSea_Shapes.shp"
pytestmark = pytest.mark.skipif(not SHAPES.is_file(), reason=f"{MPA} not here")

X0, Y0, RES, N = 332400.0, 5949000.0, 10.0, 300  # inside Borkum Riff, EPSG:25832
SEA, LAND = {"B03": 0.08, "B11": 0.02}, {"B03": 0.05, "B11": 0.16}


def _paint(bands: dict[str, np.ndarray], rows: slice, cols: slice, sig: dict[str, float]) -> None:
    for b, v in sig.items():
        bands[b][rows, cols] = v


def _ds(bands: dict[str, np.ndarray]) -> xr.Dataset:
    coords = {"y": Y0 - RES / 2 - RES * np.arange(N), "x": X0 + RES / 2 + RES * np.arange(N)}
    ds = xr.Dataset({b: (("y", "x"), a) for b, a in bands.items()}, coords=coords)
    return ds.rio.write_crs("EPSG:25832")


def coast_scene() -> tuple[xr.Dataset, xr.Dataset]:
    """Sea in the west (cols < 120), land east; after: a strip reclaimed from the sea,
    a new pond, a drained lake and a cloud (NaN) in the south-east corner."""
    before = {b: np.full((N, N), v, "float32") for b, v in LAND.items()}
    _paint(before, slice(None), slice(0, 120), SEA)
    _paint(before, slice(200, 240), slice(200, 240), SEA)  # a lake
    after = {b: a.copy() for b, a in before.items()}
    _paint(after, slice(50, 250), slice(90, 120), LAND)  # reclaimed strip
    _paint(after, slice(20, 60), slice(200, 240), SEA)  # new pond
    _paint(after, slice(200, 240), slice(200, 240), LAND)  # drained lake
    for a in after.values():
        a[280:, 150:] = np.nan
    return _ds(before), _ds(after)


@pytest.fixture(scope="module")
def zones() -> gpd.GeoDataFrame:
    return read_zones(SHAPES)


@pytest.fixture(scope="module")
def coast(zones: gpd.GeoDataFrame) -> tuple[xr.Dataset, ...]:
    before, after = coast_scene()
    return load_detector("water").detect(before, after), before, after


def test_water_detector_maps_gain_loss_and_reclamation(coast: tuple) -> None:
    change, _, _ = coast
    klass = change["change_class"].values
    assert (klass[100, 100], klass[40, 220], klass[220, 220], klass[150, 250]) == (3, 1, 2, 0)
    assert klass[290, 200] == 255 and np.isnan(change["change_prob"].values[290, 200])
    assert change["change_prob"].values[100, 100] > 0.9 > change["change_prob"].values[150, 250]
    assert disturbance_layers(WaterChangeDetector()).change_types == (
        "water_gain", "water_loss", "reclamation")  # fmt: skip


def test_patches_on_a_real_coastal_zone(coast: tuple, zones: gpd.GeoDataFrame) -> None:
    change, before, after = coast
    layers = disturbance_layers(WaterChangeDetector())
    found = extract_disturbances(
        change, before, after, zones, layers, coastal_zones=["Borkum Riff"]
    )
    kept, _ = screen_disturbances(found, 1000.0)
    by_type = kept.set_index("change_type")
    assert set(by_type.index) == {"reclamation", "water_gain", "water_loss"}
    assert set(kept["zone_name"]) == {"Borkum Riff"}
    assert by_type.loc["reclamation", "area_ha"] == pytest.approx(60.0, rel=0.05)
    assert by_type.loc["reclamation", "change_type_zh"] == "围填海"
    assert by_type.loc["reclamation", "water_before"] == "water"
    assert by_type.loc["water_gain", "area_ha"] == pytest.approx(16.0, rel=0.05)
    # the same zone not marked coastal: the strip is water loss, not reclamation
    inland = extract_disturbances(change, before, after, zones, layers)
    assert sorted(inland["change_type"]) == ["water_gain", "water_loss", "water_loss"]


def test_coastline_per_period_and_its_displacement(coast: tuple, zones: gpd.GeoDataFrame) -> None:
    change, _, _ = coast
    lines, shift = coastlines(change, zones, ["Borkum Riff"])
    assert list(lines["period"]) == ["before", "after"]
    before_len, after_len = lines["length_m"]
    assert before_len == pytest.approx(3000, rel=0.05)  # the straight shore
    assert after_len == pytest.approx(3600, rel=0.05)  # around the 300 m strip
    ((row),) = shift.to_dict("records")
    assert 100 < row["mean_shift_m"] < 300 and 100 < row["net_seaward_m"] < 300
    assert coastlines(change, zones)[0].empty  # no coastal zone asked for


def test_water_report_says_no_water_and_no_data(
    coast: tuple, zones: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    before = _ds({b: np.full((N, N), v, "float32") for b, v in LAND.items()})
    dry = WaterChangeDetector().detect(before, before)
    table = water_by_zone(dry, zones).set_index("zone_id")
    borkum = zones.loc[zones["name"] == "Borkum Riff", "zone_id"].item()
    assert table.loc[borkum, "status"] == NO_WATER  # explicit, not 0 ha of change
    assert table.loc[borkum, "water_before_ha"] == 0.0  # measured: there is data
    elsewhere = table.drop(index=borkum)
    assert set(elsewhere["status"]) == {NO_DATA_STATUS}  # zones off the scene
    out = write_water_report(coast[0], zones, tmp_path / "water.gpkg", ["Borkum Riff"])
    assert out.set_index("zone_id").loc[borkum, "status"] == "ok"
    coastline = gpd.read_file(tmp_path / "water.gpkg", layer="coastline")
    assert coastline.crs.to_epsg() == 4490 and len(coastline) == 2


def test_otsu_threshold_lies_between_land_and_water(coast: tuple) -> None:
    before, after = coast_scene()
    detector = WaterChangeDetector(WaterParams(threshold_method="otsu"))
    change = detector.detect(before, after)
    assert -0.52 < change.attrs["threshold"] < 0.6
    assert change["change_class"].values[100, 100] == 3


def test_pre_and_post_on_different_grids_are_refused() -> None:
    before, after = coast_scene()
    shifted = after.assign_coords(x=after.x + 5.0)
    with pytest.raises(InputError, match=r"not on the same grid.*does not resample"):
        WaterChangeDetector().detect(before, shifted)
    with pytest.raises(InputError, match="not on the same grid"):
        WaterChangeDetector().detect(before, after.isel(x=slice(0, 200)))


def test_a_chip_with_nan_borders_still_finds_the_sea(coast: tuple) -> None:
    before, after = coast_scene()
    for ds in (before, after):
        for name in ds.data_vars:
            values = ds[name].values
            values[:8], values[:, :8] = np.nan, np.nan
    change = WaterChangeDetector().detect(before, after)
    assert change["change_class"].values[100, 100] == 3  # reclaimed: the sea still counts
    assert (change["change_class"].values[:8] == 255).all()
