"""tiandi._gpkg: finishing GeoPackages for stable bytes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from shapely.geometry import Point

from tiandi._gpkg import FIXED_LAST_CHANGE, finish_gpkg


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
