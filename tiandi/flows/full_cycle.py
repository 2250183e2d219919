"""The ``full_cycle`` Prefect flow: one red-line supervision cycle on the demo scene.

detect (period 1, a finished ``detect_changes`` run) → screening (recorded as lifecycle
steps) → review (scripted ecologist) → dispatch (field packages) → simulated field work
(packages edited as a field app does) → field import (validated; accepted results move
their patches) → accuracy assessment (Olofsson design over the change map, reference
labels simulated from the scene's planted events, 95 % CIs) → rectification → rectified
→ closed (销号) → re-check run on a later period (回头看) that reopens one closed patch →
audit verification of the store, and of a tampered copy (which must fail).

Each task is a thin wrapper around library functions (:mod:`tiandi.demo.cycle_script`
for the scripted people, :mod:`tiandi.redline.field.lifecycle` for the field round trip
in the patch store, :mod:`tiandi.demo.recheck` for the later period). The cycle keeps its
own patch store (``<out>/patches.gpkg``) so its scripted decisions never enter the
operator's store, and times come from a scripted clock (days after the end of the
detection period), so the store and the summary are the same on every run.

Output folder ``out``: ``patches.gpkg`` (store + audit chain), ``packages/`` (as
dispatched), ``returned/`` (as edited in the field), ``field-results.gpkg`` (+
``-attachments/``), ``accuracy/`` (samples and report), ``recheck/`` (the re-check run),
``tampered/patches.gpkg``, ``cycle.json`` and ``cycle.html``. While the cycle runs the
folder holds ``INCOMPLETE``; ``cycle.json`` is written last.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tiandi._time import CHINA_STANDARD_TIME, iso_utc
from tiandi.demo.cycle_report import CycleStep, CycleSummary, write_cycle_report
from tiandi.demo.cycle_script import (
    apply_review,
    device_copy,
    edit_field_package,
    scripted_field_results,
    scripted_review,
    scripted_supervision,
    simulated_reference,
    tampered_copy,
)
from tiandi.demo.run import AFTER, BEFORE, DEMO_COLLECTION, scene_items
from tiandi.errors import InputError
from tiandi.flows.detect_changes import DetectChangesRequest, detect_changes
from tiandi.redline.accuracy.report import (
    AccuracyReport,
    accuracy_report,
    write_accuracy_report,
)
from tiandi.redline.accuracy.sampling import SamplingParams, design_sample, write_samples
from tiandi.redline.field.importer import ImportReport
from tiandi.redline.field.lifecycle import (
    FieldSync,
    import_field_results,
    package_tasks,
    record_dispatch,
)
from tiandi.redline.field.package import PackageOptions, build_field_packages, read_run_tasks
from tiandi.redline.field.results_store import SqliteFieldStore
from tiandi.redline.store.audit import VerifyReport
from tiandi.redline.store.gpkg import GpkgPatchStore, ImportSummary, RunInfo
from tiandi.redline.store.lifecycle import PatchState
from tiandi.redline.store.recording import record_detections, zone_set_version
from tiandi.redline.zones.read import read_zones

LATER = "2026-01-01/2026-06-30"
MARKER = "INCOMPLETE"
ECOLOGIST = "生态判读员 demo-ecologist"
DISPATCHER = "任务调度员 demo-dispatcher"
SUPERVISOR = "监管负责人 demo-supervisor"
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


@dataclass(frozen=True)
class FullCycleResult:
    """What the cycle produced."""

    out: Path
    store: Path
    summary: CycleSummary
    accuracy: AccuracyReport
    audit: VerifyReport
    tampered: VerifyReport


def clock(period: str, key: str) -> datetime:
    """The scripted time of step ``key``: ``SCHEDULE[key]`` days after ``period`` ends."""
    end = datetime.fromisoformat(period.split("/")[1]).date()
    day = end + timedelta(days=SCHEDULE[key])
    return datetime.combine(day, time(9, 0), tzinfo=CHINA_STANDARD_TIME)


def _run_id(run_dir: Path, after: str) -> str:
    return f"{run_dir.resolve().name}-{after.replace('/', '_')}"


# --- tasks ---------------------------------------------------------------------------


@task(cache_policy=NO_CACHE)
def prepare_folder(out: Path) -> Path:
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


@task(cache_policy=NO_CACHE)
def record_run(
    store_path: Path, run_dir: Path, zones: Path, before: str, after: str, at: datetime
) -> ImportSummary:
    """Record a detect_changes run's kept and screened-out patches in the store."""
    patches_path = run_dir / "patches.gpkg"
    if not patches_path.is_file():
        raise InputError(f"run folder {run_dir} has no patches.gpkg; pass a detect_changes output")
    kept = gpd.read_file(patches_path, layer="patches")
    screened = gpd.read_file(patches_path, layer="screened")
    summary_path = run_dir / "summary.json"
    parameters = (
        json.loads(summary_path.read_text("utf-8")).get("parameters", {})
        if summary_path.is_file()
        else {}
    )
    info = RunInfo(
        _run_id(run_dir, after),
        at,
        before,
        after,
        zone_set_version(read_zones(zones)),
        str(run_dir.resolve()),
        parameters,
    )
    done = record_detections(GpkgPatchStore(store_path), kept, screened, info)
    get_run_logger().info("run %s recorded: %s", info.run_id, done)
    return done


@task(cache_policy=NO_CACHE)
def review(store_path: Path, truth: Path, at: datetime) -> dict[str, list[str]]:
    """Scripted ecologist review of every screened patch."""
    store = GpkgPatchStore(store_path)
    decisions = scripted_review(store.list_patches(state=PatchState.SCREENED), gpd.read_file(truth))
    apply_review(store, decisions, actor=ECOLOGIST, at=at)
    return {
        "accepted": [d.patch_id for d in decisions if d.accept],
        "rejected": [d.patch_id for d in decisions if not d.accept],
        "contradicts_truth": [d.patch_id for d in decisions if not d.accept and d.truth_event],
    }


@task(cache_policy=NO_CACHE)
def dispatch(
    store_path: Path, run_dir: Path, accepted: list[str], out: Path, at: datetime, form: bool
) -> list[Path]:
    """Field packages of the accepted patches; their patches go to ``dispatched``."""
    tasks = read_run_tasks(run_dir)
    tasks = tasks[tasks["patch_id"].astype(str).isin(accepted)]
    packages = build_field_packages(
        tasks,
        out,
        composites={p: run_dir / "composites" / f"{p}.tif" for p in ("before", "after")},
        dispatched_at=at,
        run_id=run_dir.resolve().name,
        options=PackageOptions(form=form),
    )
    gpkgs = [p.gpkg for p in packages]
    moved = record_dispatch(GpkgPatchStore(store_path), gpkgs, actor=DISPATCHER, at=at)
    get_run_logger().info("%d patches dispatched in %d packages", len(moved), len(gpkgs))
    return gpkgs


@task(cache_policy=NO_CACHE)
def field_work(
    store_path: Path, packages: list[Path], truth: Path, out: Path, checked_at: datetime
) -> tuple[list[Path], str | None]:
    """Copy each package to a 'tablet' and fill it in; one photo is taken far away."""
    store = GpkgPatchStore(store_path)
    pairs = [(t.task_id, t.patch_id) for p in packages for t in package_tasks(p)]
    areas = {tid: float(store.get(pid).attributes.get("area_m2") or 0) for tid, pid in pairs}
    bad = min(areas, key=lambda t: (areas[t], t)) if len(pairs) > 1 else None
    findings = scripted_field_results(store, pairs, gpd.read_file(truth), bad_photo_task=bad)
    edited = []
    for gpkg in packages:
        copy = device_copy(gpkg.parent, out)
        station = gpkg.stem
        if edit_field_package(
            copy, findings, crew=CREW.format(station=station), checked_at=checked_at
        ):
            edited.append(copy)
    return edited, bad


@task(cache_policy=NO_CACHE)
def import_field(
    store_path: Path, field_store: Path, packages: list[Path], now: datetime
) -> list[tuple[ImportReport, FieldSync]]:
    """Import every returned package; accepted results move their patches."""
    results = SqliteFieldStore(field_store)
    store = GpkgPatchStore(store_path)
    done = [
        import_field_results(p, results, store, actor="demo-office", now=now, strict=False)
        for p in packages
    ]
    for report, _ in done:
        get_run_logger().info("%s", report.summary())
    return done


@task(cache_policy=NO_CACHE)
def assess(
    store_path: Path,
    run_dir: Path,
    zones: Path,
    truth: Path,
    accepted: list[str],
    out: Path,
    seed: int,
) -> AccuracyReport:
    """Olofsson design over the reviewed change map; simulated reference; 95 % CIs."""
    store = GpkgPatchStore(store_path)
    mapped = store.list_patches()
    mapped = mapped[mapped["patch_id"].astype(str).isin(accepted)]
    design = design_sample(
        run_dir / "change" / "change_mask.tif",
        patches=mapped,
        zones=zones,
        params=SamplingParams(seed=seed),
    )
    write_samples(design, out / "samples.gpkg")
    verified = replace(design, samples=simulated_reference(design.samples, gpd.read_file(truth)))
    write_samples(verified, out / "samples-verified.gpkg")
    report = accuracy_report(verified.samples, design.strata_table, by="reserve")
    write_accuracy_report(report, out / "accuracy.json")
    return report


@task(cache_policy=NO_CACHE)
def supervise(store_path: Path, after: str) -> dict[str, int]:
    """Rectification ordered, rectified and closed (销号), by the scripted supervisor."""
    return scripted_supervision(
        GpkgPatchStore(store_path),
        actor=SUPERVISOR,
        ordered=clock(after, "rectification"),
        rectified=clock(after, "rectified"),
        closed=clock(after, "closed"),
    )


@task(cache_policy=NO_CACHE)
def later_period(
    store_path: Path,
    scene: Path,
    target_dir: Path,
    truth: Path,
    registrar: Any,
    api_url: str,
) -> tuple[str, str]:
    """Write and register the later period; activity resumes at one closed patch.

    Returns the patch_uid and the STAC API URL to search now (registering restarts the
    embedded server, which may then listen on another port)."""
    if registrar is None:
        raise InputError(
            "the re-check needs the later period in the embedded catalog, but a STAC API is "
            "configured (TIANDI_STAC_API_URL); run the full cycle with the embedded catalog"
        )
    from tiandi.demo.recheck import write_later_period

    store = GpkgPatchStore(store_path)
    closed = store.list_patches(state=PatchState.CLOSED)
    events = gpd.read_file(truth).to_crs(closed.crs)
    closed = closed[closed["field_outcome"] != "not_found"]
    hit = closed[closed.intersects(events.union_all())] if len(events) else closed.iloc[:0]
    if hit.empty:
        raise InputError(
            f"patch store {store_path} has no closed patch over a planted event; the re-check "
            "needs one (use a larger demo scene)"
        )
    target = hit.sort_values(["area_m2", "patch_uid"], ascending=[False, True]).iloc[0]
    footprint = events.union_all().intersection(target.geometry.buffer(0.0002))
    write_later_period(scene, target_dir, footprint, footprint_crs=str(closed.crs))
    registrar.register(scene_items(target_dir))
    server = getattr(registrar, "server", None)
    return str(target["patch_uid"]), str(getattr(server, "url", None) or api_url)


@task(cache_policy=NO_CACHE)
def verify(store_path: Path, tampered_path: Path) -> tuple[VerifyReport, VerifyReport, int]:
    """Verify the store's audit chain, then a copy with one record edited."""
    report = GpkgPatchStore(store_path).verify_audit()
    seq = tampered_copy(store_path, tampered_path)
    return report, GpkgPatchStore(tampered_path).verify_audit(), seq


# --- the flow --------------------------------------------------------------------------


def _notes(r: FullCycleRequest, store: Path) -> tuple[str, ...]:
    return (
        "Decisions of reviewer, crews and supervisor are scripted; times come from a "
        "scripted clock.",
        "Accuracy reference labels are a simulation of field reference data: they come "
        "from the demo scene's planted events (truth.gpkg), not from a field visit.",
        f"Later period {r.later}: the period-1 acquisitions one year on, with the "
        "after-period surface pasted back at one closed patch (activity resumed).",
        f"Check the chain yourself: tiandi audit verify --store {store}",
    )


def _audit(report: VerifyReport, edited: int | None = None) -> dict[str, Any]:
    first = report.first_break
    out: dict[str, Any] = {"ok": report.ok, "records": report.records}
    if edited is None:
        return out | {"head_seq": report.head_seq, "head_hash": report.head_hash}
    return out | {
        "edited_seq": edited,
        "first_break": None if first is None else f"seq {first.seq} {first.kind}",
    }


def _reopened(store: Path) -> tuple[str, ...]:
    patches = GpkgPatchStore(store)
    return tuple(
        str(u)
        for u in patches.list_patches()["patch_uid"]
        if any(t.target is PatchState.REOPENED for t in patches.history(str(u)))
    )


@flow(name="full_cycle")
def full_cycle(
    request: FullCycleRequest, stac_api_url: str, registrar: Any = None
) -> FullCycleResult:
    """Run one supervision cycle on the demo scene (see the module docstring)."""
    r = request
    zones, truth = r.scene / "zones.gpkg", r.scene / "truth.gpkg"
    out = prepare_folder(r.out)
    store = out / "patches.gpkg"
    steps: list[CycleStep] = []

    def step(key: str, title: str, when: str, counts: dict[str, Any], note: str = "") -> None:
        at = clock(r.later if key == "recheck" else r.after, when)
        steps.append(CycleStep(key, title, iso_utc(at), counts, note))

    first = record_run(store, r.run, zones, r.before, r.after, clock(r.after, "record"))
    step(
        "detect",
        "检测 detect (period 1)",
        "record",
        {"detected": first.detected, "new": first.new},
        f"run {first.run_id}",
    )
    step(
        "screen",
        "初筛 screen",
        "record",
        {"screened (kept)": first.screened, "rejected (pseudo-change)": first.rejected},
    )

    decided = review(store, truth, clock(r.after, "review"))
    wrong = " (contradicts the planted events: a scripted reviewer error)"
    step(
        "review",
        "审核 review (scripted ecologist)",
        "review",
        {"accepted": len(decided["accepted"]), "rejected": len(decided["rejected"])},
        "rejected: "
        + ", ".join(decided["rejected"])
        + (wrong if decided["contradicts_truth"] else ""),
    )

    packages = dispatch(
        store, r.run, decided["accepted"], out / "packages", clock(r.after, "dispatch"), r.form
    )
    n_dispatched = len(GpkgPatchStore(store).list_patches(state=PatchState.DISPATCHED))
    step(
        "dispatch",
        "下发 dispatch",
        "dispatch",
        {"packages": len(packages), "dispatched": n_dispatched},
    )

    edited, bad = field_work(store, packages, truth, out / "returned", clock(r.after, "field"))
    step(
        "field",
        "外业核查 field work (simulated)",
        "field",
        {"packages edited": len(edited), "photo far from its patch": int(bad is not None)},
        f"task {bad} got a photo taken ~4 km away" if bad else "",
    )

    imports = import_field(store, out / "field-results.gpkg", edited, clock(r.after, "import"))
    step(
        "import",
        "回传导入 field import",
        "import",
        {
            "accepted": sum(len(rep.accepted) for rep, _ in imports),
            "rejected (quarantined)": sum(len(rep.rejected) for rep, _ in imports),
            "field_checked": sum(len(sync.transitions) for _, sync in imports),
            "points": sum(rep.points for rep, _ in imports),
        },
    )

    report = assess(store, r.run, zones, truth, decided["accepted"], out / "accuracy", r.seed)
    overall = report.to_dict()["groups"][0]
    step(
        "accuracy",
        "精度评价 accuracy (simulated reference)",
        "accuracy",
        {"samples": overall["n_samples"]},
        "reference labels simulated from the scene's planted events (truth.gpkg)",
    )

    step("close", "整改销号 rectify and close", "closed", supervise(store, r.after))

    target, api_url = later_period(store, r.scene, r.later_scene, truth, registrar, stac_api_url)
    recheck = DetectChangesRequest(
        zones=zones,
        before=r.before,
        after=r.later,
        out=out / "recheck",
        stations=r.scene / "stations.gpkg",
        collection=r.collection,
        chunk=r.chunk,
    )
    detect_changes(recheck, api_url, registrar)
    second = record_run(store, recheck.out, zones, r.before, r.later, clock(r.later, "record"))
    step(
        "recheck",
        "回头看 re-check (later period)",
        "record",
        {"detected": second.detected, "linked": second.linked, "reopened": second.reopened},
        f"activity resumed at {target}; period {r.later}",
    )

    audit, tampered, seq = verify(store, out / "tampered" / "patches.gpkg")
    summary = CycleSummary(
        steps=tuple(steps),
        accuracy=overall,
        audit=_audit(audit),
        tampered=_audit(tampered, seq),
        reopened=_reopened(store),
        outputs={
            "patch store": str(store),
            "field packages": str(out / "packages"),
            "field results": str(out / "field-results.gpkg"),
            "accuracy report": str(out / "accuracy" / "accuracy.html"),
            "re-check run": str(recheck.out),
            "later period scenes": str(r.later_scene),
            "tampered copy": str(out / "tampered" / "patches.gpkg"),
        },
        notes=_notes(r, store),
    )
    write_cycle_report(summary, out)
    (out / MARKER).unlink()
    return FullCycleResult(out, store, summary, report, audit, tampered)
