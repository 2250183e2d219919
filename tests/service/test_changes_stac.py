""" "What changed since run X" (created, updated, closed; paged) and a run's outputs as a
STAC Item."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pystac
import pytest
import rasterio
from fastapi.testclient import TestClient

from tests.fixtures.field import CRS, RES, SIZE, X0, Y0, patches, write_composites
from tests.fixtures.service import ServiceHome, bearer
from tests.fixtures.store import run_info
from tiandi.redline.run_layout import RunLayout
from tiandi.redline.store.recording import record_detections
from tiandi.service.app import create_app


def _get(client: TestClient, home: ServiceHome, path: str, status: int = 200, **params: Any) -> Any:
    response = client.get(path, params=params, headers=bearer(home.tokens["platform"]))
    assert response.status_code == status, response.text
    return response.json()


def _changes(client: TestClient, home: ServiceHome, run: str) -> dict[str, str]:
    page = _get(client, home, "/api/v1/changes", since_run=run)
    return {f["properties"]["patch_id"]: f["properties"]["change"] for f in page["features"]}


def _move(home: ServiceHome, key: str, *steps: tuple[str, str, dict[str, Any]]) -> None:
    for target, role, extra in steps:
        home.store.transition(key, target, actor="someone", role=role, **extra)


def test_changes_since_a_run_are_created_updated_and_closed(
    client: TestClient, home: ServiceHome
) -> None:
    assert _changes(client, home, "run-1") == {
        "TB-z0": "created",
        "TB-z1": "created",
        "TB-z2": "created",
    }
    assert _changes(client, home, "run-2") == {}
    _move(home, "TB-05", ("reviewed_accepted", "ecologist", {"hj1156_class": "energy"}))
    _move(
        home,
        "TB-06",
        ("reviewed_accepted", "ecologist", {"hj1156_class": "mining"}),
        ("dispatched", "dispatcher", {"reason": "field package P to station S, task T"}),
        ("field_checked", "field_crew", {"outcome": "not_found"}),
        ("closed", "supervisor", {"reason": "nothing there"}),
    )
    assert _changes(client, home, "run-2") == {"TB-05": "updated", "TB-06": "closed"}
    since_1 = _changes(client, home, "run-1")
    assert since_1["TB-05"] == "updated" and since_1["TB-z0"] == "created"


def test_changes_are_paged_like_patches(client: TestClient, home: ServiceHome) -> None:
    first = _get(client, home, "/api/v1/changes", since_run="run-1", limit=2)
    assert first["numberReturned"] == 2 and first["since_run"] == "run-1"
    second = client.get(first["next"], headers=bearer(home.tokens["platform"])).json()
    assert second["numberReturned"] == 1 and second["next"] is None
    ids = [f["id"] for f in first["features"] + second["features"]]
    assert ids == sorted(ids) and len(set(ids)) == 3


def test_changes_since_an_unknown_run_is_404(client: TestClient, home: ServiceHome) -> None:
    body = _get(client, home, "/api/v1/changes", 404, since_run="run-404")
    assert body["error"] == "not_found" and "run-404" in body["message"]
    missing = _get(client, home, "/api/v1/changes", 422)
    assert "since_run" in missing["message"]
    field = client.get("/api/v1/changes?since_run=run-1", headers=bearer(home.tokens["field"]))
    assert field.status_code == 403


def _write_run(folder: Path) -> None:
    layout = RunLayout(folder)
    composites = write_composites(folder / "composites")
    assert composites == layout.composites()
    layout.change_dir.mkdir(parents=True)
    for path, dtype in ((layout.change_prob, "float32"), (layout.change_mask, "uint8")):
        profile = {"driver": "GTiff", "width": SIZE, "height": SIZE, "count": 1, "dtype": dtype}
        transform = rasterio.transform.from_origin(X0, Y0, RES, RES)
        with rasterio.open(path, "w", crs=CRS, transform=transform, **profile) as dst:
            dst.write(np.zeros((1, SIZE, SIZE), dtype))
    gpd.GeoDataFrame(patches()).to_file(layout.patches, layer="patches")


@pytest.fixture
def run_home(home: ServiceHome, tmp_path: Path) -> ServiceHome:
    folder = tmp_path / "run-3-out"
    _write_run(folder)
    info = replace(run_info(3), source=str(folder), parameters={"detector": "siamese-6b"})
    record_detections(home.store, patches().iloc[:0], None, info)
    record_detections(home.store, patches().iloc[:0], None, run_info(4))  # no folder
    return home


def test_a_run_is_a_stac_item_of_its_outputs(run_home: ServiceHome) -> None:
    settings = run_home.settings.model_copy(update={"stac_api_url": "http://stac.example/api/"})
    with TestClient(create_app(settings)) as client:
        body = _get(client, run_home, "/api/v1/runs/run-3/stac")
    assert body["type"] == "Feature" and body["stac_version"] == pystac.get_stac_version()
    item = pystac.Item.from_dict(body)
    assert set(item.assets) == {"change_prob", "change_mask", "before", "after", "patches"}
    assert item.assets["patches"].media_type == "application/geopackage+sqlite3"
    assert "cloud-optimized" in str(item.assets["change_prob"].media_type) or "tiff" in str(
        item.assets["change_prob"].media_type
    )
    assert all(a.roles and "data" in a.roles for a in item.assets.values())
    props = item.properties
    assert props["start_datetime"].startswith("2025-01-01") and props["end_datetime"].startswith(
        "2025-12-31"
    )
    assert props["tiandi:zone_set_version"] == "sha256:test"
    assert props["tiandi:detector"] == "siamese-6b"
    links = {link["rel"]: link["href"] for link in body["links"]}
    assert links["root"] == "http://stac.example/api"
    assert links["canonical"].endswith("/collections/tiandi-outputs/items/run-3-change")
    assert links["self"].endswith("/api/v1/runs/run-3/stac")


def test_a_run_without_a_folder_or_unknown_is_404(
    client: TestClient, run_home: ServiceHome
) -> None:
    no_dir = _get(client, run_home, "/api/v1/runs/run-4/stac", 404)
    assert "output folder" in no_dir["message"]
    unknown = _get(client, run_home, "/api/v1/runs/run-99/stac", 404)
    assert "run-99" in unknown["message"]
    body = _get(client, run_home, "/api/v1/runs/run-3/stac")
    assert not any(link["rel"] == "root" for link in body["links"])  # no STAC API configured
