"""Patches from change maps (windowed vectorising, MMU, zones, areas, ids) and the class rules."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import xarray as xr
from shapely.geometry import LineString, box

from tests.fixtures.redline import BANDS, SIGNATURES, Scene, scene_box, zones_utm
from tiandi.errors import InputError
from tiandi.redline.patches._grid import Grid
from tiandi.redline.patches.classify import ShapeMetrics, classify_patch
from tiandi.redline.patches.extract import (
    PATCH_COLUMNS,
    PatchParams,
    extract_patches,
    write_patches,
)
from tiandi.redline.vocabulary import MU_M2, ChangeType, HJ1156Class


def _sig(kind: str) -> dict[str, float]:
    return dict(zip(BANDS, SIGNATURES[kind], strict=True))


BLOB = ShapeMetrics.from_geometry(box(0, 0, 200, 150))
FOREST = _sig("forest")


# --- classification rules (synthetic means) ---------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("quarry", HJ1156Class.MINING),
        ("construction", HJ1156Class.INDUSTRY),
        ("aquaculture", HJ1156Class.AQUACULTURE),
        ("solar", HJ1156Class.ENERGY),
        ("clearing", HJ1156Class.AGRICULTURE),
    ],
)
def test_each_planted_signature_gets_its_class(kind: str, expected: HJ1156Class) -> None:
    cls, ctype, conf = classify_patch(FOREST, _sig(kind), BLOB)
    assert cls is expected
    assert ctype is ChangeType.NEW
    assert 0.5 <= conf <= 1.0


def test_long_thin_patch_is_transport_even_when_curved() -> None:
    curved = LineString([(0, 0), (400, 300), (900, 0), (1300, 200)]).buffer(12)
    shape = ShapeMetrics.from_geometry(curved)
    assert shape.elongation < 6  # the rotated rectangle alone would miss it
    assert classify_patch(FOREST, _sig("road"), shape)[0] is HJ1156Class.TRANSPORT


def test_road_spectrum_on_a_compact_blob_is_industry_not_transport() -> None:
    assert classify_patch(FOREST, _sig("road"), BLOB)[0] is HJ1156Class.INDUSTRY


def test_water_that_was_water_before_is_not_aquaculture() -> None:
    cls, _, _ = classify_patch(_sig("water"), _sig("water"), BLOB)
    assert cls is not HJ1156Class.AQUACULTURE


def test_revegetated_bare_ground_is_reduced_with_the_removed_activity() -> None:
    cls, ctype, _ = classify_patch(_sig("quarry"), FOREST, BLOB)
    assert (cls, ctype) == (HJ1156Class.MINING, ChangeType.REDUCED)


def test_patch_next_to_existing_bare_ground_is_enlarged() -> None:
    shape = ShapeMetrics.from_geometry(box(0, 0, 100, 100), context_bare_fraction=0.5)
    assert classify_patch(FOREST, _sig("quarry"), shape)[1] is ChangeType.ENLARGED


def test_unknown_after_state_is_other_with_low_confidence() -> None:
    cls, _, conf = classify_patch(FOREST, {}, BLOB)
    assert cls is HJ1156Class.OTHER and conf < 0.3


def test_vegetation_loss_without_a_signature_falls_back_to_agriculture() -> None:
    after = {"B02": 0.05, "B03": 0.06, "B04": 0.06, "B08": 0.13, "B11": 0.20, "B12": 0.12}
    cls, _, conf = classify_patch(FOREST, after, BLOB)
    assert cls is HJ1156Class.AGRICULTURE and conf < 0.5


# --- extraction --------------------------------------------------------------------------


def _planted() -> Scene:
    scene = Scene()
    scene.plant(slice(5, 15), slice(5, 15), "quarry")
    scene.plant(slice(20, 23), slice(2, 38), "road")
    scene.plant(slice(28, 40), slice(10, 22), "solar")
    scene.plant(slice(45, 55), slice(5, 15), "aquaculture")
    scene.plant(slice(45, 55), slice(25, 35), "clearing")
    return scene


def test_planted_events_become_patches_with_their_classes() -> None:
    change, before, after = _planted().datasets()
    patches = extract_patches(change, before, after, zones_utm(scene_box()))
    assert list(patches.columns) == [*PATCH_COLUMNS, "geometry"]
    assert sorted(patches["hj1156_class"]) == sorted(
        ["mining", "transport", "energy", "aquaculture", "agriculture"]
    )
    assert set(patches["change_type"]) == {"new"}
    assert patches.crs.to_epsg() == 32650
    quarry = patches[patches["hj1156_class"] == "mining"].iloc[0]
    assert quarry["area_m2"] == pytest.approx(10_000.0)
    assert quarry["area_ha"] == pytest.approx(1.0)
    assert quarry["area_mu"] == pytest.approx(10_000 / MU_M2, abs=0.01)
    assert quarry["n_pixels"] == 100
    assert quarry["mean_prob"] == pytest.approx(0.9)
    assert quarry["before_ndvi"] > 0.8 and quarry["after_ndvi"] < 0.1
    assert quarry["confidence"] == pytest.approx(math.sqrt(0.9 * 0.75), abs=1e-3)
    assert quarry["zone_name"] == "红线区1" and quarry["hj1156_zh"] == "矿产资源开发"
    assert patches["patch_id"].str.fullmatch(r"TB-[0-9a-f]{12}").all()


def test_result_does_not_depend_on_window_size() -> None:
    scene = Scene()
    # a U whose arms cross several window borders and join below them
    scene.plant(slice(3, 30), slice(5, 8), "construction")
    scene.plant(slice(3, 30), slice(20, 23), "construction")
    scene.plant(slice(27, 30), slice(5, 23), "construction")
    scene.plant(slice(40, 52), slice(8, 30), "quarry")
    change, before, after = scene.datasets()
    zones = zones_utm(scene_box())
    whole = extract_patches(change, before, after, zones, PatchParams(window_rows=1024))
    small = extract_patches(change, before, after, zones, PatchParams(window_rows=7))
    assert len(whole) == 2
    assert whole["patch_id"].tolist() == small["patch_id"].tolist()
    assert whole["area_m2"].tolist() == small["area_m2"].tolist()
    assert whole["n_pixels"].tolist() == small["n_pixels"].tolist()


def test_reads_one_window_of_rows_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    spans: list[int] = []
    real = Grid.read

    def spy(grid: Grid, da: xr.DataArray, rows: tuple[int, int], cols: tuple[int, int]) -> Any:
        spans.append(rows[1] - rows[0])
        return real(grid, da, rows, cols)

    monkeypatch.setattr(Grid, "read", spy)
    change, before, after = _planted().datasets()
    extract_patches(change, before, after, zones_utm(scene_box()), PatchParams(window_rows=8))
    assert spans and max(spans) <= 8


def test_patches_under_the_minimum_mapping_unit_are_dropped() -> None:
    scene = Scene()
    scene.plant(slice(5, 8), slice(5, 8), "quarry")  # 9 px = 900 m²
    scene.plant(slice(20, 22), slice(5, 10), "quarry")  # 10 px = 1000 m²
    change, before, after = scene.datasets()
    patches = extract_patches(change, before, after, zones_utm(scene_box()))
    assert patches["area_m2"].tolist() == [1000.0]


def test_pixels_touching_only_at_a_corner_are_separate_patches() -> None:
    scene = Scene()
    scene.plant(slice(10, 20), slice(10, 20), "quarry")
    scene.plant(slice(20, 30), slice(20, 30), "quarry")
    change, before, after = scene.datasets()
    patches = extract_patches(change, before, after, zones_utm(scene_box()))
    assert len(patches) == 2


def test_patch_straddling_two_zones_is_split_per_zone() -> None:
    scene = Scene()
    scene.plant(slice(10, 20), slice(10, 30), "quarry")  # 2 ha across x = 20 px
    change, before, after = scene.datasets()
    x0, y0, x1, y1 = scene_box()
    mid = x0 + 20 * 10
    zones = zones_utm((x0, y0, mid, y1), (mid, y0, x1, y1))
    patches = extract_patches(change, before, after, zones)
    assert patches["zone_id"].tolist() == ["Z1", "Z2"]
    assert patches["area_m2"].tolist() == pytest.approx([10_000.0, 10_000.0], abs=0.5)
    assert patches["patch_id"].is_unique
    assert set(patches["hj1156_class"]) == {"mining"}


def test_patch_outside_every_zone_is_not_reported() -> None:
    scene = _planted()
    change, before, after = scene.datasets()
    zones = zones_utm(scene.bounds_of(slice(0, 18), slice(0, 40)))
    patches = extract_patches(change, before, after, zones)
    assert patches["hj1156_class"].tolist() == ["mining"]


def test_patch_ids_are_stable_across_runs_and_zone_crs() -> None:
    change, before, after = _planted().datasets()
    a = extract_patches(change, before, after, zones_utm(scene_box()))
    b = extract_patches(change, before, after, zones_utm(scene_box(), to_4490=False))
    assert a["patch_id"].tolist() == b["patch_id"].tolist()


def test_no_data_pixels_are_not_patches() -> None:
    scene = Scene()
    scene.mask[10:30, 10:30] = 255
    change, before, after = scene.datasets()
    patches = extract_patches(change, before, after, zones_utm(scene_box()))
    assert patches.empty
    assert list(patches.columns) == [*PATCH_COLUMNS, "geometry"]


def test_clearing_beside_existing_bare_ground_is_enlarged() -> None:
    scene = Scene()
    for state in (scene.before, scene.after):  # an old quarry, unchanged
        for band, value in _sig("quarry").items():
            state[band][10:20, 10:20] = value
    scene.plant(slice(10, 20), slice(20, 26), "quarry")
    change, before, after = scene.datasets()
    patches = extract_patches(change, before, after, zones_utm(scene_box()))
    assert patches["change_type"].tolist() == ["enlarged"]
    assert patches["change_type_zh"].tolist() == ["扩大"]


def test_geographic_grid_areas_use_an_equal_area_projection() -> None:
    scene = Scene()
    scene.plant(slice(10, 20), slice(10, 20), "quarry")
    change, before, after = scene.datasets()
    # the same pixels on a 0.0001° CGCS2000 grid at 39° N
    lon = 117.0 + 0.0001 * np.arange(scene.width)
    lat = 39.0 - 0.0001 * np.arange(scene.height)

    def geo(ds: xr.Dataset) -> xr.Dataset:
        out = ds.drop_vars("spatial_ref").assign_coords(x=lon, y=lat)
        return out.rio.write_crs("EPSG:4490")

    zones = gpd.GeoDataFrame(
        {"zone_id": ["Z"], "name": ["z"], "zone_type": ["redline"], "functional_zone": [None]},
        geometry=[box(116.9, 38.9, 117.1, 39.1)],
        crs="EPSG:4490",
    )
    patches = extract_patches(geo(change), geo(before), geo(after), zones)
    expected = 100 * (0.0001 * 111_195) * (0.0001 * 111_195 * math.cos(math.radians(39.0)))
    assert patches["area_m2"].iloc[0] == pytest.approx(expected, rel=0.01)


def test_missing_crs_raises_input_error() -> None:
    change, before, after = _planted().datasets()
    bare = change.drop_vars("spatial_ref")
    for var in bare.data_vars:
        bare[var].attrs.pop("grid_mapping", None)
        bare[var].encoding.pop("grid_mapping", None)
    with pytest.raises(InputError, match="no CRS"):
        extract_patches(bare, before, after, zones_utm(scene_box()))


def test_missing_change_mask_raises_input_error() -> None:
    change, before, after = _planted().datasets()
    with pytest.raises(InputError, match="change_mask"):
        extract_patches(change[["change_prob"]], before, after, zones_utm(scene_box()))


def test_grid_mismatch_raises_input_error() -> None:
    change, before, after = _planted().datasets()
    with pytest.raises(InputError, match="before dataset grid"):
        extract_patches(change, before.isel(y=slice(0, 30)), after, zones_utm(scene_box()))


def test_invalid_params_raise_input_error() -> None:
    with pytest.raises(InputError, match="window_rows"):
        PatchParams(window_rows=0)


# --- writing -----------------------------------------------------------------------------


def test_write_patches_gives_cgcs2000_geopackage_with_stable_bytes(tmp_path: Path) -> None:
    change, before, after = _planted().datasets()
    patches = extract_patches(change, before, after, zones_utm(scene_box()))
    first = write_patches(patches, tmp_path / "a" / "patches.gpkg")
    second = write_patches(patches, tmp_path / "b" / "patches.gpkg")
    assert first.read_bytes() == second.read_bytes()
    assert pyogrio.list_layers(first).tolist() == [["patches", "MultiPolygon"]]
    back = pyogrio.read_dataframe(first)
    assert back.crs.to_epsg() == 4490
    assert back["patch_id"].tolist() == patches["patch_id"].tolist()
    assert back["hj1156_zh"].tolist() == patches["hj1156_zh"].tolist()
    assert sorted(p.name for p in first.parent.iterdir()) == ["patches.gpkg"]


def test_write_patches_keeps_the_schema_when_there_are_no_patches(tmp_path: Path) -> None:
    change, before, after = Scene().datasets()
    patches = extract_patches(change, before, after, zones_utm(scene_box()))
    assert patches.empty
    path = write_patches(patches, tmp_path / "patches.gpkg")
    info = pyogrio.read_info(path, layer="patches")
    assert info["geometry_type"] == "MultiPolygon" and info["features"] == 0
    types = dict(zip(info["fields"], info["ogr_types"], strict=True))
    assert types["patch_id"] == "OFTString" and types["area_m2"] == "OFTReal"
    assert types["n_pixels"] in ("OFTInteger", "OFTInteger64")
