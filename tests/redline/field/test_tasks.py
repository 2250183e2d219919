"""Verification tasks: assignment to stations and per-station field packages."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from shapely.geometry import box

from tests.fixtures.redline import Scene, scene_box, zones_utm
from tiandi.errors import InputError
from tiandi.redline.field.tasks import (
    FIELD_COLUMNS,
    TASK_COLUMNS,
    assign_tasks,
    write_station_packages,
)
from tiandi.redline.patches.extract import extract_patches


def _patches() -> gpd.GeoDataFrame:
    scene = Scene()
    scene.plant(slice(5, 15), slice(5, 15), "quarry")  # west half
    scene.plant(slice(30, 40), slice(25, 35), "solar")  # east half
    change, before, after = scene.datasets()
    return extract_patches(change, before, after, zones_utm(scene_box()))


def _stations(*, west_only: bool = False, overlap: bool = False) -> gpd.GeoDataFrame:
    x0, y0, x1, y1 = scene_box()
    mid = (x0 + x1) / 2
    geoms = [box(x0, y0, mid, y1), box(mid if not overlap else x0, y0, x1, y1)]
    ids, names = ["S02", "S01"], ["西站", "东站"]
    if west_only:
        geoms, ids, names = geoms[:1], ids[:1], names[:1]
    gdf = gpd.GeoDataFrame({"station_id": ids, "name": names}, geometry=geoms, crs="EPSG:32650")
    return gdf.to_crs("EPSG:4527")  # Gauss–Krüger, like a Chinese office would send


def test_each_patch_goes_to_the_station_that_contains_it() -> None:
    patches = _patches()
    tasks = assign_tasks(patches, _stations())
    assert list(tasks.columns) == [*TASK_COLUMNS, "geometry"]
    assert tasks.crs.to_epsg() == 4490
    by_class = dict(zip(tasks["hj1156_class"], tasks["station_id"], strict=True))
    assert by_class == {"mining": "S02", "energy": "S01"}
    assert set(tasks["assignment"]) == {"within"}
    assert set(tasks["warning"]) == {""}
    assert tasks["station_id"].tolist() == sorted(tasks["station_id"])
    assert tasks[list(FIELD_COLUMNS)].isna().all().all()
    assert tasks["task_id"].str.fullmatch(r"VT-[0-9a-f]{12}").all()


def test_task_ids_are_deterministic() -> None:
    a = assign_tasks(_patches(), _stations())
    b = assign_tasks(_patches(), _stations())
    assert a["task_id"].tolist() == b["task_id"].tolist()
    assert a["task_id"].is_unique


def test_patch_outside_every_jurisdiction_goes_to_nearest_with_a_warning() -> None:
    tasks = assign_tasks(_patches(), _stations(west_only=True))
    east = tasks[tasks["hj1156_class"] == "energy"].iloc[0]
    assert east["station_id"] == "S02"
    assert east["assignment"] == "nearest"
    assert "nearest station S02" in east["warning"]


def test_overlapping_jurisdictions_pick_the_lowest_station_id() -> None:
    tasks = assign_tasks(_patches(), _stations(overlap=True))
    assert set(tasks["station_id"]) == {"S01"}
    mining = tasks[tasks["hj1156_class"] == "mining"].iloc[0]
    assert mining["station_id"] == "S01"  # inside both S01 (whole box) and S02


def test_representative_point_lies_inside_the_patch() -> None:
    tasks = assign_tasks(_patches(), _stations())
    points = gpd.points_from_xy(tasks["lon"], tasks["lat"], crs="EPSG:4490")
    assert all(g.buffer(1e-9).contains(p) for g, p in zip(tasks.geometry, points, strict=True))


def test_station_packages_are_geopackages_for_field_apps(tmp_path: Path) -> None:
    tasks = assign_tasks(_patches(), _stations())
    paths = write_station_packages(tasks, tmp_path)
    assert [p.name for p in paths] == ["S01.gpkg", "S02.gpkg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "S01.geojson",
        "S01.gpkg",
        "S02.geojson",
        "S02.gpkg",
    ]
    gpkg = paths[1]
    layers = {name: kind for name, kind in pyogrio.list_layers(gpkg).tolist()}
    assert layers == {"tasks": "MultiPolygon", "task_points": "Point"}
    polys = pyogrio.read_dataframe(gpkg, layer="tasks")
    points = pyogrio.read_dataframe(gpkg, layer="task_points")
    assert polys.crs.to_epsg() == 4490 and points.crs.to_epsg() == 4490
    assert polys["hj1156_zh"].tolist() == ["矿产资源开发"]
    assert polys["station_name"].tolist() == ["西站"]
    assert set(FIELD_COLUMNS) <= set(polys.columns)
    assert all(c.isascii() for c in polys.columns)
    info = pyogrio.read_info(gpkg, layer="tasks")
    assert dict(zip(info["fields"], info["ogr_types"], strict=True))["field_result"] == "OFTString"
    with sqlite3.connect(gpkg) as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
        extensions = {r[0] for r in con.execute("SELECT table_name FROM gpkg_extensions")}
    assert {"rtree_tasks_geom", "rtree_task_points_geom"} <= tables
    assert {"tasks", "task_points"} <= extensions


def test_station_geojson_is_rfc7946_wgs84(tmp_path: Path) -> None:
    tasks = assign_tasks(_patches(), _stations())
    write_station_packages(tasks, tmp_path)
    doc = json.loads((tmp_path / "S01.geojson").read_text(encoding="utf-8"))
    assert "crs" not in doc and "name" not in doc
    (feature,) = doc["features"]
    assert feature["properties"]["hj1156_zh"] == "能源开发"
    lon, lat = feature["geometry"]["coordinates"][0][0]
    assert 115 < lon < 117 and 39 < lat < 41


def test_station_packages_have_stable_bytes(tmp_path: Path) -> None:
    tasks = assign_tasks(_patches(), _stations())
    first = write_station_packages(tasks, tmp_path / "a")
    second = write_station_packages(tasks, tmp_path / "b")
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes()
        assert a.with_suffix(".geojson").read_bytes() == b.with_suffix(".geojson").read_bytes()


def test_no_patches_give_no_tasks_and_no_packages(tmp_path: Path) -> None:
    tasks = assign_tasks(_patches().iloc[0:0], _stations())
    assert tasks.empty
    assert write_station_packages(tasks, tmp_path) == []


def test_stations_without_crs_raise_input_error() -> None:
    stations = _stations().set_crs(None, allow_override=True)
    with pytest.raises(InputError, match="stations"):
        assign_tasks(_patches(), stations)


def test_station_id_that_is_not_a_file_name_raises(tmp_path: Path) -> None:
    tasks = assign_tasks(_patches(), _stations())
    tasks["station_id"] = "../evil"
    with pytest.raises(InputError, match="file name"):
        write_station_packages(tasks, tmp_path)
