"""``tiandi demo``: generate the demo scene, catalogue it, run detect_changes on it.

The scene is generated once per (size, seed) under ``<home>/demo/`` and reused; its
items are (re-)registered in the embedded catalog, which is idempotent (upsert by id).
With ``full_cycle`` the run is followed by the whole supervision cycle
(:mod:`tiandi.flows.full_cycle`) in ``<out>/cycle``, with the same services.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pystac

from tiandi.catalog.items import item_from_rasters
from tiandi.catalog.store import GeoParquetCatalog
from tiandi.demo.scene import generate_scene
from tiandi.flows.detect_changes import DetectChangesRequest, DetectChangesResult, detect_changes
from tiandi.flows.services import check_inputs, run_with_services, running_services
from tiandi.redline.reports.run_summary import print_summary
from tiandi.settings import Settings

DEMO_COLLECTION = "sentinel-2-l2a"
BEFORE = "2025-01-01/2025-06-30"
AFTER = "2025-07-01/2025-12-31"


def scene_items(scene_dir: Path) -> list[pystac.Item]:
    """STAC items of a generated scene folder (its ``scenes.json``)."""
    entries = json.loads((scene_dir / "scenes.json").read_text(encoding="utf-8"))
    items = []
    for entry in entries:
        assets = {band: scene_dir / rel for band, rel in entry["assets"].items()}
        items.append(
            item_from_rasters(
                entry["item_id"],
                assets,
                datetime=datetime.fromisoformat(entry["datetime"].replace("Z", "+00:00")),
                collection=DEMO_COLLECTION,
                properties={
                    "platform": entry["platform"],
                    "constellation": "sentinel-2",
                    "eo:cloud_cover": entry["cloud_cover"],
                    "s2:processing_baseline": entry["processing_baseline"],
                    "s2:boa_add_offset": entry["boa_add_offset"],
                },
            )
        )
    return items


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
    scene_dir = (settings.home / "demo" / f"scene-{size}-seed{seed}").resolve()
    if not (scene_dir / "scenes.json").exists():
        console.print(f"generating the demo scene ({size}x{size} px) in {scene_dir}")
        generate_scene(scene_dir, size=size, seed=seed)
    else:
        console.print(f"reusing the demo scene in {scene_dir}")
    items = scene_items(scene_dir)
    GeoParquetCatalog(settings.catalog_path).add(items)
    console.print(f"{len(items)} scenes registered in {settings.catalog_path}")
    request = DetectChangesRequest(
        zones=scene_dir / "zones.gpkg",
        before=BEFORE,
        after=AFTER,
        out=out,
        stations=scene_dir / "stations.gpkg",
        truth=scene_dir / "truth.gpkg",
        collection=DEMO_COLLECTION,
        chunk=settings.chunk_size,
        store=settings.patch_store_path,
    )
    if detector is not None:
        request = replace(request, detector=detector)
    if not full_cycle:
        result = run_with_services(request, settings, console)
        console.print(f"open {result.out / 'summary.html'} in a browser")
        return result
    from tiandi.demo.cycle_report import print_cycle
    from tiandi.flows.full_cycle import FullCycleRequest
    from tiandi.flows.full_cycle import full_cycle as cycle_flow
    from tiandi.redline.field.form import qgis_available

    check_inputs(request)
    with running_services(settings, console) as (api_url, registrar):
        result = detect_changes(request, api_url, registrar)
        print_summary(result.summary, result.patches, result.out, console)
        cycle = cycle_flow(
            FullCycleRequest(
                run=result.out,
                scene=scene_dir,
                out=result.out / "cycle",
                later_scene=scene_dir.with_name(f"{scene_dir.name}-later"),
                chunk=settings.chunk_size,
                form=qgis_available(),
            ),
            api_url,
            registrar,
        )
    print_cycle(cycle.summary, console)
    console.print(f"open {cycle.out / 'cycle.html'} and {result.out / 'summary.html'} in a browser")
    return result
