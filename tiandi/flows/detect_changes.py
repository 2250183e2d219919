"""The ``detect_changes`` Prefect flow: search → composite → detect → patches → tasks → outputs.

The flow's parameters are plain values (a :class:`DetectChangesRequest` and, optionally,
the :class:`~tiandi.settings.Settings`), so it can be deployed; it opens the services it
needs from the settings (:func:`tiandi.flows.services.flow_services`). Its body reads as
a chain of named steps: :func:`gather_inputs` → :func:`write_run` (composites, change
maps, patches, station tasks, summary, in a staging folder that replaces ``out`` when the
whole run succeeded, so a failed run leaves no half-written output) → :func:`record_run`
(the patch store, when asked) → :func:`register_run` (STAC items with processing metadata
and checksums). The tasks are in :mod:`tiandi.flows.detect_tasks`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pystac
from odc.geo.geobox import GeoBox
from prefect import flow, get_run_logger

from tiandi import __version__
from tiandi._io import hash_in_background, staged_dir
from tiandi._time import parse_period, period_end
from tiandi.catalog.items import ProcessingInfo, output_item
from tiandi.catalog.providers.normalise import MaskKind
from tiandi.catalog.providers.prepare import prepare_items
from tiandi.catalog.providers.profiles import choose_profile
from tiandi.eo.composite import DEFAULT_BANDS
from tiandi.eo.grid import grid_for_zones
from tiandi.errors import InputError
from tiandi.flows.detect_tasks import (
    bbox_4326,
    composites_and_change,
    load_zones,
    make_patches,
    make_station_packages,
    make_water_report,
    record_patches,
    register_outputs,
    search_period,
)
from tiandi.flows.services import FlowServices, check_catalog, flow_services
from tiandi.models.base import ChangeDetector, disturbance_layers
from tiandi.models.landcover import LandCoverModel, load_landcover
from tiandi.models.names import DEFAULT_DETECTOR, WATER_NAMES
from tiandi.models.precision import DEFAULT_PRECISION, check_precision
from tiandi.models.registry import load_detector, network_precision, require_bands
from tiandi.redline.accuracy.truth import read_other_changes, read_truth
from tiandi.redline.patches.evaluate import patch_scores
from tiandi.redline.patches.extract import PatchParams
from tiandi.redline.reports.run_summary import (
    RunSummary,
    level_counts,
    render_map_png,
    scores_dict,
    write_summary_html,
)
from tiandi.redline.run_layout import RunLayout
from tiandi.redline.store.gpkg import RunInfo
from tiandi.redline.store.recording import zone_set_version
from tiandi.redline.zones.read import read_zones
from tiandi.settings import Settings

OUTPUT_COLLECTION = "tiandi-outputs"
#: Grid resolution (m) of runs on Landsat Collection 2 (its surface reflectance pixels).
LANDSAT_RESOLUTION = 30.0


@dataclass(frozen=True)
class DetectChangesRequest:
    """What an operator asks for: zones, two periods, an output folder, options."""

    zones: Path
    before: str
    after: str
    out: Path
    stations: Path | None = None
    truth: Path | None = None
    collection: str = "sentinel-2-l2a"
    max_cloud_cover: float = 80.0
    min_mapping_unit_m2: float = 1000.0
    chunk: int = 1024
    record: bool = False  # record the run in the patch store of the settings (open_store)
    detector: str = DEFAULT_DETECTOR  # a name load_detector knows (registry docstring)
    coastal_zones: tuple[str, ...] = ()  # zone ids or names mapped as coastal (water runs)
    sea_min_px: int | None = None  # water runs: smallest edge-touching water body that is sea
    precision: str = DEFAULT_PRECISION  # a network's number format (models.precision)

    def detector_options(self) -> dict[str, Any]:
        """Keyword arguments of ``load_detector`` for this request's detector."""
        options: dict[str, Any] = {"precision": self.precision}
        if self.sea_min_px is not None and self.detector in WATER_NAMES:
            options["sea_min_px"] = self.sea_min_px
        return options

    def __post_init__(self) -> None:
        check_precision(self.precision, "precision")
        parse_period(self.before, "before period")
        parse_period(self.after, "after period")


@dataclass(frozen=True)
class DetectChangesResult:
    """Where the outputs are and what the run found."""

    out: Path
    summary: RunSummary
    patches: gpd.GeoDataFrame
    output_items: list[pystac.Item]


@dataclass(frozen=True)
class RunInputs:
    """What the run works from: zones, the items of both periods, the grid, the models."""

    zones: gpd.GeoDataFrame
    items_before: list[pystac.Item]
    items_after: list[pystac.Item]
    grid: GeoBox
    detector: ChangeDetector
    landcover: LandCoverModel
    mask: MaskKind = "scl"  # the cloud mask the items need (mask_kind)

    @property
    def item_ids(self) -> list[str]:
        """Ids of the items of both periods, before first."""
        return [i.id for i in [*self.items_before, *self.items_after]]


@dataclass(frozen=True)
class RunOutputs:
    """What :func:`write_run` wrote and found."""

    summary: RunSummary
    patches: gpd.GeoDataFrame
    screened: gpd.GeoDataFrame


def check_inputs(request: DetectChangesRequest, settings: Settings | None = None) -> None:
    """Fail fast on unusable input files (and, given ``settings``, a missing catalog),
    before any service is started."""
    read_zones(request.zones)
    for option, path in (("--stations", request.stations), ("--truth", request.truth)):
        if path is not None and not path.is_file():
            raise InputError(f"{option} {path} does not exist; give the path of a vector file")
    if settings is not None:
        check_catalog(settings)
        choose_profile(settings.stac_api_url, settings.stac_provider)  # a known provider


def gather_inputs(
    request: DetectChangesRequest, api_url: str, settings: Settings | None = None
) -> RunInputs:
    """Zones, the items of both periods from the STAC API (normalised by the provider
    profile of ``settings``, see :mod:`tiandi.catalog.providers`), the grid, the models."""
    settings = settings if settings is not None else Settings()
    zones = load_zones(request.zones)
    bbox = bbox_4326(zones)
    found = {
        label: search_period(
            request.zones, api_url, request.collection, bbox, period, request.max_cloud_cover
        )
        for label, period in (("before", request.before), ("after", request.after))
    }
    # fails here, before any composite
    detector = load_detector(request.detector, **request.detector_options())
    profile = choose_profile(api_url, settings.stac_provider)
    items, mask = prepare_items(
        found,
        profile,
        bands=DEFAULT_BANDS,
        what=f"the {detector.name} detector's composite",
        source=f"{profile.title} at {api_url}",
        sas_url=settings.pc_sas_url,
    )
    # Landsat stays on its own 30 m grid: a 10 m grid would only repeat each pixel 9 times
    resolution = LANDSAT_RESOLUTION if mask == "qa_pixel" else 10.0
    grid = grid_for_zones(zones, [*items["before"], *items["after"]], resolution)
    landcover = load_landcover()
    require_bands(detector, DEFAULT_BANDS, f"the {request.collection} composite")
    return RunInputs(zones, items["before"], items["after"], grid, detector, landcover, mask)


def _output_names(layout: RunLayout, packages: list[Path]) -> dict[str, str]:
    outputs = {
        "summary page": layout.SUMMARY_HTML,
        "map picture": layout.MAP_PNG,
        "patches": layout.PATCHES,
        "change mask": layout.CHANGE_MASK,
        "change prob": layout.CHANGE_PROB,
        "before composite": layout.composite_name("before"),
        "after composite": layout.composite_name("after"),
    }
    return outputs | {f"tasks {p.stem}": layout.relative(p) for p in packages}


def _summary(
    request: DetectChangesRequest,
    inputs: RunInputs,
    patches: gpd.GeoDataFrame,
    outputs: dict[str, str],
) -> RunSummary:
    scores = None
    if request.truth is not None:
        events, other = read_truth(request.truth), read_other_changes(request.truth)
        scores = scores_dict(patch_scores(patches, events, inputs.zones, other))
    return RunSummary(
        zones_file=str(request.zones),
        before=request.before,
        after=request.after,
        items_before=[i.id for i in inputs.items_before],
        items_after=[i.id for i in inputs.items_after],
        detector=inputs.detector.name,
        detector_version=inputs.detector.version,
        n_patches=len(patches),
        total_area_ha=float(patches["area_ha"].sum()) if len(patches) else 0.0,
        outputs=outputs,
        scores=scores,
        confidence_levels=level_counts(patches),
        parameters={
            "collection": request.collection,
            "max_cloud_cover": request.max_cloud_cover,
            "min_mapping_unit_m2": request.min_mapping_unit_m2,
            "crs": str(inputs.grid.crs),
            "resolution": inputs.grid.resolution.x,
            "landcover_model": f"{inputs.landcover.name} {inputs.landcover.version}",
            **_precision(inputs.detector),
        },
    )


def _precision(detector: ChangeDetector) -> dict[str, str]:
    """The network's number format on this machine, for a detector with a network."""
    fmt = network_precision(detector)
    return {} if fmt is None else {"network_precision": fmt}


def write_run(request: DetectChangesRequest, inputs: RunInputs, layout: RunLayout) -> RunOutputs:
    """Composites, change maps, patches, station tasks, summary and map into ``layout``."""
    periods = {"before": inputs.items_before, "after": inputs.items_after}
    before, after, change = composites_and_change(
        periods,
        inputs.grid,
        layout,
        request.chunk,
        request.detector,
        inputs.mask,
        request.detector_options(),
    )
    # the outputs' checksums (their STAC items) computed while the patches are made
    hash_in_background([before, after, layout.change_prob, layout.change_mask])
    params = PatchParams(min_mapping_unit_m2=request.min_mapping_unit_m2)
    layers = disturbance_layers(inputs.detector)
    patches, screened = make_patches(
        change,
        before,
        after,
        inputs.zones,
        params,
        layout.patches,
        request.chunk,
        inputs.landcover,
        layers,
        tuple(request.coastal_zones),
    )
    packages = []
    if request.stations is not None:
        packages = make_station_packages(patches, request.stations, layout.tasks_dir)
    names = _output_names(layout, packages)
    if layers is not None and {"water_before", "water_after"} <= set(change):
        make_water_report(
            change, inputs.zones, tuple(request.coastal_zones), layout.water, request.chunk
        )
        names["water"] = layout.WATER
    summary = _summary(request, inputs, patches, names)
    render_map_png(before, after, patches, inputs.zones, layout.map_png)
    write_summary_html(summary, patches, layout.root)
    return RunOutputs(summary, patches, screened)


def record_run(
    request: DetectChangesRequest,
    inputs: RunInputs,
    outputs: RunOutputs,
    layout: RunLayout,
    services: FlowServices,
) -> None:
    """Record the run's patches in the patch store of the settings."""
    info = RunInfo(
        layout.run_id(request.after),
        datetime.now(UTC),
        request.before,
        request.after,
        zone_set_version(inputs.zones),
        str(layout.root),
        outputs.summary.parameters,
    )
    record_patches(services.patch_store(), outputs.patches, outputs.screened, info)


def output_items(
    request: DetectChangesRequest, inputs: RunInputs, summary: RunSummary, layout: RunLayout
) -> list[pystac.Item]:
    """The STAC item of the run's rasters and patches, with processing metadata."""
    processing = ProcessingInfo(
        lineage=f"tiandi detect_changes {request.before} -> {request.after}",
        software={"tiandi": __version__},
        inputs=inputs.item_ids,
        model=inputs.detector.name,
        model_version=inputs.detector.version,
        parameters=summary.parameters,
    )
    assets = {
        "change_mask": layout.change_mask,
        "change_prob": layout.change_prob,
        "patches": layout.patches,
        **layout.composites(),
    }
    return [
        output_item(
            f"{layout.run_id(request.after)}-change",
            assets,
            datetime=period_end(request.after),
            collection=OUTPUT_COLLECTION,
            processing=processing,
        )
    ]


def run_detect_changes(
    request: DetectChangesRequest, services: FlowServices
) -> DetectChangesResult:
    """The flow's body on opened services: inputs → run folder → store → catalog."""
    inputs = gather_inputs(request, services.stac_api_url, services.settings)
    with staged_dir(request.out) as stage:
        outputs = write_run(request, inputs, RunLayout(stage))
    layout = RunLayout(request.out.resolve())
    if request.record:
        record_run(request, inputs, outputs, layout, services)
    items = output_items(request, inputs, outputs.summary, layout)
    if services.registrar is not None:
        register_outputs(services.registrar, items)
    return DetectChangesResult(layout.root, outputs.summary, outputs.patches, items)


@flow(name="detect_changes")
def detect_changes(
    request: DetectChangesRequest, settings: Settings | None = None
) -> DetectChangesResult:
    """Detect changes inside the zones between two periods and write reviewable outputs.

    ``settings``: where the STAC API, the patch store and Dask are (None: read from the
    environment, ``TIANDI_*``, here at the flow's entry)."""
    settings = settings if settings is not None else Settings()
    with flow_services(settings) as services:
        get_run_logger().info("%s", services.describe())
        return run_detect_changes(request, services)
