"""``tiandi demo``: generate the demo scene, catalogue it, run detect_changes on it; with
``disturbances`` (``tiandi demo``'s default; not with ``--no-disturbances``) the scene
also has the planted ecological disturbances and the disturbance flows (burned area,
water and coastline, forest dieback, algal blooms; :mod:`tiandi.demo.disturbances`) run
after, scored against them. With ``real_spectra`` (``tiandi demo``'s default; not with
``--hand-set-spectra``) every cover and event of the scene is painted with real Sentinel-2
pixels (:mod:`tiandi.demo.scene_real_covers`); both defaults need the real data folder
(``../shared/data`` or ``$TIANDI_DEMO_DATA``), ``--hand-set-spectra --no-disturbances``
none.

The scene is generated once per (size, seed, spectra, disturbances) under ``<home>/demo/`` and
reused; its items are (re-)registered in the embedded catalog, which is idempotent (upsert by id).
With ``full_cycle`` the run is followed by the whole supervision cycle
(:mod:`tiandi.demo.cycle_flow`) in ``<out>/cycle``. The demo only makes sure a Prefect
API exists and calls the flows with its settings; the flows open the rest.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from tiandi.catalog.store import GeoParquetCatalog
from tiandi.demo.disturbances import (
    DisturbanceRuns,
    disturbance_pages,
    print_disturbances,
    run_disturbances,
)
from tiandi.demo.scene import generate_scene
from tiandi.demo.scene_catalog import AFTER, BEFORE, DEMO_COLLECTION, scene_items
from tiandi.flows.detect_changes import (
    DetectChangesRequest,
    DetectChangesResult,
    check_inputs,
    detect_changes,
)
from tiandi.flows.runtime import prefect_session
from tiandi.redline.reports.run_summary import print_summary, write_summary_html
from tiandi.redline.run_layout import RunLayout
from tiandi.settings import Settings

__all__ = ["AFTER", "BEFORE", "DEMO_COLLECTION", "prepare_scene", "run_demo", "scene_items"]


def prepare_scene(
    settings: Settings,
    *,
    size: int,
    seed: int,
    console: Any,
    disturbances: bool = False,
    real_spectra: bool = False,
) -> Path:
    """The demo scene folder of (size, seed), generated if new, its items catalogued;
    with ``disturbances`` a folder of its own (``scene-<size>-seed<seed>-disturbances``)
    whose scene has the planted disturbances; with ``real_spectra`` one
    (``scene-<size>-seed<seed>-real``) whose covers are painted with real pixels."""
    name = f"scene-{size}-seed{seed}" + ("-real" if real_spectra else "")
    name += "-disturbances" if disturbances else ""
    scene_dir = (settings.home / "demo" / name).resolve()
    if not (scene_dir / "scenes.json").exists():
        console.print(f"generating the demo scene ({size}x{size} px) in {scene_dir}")
        generate_scene(
            scene_dir,
            size=size,
            seed=seed,
            disturbances=disturbances,
            spectra="real" if real_spectra else "synthetic",
        )
    else:
        console.print(f"reusing the demo scene in {scene_dir}")
    items = scene_items(scene_dir)
    GeoParquetCatalog(settings.catalog_path).add(items)
    console.print(f"{len(items)} scenes registered in {settings.catalog_path}")
    return scene_dir


def demo_request(
    settings: Settings, scene_dir: Path, out: Path, detector: str | None
) -> DetectChangesRequest:
    """The detect_changes request of the demo: the scene's zones, stations and truth,
    recorded in the patch store."""
    request = DetectChangesRequest(
        zones=scene_dir / "zones.gpkg",
        before=BEFORE,
        after=AFTER,
        out=out,
        stations=scene_dir / "stations.gpkg",
        truth=scene_dir / "truth.gpkg",
        collection=DEMO_COLLECTION,
        chunk=settings.chunk_size,
        record=True,
    )
    return request if detector is None else replace(request, detector=detector)


def run_cycle(settings: Settings, scene_dir: Path, run: Path, console: Any) -> Path:
    """The supervision cycle after the demo run, in ``<run>/cycle``; returns that folder."""
    from tiandi.demo.cycle_flow import FullCycleRequest, full_cycle
    from tiandi.demo.cycle_report import print_cycle
    from tiandi.redline.field.form import qgis_available

    request = FullCycleRequest(
        run=run,
        scene=scene_dir,
        out=run / "cycle",
        later_scene=scene_dir.with_name(f"{scene_dir.name}-later"),
        chunk=settings.chunk_size,
        form=qgis_available(),
    )
    cycle = full_cycle(request, settings)
    print_cycle(cycle.summary, console)
    return cycle.out


def run_demo(
    settings: Settings,
    *,
    size: int,
    seed: int,
    out: Path,
    console: Any,
    full_cycle: bool = False,
    detector: str | None = None,
    disturbances: bool = True,
    real_spectra: bool = True,
) -> DetectChangesResult:
    """Prepare the demo scene and catalog, then run the flow with embedded services
    (defaults: those of ``tiandi demo``); with ``disturbances``, on the scene with the
    planted disturbances, then the disturbance flows (their per-type table printed);
    with ``full_cycle``, then the whole
    supervision cycle in ``<out>/cycle``; with ``real_spectra``, on the scene whose covers
    are real Sentinel-2 pixels (:mod:`tiandi.demo.scene_real_covers`).
    ``detector``: a name ``load_detector`` knows (default: the flow's default)."""
    scene_dir = prepare_scene(
        settings,
        size=size,
        seed=seed,
        console=console,
        disturbances=disturbances,
        real_spectra=real_spectra,
    )
    request = demo_request(settings, scene_dir, out, detector)
    check_inputs(request, settings)
    with prefect_session(settings) as prefect_url:
        console.print(f"Prefect API {prefect_url}")
        result = detect_changes(request, settings)
        print_summary(result.summary, result.patches, result.out, console)
        runs = None
        if disturbances:
            console.print("disturbance runs: burned area, water and coastline, dieback, blooms")
            runs = run_disturbances(settings, scene_dir, result.out, chunk=settings.chunk_size)
        cycle = run_cycle(settings, scene_dir, result.out, console) if full_cycle else None
    if runs is not None:
        print_disturbances(runs, console)
        link_disturbance_pages(result, runs)
    page = RunLayout(result.out).summary_html
    if cycle is None:
        console.print(f"open {page} in a browser")
    else:
        console.print(f"open {cycle / 'cycle.html'} and {page} in a browser")
    console.print(
        "review the patches in the browser: run `make serve` (or `tiandi serve --demo-tokens`) "
        "and open the review page it prints"
    )
    return result


def link_disturbance_pages(result: DetectChangesResult, runs: DisturbanceRuns) -> None:
    """Add the disturbance runs' pages to the outputs listed by the human-activity run's
    ``summary.html`` (and ``summary.json``), as paths relative to its folder."""
    out = result.out.resolve()
    pages = {
        f"{name} 生态扰动": str(page.resolve().relative_to(out))
        for name, page in disturbance_pages(runs).items()
        if page.resolve().is_relative_to(out)
    }
    summary = replace(result.summary, outputs={**result.summary.outputs, **pages})
    write_summary_html(summary, result.patches, result.out)
