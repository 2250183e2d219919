"""The crew's answers on the ground in the platform API: the patch's properties carry the
raw values, ``GET /patches/{key}`` adds them labelled in Chinese and English, and both
answers conform to the OpenAPI description, which lists the allowed values."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient

from tests.fixtures.service import (
    BURNED,
    SEVERITY,
    ServiceHome,
    bearer,
    fill_with_answers,
    make_home,
)
from tiandi.redline.field.schema import BURN_SEVERITY_LABELS
from tiandi.service.app import create_app


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> ServiceHome:
    return make_home(tmp_path_factory.mktemp("answers"), fill_with_answers)


@pytest.fixture(scope="module")
def api(home: ServiceHome) -> Any:
    token = bearer(home.tokens["platform"])
    with TestClient(create_app(home.settings)) as client:

        def call(path: str, **params: Any) -> Any:
            response = client.get(path, params=params, headers=token)
            assert response.status_code == 200, response.text
            return response.json()

        yield call


def _schema(spec: dict[str, Any], path: str) -> dict[str, Any]:
    found: dict[str, Any] = spec["paths"][path]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]
    return found


def test_a_patch_shows_its_answers_raw_and_labelled(api: Any) -> None:
    patch = api(f"/api/v1/patches/{BURNED}")
    props = patch["properties"]
    assert (props["change_type"], props["field_outcome"]) == ("burned", "confirmed")
    assert props["field_severity"] == SEVERITY
    assert props["field_bloom_observed"] is None and props["field_dieback_cause"] is None
    assert patch["ground_answers"] == [
        {
            "column": "field_severity",
            "change_type": "burned",
            "value": "high",
            "question_zh": "火烧程度",
            "question_en": "burn severity (CBI)",
            "value_zh": "重度",
            "value_en": "high",
        }
    ]
    assert api("/api/v1/patches/TB-01")["ground_answers"] == []


def test_pages_carry_the_answers_and_both_conform_to_the_openapi_description(api: Any) -> None:
    spec = api("/openapi.json")
    one = _schema(spec, "/api/v1/patches/{key}")
    page_schema = _schema(spec, "/api/v1/patches")
    severity = one["properties"]["properties"]["properties"]["field_severity"]
    assert severity["anyOf"][0]["enum"] == list(BURN_SEVERITY_LABELS)
    assert "火烧程度" in severity["description"]
    patch = api(f"/api/v1/patches/{BURNED}")
    jsonschema.validate(patch, one)
    page = api("/api/v1/patches", zone="ZN-1")
    jsonschema.validate(page, page_schema)
    by_id = {f["properties"]["patch_id"]: f["properties"] for f in page["features"]}
    assert by_id[BURNED]["field_severity"] == SEVERITY
    assert by_id["TB-01"]["field_severity"] is None
    bad = {**patch, "properties": {**patch["properties"], "field_severity": "extreme"}}
    with pytest.raises(jsonschema.ValidationError, match="extreme"):
        jsonschema.validate(bad, one)
