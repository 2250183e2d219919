"""The demo cycle's choices, as plain functions (no Prefect): the scripted clock, what a
run folder holds, what the field crews do, which closed patch the re-check reopens, and
how the cycle's summary describes the audit.

:mod:`tiandi.demo.cycle_flow` wraps them in tasks; they only make sense on the demo
scene, whose ``truth.gpkg`` holds the planted events.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
from shapely.geometry.base import BaseGeometry

from tiandi._time import CHINA_STANDARD_TIME
from tiandi.demo.cycle_script import ReviewDecision, scripted_field_results
from tiandi.demo.field_crew import device_copy, edit_field_package
from tiandi.errors import InputError
from tiandi.redline.field.lifecycle import package_tasks
from tiandi.redline.run_layout import RunLayout
from tiandi.redline.store.audit import VerifyReport
from tiandi.redline.store.gpkg import PatchStore, RunInfo
from tiandi.redline.store.lifecycle import PatchState
from tiandi.redline.store.recording import zone_set_version
from tiandi.redline.zones.read import read_zones

MARKER = "INCOMPLETE"
CREW = "核查组 {station}"
#: The scripted clock: days after the end of the detection period (09:00 China time).
SCHEDULE = {
    "record": 5,
    "review": 6,
    "dispatch": 8,
    "field": 12,
    "import": 15,
    "accuracy": 16,
    "rectification": 20,
    "rectified": 80,
    "closed": 90,
}


def clock(period: str, key: str) -> datetime:
    """The scripted time of step ``key``: ``SCHEDULE[key]`` days after ``period`` ends."""
    end = datetime.fromisoformat(period.split("/")[1]).date()
    day = end + timedelta(days=SCHEDULE[key])
    return datetime.combine(day, time(9, 0), tzinfo=CHINA_STANDARD_TIME)


def prepare_cycle_folder(out: Path) -> Path:
    """Replace an earlier cycle folder (only one: it holds cycle.json or INCOMPLETE)."""
    out = out.resolve()
    if out.exists():
        if not ((out / "cycle.json").exists() or (out / MARKER).exists() or not any(out.iterdir())):
            raise InputError(
                f"cycle folder {out} exists and is not the output of an earlier cycle; pass "
                "an empty or new folder"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("full cycle in progress or failed\n", encoding="utf-8")
    return out


@dataclass(frozen=True)
class RunDetections:
    """What a detect_changes run folder says about its patches."""

    kept: gpd.GeoDataFrame
    screened: gpd.GeoDataFrame
    parameters: dict[str, Any]


def run_detections(run_dir: Path) -> RunDetections:
    """The kept and screened-out patches of a run folder and the run's parameters."""
    layout = RunLayout(run_dir)
    if not layout.patches.is_file():
        raise InputError(
            f"run folder {run_dir} has no {layout.PATCHES}; pass a detect_changes output"
        )
    kept = gpd.read_file(layout.patches, layer="patches")
    screened = gpd.read_file(layout.patches, layer="screened")
    parameters = (
        json.loads(layout.summary_json.read_text("utf-8")).get("parameters", {})
        if layout.summary_json.is_file()
        else {}
    )
    return RunDetections(kept, screened, parameters)


def run_info(
    run_dir: Path, zones: Path, before: str, after: str, at: datetime, parameters: dict[str, Any]
) -> RunInfo:
    """How the run of ``run_dir`` is recorded in the store (its id from :class:`RunLayout`)."""
    return RunInfo(
        RunLayout(run_dir).run_id(after),
        at,
        before,
        after,
        zone_set_version(read_zones(zones)),
        str(run_dir.resolve()),
        parameters,
    )


def review_outcome(decisions: list[ReviewDecision]) -> dict[str, list[str]]:
    """Accepted, rejected and wrongly rejected (contradicting the truth) patch ids."""
    return {
        "accepted": [d.patch_id for d in decisions if d.accept],
        "rejected": [d.patch_id for d in decisions if not d.accept],
        "contradicts_truth": [d.patch_id for d in decisions if not d.accept and d.truth_event],
    }


def on_the_ground(truth: Path) -> gpd.GeoDataFrame:
    """What the scripted field crew finds on the ground: the planted events and, where the
    scene has them, the planted disturbances (a burn scar, a dying stand, a filled shore:
    found, of HJ 1156 class ``other``)."""
    events = gpd.read_file(truth, layer="events")
    if "disturbances" not in pyogrio.list_layers(truth)[:, 0]:
        return events
    planted = gpd.read_file(truth, layer="disturbances").assign(hj1156_class="other")
    both = pd.concat([events, planted.to_crs(events.crs)], ignore_index=True)
    return gpd.GeoDataFrame(both, geometry="geometry", crs=events.crs)


def field_work(
    store: PatchStore, packages: list[Path], truth: Path, out: Path, checked_at: datetime
) -> tuple[list[Path], str | None]:
    """Copy each package to a 'tablet' and fill it in; the smallest patch's photo is taken
    far away. Returns the edited copies and the task id of that photo (if any)."""
    pairs = [(t.task_id, t.patch_id) for p in packages for t in package_tasks(p)]
    areas = {tid: float(store.get(pid).attributes.get("area_m2") or 0) for tid, pid in pairs}
    bad = min(areas, key=lambda t: (areas[t], t)) if len(pairs) > 1 else None
    findings = scripted_field_results(store, pairs, on_the_ground(truth), bad_photo_task=bad)
    edited = []
    for gpkg in packages:
        copy = device_copy(gpkg.parent, out)
        crew = CREW.format(station=gpkg.stem)
        if edit_field_package(copy, findings, crew=crew, checked_at=checked_at):
            edited.append(copy)
    return edited, bad


@dataclass(frozen=True)
class RecheckTarget:
    """The closed patch where activity resumes in the later period."""

    patch_uid: str
    footprint: BaseGeometry
    crs: str


def recheck_target(store: PatchStore, truth: Path) -> RecheckTarget:
    """The largest closed (and found) patch over a planted event; the event's surface
    there is what the later period pastes back."""
    closed = store.list_patches(state=PatchState.CLOSED)
    events = gpd.read_file(truth, layer="events").to_crs(closed.crs)
    closed = closed[closed["field_outcome"] != "not_found"]
    hit = closed[closed.intersects(events.union_all())] if len(events) else closed.iloc[:0]
    if hit.empty:
        raise InputError(
            f"patch store {store.location} has no closed patch over a planted event; the "
            "re-check needs one (use a larger demo scene)"
        )
    target = hit.sort_values(["area_m2", "patch_uid"], ascending=[False, True]).iloc[0]
    footprint = events.union_all().intersection(target.geometry.buffer(0.0002))
    return RecheckTarget(str(target["patch_uid"]), footprint, str(closed.crs))


def audit_summary(report: VerifyReport, edited: int | None = None) -> dict[str, Any]:
    """The audit check as the cycle summary shows it (``edited``: the tampered record)."""
    first = report.first_break
    out: dict[str, Any] = {"ok": report.ok, "records": report.records}
    if edited is None:
        return out | {"head_seq": report.head_seq, "head_hash": report.head_hash}
    return out | {
        "edited_seq": edited,
        "first_break": None if first is None else f"seq {first.seq} {first.kind}",
    }


def reopened_patches(store: PatchStore) -> tuple[str, ...]:
    """The patch_uids that were ever reopened."""
    return tuple(
        str(u)
        for u in store.list_patches()["patch_uid"]
        if any(t.target is PatchState.REOPENED for t in store.history(str(u)))
    )


def cycle_notes(later: str, store: Path) -> tuple[str, ...]:
    """What the reader of the cycle summary must know: what is scripted or simulated."""
    return (
        "Decisions of reviewer, crews and supervisor are scripted; times come from a "
        "scripted clock.",
        "Accuracy reference labels are a simulation of field reference data: they come "
        "from the demo scene's planted events (truth.gpkg), not from a field visit.",
        f"Later period {later}: the period-1 acquisitions one year on, with the "
        "after-period surface pasted back at one closed patch (activity resumed).",
        f"Check the chain yourself: tiandi audit verify --store {store}",
    )
