"""UAV evidence of a patch: the chips `tiandi ingest uav` cut, listed and served per patch."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image

from tests.fixtures.service import ServiceHome, bearer
from tests.fixtures.store import UTM, X0, Y0, detections, square
from tests.fixtures.uav import UAV_ITEM, write_orthophoto, write_uav_chips
from tiandi.eo.chips import write_chips

ITEM = UAV_ITEM


def _chips(home: ServiceHome, tmp_path: Path) -> None:
    """Chips over the first two test patches (TB-00, TB-01), not over TB-09."""
    ortho = write_orthophoto(tmp_path / "ortho.tif", X0 - 100.0, Y0 + 100.0, 2200.0, 1200.0, UTM)
    patches = detections([("TB-00", square(0)), ("TB-01", square(1)), ("TB-09", square(9))])
    written = write_uav_chips(home.settings.uav_path, ortho, patches)
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
    assert chips[0]["coverage"] > 0.9 and 1.5 < chips[0]["gsd_m"] < 2.5
    png = client.get(chips[0]["url"], headers=auth)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    (tmp_path / "chip.png").write_bytes(png.content)
    assert Image.open(tmp_path / "chip.png").size[0] >= 60  # 140 m at 2 m
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


def test_gf_chips_are_listed_beside_uav_chips(
    client: TestClient, home: ServiceHome, tmp_path: Path
) -> None:
    """`tiandi ingest gf --patches` leaves its chips under <home>/gf: listed the same way."""
    _chips(home, tmp_path)
    image = write_orthophoto(tmp_path / "gf.tif", X0 - 100.0, Y0 + 100.0, 2200.0, 1200.0, UTM)
    gf_item = "GF2_PMS1_E113.5_N23.0_20240820_L1A0002901234"
    patches = detections([("TB-01", square(1))])
    write_chips(image, patches, home.settings.gf_path / gf_item / "chips", item_id=gf_item)
    auth = bearer(home.tokens["ecologist"])
    chips = client.get("/api/v1/patches/TB-01/uav", headers=auth).json()["chips"]
    assert [(c["source"], c["item_id"]) for c in chips] == [("uav", ITEM), ("gf", gf_item)]
    png = client.get(chips[1]["url"], headers=auth)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
