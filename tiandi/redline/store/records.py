"""The records a patch store keeps and returns, and the columns of its ``patches`` table.

Shared by both backends (:mod:`tiandi.redline.store.gpkg`,
:mod:`tiandi.redline.store.postgis`) and by the recording of a run
(:mod:`tiandi.redline.store.recording`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from shapely.geometry.base import BaseGeometry

from tiandi.redline.store.lifecycle import PatchStatus
from tiandi.redline.vocabulary import GROUND_ANSWER_VALUES

#: The crew's answers to the disturbance questions of a field form, one text column each,
#: named as the form's fields (:data:`tiandi.redline.field.schema.GROUND_QUESTIONS`:
#: burn severity of a ``burned`` patch, bloom observed, dieback cause). They hold the
#: answers of the field check that set ``field_outcome`` (written by its ``field_checked``
#: transition, cleared with ``field_outcome``); empty for patches without such a check.
GROUND_ANSWER_NAMES: tuple[str, ...] = tuple(GROUND_ANSWER_VALUES)
#: Schema 3: the integrated detector's confidence level and the evidence that fired (empty
#: for other detectors' patches).
CONFIDENCE_FIELDS: tuple[tuple[str, str], ...] = (
    ("confidence_level", "text"),  # nominal | high | highest (tiandi.models.evidence)
    ("evidence", "text"),  # comma-separated evidence names that fired
)
#: Columns of the ``patches`` table besides ``fid`` and ``geom``: (name, kind).
PATCH_FIELDS: tuple[tuple[str, str], ...] = (
    ("patch_uid", "text"),
    ("patch_id", "text"),
    ("zone_id", "text"),
    ("zone_name", "text"),
    ("zone_type", "text"),
    ("functional_zone", "text"),
    ("area_m2", "real"),
    ("area_ha", "real"),
    ("area_mu", "real"),
    ("change_type", "text"),
    ("change_type_zh", "text"),
    ("hj1156_class", "text"),
    ("hj1156_zh", "text"),
    ("confidence", "real"),
    ("screen_reason", "text"),
    ("state", "text"),
    ("state_zh", "text"),
    ("reviewed_class", "text"),
    ("field_outcome", "text"),
    ("state_at", "time"),
    ("first_run", "text"),
    ("last_run", "text"),
    ("n_detections", "int"),
    # schema version 3
    *((name, "text") for name in GROUND_ANSWER_NAMES),
    *CONFIDENCE_FIELDS,
)
PATCH_NAMES = tuple(n for n, _ in PATCH_FIELDS)
#: The ``patches`` columns a detection sets (its attributes, screening aside).
DETECTED_ATTRS = (
    *(n for n in PATCH_NAMES[1:14] if n != "screen_reason"),
    *(n for n, _ in CONFIDENCE_FIELDS),
)


@dataclass(frozen=True)
class RunInfo:
    """One detection run as the store records it.

    ``source``: where the run came from; ``detect_changes`` and the demo record the
    absolute path of the run's output folder here, which
    :func:`tiandi.redline.store.run_folder.run_folder` reads back.
    """

    run_id: str
    at: datetime
    period_before: str = ""
    period_after: str = ""
    zone_set_version: str | None = None
    source: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DetectedPatch:
    """One detection of a run, with the identity :mod:`tiandi.redline.store.identity` gave it.

    ``geometry`` in EPSG:4490; ``attributes`` the detection's columns (plain values);
    ``screen_reason`` empty when screening kept it.
    """

    patch_uid: str
    linked: bool
    geometry: BaseGeometry
    attributes: Mapping[str, Any]
    change_type: str
    screen_reason: str = ""
    overlap: float | None = None
    iou: float | None = None
    previous_area_m2: float | None = None


@dataclass(frozen=True)
class StoredPatch:
    """A patch as stored: identity, lifecycle status, attributes and geometry."""

    patch_uid: str
    status: PatchStatus
    attributes: Mapping[str, Any]
    geometry: BaseGeometry


@dataclass(frozen=True)
class ImportSummary:
    """What importing one run did (``already_recorded``: nothing, it was there)."""

    run_id: str
    detected: int = 0
    new: int = 0
    linked: int = 0
    enlarged: int = 0
    reopened: int = 0
    screened: int = 0
    rejected: int = 0
    in_progress: int = 0
    already_recorded: bool = False

    @classmethod
    def from_counts(
        cls, run_id: str, counts: Mapping[str, int], *, already_recorded: bool = False
    ) -> ImportSummary:
        """A summary from the counters of :meth:`as_dict` (missing ones are 0)."""
        c = {k: int(counts.get(k, 0)) for k in cls(run_id).as_dict()}
        return cls(
            run_id,
            c["detected"],
            c["new"],
            c["linked"],
            c["enlarged"],
            c["reopened"],
            c["screened"],
            c["rejected"],
            c["in_progress"],
            already_recorded,
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain fields for JSON (the run's summary and its audit record)."""
        return {
            "detected": self.detected,
            "new": self.new,
            "linked": self.linked,
            "enlarged": self.enlarged,
            "reopened": self.reopened,
            "screened": self.screened,
            "rejected": self.rejected,
            "in_progress": self.in_progress,
        }


def plain(value: Any) -> Any:
    """A JSON-ready Python value (numpy scalars unwrapped, NaN/NaT/NA as None)."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return value
