"""The OpenAPI description of a patch as the platform endpoints return it.

A patch is a GeoJSON Feature whose ``properties`` are the columns of the patch store's
``patches`` table (:data:`~tiandi.redline.store.records.PATCH_FIELDS`, every one nullable
but ``patch_uid``) plus ``version``. The crew's answers on the ground are described with
their value lists (:data:`~tiandi.redline.field.schema.GROUND_QUESTIONS`), so the platform
knows every value it can receive. ``GET /patches/{key}`` adds ``history`` and
``ground_answers`` (the same answers labelled in Chinese and English,
:func:`ground_answers_json`).

The schemas are given as OpenAPI ``responses`` (documentation, not a response model): the
endpoints keep building their JSON directly (fast on pages of 1000), and the OpenAPI fuzz
test (``tests/service/test_fuzz.py``) checks that every answer conforms to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tiandi.redline.field.answers import labelled_answers, question_labels
from tiandi.redline.field.schema import GROUND_QUESTIONS
from tiandi.redline.store.records import PATCH_FIELDS

_JSON_TYPES = {"text": "string", "real": "number", "int": "integer", "time": "string"}


def _nullable(schema: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"anyOf": [schema, {"type": "null"}]}
    if description:
        out["description"] = description
    return out


def ground_answer_properties() -> dict[str, dict[str, Any]]:
    """The answer columns of a patch: each an enum of its form's values, or null."""
    out = {}
    for q in GROUND_QUESTIONS:
        zh, en = question_labels(q)
        out[q.column] = _nullable(
            {"type": "string", "enum": list(q.labels)},
            f"{zh} / {en}: the crew's answer on the ground for a {q.change_type} patch "
            "(the field check behind field_outcome); null when not asked or not answered",
        )
    return out


def patch_properties_schema() -> dict[str, Any]:
    """JSON schema of a patch Feature's ``properties``."""
    props: dict[str, Any] = {
        name: _nullable({"type": _JSON_TYPES[kind]}) for name, kind in PATCH_FIELDS
    }
    props["patch_uid"] = {"type": "string", "description": "Stable identity (PU-…)."}
    props.update(ground_answer_properties())
    props["version"] = {"type": "integer", "description": "Detections + transitions."}
    return {
        "type": "object",
        "properties": props,
        "required": ["patch_uid", "version"],
        "additionalProperties": True,
    }


def _feature_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"type": "string"},
            "geometry": {"type": "object"},
            "properties": patch_properties_schema(),
        },
        "required": ["type", "id", "geometry", "properties"],
    }


def ground_answers_schema() -> dict[str, Any]:
    """JSON schema of ``ground_answers``: the patch's answers, labelled."""
    return {
        "type": "array",
        "description": "The crew's answers on the ground, labelled in Chinese and English "
        "(empty when the patch holds none).",
        "items": {
            "type": "object",
            "properties": {
                "column": {"type": "string", "enum": [q.column for q in GROUND_QUESTIONS]},
                "change_type": {"type": "string"},
                "value": {"type": "string"},
                "question_zh": {"type": "string"},
                "question_en": {"type": "string"},
                "value_zh": {"type": "string"},
                "value_en": {"type": "string"},
            },
            "required": ["column", "value", "question_zh", "question_en", "value_zh", "value_en"],
        },
    }


def _json_response(description: str, schema: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": description, "content": {"application/json": {"schema": schema}}}}


def patch_responses() -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` of ``GET /patches/{key}``."""
    schema = _feature_schema()
    schema["properties"]["history"] = {"type": "array", "items": {"type": "object"}}
    schema["properties"]["ground_answers"] = ground_answers_schema()
    schema["required"] += ["history", "ground_answers"]
    return _json_response("The patch as a GeoJSON Feature, with history and answers.", schema)


def patch_page_responses() -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` of ``GET /patches``: a FeatureCollection page."""
    schema = {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": ["FeatureCollection"]},
            "features": {"type": "array", "items": _feature_schema()},
            "numberReturned": {"type": "integer"},
            "next": _nullable({"type": "string"}),
            "links": {"type": "array", "items": {"type": "object"}},
        },
        "required": ["type", "features", "numberReturned", "next", "links"],
    }
    return _json_response("One page of patches (GeoJSON FeatureCollection).", schema)


def ground_answers_json(attributes: Mapping[str, Any]) -> list[dict[str, str]]:
    """The ``ground_answers`` of a patch's JSON (:func:`labelled_answers`)."""
    return [a.as_dict() for a in labelled_answers(attributes)]
