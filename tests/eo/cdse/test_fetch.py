"""The grid ``fetch_cdse`` asks the Process API for: 10 m in the zones' UTM CRS, tiled.

(Fetching itself is tested against the fake CDSE in ``tests/cli/test_fetch_cdse.py``,
which starts it once for the command's tests and the library's.)"""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from tiandi.eo.cdse.fetch import fetch_grid
from tiandi.errors import InputError


def _zones() -> gpd.GeoDataFrame:
    box = shapely.box(117.0, 40.0, 117.004, 40.003)
    return gpd.GeoDataFrame({"zone_id": ["Z1"]}, geometry=[box], crs="EPSG:4326")


def test_grid_is_utm_10m_snapped_and_tiled() -> None:
    grid = fetch_grid(_zones(), max_tile_px=20)
    assert grid.epsg == 32650
    x0, y0, x1, y1 = grid.geobox.boundingbox
    assert all(v % 10 == 0 for v in (x0, y0, x1, y1))
    rows, cols = grid.geobox.shape
    assert sum(t.size[0] * t.size[1] for t in grid.tiles) == rows * cols
    assert max(max(t.size) for t in grid.tiles) <= 20
    with pytest.raises(InputError, match="2500"):
        fetch_grid(_zones(), max_tile_px=4000)
