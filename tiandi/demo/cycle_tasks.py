"""The tasks of the demo's ``full_cycle`` flow: thin wrappers around the scripted people
(:mod:`tiandi.demo.cycle_script`), the cycle's choices (:mod:`tiandi.demo.cycle_steps`)
and the library. Every task that touches the cycle's patch store takes the settings that
name it and opens it with :func:`~tiandi.redline.store.open.open_store`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import geopandas as gpd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tiandi.catalog.register import Registrar
from tiandi.demo import cycle_steps
from tiandi.demo.cycle_script import (
    apply_review,
    scripted_review,
    scripted_supervision,
    simulated_reference,
    tampered_copy,
)
from tiandi.demo.recheck import write_later_period
from tiandi.demo.scene_catalog import scene_items
from tiandi.errors import InputError
from tiandi.redline.accuracy.report import AccuracyReport, accuracy_report, write_accuracy_report
from tiandi.redline.accuracy.sampling import SamplingParams, design_sample, write_samples
from tiandi.redline.field.importer import ImportReport
from tiandi.redline.field.lifecycle import FieldSync, import_field_results, record_dispatch
from tiandi.redline.field.package import PackageOptions, build_field_packages, read_run_tasks
from tiandi.redline.field.results_store import SqliteFieldStore
from tiandi.redline.run_layout import RunLayout
from tiandi.redline.store.audit import VerifyReport
from tiandi.redline.store.gpkg import ImportSummary
from tiandi.redline.store.lifecycle import PatchState
from tiandi.redline.store.open import open_store
from tiandi.redline.store.recording import record_detections
from tiandi.settings import Settings

ECOLOGIST = "生态判读员 demo-ecologist"
DISPATCHER = "任务调度员 demo-dispatcher"
SUPERVISOR = "监管负责人 demo-supervisor"


@task(cache_policy=NO_CACHE)
def prepare_folder(out: Path) -> Path:
    """Replace an earlier cycle folder (only one: it holds cycle.json or INCOMPLETE)."""
    return cycle_steps.prepare_cycle_folder(out)


@task(cache_policy=NO_CACHE)
def record_run(
    settings: Settings, run_dir: Path, zones: Path, before: str, after: str, at: datetime
) -> ImportSummary:
    """Record a detect_changes run's kept and screened-out patches in the store."""
    found = cycle_steps.run_detections(run_dir)
    info = cycle_steps.run_info(run_dir, zones, before, after, at, found.parameters)
    done = record_detections(open_store(settings), found.kept, found.screened, info)
    get_run_logger().info("run %s recorded: %s", info.run_id, done)
    return done


@task(cache_policy=NO_CACHE)
def review(settings: Settings, truth: Path, at: datetime) -> dict[str, list[str]]:
    """Scripted ecologist review of every screened patch."""
    store = open_store(settings)
    decisions = scripted_review(
        store.list_patches(state=PatchState.SCREENED), gpd.read_file(truth, layer="events")
    )
    apply_review(store, decisions, actor=ECOLOGIST, at=at)
    return cycle_steps.review_outcome(decisions)


@task(cache_policy=NO_CACHE)
def dispatch(
    settings: Settings, run_dir: Path, accepted: list[str], out: Path, at: datetime, form: bool
) -> list[Path]:
    """Field packages of the accepted patches; their patches go to ``dispatched``."""
    tasks = read_run_tasks(run_dir)
    tasks = tasks[tasks["patch_id"].astype(str).isin(accepted)]
    packages = build_field_packages(
        tasks,
        out,
        composites=RunLayout(run_dir).composites(),
        dispatched_at=at,
        run_id=run_dir.resolve().name,
        options=PackageOptions(form=form),
    )
    gpkgs = [p.gpkg for p in packages]
    moved = record_dispatch(open_store(settings), gpkgs, actor=DISPATCHER, at=at)
    get_run_logger().info("%d patches dispatched in %d packages", len(moved), len(gpkgs))
    return gpkgs


@task(cache_policy=NO_CACHE)
def field_work(
    settings: Settings, packages: list[Path], truth: Path, out: Path, checked_at: datetime
) -> tuple[list[Path], str | None]:
    """Copy each package to a 'tablet' and fill it in; one photo is taken far away."""
    return cycle_steps.field_work(open_store(settings), packages, truth, out, checked_at)


@task(cache_policy=NO_CACHE)
def import_field(
    settings: Settings, field_store: Path, packages: list[Path], now: datetime
) -> list[tuple[ImportReport, FieldSync]]:
    """Import every returned package; accepted results move their patches."""
    results = SqliteFieldStore(field_store)
    store = open_store(settings)
    done = [
        import_field_results(p, results, store, actor="demo-office", now=now, strict=False)
        for p in packages
    ]
    for report, _ in done:
        get_run_logger().info("%s", report.summary())
    return done


@task(cache_policy=NO_CACHE)
def assess(
    settings: Settings,
    run_dir: Path,
    zones: Path,
    truth: Path,
    accepted: list[str],
    out: Path,
    seed: int,
) -> AccuracyReport:
    """Olofsson design over the reviewed change map; simulated reference; 95 % CIs."""
    mapped = open_store(settings).list_patches()
    mapped = mapped[mapped["patch_id"].astype(str).isin(accepted)]
    design = design_sample(
        RunLayout(run_dir).change_mask,
        patches=mapped,
        zones=zones,
        params=SamplingParams(seed=seed),
    )
    write_samples(design, out / "samples.gpkg")
    verified = replace(
        design, samples=simulated_reference(design.samples, gpd.read_file(truth, layer="events"))
    )
    write_samples(verified, out / "samples-verified.gpkg")
    report = accuracy_report(verified.samples, design.strata_table, by="reserve")
    write_accuracy_report(report, out / "accuracy.json")
    return report


@task(cache_policy=NO_CACHE)
def supervise(settings: Settings, after: str) -> dict[str, int]:
    """Rectification ordered, rectified and closed (销号), by the scripted supervisor."""
    return scripted_supervision(
        open_store(settings),
        actor=SUPERVISOR,
        ordered=cycle_steps.clock(after, "rectification"),
        rectified=cycle_steps.clock(after, "rectified"),
        closed=cycle_steps.clock(after, "closed"),
    )


@task(cache_policy=NO_CACHE)
def later_period(
    settings: Settings, scene: Path, target_dir: Path, truth: Path, registrar: Registrar | None
) -> str:
    """Write and register the later period; activity resumes at one closed patch.

    Returns that patch's patch_uid. Registering restarts the embedded server, which may
    then listen on another port: ask the flow's services for the URL afterwards."""
    if registrar is None:
        raise InputError(
            "the re-check needs the later period in the embedded catalog, but a STAC API is "
            "configured (TIANDI_STAC_API_URL); run the full cycle with the embedded catalog"
        )
    target = cycle_steps.recheck_target(open_store(settings), truth)
    write_later_period(scene, target_dir, target.footprint, footprint_crs=target.crs)
    registrar.register(scene_items(target_dir))
    return target.patch_uid


@task(cache_policy=NO_CACHE)
def verify(settings: Settings, tampered_path: Path) -> tuple[VerifyReport, VerifyReport, int]:
    """Verify the store's audit chain, then a copy with one record edited."""
    report = open_store(settings).verify_audit()
    seq = tampered_copy(settings.patch_store_path, tampered_path)
    tampered = settings.model_copy(update={"patch_store": tampered_path})
    return report, open_store(tampered).verify_audit(), seq
