"""Ingest a UAV orthophoto: check, co-register to the satellite grid, chip the patches.

``ingest_uav`` writes into ``out_dir``:

- ``coregistration.json`` — the shift found (metres and satellite pixels), or why none;
- ``orthophoto.tif`` — a copy with the corrected georeference, only when the shift is at
  least ``apply_min_px`` satellite pixels (the item's ``visual`` asset then points to it;
  otherwise to the original file, left untouched);
- ``chips/<patch_id>.png`` and ``chips/index.csv`` — the higher-resolution evidence for
  every patch the orthophoto covers (see :mod:`tiandi.eo.chips`).

It returns the STAC item (collection ``uav``) with ``tiandi:coreg_*`` properties and a
``chips_index`` asset; registering it in a catalog is the caller's step.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime as Datetime
from pathlib import Path

import pystac

from tiandi._io import atomic_path
from tiandi.catalog.uav import check_orthophoto, uav_item, uav_item_id
from tiandi.eo.chips import Chip, read_patches, write_chips
from tiandi.eo.coregister import Coregistration, coregister, shifted_copy


@dataclass(frozen=True, eq=False)
class UavIngest:
    """Result of :func:`ingest_uav`."""

    item: pystac.Item
    coregistration: Coregistration | None
    applied: bool
    chips: tuple[Chip, ...]
    out_dir: Path


def ingest_uav(
    orthophoto: Path,
    out_dir: Path,
    *,
    satellite: Path | None = None,
    patches: Path | None = None,
    datetime: Datetime | None = None,
    item_id: str | None = None,
    apply_min_px: float = 0.5,
) -> UavIngest:
    """Check ``orthophoto``, co-register it to ``satellite``, chip ``patches``; see module."""
    info = check_orthophoto(Path(orthophoto))
    item_id = item_id or uav_item_id(info)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = coregister(info.path, Path(satellite)) if satellite is not None else None
    applied = (
        result is not None and result.status == "estimated" and result.shift_px >= apply_min_px
    )
    visual = info.path
    if applied and result is not None:
        visual = shifted_copy(info.path, out_dir / "orthophoto.tif", result)
    properties = {} if result is None else result.properties()
    if result is not None:
        properties["tiandi:coreg_applied"] = applied
        with atomic_path(out_dir / "coregistration.json") as tmp:
            doc = {**asdict(result), "applied": applied, "reference": str(satellite)}
            tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    chips: list[Chip] = []
    if patches is not None:
        chips = write_chips(visual, read_patches(Path(patches)), out_dir / "chips", item_id=item_id)
    item = uav_item(info, asset=visual, item_id=item_id, datetime=datetime, properties=properties)
    if patches is not None:
        item.add_asset(
            "chips_index",
            pystac.Asset(
                (out_dir / "chips" / "index.csv").resolve().as_uri(),
                media_type="text/csv",
                roles=["metadata"],
                title=f"{len(chips)} patch chips",
            ),
        )
    return UavIngest(item, result, applied, tuple(chips), out_dir)
