"""The tasks of the ``monitor_blooms`` flow, each a thin wrapper around a library function
(:mod:`tiandi.models.bloom`, :mod:`tiandi.redline.patches.bloom`). File names inside the
run folder come from :class:`RunLayout`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import pandas as pd
import pystac
from odc.geo.geobox import GeoBox
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tiandi._io import atomic_path
from tiandi.models.bloom import (
    BloomParams,
    WaterBodies,
    bloom_pieces,
    date_layers,
    date_stats,
    find_water_bodies,
    water_mask,
)
from tiandi.redline.patches.bloom import (
    BloomGrading,
    bloom_patch_frame,
    series_rows,
)
from tiandi.redline.patches.extract import write_gpkg_layers
from tiandi.redline.reports.ledger import BLOOM_REGISTER, bloom_register, write_ledger_csv
from tiandi.redline.run_layout import RunLayout
from tiandi.redline.store.gpkg import GpkgPatchStore, PatchStore, RunInfo
from tiandi.redline.store.recording import record_detections
from tiandi.redline.vocabulary import STORE_CRS


@task(cache_policy=NO_CACHE)
def water_bodies(
    zones: gpd.GeoDataFrame,
    items: list[pystac.Item],
    grid: GeoBox,
    params: BloomParams,
    chunk: int,
) -> WaterBodies:
    """The water bodies of the zones from the MNDWI of the period's composite."""
    bodies = find_water_bodies(water_mask(items, grid, params, chunk), zones, grid, params)
    get_run_logger().info(
        "%d water bodies in %d zones (%.1f ha of water)",
        len(bodies.table),
        len(zones),
        bodies.table["area_m2"].sum() / 10_000.0,
    )
    return bodies


@task(cache_policy=NO_CACHE)
def screen_date(
    date: str,
    items: list[pystac.Item],
    bodies: WaterBodies,
    params: BloomParams,
    grading: BloomGrading,
    chunk: int,
) -> tuple[list[dict[str, Any]], gpd.GeoDataFrame | None]:
    """The series rows of one date and, when a water body alerts, its bloom patches."""
    layers = date_layers(items, bodies.grid, params, chunk)
    if layers is not None:
        # read once: the statistics and, on an alert, the pieces both need the date's
        # bands (two graphs of the same keys also made the distributed scheduler warn)
        layers = layers.persist()
    stats = date_stats(layers, bodies, params) if layers is not None else None
    rows = series_rows(bodies.table, date, stats, bodies.pixel_m2, params.min_clear_share, grading)
    day = pd.DataFrame(rows)
    patches = None
    if layers is not None and day["alert"].any():
        pieces = bloom_pieces(layers, bodies, params)
        patches = bloom_patch_frame(pieces, bodies.table, day, date, params.fai_threshold)
    alerts = [f"{r['water_id']} {r['grade_zh']} {r['bloom_share']:.1%}" for r in rows if r["alert"]]
    no_data = sum(r["grade"] == "no_data" for r in rows)
    get_run_logger().info(
        "%s: %s; %d of %d water bodies without clear data",
        date,
        "alert " + ", ".join(alerts) if alerts else "no alert",
        no_data,
        len(rows),
    )
    return rows, patches


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    return value.item() if hasattr(value, "item") else value


@task(cache_policy=NO_CACHE)
def write_bloom_run(
    layout: RunLayout,
    bodies: WaterBodies,
    series: pd.DataFrame,
    patches: Mapping[str, gpd.GeoDataFrame],
    facts: dict[str, Any],
) -> None:
    """Water bodies, the series (CSV, JSON), the bloom ledger and the alert dates' patches."""
    layout.root.mkdir(parents=True, exist_ok=True)
    table = bodies.table.to_crs(STORE_CRS)
    write_gpkg_layers(
        {"water_bodies": table}, layout.water_bodies, {"water_bodies": "MultiPolygon"}
    )
    with atomic_path(layout.bloom_series_csv) as tmp:
        series.to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n")
    records = [{k: _json_value(v) for k, v in row.items()} for row in series.to_dict("records")]
    body = {**facts, "series": records}
    with atomic_path(layout.bloom_series_json) as tmp:
        tmp.write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    write_ledger_csv(bloom_register(series), BLOOM_REGISTER, layout.bloom_ledger)
    frames = [p.to_crs(STORE_CRS) for p in patches.values() if not p.empty]
    if frames:
        joined = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=STORE_CRS)
    else:
        joined = gpd.GeoDataFrame({"patch_id": []}, geometry=[], crs=STORE_CRS)
    write_gpkg_layers({"patches": joined}, layout.bloom_patches, {"patches": "MultiPolygon"})
    get_run_logger().info("bloom run written to %s", layout.root)


@task(cache_policy=NO_CACHE)
def record_blooms(
    store: PatchStore, patches: Mapping[str, gpd.GeoDataFrame], runs: Mapping[str, RunInfo]
) -> None:
    """Record each alert date's bloom patches as one run of the patch store, in date order
    (a bloom still there on a later date keeps its patch)."""
    if isinstance(store, GpkgPatchStore):
        store.path.parent.mkdir(parents=True, exist_ok=True)
    for date in sorted(patches):
        done = record_detections(store, patches[date], None, runs[date])
        get_run_logger().info("patch store %s: %s recorded %s", store.location, date, done)


__all__ = ["record_blooms", "screen_date", "water_bodies", "write_bloom_run"]
