"""grid_for_zones and geobox_for_bounds."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box

from tests.fixtures.eo import X0, Y0, Scene, make_items
from tiandi.eo.grid import geobox_for_bounds, grid_for_zones
from tiandi.errors import InputError, NoDataError


def _zones(geom: object, crs: str = "EPSG:32650") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"zone_id": ["z1"]}, geometry=[geom], crs=crs)


def test_grid_covers_the_zone_snapped_to_20m_and_clipped_to_the_tile(tmp_path: Path) -> None:
    items = make_items(tmp_path, [Scene("2025-03-01")])  # tile 640 m x 640 m
    zone = box(X0 + 203, Y0 - 407, X0 + 311, Y0 - 205)
    grid = grid_for_zones(_zones(zone), items, buffer_px=2)
    assert grid.crs == "EPSG:32650"
    x0, y0, x1, y1 = grid.boundingbox
    assert (x0, y0, x1, y1) == (X0 + 180, Y0 - 440, X0 + 340, Y0 - 180)
    assert all(round(v - X0) % 20 == 0 for v in (x0, x1))
    assert grid.shape == (26, 16)
    wide = grid_for_zones(_zones(zone.buffer(2000)), items)
    assert tuple(wide.boundingbox) == (X0, Y0 - 640, X0 + 640, Y0)


def test_zones_in_cgcs2000_are_reprojected_to_the_imagery_crs(tmp_path: Path) -> None:
    items = make_items(tmp_path, [Scene("2025-03-01")])
    zone = _zones(box(X0 + 100, Y0 - 300, X0 + 300, Y0 - 100)).to_crs("EPSG:4490")
    grid = grid_for_zones(zone, items, buffer_px=0)
    assert grid.crs == "EPSG:32650"
    assert grid.boundingbox.left == pytest.approx(X0 + 100, abs=20)


def test_zones_outside_the_imagery_name_both_extents(tmp_path: Path) -> None:
    items = make_items(tmp_path, [Scene("2025-03-01")])
    far = box(X0 + 50_000, Y0 - 1000, X0 + 51_000, Y0)
    with pytest.raises(InputError, match=r"zones \(bounds .*imagery footprint \(bounds"):
        grid_for_zones(_zones(far), items)


def test_grid_needs_items_and_a_zone_crs(tmp_path: Path) -> None:
    zone = box(X0, Y0 - 100, X0 + 100, Y0)
    with pytest.raises(NoDataError):
        grid_for_zones(_zones(zone), [])
    items = make_items(tmp_path, [Scene("2025-03-01")])
    with pytest.raises(InputError, match="no CRS"):
        grid_for_zones(gpd.GeoDataFrame(geometry=[zone]), items)


def test_geobox_for_bounds_rejects_empty_bounds_and_coarsens() -> None:
    with pytest.raises(InputError, match="empty"):
        geobox_for_bounds("EPSG:32650", 10.0, (10.0, 0.0, 0.0, 10.0))
    grid = geobox_for_bounds("EPSG:32650", 10.0, (0.0, 0.0, 330.0, 530.0))
    assert grid.shape == (53, 33)
    assert grid.zoom_out(2).shape == (27, 17)
    assert grid.zoom_out(2).resolution.x == 20.0
