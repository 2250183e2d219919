"""The demo scene as the catalog sees it: its collection, periods and STAC items."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pystac

from tiandi.catalog.items import item_from_rasters

DEMO_COLLECTION = "sentinel-2-l2a"
BEFORE = "2025-01-01/2025-06-30"
AFTER = "2025-07-01/2025-12-31"
LATER = "2026-01-01/2026-06-30"


def scene_items(scene_dir: Path, collection: str = DEMO_COLLECTION) -> list[pystac.Item]:
    """STAC items of a generated scene folder (its ``scenes.json``), of ``collection``."""
    entries = json.loads((scene_dir / "scenes.json").read_text(encoding="utf-8"))
    items = []
    for entry in entries:
        assets = {band: scene_dir / rel for band, rel in entry["assets"].items()}
        items.append(
            item_from_rasters(
                entry["item_id"],
                assets,
                datetime=datetime.fromisoformat(entry["datetime"].replace("Z", "+00:00")),
                collection=collection,
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
