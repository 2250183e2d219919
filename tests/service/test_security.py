"""Bad input and security on both store backends (GeoPackage and PostGIS) through the
real app: SQL metacharacters in every filter, malformed bbox and limits, paging past the
end, bad tokens and wrong roles. Each answer has the right status and a JSON error that
names what is wrong, and nothing is written."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.service import ServiceHome, bearer, make_home
from tiandi.service.app import create_app

ALL = 16
INJECTIONS = (
    "x' OR 1=1 --",
    "x' OR '1'='1",
    "ZN-1'; DROP TABLE patches; --",
    '" OR ""="',
    "ZN-1' UNION SELECT patch_uid FROM patches --",
    "%",
    "_",
    "*",
    "?",
    "$1",
    "%s",
    "\\",
    "ZN-1\x00",
)
FILTERS = ("zone", "run", "class", "change_type")


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServiceHome, TestClient]]:
    """A filled home on each backend and a client over the real app (module scope:
    nothing here may change the store, which the tests check)."""
    folder = tmp_path_factory.mktemp(f"security-{request.param}")
    if request.param == "gpkg":
        home = make_home(folder)
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        home = make_home(folder, dsn=dsn, schema=f"s_{uuid.uuid4().hex[:12]}")
    with TestClient(create_app(home.settings)) as client:
        yield home, client


@pytest.fixture
def get(served: tuple[ServiceHome, TestClient]) -> Any:
    home, client = served
    token = bearer(home.tokens["platform"])

    def call(path: str, status: int | None = 200, **params: Any) -> Any:
        """GET ``path``: ``status`` expected, or (None) 200 or a 422 JSON error."""
        response = client.get(path, params=params, headers=token)
        if status is None:
            assert response.status_code in (200, 404, 422), response.text
            assert response.status_code == 200 or "error" in response.json()
        else:
            assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/json")
        return response.json()

    return call


def _untouched(home: ServiceHome, head: tuple[int, str]) -> None:
    assert len(home.store.list_patches()) == ALL
    assert home.store.audit_head() == head and home.store.verify_audit().ok


@pytest.mark.parametrize("value", INJECTIONS)
def test_sql_metacharacters_in_every_filter_match_nothing(
    served: tuple[ServiceHome, TestClient], get: Any, value: str
) -> None:
    home, _ = served
    head = home.store.audit_head()
    for name in FILTERS:
        page = get("/api/v1/patches", status=None, **{name: value})
        assert page.get("features", []) == [] and page.get("numberReturned", 0) == 0
    # a cursor is compared, not matched: it may only narrow the patch_uid-ordered list
    after = get("/api/v1/patches", status=None, after=value).get("numberReturned", 0)
    assert 0 <= after <= ALL
    state = get("/api/v1/patches", status=422, state=value)
    assert state["error"] == "invalid_input" and "state" in state["message"]
    assert get("/api/v1/audit/records", status=None, subject=value).get("records", []) == []
    missing = get(f"/api/v1/zones/{quote(value, safe='')}/stats", status=None)
    assert missing["error"] in ("not_found", "invalid_input")
    _untouched(home, head)


@pytest.mark.parametrize(
    "bbox", ["1,2,3", "1,2,3,4,5", "a,b,c,d", "", "1;2;3;4", "1 2 3 4", "0,0,inf,1", "0,0,1,1'"]
)
def test_a_bbox_that_is_not_four_numbers_is_422_naming_bbox(get: Any, bbox: str) -> None:
    body = get("/api/v1/patches", status=422, bbox=bbox)
    assert body["error"] == "invalid_input" and "bbox" in body["message"]


@pytest.mark.parametrize("limit", ["0", "-1", "1001", "100000", "x", "1.5", "1e3"])
def test_a_limit_out_of_range_is_422_naming_limit(get: Any, limit: str) -> None:
    body = get("/api/v1/patches", status=422, limit=limit)
    assert body["error"] == "invalid_request" and "limit" in body["message"]


def test_paging_past_the_end_is_an_empty_page_without_next(get: Any) -> None:
    uids = [f["id"] for f in get("/api/v1/patches", limit=1000)["features"]]
    assert len(uids) == ALL
    last = get("/api/v1/patches", after=uids[-1], limit=5)
    assert last["features"] == [] and last["next"] is None
    assert [link["rel"] for link in last["links"]] == ["self"]
    exact = get("/api/v1/patches", limit=ALL)
    assert exact["numberReturned"] == ALL and exact["next"] is None


@pytest.mark.parametrize(
    ("token", "status", "code"),
    [
        (None, 401, "missing_token"),
        ("expired", 401, "token_expired"),
        ("revoked", 401, "token_revoked"),
        ("field", 403, "forbidden"),
    ],
)
def test_bad_tokens_and_wrong_roles_are_refused_and_write_nothing(
    served: tuple[ServiceHome, TestClient], token: str | None, status: int, code: str
) -> None:
    home, client = served
    head = home.store.audit_head()
    headers = {} if token is None else bearer(home.tokens[token])
    for method, path, body in (
        ("GET", "/api/v1/patches?zone=ZN-1", None),
        ("GET", "/api/v1/zones", None),
        (
            "POST",
            "/api/v1/patches/TB-05/review",
            {"decision": "accept", "version": 2, "hj1156_class": "mining"},
        ),
    ):
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == status, (path, response.text)
        assert response.json()["error"] == code
    platform = client.post(
        "/api/v1/patches/TB-05/review",
        json={"decision": "accept", "version": 2, "hj1156_class": "mining"},
        headers=bearer(home.tokens["platform"]),
    )
    assert platform.status_code == 403 and "platform" in platform.json()["message"]
    _untouched(home, head)


def test_zone_areas_are_rounded_like_patch_areas(get: Any) -> None:
    for zone in get("/api/v1/zones")["zones"]:
        assert zone["area_ha"] == round(zone["area_ha"], 4)
    stats = get("/api/v1/zones/ZN-1/stats")
    sums = [stats["total"], *stats["by_class"].values(), *stats["by_state"].values()]
    sums += stats["by_class_state"]
    for row in sums:
        assert row["area_ha"] == round(row["area_ha"], 4)
        assert row["area_mu"] == round(row["area_mu"], 2)
    assert stats["total"]["area_mu"] == 195.0  # 13 × 1 ha / 666.67 m² = 194.999 亩


@pytest.mark.parametrize(
    "period",
    [
        *INJECTIONS,
        "2025-07-01' OR '1'='1/2025-12-31",
        "2025-07-01/2025-12-31' --",
        "2025-07-01",
        "2025-07-01/",
        "2025-12-31/2025-07-01",
        "2025-07-01/2025-12-31/2026-01-01",
        "",
    ],
)
def test_a_period_that_is_not_start_slash_end_is_422_naming_period(
    served: tuple[ServiceHome, TestClient], get: Any, period: str
) -> None:
    home, _ = served
    head = home.store.audit_head()
    body = get("/api/v1/patches", status=422, period=period)
    assert body["error"] == "invalid_input" and "period" in body["message"]
    _untouched(home, head)


def test_a_period_keeps_patches_whose_latest_run_after_period_overlaps_it(get: Any) -> None:
    # both runs of the home have the after period 2025-07-01/2025-12-31 (ends inclusive)
    for period in ("2025-07-01/2025-12-31", "2025-12-31/2026-03-01", "2025-01-01/2025-07-01"):
        assert get("/api/v1/patches", period=period)["numberReturned"] == ALL
    for period in ("2024-01-01/2025-06-30", "2026-01-01/2026-12-31"):
        page = get("/api/v1/patches", period=period)
        assert page["features"] == [] and page["next"] is None
