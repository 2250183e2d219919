"""Merge and split over HTTP: the thin routes over the store (its behaviour is tested on
both backends in tests/redline/store/test_reshape.py): 201 with the new patches, 409 on
a stale version, 422 on bad geometry or zones, 404 unknown, 403 for other roles; every
refusal writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.service import ServiceHome, bearer


@pytest.fixture
def post(client: TestClient, home: ServiceHome) -> Any:
    token = bearer(home.tokens["ecologist"])

    def call(path: str, status: int, body: dict[str, Any]) -> Any:
        response = client.post(f"/api/v1/patches/{path}", json=body, headers=token)
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/json")
        return response.json()

    return call


def _line(home: ServiceHome, key: str) -> dict[str, Any]:
    minx, miny, maxx, maxy = home.store.get(key).geometry.bounds
    mid = (minx + maxx) / 2
    return {"type": "LineString", "coordinates": [[mid, miny - 0.001], [mid, maxy + 0.001]]}


def _untouched(home: ServiceHome, check: Any) -> Any:
    head = home.store.audit_head()
    check()
    assert home.store.audit_head() == head


def test_merge_over_http_is_attributed_to_the_holder(
    client: TestClient, home: ServiceHome, post: Any
) -> None:
    body = {"patches": [{"id": "TB-00", "version": 2}, {"id": "TB-01", "version": 2}]}
    done = post("merge", 201, {**body, "hj1156_class": "industry", "reason": "one site"})
    assert [o["state"] for o in done["merge"]] == ["superseded", "superseded"]
    (feature,) = done["patches"]["features"]
    props = feature["properties"]
    assert props["state"] == "screened" and props["version"] == 1
    assert props["hj1156_class"] == "industry" and props["area_ha"] == pytest.approx(2, rel=0.01)
    got = client.get(f"/api/v1/patches/{feature['id']}", headers=bearer(home.tokens["platform"]))
    (origin,) = got.json()["history"]
    assert (
        origin["actor"] == "ecologist holder" and done["merge"][0]["patch_uid"] in origin["reason"]
    )
    assert home.store.verify_audit().ok


def test_a_refused_merge_writes_nothing(home: ServiceHome, post: Any) -> None:
    stale = {"patches": [{"id": "TB-00", "version": 2}, {"id": "TB-01", "version": 1}]}

    def refuse() -> None:
        body = post("merge", 409, {**stale, "reason": "r"})
        assert body["error"] == "stale_version" and body["version"] == 2
        zones = {"patches": [{"id": "TB-00", "version": 2}, {"id": "TB-z0", "version": 2}]}
        assert "one zone" in post("merge", 422, {**zones, "reason": "r"})["message"]
        assert post("merge", 422, {**stale, "reason": ""})["error"] == "invalid_request"
        one = {"patches": [{"id": "TB-00", "version": 2}], "reason": "r"}
        assert "patches" in post("merge", 422, one)["message"]
        missing = {"patches": [{"id": "TB-00", "version": 2}, {"id": "TB-no", "version": 2}]}
        assert "TB-no" in post("merge", 404, {**missing, "reason": "r"})["message"]

    _untouched(home, refuse)


def test_split_by_a_line_over_http(client: TestClient, home: ServiceHome, post: Any) -> None:
    done = post("TB-02/split", 201, {"version": 2, "line": _line(home, "TB-02")})
    features = done["patches"]["features"]
    assert len(features) == 2 and done["split"][0]["state"] == "superseded"
    assert sum(f["properties"]["area_ha"] for f in features) == pytest.approx(1, rel=0.01)
    assert all(f["geometry"]["type"] == "MultiPolygon" for f in features)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"version": 2}, 422, "either 'line'"),
        ({"version": 1, "line": "LINE"}, 409, "version 2, not 1"),
        ({"version": 2, "line": {"type": "Polygon", "coordinates": []}}, 422, "LineString"),
        ({"version": 2, "line": {"type": "LineString", "coordinates": [[0, 0]]}}, 422, "line"),
        (
            {"version": 2, "line": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}},
            422,
            "does not cut",
        ),
        (
            {"version": 2, "line": {"type": "LineString", "coordinates": [[0, 0], [999, 1]]}},
            422,
            "longitude",
        ),
        ({"version": 2, "parts": [{"type": "Polygon", "coordinates": [[[0, 0]]]}]}, 422, "parts"),
    ],
)
def test_bad_splits_are_refused_and_write_nothing(
    home: ServiceHome, post: Any, body: dict[str, Any], status: int, words: str
) -> None:
    if body.get("line") == "LINE":
        body = {**body, "line": _line(home, "TB-02")}
    _untouched(home, lambda: post("TB-02/split", status, body))
    assert words in post("TB-02/split", status, body)["message"]
    assert home.store.get("TB-02").status.state.value == "screened"


def test_other_roles_may_not_merge_or_split(client: TestClient, home: ServiceHome) -> None:
    merge = {"patches": [{"id": "TB-00", "version": 2}, {"id": "TB-01", "version": 2}]}
    for role in ("platform", "operator", "field"):
        headers = bearer(home.tokens[role])
        refused = client.post(
            "/api/v1/patches/merge", json={**merge, "reason": "r"}, headers=headers
        )
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
        split = client.post(
            "/api/v1/patches/TB-02/split",
            json={"version": 2, "line": _line(home, "TB-02")},
            headers=headers,
        )
        assert split.status_code == 403
    assert home.store.get("TB-00").status.state.value == "screened"


def test_a_body_that_is_not_json_is_a_json_error(client: TestClient, home: ServiceHome) -> None:
    headers = {**bearer(home.tokens["ecologist"]), "Content-Type": "application/json"}
    for content in (b"Y\x0c\xff", b"{not json"):
        response = client.post("/api/v1/patches/merge", content=content, headers=headers)
        assert response.status_code in (400, 422), response.text
        assert response.json()["error"] in ("invalid_body", "invalid_request")
