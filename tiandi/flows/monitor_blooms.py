"""The ``monitor_blooms`` Prefect flow: algal-bloom (蓝藻水华) screening of the water bodies
of a zone set, date by date through a period.

Steps: zones → the period's items from the STAC API (normalised by the provider profile)
→ the grid → the water bodies (MNDWI of the period's median composite; a zone without
water is an :class:`~tiandi.errors.InputError` naming it, before anything is written) →
per clear date: FAI, bloom pixels, bloom area and share per water body, its grade and
alert (:mod:`tiandi.models.bloom`, :mod:`tiandi.redline.patches.bloom`) → the run folder
(water bodies, the time series as CSV and JSON, the bloom ledger, the alert dates' bloom
patches; staged, so a failed run leaves nothing) → the patch store (one recorded run per
alert date, change type ``bloom``), when asked.

``prefect.yaml`` schedules :func:`monitor_region_blooms` weekly in the bloom season
(April–October) for each region of the ``bloom_regions:`` mapping of
``infra/regions.yaml``: each run screens the last ``lookback_days`` days (default 7).
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pystac
import yaml
from prefect import flow, get_run_logger

from tiandi import __version__
from tiandi._io import staged_dir
from tiandi._time import parse_period
from tiandi.catalog.providers.prepare import prepare_items
from tiandi.catalog.providers.profiles import choose_profile
from tiandi.eo.grid import grid_for_zones
from tiandi.eo.masks import with_cloud_masks
from tiandi.errors import InputError, NoDataError
from tiandi.flows.bloom_tasks import (
    record_blooms,
    screen_date,
    water_bodies,
    write_bloom_run,
)
from tiandi.flows.detect_tasks import bbox_4326, load_zones, search_period
from tiandi.flows.services import FlowServices, check_catalog, flow_services
from tiandi.models.bloom import FAI_BANDS, WATER_BANDS, BloomParams, WaterBodies, items_by_date
from tiandi.redline.patches.bloom import BloomGrade, BloomGrading, series_frame, without_clear_dates
from tiandi.redline.run_layout import RunLayout
from tiandi.redline.store.gpkg import RunInfo
from tiandi.redline.store.recording import zone_set_version
from tiandi.redline.zones.read import read_zones
from tiandi.settings import Settings


@dataclass(frozen=True)
class MonitorBloomsRequest:
    """What an operator asks for: zones (lakes, reservoirs), a period, an output folder,
    and the thresholds (defaults and their sources: :mod:`tiandi.models.bloom`,
    :mod:`tiandi.redline.patches.bloom`)."""

    zones: Path
    period: str
    out: Path
    collection: str = "sentinel-2-l2a"
    max_cloud_cover: float = 80.0
    fai_threshold: float = -0.004
    mndwi_threshold: float = 0.0
    min_water_m2: float = 10_000.0
    min_clear_share: float = 0.5
    min_patch_m2: float = 1000.0
    grade_bounds: tuple[float, float, float] = (0.10, 0.30, 0.60)
    alert_from: str = "scattered"
    chunk: int = 1024
    record: bool = False  # record the alert dates' bloom patches in the patch store

    def __post_init__(self) -> None:
        parse_period(self.period, "period")
        self.params()
        self.grading()

    def params(self) -> BloomParams:
        """The pixel thresholds."""
        return BloomParams(
            fai_threshold=self.fai_threshold,
            mndwi_threshold=self.mndwi_threshold,
            min_water_m2=self.min_water_m2,
            min_clear_share=self.min_clear_share,
            min_patch_m2=self.min_patch_m2,
        )

    def grading(self) -> BloomGrading:
        """The grades and the alert rule."""
        try:
            alert_from = BloomGrade(self.alert_from)
        except ValueError as exc:
            raise InputError(
                f"alert_from {self.alert_from!r} is not a bloom grade; use scattered, local, "
                "regional or widespread"
            ) from exc
        if len(self.grade_bounds) != 3:
            raise InputError(
                f"grade_bounds {self.grade_bounds} must be three bloom shares, e.g. 0.1 0.3 0.6"
            )
        low, mid, high = (float(b) for b in self.grade_bounds)
        return BloomGrading((low, mid, high), self.min_patch_m2, alert_from)


@dataclass(frozen=True)
class MonitorBloomsResult:
    """Where the outputs are and what the run found."""

    out: Path
    series: pd.DataFrame
    water_bodies: gpd.GeoDataFrame
    patches: gpd.GeoDataFrame
    alert_dates: list[str]
    without_clear_dates: list[str]


def check_bloom_inputs(request: MonitorBloomsRequest, settings: Settings | None = None) -> None:
    """Fail fast on an unusable zones file (and, given ``settings``, a missing catalog)."""
    read_zones(request.zones)
    if settings is not None:
        check_catalog(settings)
        choose_profile(settings.stac_api_url, settings.stac_provider)


def _period_items(
    request: MonitorBloomsRequest, zones: gpd.GeoDataFrame, api_url: str, settings: Settings
) -> tuple[list[pystac.Item], str]:
    found = search_period(
        request.zones,
        api_url,
        request.collection,
        bbox_4326(zones),
        request.period,
        request.max_cloud_cover,
    )
    profile = choose_profile(api_url, settings.stac_provider)
    items, mask = prepare_items(
        {"period": found},
        profile,
        bands=tuple(dict.fromkeys([*WATER_BANDS, *FAI_BANDS])),
        what="bloom screening (B03, B04, B08, B11)",
        source=f"{profile.title} at {api_url}",
        sas_url=settings.pc_sas_url,
    )
    return items["period"], mask


def _facts(
    request: MonitorBloomsRequest, bodies: WaterBodies, series: pd.DataFrame, items: list[str]
) -> dict[str, Any]:
    params = asdict(request) | {"zones": str(request.zones), "out": str(request.out)}
    return {
        "software": {"tiandi": __version__},
        "period": request.period,
        "items": items,
        "crs": str(bodies.grid.crs),
        "resolution": bodies.grid.resolution.x,
        "parameters": params,
        "alert_dates": sorted(set(series.loc[series["alert"].astype(bool), "date"])),
        "without_clear_dates": without_clear_dates(series),
    }


def _screen(
    request: MonitorBloomsRequest, items: list[pystac.Item], bodies: WaterBodies
) -> tuple[pd.DataFrame, dict[str, gpd.GeoDataFrame]]:
    rows: list[dict[str, Any]] = []
    patches: dict[str, gpd.GeoDataFrame] = {}
    for day, day_items in items_by_date(items).items():
        found, frame = screen_date(
            day, day_items, bodies, request.params(), request.grading(), request.chunk
        )
        rows += found
        if frame is not None and not frame.empty:
            patches[day] = frame
    return series_frame(rows), patches


def _runs(
    request: MonitorBloomsRequest, zones: gpd.GeoDataFrame, layout: RunLayout, days: list[str]
) -> dict[str, RunInfo]:
    version = zone_set_version(zones)
    now = datetime.now(UTC)
    return {
        day: RunInfo(
            layout.run_id(day),
            now,
            request.period,
            f"{day}/{day}",
            version,
            str(layout.root),
            {"flow": "monitor_blooms", "fai_threshold": request.fai_threshold},
        )
        for day in days
    }


def run_monitor_blooms(
    request: MonitorBloomsRequest, services: FlowServices
) -> MonitorBloomsResult:
    """The flow's body on opened services: inputs → water bodies → dates → run folder →
    store."""
    zones = load_zones(request.zones)
    items, mask = _period_items(request, zones, services.stac_api_url, services.settings)
    grid = grid_for_zones(zones, items)
    with tempfile.TemporaryDirectory(prefix="tiandi-masks-") as tmp:
        items = with_cloud_masks(items, grid, mask, Path(tmp))  # type: ignore[arg-type]
        try:
            bodies = water_bodies(zones, items, grid, request.params(), request.chunk)
        except NoDataError as exc:
            raise NoDataError(f"zones {request.zones}: {exc}") from exc
        series, patches = _screen(request, items, bodies)
    facts = _facts(request, bodies, series, [i.id for i in items])
    for water_id in facts["without_clear_dates"]:
        get_run_logger().warning("%s: no clear date in %s: no data", water_id, request.period)
    with staged_dir(request.out) as stage:
        write_bloom_run(RunLayout(stage), bodies, series, patches, facts)
    layout = RunLayout(request.out.resolve())
    if request.record and patches:
        record_blooms(services.patch_store(), patches, _runs(request, zones, layout, list(patches)))
    joined = [p for p in patches.values()]
    frame = (
        gpd.GeoDataFrame(pd.concat(joined, ignore_index=True), crs=joined[0].crs)
        if joined
        else gpd.GeoDataFrame({"patch_id": []}, geometry=[], crs=grid.crs)
    )
    return MonitorBloomsResult(
        layout.root,
        series,
        bodies.table,
        frame,
        facts["alert_dates"],
        facts["without_clear_dates"],
    )


@flow(name="monitor_blooms")
def monitor_blooms(
    request: MonitorBloomsRequest, settings: Settings | None = None
) -> MonitorBloomsResult:
    """Screen the water bodies of the zones for algal blooms on every clear date of the
    period, and write the series, ledger and bloom patches.

    ``settings``: where the STAC API, the patch store and Dask are (None: read from the
    environment, ``TIANDI_*``, here at the flow's entry)."""
    settings = settings if settings is not None else Settings()
    with flow_services(settings) as services:
        get_run_logger().info("%s", services.describe())
        return run_monitor_blooms(request, services)


def season_period(on: date, lookback_days: int) -> str:
    """The period of a scheduled run on ``on``: the ``lookback_days`` days before it."""
    if lookback_days < 1:
        raise InputError(f"lookback_days={lookback_days} must be ≥ 1")
    return (
        f"{(on - timedelta(days=lookback_days)).isoformat()}/{(on - timedelta(days=1)).isoformat()}"
    )


@dataclass(frozen=True)
class BloomRegion:
    """One region of the ``bloom_regions:`` mapping of the regions file."""

    name: str
    zones: Path
    out_root: Path
    collection: str = "sentinel-2-l2a"
    lookback_days: int = 7


def load_bloom_regions(path: Path) -> dict[str, BloomRegion]:
    """The ``bloom_regions`` of the YAML file ``path`` (keys ``zones``; optional
    ``collection``, ``lookback_days``); ``InputError`` naming what is wrong."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"regions file {path} cannot be read as YAML ({exc}); fix it") from exc
    entries = data.get("bloom_regions") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise InputError(f"regions file {path} needs a `bloom_regions:` mapping of name to region")
    out_root = Path(data.get("out_root", "var/monitoring"))
    regions = {}
    for name, entry in entries.items():
        if not isinstance(entry, dict) or "zones" not in entry:
            raise InputError(f"regions file {path}: bloom region {name!r} needs `zones`")
        unknown = set(entry) - {"zones", "collection", "lookback_days"}
        if unknown:
            raise InputError(
                f"regions file {path}: bloom region {name!r} has unknown keys {unknown}"
            )
        regions[str(name)] = BloomRegion(
            str(name),
            Path(entry["zones"]),
            out_root,
            str(entry.get("collection", "sentinel-2-l2a")),
            int(entry.get("lookback_days", 7)),
        )
    return regions


def region_bloom_request(region: BloomRegion, on: date) -> MonitorBloomsRequest:
    """The request of ``region``'s scheduled run on ``on`` (recorded in the store)."""
    period = season_period(on, region.lookback_days)
    return MonitorBloomsRequest(
        zones=region.zones,
        period=period,
        out=region.out_root / region.name / period.split("/")[1],
        collection=region.collection,
        record=True,
    )


@flow(name="monitor_region_blooms")
def monitor_region_blooms(
    region: str,
    regions_file: Path = Path("infra/regions.yaml"),
    on: date | None = None,
    settings: Settings | None = None,
) -> MonitorBloomsResult:
    """The scheduled bloom screening of ``region`` (``bloom_regions`` of ``regions_file``):
    the last ``lookback_days`` days before ``on`` (None: today, UTC), recorded in the
    patch store, into ``<out_root>/<region>/<last day>``."""
    regions = load_bloom_regions(regions_file)
    if region not in regions:
        raise InputError(
            f"bloom region {region!r} is not in {regions_file} (it has "
            f"{', '.join(sorted(regions))})"
        )
    request = region_bloom_request(regions[region], on or datetime.now(UTC).date())
    get_run_logger().info("%s: bloom screening %s into %s", region, request.period, request.out)
    return monitor_blooms(request, settings)


__all__ = [
    "BloomRegion",
    "MonitorBloomsRequest",
    "MonitorBloomsResult",
    "check_bloom_inputs",
    "load_bloom_regions",
    "monitor_blooms",
    "monitor_region_blooms",
    "region_bloom_request",
    "run_monitor_blooms",
    "season_period",
]
