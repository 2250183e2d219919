"""The crew's form as data: widget, alias, read-only flag, default and constraint of every
field of a package's layers, and the spec from which ``_qgis_project.py`` builds the QGIS
project (:mod:`tiandi.redline.field.form`). Names and value lists come from
:mod:`tiandi.redline.field.schema`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tiandi.redline.field.schema import (
    ALIASES,
    BASEMAP_TABLE,
    CHIP_COLUMNS,
    CLASS_LABELS,
    DISPATCHED_COLUMNS,
    GROUND_QUESTIONS,
    OBSERVATION_KINDS,
    OBSERVATIONS_LAYER,
    PHOTO_COLUMNS,
    PHOTOS_LAYER,
    POINT_COLUMNS,
    POINTS_LAYER,
    RESULT_LABELS,
    TASKS_LAYER,
    GroundQuestion,
)
from tiandi.redline.vocabulary import CONFIDENCE_LEVEL_LABELS, ChangeType

_PHOTO_NAME = "'DCIM/' || \"task_id\" || '_' || format_date(now(), 'yyyyMMdd_hhmmss') || '.jpg'"


def _value_map(labels: dict[str, str]) -> dict[str, Any]:
    return {"map": [{label: value} for value, label in labels.items()]}


def _photo_widget(*, editable: bool, name_expression: str | None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "DocumentViewer": 1,  # image
        "DocumentViewerHeight": 0,
        "DocumentViewerWidth": 0,
        "FileWidget": editable,
        "FileWidgetButton": editable,
        "FileWidgetFilter": "",
        "RelativeStorage": 1,  # relative to the project (the package folder)
        "StorageMode": 0,  # files
        "UseLink": False,
        "FullUrl": False,
    }
    if name_expression:
        # QField names new photos with the "default path" data-defined property.
        config["PropertyCollection"] = {
            "name": None,
            "properties": {
                "propertyRootPath": {"active": True, "expression": name_expression, "type": 3}
            },
            "type": "collection",
        }
    return {"widget": "ExternalResource", "config": config}


def _field(widget: str, config: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"widget": widget, "config": config or {}, **extra}


def _question_field(q: GroundQuestion) -> dict[str, Any]:
    """A disturbance question's value list, required when a patch of its type was found."""
    what_zh, _, what_en = q.what.partition(" ")
    return _field(
        "ValueMap",
        _value_map(q.labels),
        constraint=f'"change_type" IS NULL OR "change_type" <> \'{q.change_type}\' '
        'OR "field_result" IS NULL OR "field_result" = \'not_found\' '
        f'OR "{q.column}" IS NOT NULL',
        constraint_msg=f"{ChangeType(q.change_type).zh}须填写{what_zh} / {what_en} is required "
        f"for a {q.change_type} patch",
    )


def tasks_form(extra: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """Widget, alias, read-only flag, default and constraint of every ``tasks`` field;
    ``extra``: the disturbance crew fields of the package (:func:`disturbance_crew_columns`)."""
    fields: dict[str, dict[str, Any]] = {
        name: _field("TextEdit", {"IsMultiline": False}, editable=False)
        for name in DISPATCHED_COLUMNS
    }
    for name in CHIP_COLUMNS:
        fields[name] = {**_photo_widget(editable=False, name_expression=None), "editable": False}
    fields["field_result"] = _field(
        "ValueMap",
        _value_map(RESULT_LABELS),
        not_null="soft",
    )
    fields["field_class"] = _field(
        "ValueMap",
        _value_map(CLASS_LABELS),
        constraint='"field_result" IS NULL OR "field_result" <> \'different_class\' '
        'OR "field_class" IS NOT NULL',
        constraint_msg="类型不符时必须填写实地类型 / class found is required for a different class",
    )
    fields["field_notes"] = _field("TextEdit", {"IsMultiline": True, "UseHtml": False})
    for q in GROUND_QUESTIONS:
        if q.column in extra:
            fields[q.column] = _question_field(q)
    if "confidence_level" in extra:  # read-only, the integrated detector's
        labels = _value_map(CONFIDENCE_LEVEL_LABELS)
        fields["confidence_level"] = _field("ValueMap", labels, editable=False)
    if "evidence" in extra:
        fields["evidence"] = _field("TextEdit", {"IsMultiline": False}, editable=False)
    for name in PHOTO_COLUMNS:
        fields[name] = _photo_widget(editable=True, name_expression=_PHOTO_NAME)
    fields["checked_at"] = _field(
        "DateTime",
        {
            "allow_null": True,
            "calendar_popup": True,
            "display_format": "yyyy-MM-dd HH:mm:ss",
            "field_format": "yyyy-MM-ddTHH:mm:ss",
            "field_iso_format": True,
        },
        default="now()",
        apply_on_update=True,
    )
    fields["crew"] = _field(
        "TextEdit", {"IsMultiline": False}, default="@user_full_name", not_null="soft"
    )
    return {
        name: {**spec, "alias": ALIASES.get(name, name), "editable": spec.get("editable", True)}
        for name, spec in fields.items()
    }


def points_form() -> dict[str, dict[str, Any]]:
    """Read-only fields of ``task_points``."""
    return {
        name: {**_field("TextEdit"), "alias": ALIASES.get(name, name), "editable": False}
        for name in POINT_COLUMNS
    }


def observations_form() -> dict[str, dict[str, Any]]:
    """Fields of the crew's own points (``field_points``)."""
    fields: dict[str, dict[str, Any]] = {
        "point_id": _field("TextEdit", editable=False, default="uuid()"),
        "task_id": _field("TextEdit"),
        "kind": _field("ValueMap", _value_map(OBSERVATION_KINDS)),
        "note": _field("TextEdit", {"IsMultiline": True}),
        "photo": _photo_widget(
            editable=True,
            name_expression="'DCIM/point_' || format_date(now(), 'yyyyMMdd_hhmmss') || '.jpg'",
        ),
        "crew": _field("TextEdit", default="@user_full_name"),
        "observed_at": _field(
            "DateTime", {"field_iso_format": True, "allow_null": True}, default="now()"
        ),
    }
    return {n: {**s, "alias": ALIASES.get(n, n)} for n, s in fields.items()}


def photos_form() -> dict[str, dict[str, Any]]:
    """Fields of the extra-photos layer (``photos``), linked to a task by ``task_id``."""
    fields: dict[str, dict[str, Any]] = {
        "photo_id": _field("TextEdit", editable=False, default="uuid()"),
        "task_id": _field(
            "RelationReference",
            {"Relation": "photos_task", "AllowNULL": False, "ShowForm": False},
        ),
        "path": _photo_widget(editable=True, name_expression=_PHOTO_NAME),
        "note": _field("TextEdit"),
        "crew": _field("TextEdit", default="@user_full_name"),
        "taken_at": _field(
            "DateTime", {"field_iso_format": True, "allow_null": True}, default="now()"
        ),
    }
    return {n: {**s, "alias": ALIASES.get(n, n)} for n, s in fields.items()}


def form_spec(
    *, gpkg: str, qgs: str, title: str, basemap: bool, extra: Iterable[str] = ()
) -> dict[str, Any]:
    """The spec that ``_qgis_project.py build`` turns into a QGIS project (``extra``: the
    package's disturbance crew fields)."""
    return {
        "gpkg": gpkg,
        "qgs": qgs,
        "title": title,
        "basemap": {"table": BASEMAP_TABLE, "label": "底图 basemap"} if basemap else None,
        "layers": [
            {
                "table": TASKS_LAYER,
                "label": "核查图斑 tasks",
                "style": "outline",
                "fields": tasks_form(tuple(extra)),
            },
            {
                "table": POINTS_LAYER,
                "label": "图斑位置 task points",
                "style": "point",
                "read_only": True,
                "fields": points_form(),
            },
            {
                "table": OBSERVATIONS_LAYER,
                "label": "核查记录点 field points",
                "style": "observation",
                "fields": observations_form(),
            },
            {
                "table": PHOTOS_LAYER,
                "label": "现场照片 photos",
                "style": "observation",
                "fields": photos_form(),
            },
        ],
        "relations": [
            {
                "id": "photos_task",
                "name": "现场照片 photos",
                "parent": TASKS_LAYER,
                "child": PHOTOS_LAYER,
                "parent_field": "task_id",
                "child_field": "task_id",
            }
        ],
    }
