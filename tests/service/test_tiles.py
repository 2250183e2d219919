"""Map tiles of a run (titiler.core in the service), its layer list and patch chips."""

from __future__ import annotations

import io
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import morecantile
import numpy as np
import pytest
import uvicorn
from fastapi.testclient import TestClient
from PIL import Image

from tests.fixtures.run_folder import make_run_home
from tests.fixtures.service import ServiceHome, bearer
from tiandi._children import free_port
from tiandi.redline.run_layout import RunLayout
from tiandi.service.app import create_app

WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")


@pytest.fixture(scope="module")
def run_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[ServiceHome, str]:
    return make_run_home(tmp_path_factory.mktemp("tiles"))


@pytest.fixture(scope="module")
def client(run_home: tuple[ServiceHome, str]) -> Iterator[TestClient]:
    with TestClient(create_app(run_home[0].settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def server(run_home: tuple[ServiceHome, str]) -> Iterator[str]:
    """The app behind a real HTTP server on loopback, as a GIS client reaches it."""
    port = free_port()
    config = uvicorn.Config(create_app(run_home[0].settings), port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def _layers(client: TestClient, run_home: tuple[ServiceHome, str]) -> dict[str, Any]:
    home, run_id = run_home
    got = client.get(f"/api/v1/runs/{run_id}/layers", headers=bearer(home.tokens["platform"]))
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body


def _tile_url(template: str, lon: float, lat: float, z: int) -> str:
    tile = WEB_MERCATOR.tile(lon, lat, z)
    return template.replace("{z}", str(z)).replace("{x}", str(tile.x)).replace("{y}", str(tile.y))


def test_layers_lists_four_layers_with_bounds_and_xyz_templates(
    client: TestClient, run_home: tuple[ServiceHome, str]
) -> None:
    body = _layers(client, run_home)
    assert set(body) == {"run_id", "bounds", "layers"} and body["run_id"] == run_home[1]
    west, south, east, north = body["bounds"]
    assert 115.8 < west < east < 116.0 and 40.2 < south < north < 40.3
    assert [layer["name"] for layer in body["layers"]] == ["before", "after", "probability", "mask"]
    for layer in body["layers"]:
        assert set(layer) == {"name", "title_zh", "title_en", "tiles", "minzoom", "maxzoom"}
        assert layer["tiles"].startswith(f"/api/v1/runs/{run_home[1]}/layers/{layer['name']}/")
        assert "/{z}/{x}/{y}.png?" in layer["tiles"]
        assert 0 <= layer["minzoom"] <= layer["maxzoom"] <= 24
    assert "algorithm=truecolour" in body["layers"][0]["tiles"]
    assert "colormap_name=tiandi_probability" in body["layers"][2]["tiles"]


def _fetch(url: str, token: str | None) -> tuple[int, str, bytes]:
    headers = {"User-Agent": "QGIS/32200"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


@pytest.mark.parametrize("layer", ["before", "after", "probability", "mask"])
def test_a_gis_client_gets_a_png_tile_opaque_over_the_scene_transparent_outside(
    layer: str, client: TestClient, run_home: tuple[ServiceHome, str], server: str
) -> None:
    body = _layers(client, run_home)
    (entry,) = [e for e in body["layers"] if e["name"] == layer]
    west, south, east, north = body["bounds"]
    z = entry["maxzoom"]
    token = run_home[0].tokens["platform"]
    # Patch TB-05 (row 0, 500 m x 200 m in): changed in every layer.
    lon, lat = west + (east - west) * 0.49, north - (north - south) * 0.05
    status, kind, data = _fetch(server + _tile_url(entry["tiles"], lon, lat, z), token)
    assert (status, kind) == (200, "image/png")
    image = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
    assert image.shape == (256, 256, 4)
    visible = image[..., 3] > 0
    assert visible.mean() > 0.001 and image[visible][:, :3].std() > 5, "blank tile"
    # The tile at the west edge: partly outside the scene (and its no-data columns).
    status, _, data = _fetch(server + _tile_url(entry["tiles"], west + 1e-5, lat, z), token)
    assert status == 200
    alpha = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))[..., 3]
    assert (alpha == 0).mean() > 0.3
    if layer in ("before", "after"):
        assert (alpha == 255).mean() > 0.05
    status, kind, data = _fetch(server + _tile_url(entry["tiles"], lon, lat, z), None)
    assert (status, kind) == (401, "application/json") and b"missing_token" in data


def test_every_tile_route_needs_a_read_role(
    client: TestClient, run_home: tuple[ServiceHome, str]
) -> None:
    home, run_id = run_home
    spec = client.get("/openapi.json").json()["paths"]
    paths = [p for p, ops in spec.items() if "/layers/{layer}/" in p and "get" in ops]
    assert len(paths) >= 8
    for path in paths:
        url = path.replace("{run_id}", run_id).replace("{layer}", "after")
        url = url.replace("{tileMatrixSetId}", "WebMercatorQuad").replace("{format}", "png")
        url = url.replace("{z}", "14").replace("{x}", "13463").replace("{y}", "6185")
        url = url.replace("{scale}", "1")
        assert client.get(url).status_code == 401, url
        field = client.get(url, headers=bearer(home.tokens["field"]))
        assert field.status_code == 403 and field.json()["error"] == "forbidden", url
    headers = bearer(home.tokens["ecologist"])
    ok = client.get(f"/api/v1/runs/{run_id}/layers/after/info", headers=headers)
    assert ok.status_code == 200 and ok.json()["count"] == 7
    base = f"/api/v1/runs/{run_id}/layers/after"
    for url in (
        f"{base}/tiles/WebMercatorQuad/14/13463/6185.png?tilesize=100000",
        f"{base}/preview.png?max_size=100000",
        f"{base}/statistics?width=99999",
    ):
        huge = client.get(url, headers=headers)
        assert huge.status_code == 422 and "is larger than" in huge.json()["message"], url


def test_an_unparsable_tile_parameter_is_a_documented_400_naming_the_parameters(
    client: TestClient, run_home: tuple[ServiceHome, str]
) -> None:
    home, run_id = run_home
    url = f"/api/v1/runs/{run_id}/layers/after/preview.png?colormap=%F2%A5%85%83"
    got = client.get(url, headers=bearer(home.tokens["ecologist"]))
    assert got.status_code == 400 and got.json()["error"] == "invalid_parameter"
    assert "colormap" in got.json()["message"] and "query parameters" in got.json()["message"]
    assert "request body" not in got.json()["message"]
    for params in ("null", "[1]"):
        query = f"algorithm=max&algorithm_params={params}"
        url = f"/api/v1/runs/{run_id}/layers/after/preview.png?{query}"
        got = client.get(url, headers=bearer(home.tokens["ecologist"]))
        assert got.status_code == 400 and "algorithm_params" in got.json()["message"], params
    spec = client.get("/openapi.json").json()["paths"]
    preview = spec["/api/v1/runs/{run_id}/layers/{layer}/preview.{format}"]["get"]
    assert "400" in preview["responses"]


def test_unknown_runs_layers_and_gone_files_are_json_404s_naming_the_run(
    tmp_path: Path,
) -> None:
    home, run_id = make_run_home(tmp_path)
    headers = bearer(home.tokens["operator"])
    layout = RunLayout(tmp_path / "runs" / "run1")
    with TestClient(create_app(home.settings)) as client:
        for url in ("/api/v1/runs/nope/layers", "/api/v1/runs/nope/layers/mask/info"):
            got = client.get(url, headers=headers)
            assert got.status_code == 404 and "run 'nope' is not recorded" in got.json()["message"]
        bad_layer = client.get(f"/api/v1/runs/{run_id}/layers/..%2Fpatches/info", headers=headers)
        assert bad_layer.status_code in (404, 422) and "error" in bad_layer.json()
        layout.change_mask.unlink()
        gone = client.get(f"/api/v1/runs/{run_id}/layers/mask/info", headers=headers)
        assert gone.status_code == 404 and f"run {run_id!r} has no mask" in gone.json()["message"]
        names = [e["name"] for e in client.get(f"/api/v1/runs/{run_id}/layers", headers=headers)
                 .json()["layers"]]  # fmt: skip
        assert names == ["before", "after", "probability"]
        layout.composite("after").unlink()
        chip = client.get("/api/v1/patches/TB-05/chip/after.png", headers=headers)
        assert chip.status_code == 404 and "has no after composite" in chip.json()["message"]
        shutil.rmtree(layout.root)
        for url in (f"/api/v1/runs/{run_id}/layers", "/api/v1/patches/TB-05/chip/before.png"):
            got = client.get(url, headers=headers)
            assert got.status_code == 404 and f"run {run_id!r}" in got.json()["message"], url


def test_patch_chips_are_true_colour_pngs_that_differ_before_and_after(
    client: TestClient, run_home: tuple[ServiceHome, str]
) -> None:
    headers = bearer(run_home[0].tokens["platform"])
    images = {}
    for period in ("before", "after"):
        got = client.get(f"/api/v1/patches/TB-05/chip/{period}.png", headers=headers)
        assert got.status_code == 200 and got.headers["content-type"] == "image/png"
        images[period] = np.asarray(Image.open(io.BytesIO(got.content)).convert("RGB"))
    assert images["before"].shape == images["after"].shape and images["after"].shape[0] >= 192
    centre = (slice(90, 110), slice(90, 110))
    assert images["after"][centre].mean() > images["before"][centre].mean() + 60  # bare ground
    outline = np.all(images["after"] == (255, 230, 0), axis=-1)
    assert outline.any(), "patch outline drawn in yellow"
    assert client.get("/api/v1/patches/TB-05/chip/after.png").status_code == 401
    missing = client.get("/api/v1/patches/TB-99/chip/after.png", headers=headers)
    assert missing.status_code == 404 and "TB-99" in missing.json()["message"]
