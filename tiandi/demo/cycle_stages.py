"""The stages of the demo's ``full_cycle`` flow, each one or two tasks and the cycle step
(title, scripted time, counts) it adds to the summary.

:class:`Cycle` carries what the stages share: the request, the cycle folder, the settings
naming the cycle's own patch store, and the steps so far.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tiandi._time import iso_utc
from tiandi.demo import cycle_tasks as tasks
from tiandi.demo.cycle_report import CycleStep
from tiandi.demo.cycle_steps import clock
from tiandi.demo.scene_catalog import AFTER, BEFORE, DEMO_COLLECTION, LATER
from tiandi.flows.detect_changes import DetectChangesRequest, detect_changes
from tiandi.flows.services import FlowServices
from tiandi.redline.accuracy.report import AccuracyReport
from tiandi.redline.store.lifecycle import PatchState
from tiandi.redline.store.open import open_store
from tiandi.settings import PATCH_STORE_FILE, Settings


@dataclass(frozen=True)
class FullCycleRequest:
    """The inputs of one cycle: the period-1 run, the demo scene, where to write."""

    run: Path  # output folder of detect_changes on the scene (before → after)
    scene: Path  # demo scene folder: zones, stations, truth, scenes.json
    out: Path  # the cycle's output folder
    later_scene: Path  # where the simulated later period is written (kept: catalogued)
    before: str = BEFORE
    after: str = AFTER
    later: str = LATER
    collection: str = DEMO_COLLECTION
    chunk: int = 1024
    form: bool = False  # QGIS form in the packages (needs python3-qgis)
    seed: int = 0  # sample draw


@dataclass
class Cycle:
    """One cycle in progress."""

    request: FullCycleRequest
    out: Path
    settings: Settings  # the flow's settings with the cycle's own patch store
    steps: list[CycleStep] = field(default_factory=list)

    @classmethod
    def start(cls, request: FullCycleRequest, settings: Settings) -> Cycle:
        """Prepare the cycle folder; the cycle's store is ``<out>/patches.gpkg``."""
        out = tasks.prepare_folder(request.out)
        own = {"patch_store": out / PATCH_STORE_FILE, "patch_dsn": None}
        return cls(request, out, settings.model_copy(update=own))

    @property
    def zones(self) -> Path:
        """The scene's zones."""
        return self.request.scene / "zones.gpkg"

    @property
    def truth(self) -> Path:
        """The scene's planted events."""
        return self.request.scene / "truth.gpkg"

    @property
    def store_path(self) -> Path:
        """The cycle's patch store."""
        return self.settings.patch_store_path

    @property
    def tampered_path(self) -> Path:
        """Where the copy of the store with one edited audit record goes."""
        return self.out / "tampered" / PATCH_STORE_FILE

    def at(self, key: str) -> datetime:
        """The scripted time of step ``key`` after the detection period."""
        return clock(self.request.after, key)

    def step(self, key: str, title: str, when: str, counts: dict[str, Any], note: str = "") -> None:
        """Add one step to the summary."""
        at = clock(self.request.later if key == "recheck" else self.request.after, when)
        self.steps.append(CycleStep(key, title, iso_utc(at), counts, note))


def detect_stage(c: Cycle) -> None:
    """Record the period-1 run: detection and screening as lifecycle steps."""
    r = c.request
    first = tasks.record_run(c.settings, r.run, c.zones, r.before, r.after, c.at("record"))
    counts = {"detected": first.detected, "new": first.new}
    c.step("detect", "检测 detect (period 1)", "record", counts, f"run {first.run_id}")
    counts = {"screened (kept)": first.screened, "rejected (pseudo-change)": first.rejected}
    c.step("screen", "初筛 screen", "record", counts)


def review_stage(c: Cycle) -> list[str]:
    """The scripted ecologist's review; returns the accepted patch ids."""
    decided = tasks.review(c.settings, c.truth, c.at("review"))
    wrong = " (contradicts the planted events: a scripted reviewer error)"
    c.step(
        "review",
        "审核 review (scripted ecologist)",
        "review",
        {"accepted": len(decided["accepted"]), "rejected": len(decided["rejected"])},
        "rejected: "
        + ", ".join(decided["rejected"])
        + (wrong if decided["contradicts_truth"] else ""),
    )
    return decided["accepted"]


def dispatch_stage(c: Cycle, accepted: list[str]) -> list[Path]:
    """Field packages of the accepted patches."""
    r = c.request
    packages = tasks.dispatch(
        c.settings, r.run, accepted, c.out / "packages", c.at("dispatch"), r.form
    )
    n_dispatched = len(open_store(c.settings).list_patches(state=PatchState.DISPATCHED))
    counts = {"packages": len(packages), "dispatched": n_dispatched}
    c.step("dispatch", "下发 dispatch", "dispatch", counts)
    return packages


def field_stage(c: Cycle, packages: list[Path]) -> list[Path]:
    """Simulated field work on copies of the packages; returns the edited copies."""
    edited, bad = tasks.field_work(c.settings, packages, c.truth, c.out / "returned", c.at("field"))
    c.step(
        "field",
        "外业核查 field work (simulated)",
        "field",
        {"packages edited": len(edited), "photo far from its patch": int(bad is not None)},
        f"task {bad} got a photo taken ~4 km away" if bad else "",
    )
    return edited


def import_stage(c: Cycle, edited: list[Path]) -> None:
    """Import the returned packages into the field results and the patch store."""
    field_store = c.out / "field-results.gpkg"
    imports = tasks.import_field(c.settings, field_store, edited, c.at("import"))
    counts = {
        "accepted": sum(len(rep.accepted) for rep, _ in imports),
        "rejected (quarantined)": sum(len(rep.rejected) for rep, _ in imports),
        "field_checked": sum(len(sync.transitions) for _, sync in imports),
        "points": sum(rep.points for rep, _ in imports),
    }
    c.step("import", "回传导入 field import", "import", counts)


def accuracy_stage(c: Cycle, accepted: list[str]) -> AccuracyReport:
    """Accuracy assessment over the reviewed change map (simulated reference)."""
    r = c.request
    out = c.out / "accuracy"
    report = tasks.assess(c.settings, r.run, c.zones, c.truth, accepted, out, r.seed)
    c.step(
        "accuracy",
        "精度评价 accuracy (simulated reference)",
        "accuracy",
        {"samples": report.to_dict()["groups"][0]["n_samples"]},
        "reference labels simulated from the scene's planted events (truth.gpkg)",
    )
    return report


def close_stage(c: Cycle) -> None:
    """Rectification, rectified, closed (销号)."""
    c.step(
        "close",
        "整改销号 rectify and close",
        "closed",
        tasks.supervise(c.settings, c.request.after),
    )


def recheck_stage(c: Cycle, services: FlowServices) -> Path:
    """The later period (activity resumed at one closed patch), a detect_changes run on it
    and its recording; returns the re-check run folder."""
    r = c.request
    target = tasks.later_period(c.settings, r.scene, r.later_scene, c.truth, services.registrar)
    recheck = DetectChangesRequest(
        zones=c.zones,
        before=r.before,
        after=r.later,
        out=c.out / "recheck",
        stations=r.scene / "stations.gpkg",
        collection=r.collection,
        chunk=r.chunk,
    )
    detect_changes(recheck, services.settings)
    second = tasks.record_run(
        c.settings, recheck.out, c.zones, r.before, r.later, clock(r.later, "record")
    )
    c.step(
        "recheck",
        "回头看 re-check (later period)",
        "record",
        {"detected": second.detected, "linked": second.linked, "reopened": second.reopened},
        f"activity resumed at {target}; period {r.later}",
    )
    return recheck.out
