"""tiandi._gpkg: finishing GeoPackages for stable bytes, geometry blobs."""

from __future__ import annotations

import sqlite3
import struct
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon

from tiandi._gpkg import (
    FIXED_LAST_CHANGE,
    finish_gpkg,
    gpkg_blob,
    gpkg_geometry,
    gpkg_header,
    register_gpkg_functions,
)


def _write(path: Path, stamp: str, transactions: int = 0) -> None:
    frame = gpd.GeoDataFrame({"name": ["a"]}, geometry=[Point(100.0, 30.0)], crs="EPSG:4490")
    pyogrio.write_dataframe(frame, path, layer="points", driver="GPKG")
    con = sqlite3.connect(path)
    try:
        con.execute("UPDATE gpkg_contents SET last_change = ?", (stamp,))
        con.commit()
        for _ in range(transactions):  # they change the header's file change counter
            con.execute("UPDATE gpkg_contents SET description = 'draft'")
            con.commit()
            con.execute("UPDATE gpkg_contents SET description = ''")
            con.commit()
    finally:
        con.close()


def _stamps(path: Path) -> set[str]:
    con = sqlite3.connect(path)
    try:
        return {str(r[0]) for r in con.execute("SELECT last_change FROM gpkg_contents")}
    finally:
        con.close()


def test_finish_in_place_gives_the_same_bytes_for_the_same_content(tmp_path: Path) -> None:
    one, two = tmp_path / "one.gpkg", tmp_path / "two.gpkg"
    _write(one, "2025-08-01T00:00:00.000Z")
    _write(two, "2025-08-02T12:34:56.789Z", transactions=3)
    assert one.read_bytes() != two.read_bytes()
    assert finish_gpkg(one) == one
    assert finish_gpkg(two) == two
    assert one.read_bytes() == two.read_bytes()
    assert _stamps(one) == {FIXED_LAST_CHANGE}
    assert pyogrio.read_dataframe(one, layer="points")["name"].tolist() == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.gpkg", "two.gpkg"]


def test_finish_into_a_target_leaves_the_source(tmp_path: Path) -> None:
    draft, target = tmp_path / "draft.gpkg", tmp_path / "final.gpkg"
    _write(draft, "2025-08-01T00:00:00.000Z")
    assert finish_gpkg(draft, target) == target
    assert draft.exists()
    assert _stamps(target) == {FIXED_LAST_CHANGE}


def test_a_failed_finish_leaves_no_copy_behind(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gpkg"
    broken.write_bytes(b"not a GeoPackage")
    with pytest.raises(sqlite3.DatabaseError):
        finish_gpkg(broken)
    assert [p.name for p in tmp_path.iterdir()] == ["broken.gpkg"]


# -- geometry binary ------------------------------------------------------------------------


def test_blob_round_trip_with_envelope() -> None:
    geom = Polygon([(100, 30), (101, 30), (101, 31.5), (100, 30)])
    blob = gpkg_blob(geom, 4490)
    header = gpkg_header(blob)
    assert header is not None
    assert (header.srid, header.empty, header.envelope) == (4490, False, (100, 101, 30, 31.5))
    parsed = gpkg_geometry(blob)
    assert parsed is not None and parsed.equals(geom)
    assert gpkg_geometry(memoryview(blob)) == parsed


def test_empty_geometry_is_none_unless_kept() -> None:
    blob = gpkg_blob(MultiPolygon(), 4490)
    header = gpkg_header(blob)
    assert header is not None and header.empty and header.envelope is None
    assert gpkg_geometry(blob) is None
    kept = gpkg_geometry(blob, keep_empty=True)
    assert kept is not None and kept.is_empty and kept.geom_type == "MultiPolygon"


@pytest.mark.parametrize(
    "value",
    [None, "GP not a blob", b"", b"GP\x00", b"XX\x00\x01\x00\x00\x00\x00", b"GP\x00\x03\x00\x00"],
)
def test_values_that_are_not_geometry_blobs_give_none(value: object) -> None:
    assert gpkg_header(value) is None
    assert gpkg_geometry(value) is None


def test_undecodable_wkb_gives_none() -> None:
    blob = b"GP\x00\x01" + struct.pack("<i", 4490) + b"\x01\x07\x00"
    assert gpkg_header(blob) is not None
    assert gpkg_geometry(blob) is None


def test_big_endian_header_from_another_writer() -> None:
    point = Point(100.5, 30.25)
    wkb = shapely.to_wkb(point, byte_order=0)
    blob = b"GP\x00\x02" + struct.pack(">i", 4326) + struct.pack(">4d", 100.5, 100.5, 30.25, 30.25)
    header = gpkg_header(blob + wkb)
    assert header is not None and header.srid == 4326
    assert header.envelope == (100.5, 100.5, 30.25, 30.25)
    assert gpkg_geometry(blob + wkb) == point


def test_registered_functions_serve_gdal_rtree_triggers(tmp_path: Path) -> None:
    path = tmp_path / "layer.gpkg"
    frame = gpd.GeoDataFrame({"name": ["a"]}, geometry=[Point(100.0, 30.0)], crs="EPSG:4490")
    pyogrio.write_dataframe(frame, path, layer="points", driver="GPKG")
    con = sqlite3.connect(path)
    try:
        register_gpkg_functions(con, "test layer")
        con.execute("UPDATE points SET geom = ?", (gpkg_blob(Point(102.0, 31.0), 4490),))
        con.commit()
        box = con.execute("SELECT minx, maxx, miny, maxy FROM rtree_points_geom").fetchall()
        assert box == [(102.0, 102.0, 31.0, 31.0)]
        con.execute("UPDATE points SET geom = NULL")
        con.commit()
        assert con.execute("SELECT count(*) FROM rtree_points_geom").fetchone() == (0,)
        with pytest.raises(sqlite3.OperationalError):
            con.execute("UPDATE points SET geom = ?", (b"not a geometry",))
    finally:
        con.close()
