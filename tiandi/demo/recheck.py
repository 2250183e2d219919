"""A later period for the demo's re-check (回头看): the baseline acquisitions a year on,
with activity resumed at one site.

Construction (simple and stated, not a new simulation): every acquisition of the
scene's first ("before") period is copied with its date moved ``years`` later, and
inside ``footprint`` its pixels are replaced by those of the after-period acquisition
of the same rank (band by band, SCL included; digital numbers re-based from the after
scene's processing baseline to the before scene's). Compared with the first period,
the later period therefore shows exactly one change: the planted event inside
``footprint`` is there again, while every other site looks as it did before (restored
after rectification). Same season as the baseline, so no phenology enters.

Writes ``out_dir/scenes/<item_id>/<band>.tif`` (COGs as the scene generator writes
them) and ``out_dir/scenes.json``; deterministic for the same inputs.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.features
from pyproj import Transformer
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry
from shapely.ops import transform as reproject

from tiandi.demo.scene_io import write_cog, write_json
from tiandi.errors import InputError

_BASELINE_OFFSET = 1000  # added to valid DNs from processing baseline 04.00 on


def _entries(scene_dir: Path) -> list[dict[str, Any]]:
    path = scene_dir / "scenes.json"
    if not path.is_file():
        raise InputError(f"scene folder {scene_dir} has no scenes.json; generate the demo scene")
    entries: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return sorted(entries, key=lambda e: (str(e["datetime"]), str(e["item_id"])))


def _offset(entry: dict[str, Any]) -> int:
    return _BASELINE_OFFSET if int(entry.get("boa_add_offset", 0)) != 0 else 0


def _later(entry: dict[str, Any], years: int) -> tuple[str, str]:
    when = datetime.fromisoformat(str(entry["datetime"]).replace("Z", "+00:00"))
    moved = when.replace(year=when.year + years)
    old, new = when.strftime("%Y%m%d"), moved.strftime("%Y%m%d")
    item_id = str(entry["item_id"]).replace(old, new)
    if item_id == entry["item_id"]:
        item_id = f"{item_id}_{new}"
    return item_id, moved.strftime("%Y-%m-%dT%H:%M:%SZ")


def _pasted(
    base: npt.NDArray[Any], other: npt.NDArray[Any], inside: npt.NDArray[np.bool_], shift: int
) -> npt.NDArray[Any]:
    out = base.copy()
    if shift == 0 or base.dtype == np.uint8:
        out[inside] = other[inside]
        return out
    values = other[inside].astype(np.int32)
    moved = np.where(values > 0, np.clip(values + shift, 1, np.iinfo(base.dtype).max), 0)
    out[inside] = moved.astype(base.dtype)
    return out


def write_later_period(
    scene_dir: Path,
    out_dir: Path,
    footprint: BaseGeometry,
    *,
    footprint_crs: str,
    split: str = "2025-07-01",
    years: int = 1,
) -> list[dict[str, Any]]:
    """Write the later period (see the module docstring); returns its scenes.json records.

    ``footprint`` (in ``footprint_crs``) is where the after-period surface is pasted;
    acquisitions of ``split``'s year before ``split`` (ISO date) form the baseline period
    (the scene's earlier-year acquisitions, the dieback baseline, take no part). Raises
    :class:`InputError` when the scene has no acquisition on one side of ``split`` or the
    footprint covers no pixel.
    """
    scene_dir, out_dir = Path(scene_dir).resolve(), Path(out_dir).resolve()
    entries = _entries(scene_dir)
    year = split[:4]
    before = [e for e in entries if year <= str(e["datetime"])[:10] < split]
    after = [e for e in entries if str(e["datetime"])[:10] >= split]
    if not before or not after:
        raise InputError(
            f"scene {scene_dir} needs acquisitions before and after {split}; it has "
            f"{len(before)} and {len(after)}: generate the demo scene again"
        )
    records = []
    for rank, base in enumerate(before):
        source = after[rank % len(after)]
        item_id, when = _later(base, years)
        folder = out_dir / "scenes" / item_id
        folder.mkdir(parents=True, exist_ok=True)
        assets = {}
        for band, rel in sorted(base["assets"].items()):
            assets[band] = f"scenes/{item_id}/{band}.tif"
            _paste_band(
                scene_dir / rel,
                scene_dir / source["assets"][band],
                folder / f"{band}.tif",
                footprint,
                footprint_crs,
                _offset(base) - _offset(source),
                band,
            )
        records.append({**base, "item_id": item_id, "datetime": when, "assets": assets})
    write_json(out_dir / "scenes.json", records)
    return records


def _paste_band(
    base_path: Path,
    other_path: Path,
    target: Path,
    footprint: BaseGeometry,
    footprint_crs: str,
    shift: int,
    band: str,
) -> None:
    with rasterio.open(base_path) as base, rasterio.open(other_path) as other:
        if (base.shape, base.transform) != (other.shape, other.transform):
            raise InputError(f"{base_path} and {other_path} are not on the same grid")
        to_raster = Transformer.from_crs(footprint_crs, base.crs, always_xy=True)
        geom = reproject(to_raster.transform, footprint)
        inside = rasterio.features.geometry_mask(
            [mapping(geom)], out_shape=base.shape, transform=base.transform, invert=True
        )
        if band != "SCL" and not inside.any():
            raise InputError(
                f"the re-check footprint covers no pixel of {base_path}; pass a larger one"
            )
        data = _pasted(base.read(1), other.read(1), inside, shift)
        crs, transform = str(base.crs), base.transform
    write_cog(
        target,
        data,
        transform=transform,
        crs=crs,
        nodata=0,
        resampling="nearest" if band == "SCL" else "average",
        description=band,
    )
