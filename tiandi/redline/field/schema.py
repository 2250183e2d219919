"""The schema of a field package (外业核查包): layers, columns, value lists, aliases.

Shared by :mod:`tiandi.redline.field.package` (which writes packages) and
:mod:`tiandi.redline.field.importer` (which reads them back), so both agree on every name;
the crew's form built from them is in :mod:`tiandi.redline.field.form_fields`.

A package GeoPackage holds (EPSG:4490 unless noted):

- ``tasks`` (MultiPolygon): one row per task, the dispatched attributes (read-only in the
  form), ``chip_before``/``chip_after`` (relative paths of the image chips) and the crew's
  fields :data:`CREW_COLUMNS`;
- ``task_points`` (Point, read-only): where to go, one per task;
- ``field_points`` (Point): observations the crew adds (:data:`OBSERVATION_COLUMNS`);
- ``photos`` (Point): extra photos of a task, one row each, linked by ``task_id``
  (:data:`PHOTO_LAYER_COLUMNS`); a relation shows them in the task's form;
- ``basemap``: true-colour tiles of the after composite (GeoPackage raster, its grid CRS);
- ``tiandi_package`` (key, value): package id, station, dispatch time, schema version;
- ``tiandi_dispatch``: a snapshot of each task as dispatched (patch id, geometry, a hash
  of the attributes) against which an import checks what came back;
- ``qgis_projects``: the QGIS project with the form (QGIS's own table).

Photos are files in the package folder (``DCIM/…``), referenced by relative paths, which
is how QField and Mergin Maps store attachments.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tiandi.redline.field.tasks import CONFIDENCE_TASK_COLUMNS, FIELD_COLUMNS, TASK_COLUMNS
from tiandi.redline.store.lifecycle import FieldOutcome
from tiandi.redline.vocabulary import (
    BLOOM_OBSERVED_LABELS,
    BURN_SEVERITY_LABELS,
    DIEBACK_CAUSE_LABELS,
    HJ1156Class,
)

SCHEMA_VERSION = "1"
TASKS_LAYER = "tasks"
POINTS_LAYER = "task_points"
OBSERVATIONS_LAYER = "field_points"
PHOTOS_LAYER = "photos"
BASEMAP_TABLE = "basemap"
META_TABLE = "tiandi_package"
SNAPSHOT_TABLE = "tiandi_dispatch"
PHOTO_FOLDER = "DCIM"
CHIP_FOLDER = "chips"

PHOTO_COLUMNS: tuple[str, ...] = ("photo", "photo_2", "photo_3")
CREW_COLUMNS: tuple[str, ...] = (
    "field_result",
    "field_class",
    "field_notes",
    *PHOTO_COLUMNS,
    "checked_at",
    "crew",
)
"""Fields the crew fills in on each task."""


@dataclass(frozen=True)
class GroundQuestion:
    """A question the crew answers on tasks of one disturbance change type: a value list,
    required when the patch was found (result not ``not_found``)."""

    column: str
    change_type: str
    labels: dict[str, str]
    what: str  # e.g. "火烧程度 burn severity", for messages

    def allowed(self) -> str:
        """The allowed values, for messages."""
        return ", ".join(self.labels)


GROUND_QUESTIONS: tuple[GroundQuestion, ...] = (
    GroundQuestion("field_severity", "burned", BURN_SEVERITY_LABELS, "火烧程度 burn severity"),
    GroundQuestion(
        "field_bloom_observed", "bloom", BLOOM_OBSERVED_LABELS, "水华可见 bloom observed"
    ),
    GroundQuestion(
        "field_dieback_cause", "dieback", DIEBACK_CAUSE_LABELS, "枯死原因 dieback cause"
    ),
)
"""The disturbance questions, one per change type that has one (water gain/loss and
reclamation have none: the result and class say what the crew needs to)."""
ANSWER_COLUMNS: tuple[str, ...] = tuple(q.column for q in GROUND_QUESTIONS)
"""Every disturbance answer column (the field-result store keeps one column each)."""
DISTURBANCE_CREW_COLUMNS: dict[str, tuple[str, ...]] = {
    q.change_type: (q.column,) for q in GROUND_QUESTIONS
}
"""Crew fields a package gains when it holds tasks of these change types (only then, so
the packages and forms of human-activity patches stay as they were)."""


def confidence_columns(columns: Iterable[Any]) -> tuple[str, ...]:
    """The confidence columns (``confidence_level``, ``evidence``) among ``columns``:
    a package carries them, read-only, only for the integrated detector's tasks."""
    have = {str(c) for c in columns}
    return tuple(c for c in CONFIDENCE_TASK_COLUMNS if c in have)


def disturbance_crew_columns(change_types: Iterable[Any]) -> tuple[str, ...]:
    """The extra crew fields for tasks of ``change_types`` (in a fixed order)."""
    present = {str(t) for t in change_types}
    return tuple(
        c for t, cols in sorted(DISTURBANCE_CREW_COLUMNS.items()) if t in present for c in cols
    )


CHIP_COLUMNS: tuple[str, ...] = ("chip_before", "chip_after")
DISPATCHED_COLUMNS: tuple[str, ...] = tuple(c for c in TASK_COLUMNS if c not in FIELD_COLUMNS)
PACKAGE_TASK_COLUMNS: tuple[str, ...] = (*DISPATCHED_COLUMNS, *CHIP_COLUMNS, *CREW_COLUMNS)
POINT_COLUMNS: tuple[str, ...] = (
    "task_id",
    "patch_id",
    "hj1156_class",
    "hj1156_zh",
    "area_ha",
    "lon",
    "lat",
)
OBSERVATION_COLUMNS: tuple[str, ...] = (
    "point_id",
    "task_id",
    "kind",
    "note",
    "photo",
    "crew",
    "observed_at",
)
PHOTO_LAYER_COLUMNS: tuple[str, ...] = ("photo_id", "task_id", "path", "note", "crew", "taken_at")
OBSERVATION_KINDS: dict[str, str] = {
    "evidence": "证据点 evidence",
    "boundary": "边界点 boundary",
    "access": "通行/入口 access",
    "other": "其他 other",
}

RESULT_LABELS: dict[str, str] = {
    FieldOutcome.CONFIRMED.value: "属实 confirmed",
    FieldOutcome.NOT_FOUND.value: "不属实（未发现） not found",
    FieldOutcome.DIFFERENT_CLASS.value: "类型不符 different class",
}
CLASS_LABELS: dict[str, str] = {c.value: f"{c.zh} {c.value}" for c in HJ1156Class}

ALIASES: dict[str, str] = {
    "task_id": "任务编号 task id",
    "station_id": "核查站 station",
    "station_name": "核查站名称 station name",
    "patch_id": "图斑编号 patch id",
    "zone_id": "区域编号 zone id",
    "zone_name": "区域名称 zone",
    "zone_type": "区域类型 zone type",
    "functional_zone": "功能区 functional zone",
    "hj1156_class": "判读类型 mapped class",
    "hj1156_zh": "判读类型（中文）",
    "change_type": "变化类型 change type",
    "change_type_zh": "变化类型（中文）",
    "area_m2": "面积（平方米） area m²",
    "area_ha": "面积（公顷） area ha",
    "area_mu": "面积（亩） area mu",
    "confidence": "置信度 confidence",
    "confidence_level": "置信等级 confidence level",
    "evidence": "变化证据 evidence",
    "lon": "经度 longitude",
    "lat": "纬度 latitude",
    "assignment": "分配方式 assignment",
    "warning": "提示 warning",
    "chip_before": "前期影像 before",
    "chip_after": "后期影像 after",
    "field_result": "核查结果 result",
    "field_class": "实地类型 class found",
    "field_notes": "核查说明 notes",
    "field_severity": "火烧程度 burn severity (CBI)",
    "field_bloom_observed": "水华可见 bloom observed",
    "field_dieback_cause": "枯死原因 dieback cause",
    "photo": "现场照片1 photo 1",
    "photo_2": "现场照片2 photo 2",
    "photo_3": "现场照片3 photo 3",
    "checked_at": "核查时间 checked at",
    "crew": "核查人员 crew",
    "point_id": "点编号 point id",
    "kind": "点类型 kind",
    "note": "说明 note",
    "observed_at": "记录时间 observed at",
    "photo_id": "照片编号 photo id",
    "path": "照片 photo",
    "taken_at": "拍摄时间 taken at",
}
