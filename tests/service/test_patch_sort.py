"""``GET /api/v1/patches?sort=confidence_level``: most confident first (highest, high,
nominal, then patches without a level), patch_uid within a level, paged by the cursor."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.service import ServiceHome, bearer, make_home
from tests.fixtures.store import detections, run_info, square
from tiandi.redline.store.gpkg import PatchStore
from tiandi.redline.store.recording import record_detections

LEVELS = {"P0": "nominal", "P1": "highest", "P2": None, "P3": "high", "P4": "highest"}


def _fill(store: PatchStore) -> None:
    graded = detections([(pid, square(i)) for i, pid in enumerate(LEVELS)])
    graded["confidence_level"] = list(LEVELS.values())
    graded["evidence"] = ["bare_soil", "network,water_gain", None, "network", "network,bare_soil"]
    record_detections(store, graded, None, run_info(1))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> ServiceHome:
    return make_home(tmp_path_factory.mktemp("sort"), _fill)


def _pages(client: TestClient, home: ServiceHome, **params: Any) -> list[list[str]]:
    token = bearer(home.tokens["platform"])
    pages: list[list[str]] = []
    url: str | None = "/api/v1/patches"
    query: dict[str, Any] | None = dict(params)
    while url:
        answer = client.get(url, params=query, headers=token)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages.append([f["properties"]["patch_id"] for f in body["features"]])
        url, query = body["next"], None  # the next link carries the query
    return pages


def test_patches_sort_by_confidence_level_across_pages(
    client: TestClient, home: ServiceHome
) -> None:
    by_uid = {
        f["properties"]["patch_id"]: f["id"]
        for f in client.get("/api/v1/patches", headers=bearer(home.tokens["platform"])).json()[
            "features"
        ]
    }
    pages = _pages(client, home, sort="confidence_level", limit=2)
    flat = [pid for page in pages for pid in page]
    assert len(pages) == 3 and all(len(p) <= 2 for p in pages)
    highest = sorted(["P1", "P4"], key=lambda p: by_uid[p])
    assert flat == [*highest, "P3", "P0", "P2"]  # none last
    default = [pid for page in _pages(client, home) for pid in page]
    assert default == sorted(LEVELS, key=lambda p: by_uid[p])  # patch_uid order unchanged


def test_levels_and_evidence_are_feature_properties(client: TestClient, home: ServiceHome) -> None:
    body = client.get(
        "/api/v1/patches",
        params={"sort": "confidence_level", "limit": 1},
        headers=bearer(home.tokens["platform"]),
    ).json()
    props = body["features"][0]["properties"]
    assert props["confidence_level"] == "highest" and "network" in props["evidence"]


def test_an_unknown_sort_is_a_400_naming_the_parameter(
    client: TestClient, home: ServiceHome
) -> None:
    answer = client.get(
        "/api/v1/patches", params={"sort": "area"}, headers=bearer(home.tokens["platform"])
    )
    assert answer.status_code in (400, 422) and "sort" in answer.text
