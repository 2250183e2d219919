"""The ``detect_dieback`` Prefect flow: forest dieback alerts against earlier years.

Per pixel, the NDVI and NDMI of every clear date of the monitoring ``period`` are
compared with the same seasonal window of the ``baseline_years`` years before it (robust
z-score, :mod:`tiandi.models.dieback`, after NASA OPERA DIST-ALERT), only on land that
the land-cover model ``landcover-s2`` calls ``trees`` in the baseline's seasonal median
composite. Alerts are ``provisional`` on one anomalous date and ``confirmed`` on two
consecutive ones, or when a later run finds a provisional patch again
(:func:`~tiandi.flows.dieback_tasks.carry_confirmation`). Clear-cuts (bare soil after,
straight edges) are not dieback: they go to the ``screened`` layer with reason
``clear_cut`` and are left to ``detect_changes`` (an HJ 1156 change).

Steps: :func:`gather_dieback_inputs` (zones, items of the period and of each baseline
year's window, grid, the per-date series; a zone without one clear baseline observation
in the season is reported as no data, and when no zone has one the run stops with
``NoDataError`` naming the zones and years) → :func:`write_dieback_run` (alerts, patches,
rasters, composites, summary.json in a staging folder that becomes ``out`` only when
everything succeeded) → the patch store (``record``) → the output STAC item.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pystac
from odc.geo.geobox import GeoBox
from prefect import flow, get_run_logger

from tiandi import __version__
from tiandi._io import staged_dir
from tiandi._time import parse_period, period_end
from tiandi.catalog.items import ProcessingInfo, output_item
from tiandi.catalog.providers.prepare import prepare_items
from tiandi.catalog.providers.profiles import choose_profile
from tiandi.eo.composite import DEFAULT_BANDS
from tiandi.eo.grid import grid_for_zones
from tiandi.errors import InputError, NoDataError
from tiandi.flows import dieback_tasks as steps
from tiandi.flows.detect_tasks import bbox_4326, register_outputs, search_period
from tiandi.flows.services import FlowServices, check_catalog, flow_services
from tiandi.models.dieback import DiebackParams, Observation, alert_maps, drop_series
from tiandi.models.landcover import LandCoverModel, load_landcover
from tiandi.redline.patches.dieback import DiebackPatchParams, dieback_patches
from tiandi.redline.run_layout import RunLayout
from tiandi.redline.store.recording import record_detections, zone_set_version
from tiandi.redline.store.records import RunInfo
from tiandi.redline.zones.read import read_zones
from tiandi.settings import Settings

OUTPUT_COLLECTION = "tiandi-outputs"


@dataclass(frozen=True)
class DetectDiebackRequest:
    """What an operator asks for: zones, the monitoring period, the baseline, options."""

    zones: Path
    period: str
    out: Path
    baseline_years: int = 3
    window_days: int = 30
    z_threshold: float = 3.0
    collection: str = "sentinel-2-l2a"
    max_cloud_cover: float = 80.0
    min_mapping_unit_m2: float = 1000.0
    chunk: int = 1024
    record: bool = False  # record the patches in the patch store of the settings

    def __post_init__(self) -> None:
        parse_period(self.period, "monitoring period")
        if not 1 <= self.baseline_years <= 10:
            raise InputError(f"baseline_years={self.baseline_years} must be 1..10 years")
        self.params()  # checks window_days and z_threshold

    def params(self) -> DiebackParams:
        """The alert thresholds of this request."""
        return DiebackParams(window_days=self.window_days, z_threshold=self.z_threshold)

    def baseline_years_text(self) -> list[str]:
        """The baseline years, e.g. ``["2022", "2023", "2024"]``."""
        first = int(self.period[:4])
        return [str(first - k) for k in range(self.baseline_years, 0, -1)]


@dataclass(frozen=True)
class DiebackInputs:
    """What the run works from."""

    zones: gpd.GeoDataFrame
    period_items: list[pystac.Item]
    baseline_items: list[pystac.Item]
    grid: GeoBox
    period: list[Observation]
    baseline: list[Observation]
    landcover: LandCoverModel
    no_data_zones: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DetectDiebackResult:
    """Where the outputs are and what the run found."""

    out: Path
    summary: dict[str, Any]
    patches: gpd.GeoDataFrame
    clear_cuts: gpd.GeoDataFrame
    output_items: list[pystac.Item]


def check_dieback_inputs(request: DetectDiebackRequest, settings: Settings) -> None:
    """Fail fast on an unusable zones file, a missing catalog or an unknown provider,
    before any service is started."""
    read_zones(request.zones)
    check_catalog(settings)
    choose_profile(settings.stac_api_url, settings.stac_provider)


def _search_baseline(
    request: DetectDiebackRequest, api_url: str, bbox: tuple[float, float, float, float]
) -> list[pystac.Item]:
    found: dict[str, pystac.Item] = {}
    for window in steps.baseline_periods(
        request.period, request.baseline_years, request.window_days
    ):
        try:
            items = search_period(
                request.zones, api_url, request.collection, bbox, window, request.max_cloud_cover
            )
        except NoDataError:
            continue  # a year without imagery; the zone check below names what is missing
        found.update({i.id: i for i in items})
    return list(found.values())


def gather_dieback_inputs(
    request: DetectDiebackRequest, api_url: str, settings: Settings
) -> DiebackInputs:
    """Zones, items, grid and the clear-date series of the period and of the baseline."""
    zones = read_zones(request.zones)
    get_run_logger().info("zones %s: %d features", request.zones, len(zones))
    bbox = bbox_4326(zones)
    period_items = search_period(
        request.zones, api_url, request.collection, bbox, request.period, request.max_cloud_cover
    )
    baseline_items = _search_baseline(request, api_url, bbox)
    years = request.baseline_years_text()
    if not baseline_items:
        names = [str(z) for z in zones["zone_id"]]
        raise NoDataError(steps.no_baseline_message(names, years, request.window_days))
    profile = choose_profile(api_url, settings.stac_provider)
    items, _ = prepare_items(
        {"period": period_items, "baseline": baseline_items},
        profile,
        bands=DEFAULT_BANDS,
        what="the dieback series",
        source=f"{profile.title} at {api_url}",
        sas_url=settings.pc_sas_url,
    )
    grid = grid_for_zones(zones, [*items["period"], *items["baseline"]])
    period = steps.series(items["period"], grid, request.chunk)
    if not period:
        raise steps.no_clear_dates(str(request.zones), request.period)
    baseline = steps.series(items["baseline"], grid, request.chunk)
    masks = steps.zone_masks(zones, grid)
    gaps = steps.baseline_gaps(masks, period, baseline, request.params())
    if len(gaps) == len(masks):
        raise NoDataError(steps.no_baseline_message(gaps, years, request.window_days))
    if gaps:
        get_run_logger().warning(steps.no_baseline_message(gaps, years, request.window_days))
    return DiebackInputs(
        zones, items["period"], items["baseline"], grid, period, baseline, load_landcover(), gaps
    )


def _summary(
    request: DetectDiebackRequest,
    inputs: DiebackInputs,
    frames: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame],
    counts: dict[str, int],
) -> dict[str, Any]:
    patches, cuts = frames
    status = patches["alert_status"].value_counts().to_dict() if len(patches) else {}
    years = request.baseline_years_text()
    return {
        "flow": "detect_dieback",
        "zones_file": str(request.zones),
        "period": request.period,
        "before": _baseline_span(request),  # the keys run reports and the service read
        "after": request.period,
        "baseline_years": years,
        "baseline_windows": steps.baseline_periods(
            request.period, request.baseline_years, request.window_days
        ),
        "dates_period": [o.day.isoformat() for o in inputs.period],
        "dates_baseline": [o.day.isoformat() for o in inputs.baseline],
        "n_patches": len(patches),
        "n_provisional": int(status.get("provisional", 0)),
        "n_confirmed": int(status.get("confirmed", 0)),
        "n_clear_cuts": len(cuts),
        "total_area_ha": round(float(patches["area_ha"].sum()), 4) if len(patches) else 0.0,
        "no_data_zones": [
            {"zone_id": z, "reason": steps.no_baseline_message([z], years, request.window_days)}
            for z in inputs.no_data_zones
        ],
        "pixels": counts,
        "parameters": {
            "window_days": request.window_days,
            "z_threshold": request.z_threshold,
            "collection": request.collection,
            "max_cloud_cover": request.max_cloud_cover,
            "min_mapping_unit_m2": request.min_mapping_unit_m2,
            "forest_mask": "90th percentile of the baseline's clear NDVI >= 0.6",
            "bare_after": f"{inputs.landcover.name} {inputs.landcover.version} bare/built, "
            "or NDVI < 0.3 and BSI > 0.05",
            "crs": str(inputs.grid.crs),
        },
        "outputs": {
            "patches": RunLayout.PATCHES,
            "alert status": RunLayout.DIEBACK_STATUS,
            "max z": RunLayout.DIEBACK_MAX_Z,
            "baseline composite": RunLayout.composite_name("before"),
            "period composite": RunLayout.composite_name("after"),
        },
    }


def write_dieback_run(
    request: DetectDiebackRequest, inputs: DiebackInputs, layout: RunLayout, store_carry: Any
) -> tuple[dict[str, Any], gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Alerts, patches, rasters, composites and summary into ``layout``.

    ``store_carry``: a function patches → patches confirming the ones a stored alert
    continues (:func:`~tiandi.flows.dieback_tasks.carry_confirmation`), or None."""
    params = request.params()
    covers = steps.cover(
        inputs.baseline,
        (inputs.baseline_items, inputs.period_items),
        inputs.grid,
        inputs.landcover,
        request.chunk,
    )
    drops = drop_series(inputs.period, inputs.baseline, params)
    alerts = alert_maps([o.day for o in inputs.period], drops, params, covers.forest)
    patches, cuts = dieback_patches(
        alerts,
        inputs.grid.transform,
        str(inputs.grid.crs),
        inputs.zones,
        steps.bare_at_last_alert(alerts, inputs.period, covers.landcover_after),
        DiebackPatchParams(min_mapping_unit_m2=request.min_mapping_unit_m2),
        params,
    )
    if store_carry is not None:
        patches = store_carry(patches)
    summary = _summary(request, inputs, (patches, cuts), steps.alert_counts(alerts))
    steps.write_outputs(layout, inputs.grid, alerts, covers, (patches, cuts), summary)
    return summary, patches, cuts


def _output_items(
    request: DetectDiebackRequest, inputs: DiebackInputs, layout: RunLayout, run_id: str
) -> list[pystac.Item]:
    processing = ProcessingInfo(
        lineage=f"tiandi detect_dieback {request.period} against {request.baseline_years} years",
        software={"tiandi": __version__},
        inputs=[i.id for i in [*inputs.baseline_items, *inputs.period_items]],
        model=inputs.landcover.name,
        model_version=inputs.landcover.version,
        parameters={"window_days": request.window_days, "z_threshold": request.z_threshold},
    )
    assets = {
        "alert_status": layout.dieback_status,
        "max_z": layout.dieback_max_z,
        "patches": layout.patches,
        **layout.composites(),
    }
    return [
        output_item(
            f"{run_id}-dieback",
            assets,
            datetime=period_end(request.period),
            collection=OUTPUT_COLLECTION,
            processing=processing,
        )
    ]


def _baseline_span(request: DetectDiebackRequest) -> str:
    """The whole baseline as one period (first window's start / last window's end)."""
    windows = steps.baseline_periods(request.period, request.baseline_years, request.window_days)
    return f"{windows[-1].split('/')[0]}/{windows[0].split('/')[1]}"


def run_detect_dieback(
    request: DetectDiebackRequest, services: FlowServices
) -> DetectDiebackResult:
    """The flow's body on opened services: inputs → run folder → store → catalog."""
    inputs = gather_dieback_inputs(request, services.stac_api_url, services.settings)
    layout = RunLayout(request.out.resolve())
    run_id = f"{layout.run_id(request.period)}-dieback"
    carry = None
    if request.record:
        store = services.patch_store()

        def carry(p: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
            return steps.carry_confirmation(store, p, run_id, request.params())

    with staged_dir(request.out) as stage:
        summary, patches, cuts = write_dieback_run(request, inputs, RunLayout(stage), carry)
    if request.record:
        info = RunInfo(
            run_id,
            datetime.now(UTC),
            _baseline_span(request),
            request.period,
            zone_set_version(inputs.zones),
            str(layout.root),
            summary["parameters"],
        )
        record_detections(services.patch_store(), patches, None, info)
    items = _output_items(request, inputs, layout, run_id)
    if services.registrar is not None:
        register_outputs(services.registrar, items)
    return DetectDiebackResult(layout.root, summary, patches, cuts, items)


@flow(name="detect_dieback")
def detect_dieback(
    request: DetectDiebackRequest, settings: Settings | None = None
) -> DetectDiebackResult:
    """Forest dieback alerts inside the zones for the monitoring period.

    ``settings``: where the STAC API, the patch store and Dask are (None: read from the
    environment, ``TIANDI_*``, here at the flow's entry)."""
    settings = settings if settings is not None else Settings()
    with flow_services(settings) as services:
        get_run_logger().info("%s", services.describe())
        return run_detect_dieback(request, services)
