"""UAV evidence of a patch: the chips `tiandi ingest uav` cut, listed and served per patch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from fastapi.testclient import TestClient
from PIL import Image
from rasterio.transform import from_origin

from tests.fixtures.service import ServiceHome, bearer
from tests.fixtures.store import UTM, X0, Y0, detections, square
from tiandi.eo.chips import write_chips

ITEM = "UAV-20250812-A"


def _orthophoto(path: Path) -> Path:
    """A 0.5 m RGB orthophoto over the first two test patches (TB-00, TB-01)."""
    rng = np.random.default_rng(0)
    data = rng.integers(0, 255, (3, 2400, 4400), dtype=np.uint8)
    profile = {"driver": "GTiff", "width": 4400, "height": 2400, "count": 3, "dtype": "uint8"}
    transform = from_origin(X0 - 100.0, Y0 + 100.0, 0.5, 0.5)
    with rasterio.open(path, "w", crs=UTM, transform=transform, **profile) as dst:
        dst.write(data)
    return path


def _chips(home: ServiceHome, tmp_path: Path) -> None:
    patches = detections([("TB-00", square(0)), ("TB-01", square(1)), ("TB-09", square(9))])
    out = home.settings.uav_path / ITEM / "chips"
    written = write_chips(_orthophoto(tmp_path / "ortho.tif"), patches, out, item_id=ITEM)
    assert {c.patch_id for c in written} == {"TB-00", "TB-01"}  # TB-09 lies outside


def test_a_patch_lists_and_serves_its_uav_chips(
    client: TestClient, home: ServiceHome, tmp_path: Path
) -> None:
    _chips(home, tmp_path)
    auth = bearer(home.tokens["platform"])
    listed = client.get("/api/v1/patches/TB-01/uav", headers=auth)
    assert listed.status_code == 200, listed.text
    chips = listed.json()["chips"]
    assert [(c["item_id"], c["patch_id"]) for c in chips] == [(ITEM, "TB-01")]
    assert chips[0]["coverage"] > 0.9 and 0.4 < chips[0]["gsd_m"] < 0.6
    png = client.get(chips[0]["url"], headers=auth)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    (tmp_path / "chip.png").write_bytes(png.content)
    assert Image.open(tmp_path / "chip.png").size[0] > 100
    uid = client.get("/api/v1/patches/TB-01", headers=auth).json()["id"]
    by_uid = client.get(f"/api/v1/patches/{uid}/uav", headers=auth).json()["chips"]
    assert [c["patch_id"] for c in by_uid] == ["TB-01"]


def test_no_uav_chip_is_an_empty_list_or_a_json_404(
    client: TestClient, home: ServiceHome, tmp_path: Path
) -> None:
    auth = bearer(home.tokens["ecologist"])
    assert client.get("/api/v1/patches/TB-05/uav", headers=auth).json()["chips"] == []
    _chips(home, tmp_path)
    assert client.get("/api/v1/patches/TB-05/uav", headers=auth).json()["chips"] == []
    for url in (
        f"/api/v1/uav/{ITEM}/chips/TB-05.png",
        "/api/v1/uav/..%2F..%2Fservice/chips/tokens.png",
        "/api/v1/patches/TB-404/uav",
    ):
        got = client.get(url, headers=auth)
        assert got.status_code == 404 and got.json()["error"], url
    assert client.get(f"/api/v1/uav/{ITEM}/chips/TB-01.png").status_code == 401
    field = bearer(home.tokens["field"])
    assert client.get("/api/v1/patches/TB-01/uav", headers=field).status_code == 403
