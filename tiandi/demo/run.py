"""``tiandi demo``: generate the demo scene, catalogue it, run detect_changes on it, then
the disturbance flows (burned area, water and coastline, forest dieback, algal blooms;
:mod:`tiandi.demo.disturbances`), scored against the planted disturbances.

The scene is generated once per (size, seed) under ``<home>/demo/`` and reused (a scene
of an older generator, without the earlier-year acquisitions, is generated again); its
items are (re-)registered in the embedded catalog, which is idempotent (upsert by id).
With ``full_cycle`` the run is followed by the whole supervision cycle
(:mod:`tiandi.demo.cycle_flow`) in ``<out>/cycle``. The demo only makes sure a Prefect
API exists and calls the flows with its settings; the flows open the rest.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from tiandi.catalog.store import GeoParquetCatalog
from tiandi.demo.disturbances import print_disturbances, run_disturbances
from tiandi.demo.scene import BASELINE_ACQUISITIONS, generate_scene
from tiandi.demo.scene_catalog import AFTER, BEFORE, DEMO_COLLECTION, scene_items
from tiandi.flows.detect_changes import (
    DetectChangesRequest,
    DetectChangesResult,
    check_inputs,
    detect_changes,
)
from tiandi.flows.runtime import prefect_session
from tiandi.redline.reports.run_summary import print_summary
from tiandi.redline.run_layout import RunLayout
from tiandi.settings import Settings

__all__ = ["AFTER", "BEFORE", "DEMO_COLLECTION", "prepare_scene", "run_demo", "scene_items"]


def prepare_scene(settings: Settings, *, size: int, seed: int, console: Any) -> Path:
    """The demo scene folder of (size, seed), generated if new, its items catalogued."""
    scene_dir = (settings.home / "demo" / f"scene-{size}-seed{seed}").resolve()
    if not _current(scene_dir):
        console.print(f"generating the demo scene ({size}x{size} px) in {scene_dir}")
        generate_scene(scene_dir, size=size, seed=seed)
    else:
        console.print(f"reusing the demo scene in {scene_dir}")
    items = scene_items(scene_dir)
    GeoParquetCatalog(settings.catalog_path).add(items)
    console.print(f"{len(items)} scenes registered in {settings.catalog_path}")
    return scene_dir


def _current(scene_dir: Path) -> bool:
    """Whether ``scene_dir`` holds a scene of this generator (with its earlier year)."""
    path = scene_dir / "scenes.json"
    if not path.exists():
        return False
    first = f"{BASELINE_ACQUISITIONS[0].day:%Y-%m-%d}"
    return any(str(e.get("datetime", "")).startswith(first) for e in json.loads(path.read_text()))


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
) -> DetectChangesResult:
    """Prepare the demo scene and catalog, then run the flow with embedded services;
    with ``full_cycle``, then the whole supervision cycle in ``<out>/cycle``.
    ``detector``: a name ``load_detector`` knows (default: the flow's default)."""
    scene_dir = prepare_scene(settings, size=size, seed=seed, console=console)
    request = demo_request(settings, scene_dir, out, detector)
    check_inputs(request, settings)
    with prefect_session(settings) as prefect_url:
        console.print(f"Prefect API {prefect_url}")
        result = detect_changes(request, settings)
        print_summary(result.summary, result.patches, result.out, console)
        console.print("disturbance runs: burned area, water and coastline, dieback, blooms")
        disturbances = run_disturbances(settings, scene_dir, result.out, chunk=settings.chunk_size)
        cycle = run_cycle(settings, scene_dir, result.out, console) if full_cycle else None
    print_disturbances(disturbances, console)
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
