"""``GET /api/v1/runs/{run_id}/zones``: the zones a run used, as GeoJSON in lon/lat."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.fixtures.run_folder import ZONE, ZONE_NAME, make_run_home
from tests.fixtures.service import bearer
from tiandi.service.app import create_app


def test_run_zones_are_geojson_in_lon_lat_and_404_naming_the_run_once_gone(
    tmp_path: Path,
) -> None:
    home, run_id = make_run_home(tmp_path)
    headers = bearer(home.tokens["platform"])
    with TestClient(create_app(home.settings)) as client:
        got = client.get(f"/api/v1/runs/{run_id}/zones", headers=headers)
        assert got.status_code == 200, got.text
        body = got.json()
        assert body["type"] == "FeatureCollection" and body["run_id"] == run_id
        [zone] = body["features"]
        assert zone["id"] == ZONE and zone["geometry"]["type"] in {"Polygon", "MultiPolygon"}
        assert zone["properties"]["name"] == ZONE_NAME
        assert zone["properties"]["functional_zone"] == "核心区"
        assert zone["properties"]["zone_id"] == ZONE
        ring = zone["geometry"]["coordinates"][0]
        if zone["geometry"]["type"] == "MultiPolygon":
            ring = ring[0]
        for lon, lat in ring:
            assert 115.8 < lon < 116.0 and 40.2 < lat < 40.3
        assert client.get(f"/api/v1/runs/{run_id}/zones").status_code == 401
        ecologist = bearer(home.tokens["ecologist"])
        assert client.get(f"/api/v1/runs/{run_id}/zones", headers=ecologist).status_code == 200
        unknown = client.get("/api/v1/runs/run-99/zones", headers=headers)
        assert unknown.status_code == 404 and "run-99" in unknown.json()["message"]
        (tmp_path / "runs" / "run1" / "zones.gpkg").unlink()
        gone = client.get(f"/api/v1/runs/{run_id}/zones", headers=headers)
        assert gone.status_code == 404, gone.text
        assert gone.headers["content-type"].startswith("application/json")
        assert run_id in gone.json()["message"] and "zones" in gone.json()["message"]
