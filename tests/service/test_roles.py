"""The role matrix: each role can do exactly what it should, and bad tokens are refused
with 401/403 and a JSON error that says what is wrong."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.service import STATION, ServiceHome, bearer

READ = ("GET", "/api/v1/patches", None)
#: (method, path, body) of every endpoint, and the roles allowed to use it.
ENDPOINTS: list[tuple[tuple[str, str, Any], set[str]]] = [
    (("GET", "/api/v1/zones", None), {"platform", "ecologist", "operator"}),
    (("GET", "/api/v1/zones/ZN-1/stats", None), {"platform", "ecologist", "operator"}),
    (("GET", "/api/v1/runs", None), {"platform", "ecologist", "operator"}),
    (READ, {"platform", "ecologist", "operator"}),
    (("GET", "/api/v1/patches/TB-00", None), {"platform", "ecologist", "operator"}),
    (("GET", "/api/v1/audit/head", None), {"platform", "ecologist", "operator"}),
    (("GET", "/api/v1/audit/verify", None), {"platform", "ecologist", "operator"}),
    (("GET", "/api/v1/audit/records?subject=run-1", None), {"platform", "ecologist", "operator"}),
    (
        ("POST", "/api/v1/patches/TB-05/review", {"decision": "accept", "version": 0}),
        {"ecologist"},
    ),
    (("POST", "/api/v1/patches/merge", {"patches": []}), {"ecologist"}),
    (("POST", "/api/v1/patches/TB-05/split", {"version": 0}), {"ecologist"}),
    (("GET", f"/api/v1/stations/{STATION}/tasks", None), {"field", "operator"}),
    (("GET", "/api/v1/me", None), {"platform", "ecologist", "operator", "field"}),
    (("GET", "/api/v1/changes?since_run=run-1", None), {"platform", "ecologist", "operator"}),
    # an empty body: allowed means past auth (422), and no Prefect is needed for that
    (("POST", "/api/v1/runs", {}), {"operator"}),
]
ROLES = ("platform", "ecologist", "operator", "field")


def _call(client: TestClient, request: tuple[str, str, Any], headers: dict[str, str]) -> Any:
    method, path, body = request
    return client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_exactly_its_endpoints(
    client: TestClient, home: ServiceHome, role: str
) -> None:
    for request, allowed in ENDPOINTS:
        response = _call(client, request, bearer(home.tokens[role]))
        if role in allowed:
            # the review body is deliberately incomplete: allowed means past auth (422)
            assert response.status_code in (200, 422), (request, response.text)
        else:
            assert response.status_code == 403, (role, request, response.text)
            body = response.json()
            assert body["error"] == "forbidden" and role in body["message"]


def test_a_field_token_is_refused_for_another_station(
    client: TestClient, home: ServiceHome
) -> None:
    token = bearer(home.tokens["field"])
    assert client.get(f"/api/v1/stations/{STATION}/tasks", headers=token).status_code == 200
    other = client.get("/api/v1/stations/ST-99/tasks", headers=token)
    assert other.status_code == 403
    assert STATION in other.json()["message"] and "ST-99" in other.json()["message"]
    assert client.get("/api/v1/stations/ST-99/tasks", headers=bearer(home.tokens["operator"]))


@pytest.mark.parametrize(
    ("headers", "code", "words"),
    [
        ({}, "missing_token", "Authorization: Bearer"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "missing_token", "Authorization: Bearer"),
        (bearer("not-a-token"), "unauthorized", "not a tiandi token"),
        (bearer("tdi_00000000_" + "x" * 43), "unauthorized", "unknown"),
    ],
)
def test_no_token_or_an_unknown_one_gets_401(
    client: TestClient, headers: dict[str, str], code: str, words: str
) -> None:
    response = client.get("/api/v1/patches", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == code and words in response.json()["message"]


@pytest.mark.parametrize(
    ("name", "code"), [("expired", "token_expired"), ("revoked", "token_revoked")]
)
def test_expired_and_revoked_tokens_get_401_saying_so(
    client: TestClient, home: ServiceHome, name: str, code: str
) -> None:
    response = client.get("/api/v1/zones", headers=bearer(home.tokens[name]))
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == code and name in body["message"]


def test_a_refused_review_writes_nothing(client: TestClient, home: ServiceHome) -> None:
    head = home.store.audit_head()
    for name in ("platform", "operator", "field", "expired", "revoked"):
        response = client.post(
            "/api/v1/patches/TB-05/review",
            json={"decision": "accept", "version": 2, "hj1156_class": "mining"},
            headers=bearer(home.tokens[name]),
        )
        assert response.status_code in (401, 403)
    assert home.store.audit_head() == head
    assert home.store.get("TB-05").status.state.value == "screened"


def test_me_names_the_holder_role_and_station(client: TestClient, home: ServiceHome) -> None:
    me = client.get("/api/v1/me", headers=bearer(home.tokens["field"])).json()
    assert (me["holder"], me["role"], me["station_id"]) == ("crew 1", "field", STATION)


def test_a_station_sees_the_patches_dispatched_to_it(client: TestClient, home: ServiceHome) -> None:
    for key, station in (("TB-10", STATION), ("TB-11", "ST-02")):
        home.store.transition(
            key, "reviewed_accepted", actor="e", role="ecologist", hj1156_class="mining"
        )
        home.store.transition(
            key,
            "dispatched",
            actor="d",
            role="dispatcher",
            reason=f"field package PK-1 to station {station}, task T-{key}",
        )
    mine = client.get(f"/api/v1/stations/{STATION}/tasks", headers=bearer(home.tokens["field"]))
    tasks = mine.json()["tasks"]
    assert [t["patch_uid"] for t in tasks] == [home.store.get("TB-10").patch_uid]
    assert tasks[0]["state"] == "dispatched"
