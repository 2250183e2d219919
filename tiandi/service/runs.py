"""A run's outputs as a STAC Item: ``GET /runs/{run_id}/stac``.

The run's folder is the one the store recorded for it
(:func:`tiandi.redline.store.run_folder.run_folder`: ``RunInfo.source``); the item lists
its change probability, change mask,
composites and patches (through :func:`tiandi.catalog.items.output_item`: projection,
raster bands, file sizes and checksums), the datetime range from the start of the
``before`` period to the end of the ``after`` period, the zone-set version and the
detector, and links to the configured STAC API (``TIANDI_STAC_API_URL``) when one is set.

``GET /runs/{run_id}/zones``: the zones the run used (the file its ``summary.json`` names
as ``zones_file``, read by :func:`tiandi.redline.zones.read.read_zones`) as a GeoJSON
FeatureCollection in longitude/latitude (EPSG:4490), for the review page's zone outlines.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import pystac
import shapely
from fastapi import APIRouter, Depends, Request

from tiandi import __version__
from tiandi._time import parse_time, period_end
from tiandi.catalog.items import ProcessingInfo, output_item
from tiandi.errors import InputError, NotFoundError
from tiandi.redline.run_layout import RunLayout
from tiandi.redline.store.gpkg import RunInfo
from tiandi.redline.store.run_folder import run_folder, run_info
from tiandi.redline.vocabulary import STORE_CRS
from tiandi.redline.zones.read import read_zones
from tiandi.service.auth import TokenInfo
from tiandi.service.deps import READERS, app_settings, error_responses, require, store
from tiandi.service.geojson import clean_dict

router = APIRouter(tags=["platform"], responses=error_responses(401, 403, 404, 422))
Reader = Annotated[TokenInfo, Depends(require(*READERS))]
#: The collection the flow registers run outputs in (``tiandi.flows.detect_changes``).
OUTPUT_COLLECTION = "tiandi-outputs"
_ROLES = {"change_prob": ["data"], "change_mask": ["data"], "patches": ["data"]}


def _period_start(period: str) -> datetime:
    return parse_time(period.split("/")[0], "period")


def run_item(info: RunInfo, folder: Path, stac_api_url: str | None) -> pystac.Item:
    """The STAC item of the outputs of run ``info`` in ``folder``."""
    layout = RunLayout(folder)
    assets = {
        "change_prob": layout.change_prob,
        "change_mask": layout.change_mask,
        **layout.composites(),
        "patches": layout.patches,
    }
    missing = [k for k, p in assets.items() if not p.is_file()]
    if missing:
        raise NotFoundError(
            f"run {info.run_id!r}: its folder {folder} lacks {', '.join(missing)}; the outputs "
            "were moved or deleted"
        )
    detector = info.parameters.get("detector")
    item = output_item(
        f"{info.run_id}-change",
        assets,
        datetime=period_end(info.period_after),
        collection=OUTPUT_COLLECTION,
        processing=ProcessingInfo(
            lineage=f"tiandi detect_changes {info.period_before} -> {info.period_after}",
            software={"tiandi": __version__},
            model=None if detector is None else str(detector),
        ),
        properties={
            "start_datetime": _period_start(info.period_before).isoformat(),
            "end_datetime": period_end(info.period_after).isoformat(),
            "tiandi:run_id": info.run_id,
            "tiandi:zone_set_version": info.zone_set_version,
            "tiandi:detector": detector,
            "tiandi:period_before": info.period_before,
            "tiandi:period_after": info.period_after,
        },
    )
    for key, asset in item.assets.items():
        asset.roles = _ROLES.get(key, ["data", "reflectance"])
        asset.title = {"change_prob": "change probability", "change_mask": "change mask"}.get(
            key, f"{key} composite" if key in layout.composites() else key
        )
    if stac_api_url:
        api = stac_api_url.rstrip("/")
        item.add_link(pystac.Link("root", api, media_type="application/json"))
        collection = f"{api}/collections/{OUTPUT_COLLECTION}"
        item.add_link(pystac.Link("collection", collection, media_type="application/json"))
        item.add_link(
            pystac.Link(
                "canonical", f"{collection}/items/{item.id}", media_type="application/geo+json"
            )
        )
    return item


@router.get("/runs/{run_id}/stac", summary="The run's outputs as a STAC Item")
def run_stac(run_id: str, _: Reader, request: Request) -> dict[str, Any]:
    """A STAC Item (pystac) of the run's change maps, composites and patches."""
    found = store(request)
    info = run_info(found, run_id)
    try:
        item = run_item(info, run_folder(found, run_id).root, app_settings(request).stac_api_url)
    except InputError as exc:
        if isinstance(exc, NotFoundError):
            raise
        raise NotFoundError(f"run {run_id!r}: its outputs cannot be read ({exc})") from None
    item.add_link(pystac.Link("self", str(request.url), media_type="application/geo+json"))
    out: dict[str, Any] = item.to_dict(transform_hrefs=False)
    return out


_ZONE_PROPERTIES = ("zone_id", "name", "zone_type", "level", "functional_zone")


def _zones_file(layout: RunLayout, run_id: str) -> Path:
    """The zones file ``run_id`` used, from its ``summary.json``; ``NotFoundError`` when
    the summary or the file is gone. A relative path is taken from the run folder."""
    try:
        summary = json.loads(layout.summary_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise NotFoundError(
            f"run {run_id!r}: its summary ({layout.summary_json}) is missing or unreadable; "
            "restore the run folder or re-run detect-changes"
        ) from None
    recorded = summary.get("zones_file") if isinstance(summary, dict) else None
    path = Path(str(recorded)) if recorded else None
    if path is not None and not path.is_absolute() and not path.is_file():
        path = layout.root / path
    if path is None or not path.is_file():
        raise NotFoundError(
            f"run {run_id!r}: the zones file its summary names ({recorded!r}) is gone; "
            "restore it there or re-run detect-changes"
        )
    return path


@router.get("/runs/{run_id}/zones", summary="The zones a run used, as GeoJSON (lon/lat)")
def run_zones(run_id: str, _: Reader, request: Request) -> dict[str, Any]:
    """The zones of run ``run_id`` (id, name, type, level, functional zone) as a GeoJSON
    FeatureCollection in EPSG:4490 longitude/latitude; 404 when its folder or zones file
    is gone."""
    path = _zones_file(run_folder(store(request), run_id), run_id)
    try:
        zones = read_zones(path).to_crs(STORE_CRS)
    except InputError as exc:
        raise NotFoundError(f"run {run_id!r}: its zones file cannot be read ({exc})") from None
    features = [
        {
            "type": "Feature",
            "id": str(row["zone_id"]),
            "geometry": json.loads(shapely.to_geojson(row.geometry)),
            "properties": clean_dict(
                {k: (None if pd.isna(row[k]) else str(row[k])) for k in _ZONE_PROPERTIES}
            ),
        }
        for _, row in zones.iterrows()
    ]
    return {"type": "FeatureCollection", "run_id": run_id, "features": features}
