"""Ecologists' review decisions through the lifecycle: attributed to the token's holder in
the audit log, and refused (409, nothing written) when made on a stale version."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.service import ServiceHome, bearer
from tiandi.service.auth import TokenStore


@pytest.fixture
def review(client: TestClient, home: ServiceHome) -> Any:
    token = bearer(home.tokens["ecologist"])

    def call(key: str, status: int = 200, **body: Any) -> Any:
        response = client.post(f"/api/v1/patches/{key}/review", json=body, headers=token)
        assert response.status_code == status, response.text
        return response.json()

    return call


def _version(client: TestClient, home: ServiceHome, key: str) -> int:
    feature = client.get(f"/api/v1/patches/{key}", headers=bearer(home.tokens["ecologist"]))
    return int(feature.json()["properties"]["version"])


def test_accept_moves_the_patch_and_names_the_holder_in_the_audit_log(
    client: TestClient, home: ServiceHome, review: Any
) -> None:
    version = _version(client, home, "TB-05")
    done = review("TB-05", decision="accept", version=version, hj1156_class="mining")
    assert done["transition"]["to"] == "reviewed_accepted"
    assert done["transition"]["actor"] == "ecologist holder"
    patch = done["patch"]["properties"]
    assert patch["state"] == "reviewed_accepted" and patch["reviewed_class"] == "mining"
    assert patch["version"] == version + 1
    uid = done["patch"]["id"]
    records = client.get(
        "/api/v1/audit/records", params={"subject": uid}, headers=bearer(home.tokens["platform"])
    ).json()["records"]
    last = records[-1]
    assert (last["actor"], last["role"], last["action"]) == (
        "ecologist holder",
        "ecologist",
        "transition",
    )
    assert last["payload"]["to"] == "reviewed_accepted"
    assert home.store.verify_audit().ok
    history = client.get(f"/api/v1/patches/{uid}", headers=bearer(home.tokens["platform"]))
    assert history.json()["history"][-1]["actor"] == "ecologist holder"


def test_reject_needs_a_reason_and_records_it(
    client: TestClient, home: ServiceHome, review: Any
) -> None:
    version = _version(client, home, "TB-06")
    missing = review("TB-06", status=422, decision="reject", version=version)
    assert "reason" in missing["message"]
    done = review("TB-06", decision="reject", version=version, reason="<script>x</script> crops")
    assert done["patch"]["properties"]["state"] == "rejected"
    assert home.store.history("TB-06")[-1].reason == "<script>x</script> crops"


def test_reclassify_accepts_with_another_class_and_says_so(
    client: TestClient, home: ServiceHome, review: Any
) -> None:
    version = _version(client, home, "TB-07")
    same = review(
        "TB-07", status=422, decision="reclassify", version=version, hj1156_class="mining"
    )
    assert "detected class" in same["message"]
    done = review("TB-07", decision="reclassify", version=version, hj1156_class="energy")
    assert done["patch"]["properties"]["reviewed_class"] == "energy"
    assert "reclassified from mining to energy" in (home.store.history("TB-07")[-1].reason or "")


def test_a_stale_decision_gets_409_with_the_current_state_and_is_not_applied(
    client: TestClient, home: ServiceHome, review: Any
) -> None:
    version = _version(client, home, "TB-08")
    review("TB-08", decision="accept", version=version, hj1156_class="mining")
    head = home.store.audit_head()
    history = home.store.history("TB-08")
    stale = review("TB-08", status=409, decision="reject", version=version, reason="too late")
    assert stale["error"] == "stale_version" and stale["version"] == version + 1
    assert str(version) in stale["message"] and "nothing was written" in stale["message"]
    assert stale["current"]["properties"]["state"] == "reviewed_accepted"
    assert home.store.audit_head() == head and home.store.history("TB-08") == history


def test_a_decision_the_lifecycle_forbids_is_409_and_writes_nothing(
    client: TestClient, home: ServiceHome, review: Any
) -> None:
    head = home.store.audit_head()
    version = _version(client, home, "TB-x")  # rejected by screening
    refused = review("TB-x", status=409, decision="accept", version=version, hj1156_class="energy")
    assert refused["error"] == "transition_not_allowed" and "rejected" in refused["message"]
    assert home.store.audit_head() == head


@pytest.mark.parametrize(
    "body",
    [
        {"decision": "approve", "version": 1, "hj1156_class": "mining"},
        {"decision": "accept", "version": -1, "hj1156_class": "mining"},
        {"decision": "accept", "version": 1, "hj1156_class": "volcano"},
        {"decision": "accept", "hj1156_class": "mining"},
        {"decision": "accept", "version": 1, "hj1156_class": "mining", "actor": "someone else"},
    ],
)
def test_malformed_decisions_are_422(review: Any, home: ServiceHome, body: dict[str, Any]) -> None:
    head = home.store.audit_head()
    answer = review("TB-09", status=422, **body)
    assert answer["error"] == "invalid_request" and answer["message"]
    assert home.store.audit_head() == head


def test_an_unknown_patch_is_404(review: Any) -> None:
    missing = review("PU-000000000000", status=404, decision="accept", version=1)
    assert missing["error"] == "not_found" and "PU-000000000000" in missing["message"]


def test_undo_takes_back_the_callers_own_decision_with_a_compensating_transition(
    client: TestClient, home: ServiceHome, review: Any
) -> None:
    version = _version(client, home, "TB-10")
    accepted = review("TB-10", decision="accept", version=version, hj1156_class="energy")
    undone = review("TB-10", decision="undo", version=version + 1)
    assert undone["transition"]["transition"] == "undo_review"
    assert undone["transition"]["reason"].startswith("undo of accept")
    patch = undone["patch"]["properties"]
    assert patch["state"] == "screened" and patch["reviewed_class"] is None
    assert patch["version"] == version + 2
    names = [r.name for r in home.store.history(accepted["patch"]["id"])]
    assert names[-2:] == ["accept", "undo_review"]
    last = home.store.audit_records(subject=accepted["patch"]["id"])[-1]
    assert last.actor == "ecologist holder" and last.payload["transition"] == "undo_review"
    assert home.store.verify_audit().ok


def test_undo_is_refused_when_stale_not_a_decision_or_someone_elses(
    client: TestClient, home: ServiceHome, review: Any
) -> None:
    version = _version(client, home, "TB-11")
    nothing = review("TB-11", status=409, decision="undo", version=version)
    assert nothing["error"] == "transition_not_allowed" and "nothing to undo" in nothing["message"]
    review("TB-11", decision="reject", version=version, reason="cloud shadow")
    stale = review("TB-11", status=409, decision="undo", version=version)
    assert stale["error"] == "stale_version" and stale["current"]["properties"]["version"] == (
        version + 1
    )
    head = home.store.audit_head()
    _, colleague = TokenStore(home.settings.tokens_path).create("ecologist", holder="colleague")
    refused = client.post(
        "/api/v1/patches/TB-11/review",
        json={"decision": "undo", "version": version + 1},
        headers=bearer(colleague),
    )
    assert refused.status_code == 403 and "ecologist holder" in refused.json()["message"]
    assert home.store.audit_head() == head
