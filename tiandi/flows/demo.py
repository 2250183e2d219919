"""``tiandi demo``: generate the demo scene, catalogue it, run detect_changes on it.

The scene is generated once per (size, seed) under ``<home>/demo/`` and reused; its
items are (re-)registered in the embedded catalog, which is idempotent (upsert by id).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pystac

from tiandi.catalog.items import item_from_rasters
from tiandi.catalog.store import GeoParquetCatalog
from tiandi.demo.scene import generate_scene
from tiandi.flows.detect_changes import DetectChangesRequest, DetectChangesResult
from tiandi.flows.services import run_with_services
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
    settings: Settings, *, size: int, seed: int, out: Path, console: Any
) -> DetectChangesResult:
    """Prepare the demo scene and catalog, then run the flow with embedded services."""
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
    result = run_with_services(request, settings, console)
    console.print(f"open {result.out / 'summary.html'} in a browser")
    return result
