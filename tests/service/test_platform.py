"""The platform's read endpoints on a real patch store: filters, paging, bbox, statistics,
runs, zones, the audit head and its verification."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.service import ServiceHome, bearer, make_home


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> ServiceHome:
    """One filled home for the module: every test here only reads."""
    return make_home(tmp_path_factory.mktemp("platform"))


@pytest.fixture
def get(client: TestClient, home: ServiceHome) -> Any:
    token = bearer(home.tokens["platform"])

    def call(path: str, status: int = 200, **params: Any) -> Any:
        response = client.get(path, params=params, headers=token)
        assert response.status_code == status, response.text
        return response.json()

    return call


def _ids(collection: dict[str, Any]) -> list[str]:
    return [f["properties"]["patch_id"] for f in collection["features"]]


def test_patches_are_a_feature_collection_in_patch_uid_order(get: Any) -> None:
    page = get("/api/v1/patches")
    assert page["type"] == "FeatureCollection" and page["numberReturned"] == 16
    uids = [f["id"] for f in page["features"]]
    assert uids == sorted(uids) and page["next"] is None
    first = page["features"][0]
    assert first["geometry"]["type"] == "MultiPolygon"
    lon, lat = first["geometry"]["coordinates"][0][0][0]
    assert 115 < lon < 118 and 39 < lat < 42
    assert first["properties"]["version"] >= 2  # one detection + at least one transition


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"zone": "ZN-2"}, ["TB-z0", "TB-z1", "TB-z2"]),
        ({"run": "run-2"}, ["TB-z0", "TB-z1", "TB-z2"]),
        ({"class": "energy"}, ["TB-03", "TB-04"]),
        ({"state": "rejected"}, ["TB-x"]),
        ({"change_type": "enlarged"}, []),
        ({"zone": "ZN-1", "class": "energy", "state": "screened"}, ["TB-03", "TB-04"]),
    ],
)
def test_filters(get: Any, params: dict[str, str], expected: list[str]) -> None:
    assert sorted(_ids(get("/api/v1/patches", **params))) == expected


def test_paging_follows_next_links_to_the_end_and_past_it(
    client: TestClient, home: ServiceHome, get: Any
) -> None:
    seen: list[str] = []
    page = get("/api/v1/patches", limit=5)
    while True:
        seen += [f["id"] for f in page["features"]]
        if page["next"] is None:
            break
        assert "after=" in page["next"] and "limit=5" in page["next"]
        response = client.get(page["next"], headers=bearer(home.tokens["platform"]))
        page = response.json()
    all_uids = [f["id"] for f in get("/api/v1/patches")["features"]]
    assert seen == all_uids and len(seen) == 16
    past = get("/api/v1/patches", after=all_uids[-1])
    assert past["features"] == [] and past["next"] is None
    assert get("/api/v1/patches", after="PU-zzzzzzzz")["features"] == []


def test_bbox_keeps_patches_whose_envelope_meets_the_box(get: Any, home: ServiceHome) -> None:
    minx, miny, maxx, maxy = home.store.get("TB-00").geometry.bounds
    found = _ids(get("/api/v1/patches", bbox=f"{minx},{miny},{maxx},{maxy}"))
    assert found == ["TB-00"]
    assert _ids(get("/api/v1/patches", bbox="0,0,1,1")) == []


@pytest.mark.parametrize(
    ("bbox", "words"),
    [
        ("1,2,3", "four numbers"),
        ("1,2,3,4,5", "four numbers"),
        ("a,b,c,d", "four numbers"),
        ("", "four numbers"),
        ("3,0,1,1", "min > max"),
        ("0,0,nan,1", "non-finite"),
    ],
)
def test_a_bad_bbox_is_422_saying_what_is_wrong(get: Any, bbox: str, words: str) -> None:
    body = get("/api/v1/patches", status=422, bbox=bbox)
    assert body["error"] == "invalid_input" and "bbox" in body["message"]
    assert words in body["message"]


@pytest.mark.parametrize(
    "value",
    ["' OR '1'='1", "ZN-1'; DROP TABLE patches; --", '" OR 1=1 --', "%", "_", "?", "\\"],
)
def test_sql_metacharacters_in_filters_are_plain_values(
    get: Any, home: ServiceHome, value: str
) -> None:
    for name in ("zone", "run", "class", "change_type", "after"):
        assert get("/api/v1/patches", **{name: value})["features"] == [] or name == "after"
    assert get("/api/v1/patches", status=422, state=value)["error"] == "invalid_input"
    assert get("/api/v1/audit/records", subject=value)["records"] == []
    assert len(home.store.list_patches()) == 16 and home.store.verify_audit().ok


def test_bad_limits_are_422(get: Any) -> None:
    for limit in (0, -1, 100000, "x"):
        assert get("/api/v1/patches", status=422, limit=limit)["error"] == "invalid_request"


def test_zones_and_zone_statistics(get: Any) -> None:
    zones = get("/api/v1/zones")["zones"]
    assert [(z["zone_id"], z["patches"]) for z in zones] == [("ZN-1", 13), ("ZN-2", 3)]
    stats = get("/api/v1/zones/ZN-1/stats")
    assert stats["total"]["count"] == 13
    assert stats["by_class"]["energy"]["count"] == 2 and stats["by_class"]["mining"]["count"] == 11
    assert stats["by_state"] == {
        "rejected": pytest.approx(stats["by_state"]["rejected"]),
        "screened": pytest.approx(stats["by_state"]["screened"]),
    }
    assert stats["by_state"]["screened"]["count"] == 12
    one_ha = 100.0 * 100.0 / 1e4
    assert stats["total"]["area_ha"] == pytest.approx(13 * one_ha)
    assert stats["total"]["area_mu"] == round(13 * 1e4 / 666.67, 2)  # 亩 to 2 decimals
    missing = get("/api/v1/zones/ZN-404/stats", status=404)
    assert missing["error"] == "not_found" and "ZN-404" in missing["message"]


def test_runs_and_unknown_patches(get: Any) -> None:
    runs = get("/api/v1/runs")["runs"]
    assert [r["run_id"] for r in runs] == ["run-1", "run-2"]
    assert runs[0]["summary"]["new"] == 13 and runs[0]["at"].endswith("Z")
    missing = get("/api/v1/patches/TB-nope", status=404)
    assert "TB-nope" in missing["message"]


def test_audit_head_and_verify(get: Any, home: ServiceHome) -> None:
    head = get("/api/v1/audit/head")
    assert (head["seq"], head["hash"]) == home.store.audit_head() and head["seq"] > 0
    report = get("/api/v1/audit/verify", expected_head=head["hash"])
    assert report["ok"] is True and report["breaks"] == [] and report["records"] == head["seq"]
    wrong = get("/api/v1/audit/verify", expected_head="0" * 64)
    assert wrong["ok"] is False and wrong["breaks"] and "BROKEN" in wrong["summary"]


def test_openapi_is_published(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/v1/patches" in spec["paths"] and "/api/v1/patches/{key}/review" in spec["paths"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
