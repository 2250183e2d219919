"""The ``detect_changes`` Prefect flow: search → composite → detect → patches → tasks → outputs.

Every task is a thin wrapper around a library function. Only tasks that talk to a
service (the STAC API, the catalog) retry, and only on I/O errors. The outputs are
written into a staging folder that replaces ``out`` when the whole run succeeded, so a
failed run leaves no half-written output; then they are registered in the catalog as
STAC items with processing metadata and checksums.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pystac
import xarray as xr
from odc.geo.geobox import GeoBox
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tiandi import __version__
from tiandi._io import staged_dir
from tiandi._time import parse_period, period_end
from tiandi.catalog.items import ProcessingInfo, output_item, unreadable_assets
from tiandi.catalog.search import search_items
from tiandi.eo.cog import read_cog, write_cog
from tiandi.eo.composite import DEFAULT_BANDS, composite_period
from tiandi.eo.grid import grid_for_zones
from tiandi.eo.storage import read_composite, write_composite
from tiandi.errors import CatalogError, InputError, NoDataError, TiandiError
from tiandi.flows.runtime import retry_on
from tiandi.models.landcover import LandCoverModel, landcover_probabilities, load_landcover
from tiandi.models.siamese_detector import SiameseDetector, load_detector, require_bands
from tiandi.redline.field.tasks import assign_tasks, write_station_packages
from tiandi.redline.patches.classify_landcover import reclassify_with_landcover
from tiandi.redline.patches.evaluate import patch_scores
from tiandi.redline.patches.extract import PatchParams, extract_patches, write_patches
from tiandi.redline.patches.screening import ScreeningParams, screen_patches
from tiandi.redline.reports.run_summary import (
    RunSummary,
    render_map_png,
    scores_dict,
    write_summary_html,
)
from tiandi.redline.store.gpkg import GpkgPatchStore, RunInfo
from tiandi.redline.store.recording import record_detections, zone_set_version
from tiandi.redline.zones.read import read_stations, read_zones

OUTPUT_COLLECTION = "tiandi-outputs"


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
    store: Path | None = None  # patch store GeoPackage; None: the run is not recorded
    detector: str = "baseline"  # a name load_detector knows (baseline or shipped weights)

    def __post_init__(self) -> None:
        parse_period(self.before, "before period")
        parse_period(self.after, "after period")


@dataclass(frozen=True)
class DetectChangesResult:
    """Where the outputs are and what the run found."""

    out: Path
    summary: RunSummary
    patches: gpd.GeoDataFrame
    output_items: list[pystac.Item]


_retry_on_io = retry_on(CatalogError, OSError, TimeoutError)  # retries only on I/O errors


@task(cache_policy=NO_CACHE)
def load_zones(path: Path) -> gpd.GeoDataFrame:
    zones = read_zones(path)
    get_run_logger().info("zones %s: %d features, CRS %s", path, len(zones), zones.crs)
    return zones


@task(
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=_retry_on_io,
)
def search_period(
    zones_path: Path,
    api_url: str,
    collection: str,
    bbox: tuple[float, float, float, float],
    period: str,
    max_cloud_cover: float,
) -> list[pystac.Item]:
    try:
        items = search_items(
            api_url,
            collections=[collection],
            bbox=bbox,
            datetime=period,
            max_cloud_cover=max_cloud_cover,
        )
    except NoDataError as exc:
        raise NoDataError(f"zones {zones_path}: {exc}") from exc
    get_run_logger().info("%s: %d %s items", period, len(items), collection)
    return items


@task(cache_policy=NO_CACHE)
def composite_to_cog(
    items: list[pystac.Item], grid: GeoBox, path: Path, chunk: int, label: str
) -> Path:
    composite = composite_period(items, grid, chunk=chunk)
    try:
        write_composite(composite, path, tags={"tiandi:period": label})
    except TiandiError:
        raise
    except Exception as exc:  # a failed read inside Dask arrives without its type
        bad = unreadable_assets(items, [*DEFAULT_BANDS, "SCL"])
        if not bad:
            raise
        item_id, file, reason = bad[0]
        raise InputError(
            f"raster {file} of item {item_id} ({label} period) cannot be read ({reason}); "
            "re-download or re-create it, or remove the item from the catalog"
            + (f" ({len(bad)} unreadable files in all)" if len(bad) > 1 else "")
        ) from exc
    get_run_logger().info("%s composite of %d scenes written: %s", label, len(items), path.name)
    return path


def read_change(paths: dict[str, Path], chunk: int) -> xr.Dataset:
    """The change mask and probability COGs as one lazy Dataset."""
    return xr.Dataset(
        {name: read_cog(path, chunk).isel(band=0, drop=True) for name, path in paths.items()}
    )


@task(cache_policy=NO_CACHE)
def detect(
    before: Path, after: Path, out_dir: Path, chunk: int, detector_name: str = "baseline"
) -> dict[str, Path]:
    detector = load_detector(detector_name)
    change = detector.detect(read_composite(before, chunk), read_composite(after, chunk))
    paths = {
        "change_prob": out_dir / "change_prob.tif",
        "change_mask": out_dir / "change_mask.tif",
    }
    tags = {"tiandi:model": detector.name, "tiandi:model_version": detector.version}
    write_cog(
        change["change_prob"], paths["change_prob"], nodata=float("nan"), dtype="float32", tags=tags
    )
    mask = change["change_mask"]
    if isinstance(detector, SiameseDetector):  # threshold the written map: run the net once
        mask = detector.mask(read_cog(paths["change_prob"], chunk).isel(band=0, drop=True))
    write_cog(mask, paths["change_mask"], nodata=255, dtype="uint8", tags=tags)
    get_run_logger().info("change maps written by %s %s", detector.name, detector.version)
    return paths


@task(cache_policy=NO_CACHE)
def make_patches(
    change: dict[str, Path],
    before: Path,
    after: Path,
    zones: gpd.GeoDataFrame,
    params: PatchParams,
    path: Path,
    chunk: int,
    landcover: LandCoverModel,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    before_ds, after_ds = read_composite(before, chunk), read_composite(after, chunk)
    candidates = extract_patches(read_change(change, chunk), before_ds, after_ds, zones, params)
    candidates = reclassify_with_landcover(
        candidates,
        landcover_probabilities(before_ds, landcover),
        landcover_probabilities(after_ds, landcover),
    )
    patches, screened = screen_patches(
        candidates, ScreeningParams(min_mapping_unit_m2=params.min_mapping_unit_m2)
    )
    write_patches(patches, path, screened)
    get_run_logger().info(
        "%d patches kept, %d pseudo-changes screened out, written to %s",
        len(patches),
        len(screened),
        path.name,
    )
    return patches, screened


@task(cache_policy=NO_CACHE)
def record_patches(
    store_path: Path, patches: gpd.GeoDataFrame, screened: gpd.GeoDataFrame, run_info: RunInfo
) -> None:
    store_path.parent.mkdir(parents=True, exist_ok=True)
    done = record_detections(GpkgPatchStore(store_path), patches, screened, run_info)
    get_run_logger().info("patch store %s: run %s recorded %s", store_path, done.run_id, done)


@task(cache_policy=NO_CACHE)
def make_station_packages(
    patches: gpd.GeoDataFrame, stations_path: Path, out_dir: Path
) -> list[Path]:
    stations = read_stations(stations_path)
    tasks = assign_tasks(patches, stations)
    paths = write_station_packages(tasks, out_dir)
    get_run_logger().info("%d tasks in %d station packages", len(tasks), len(paths))
    return paths


@task(
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=_retry_on_io,
)
def register_outputs(registrar: Any, items: list[pystac.Item]) -> None:
    registrar.register(items)
    get_run_logger().info("%d output items registered", len(items))


def _bbox_4326(zones: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in zones.to_crs("EPSG:4326").total_bounds)
    return (x0, y0, x1, y1)


def read_truth(path: Path) -> gpd.GeoDataFrame:
    """Known events to score a run against; ``InputError`` naming the file if unreadable."""
    try:
        return gpd.read_file(path)
    except (OSError, ValueError, RuntimeError) as exc:  # pyogrio's errors derive from these
        raise InputError(
            f"truth file {path} cannot be read as vector data ({exc}); pass a GeoPackage or "
            "GeoJSON of known events, or leave --truth out"
        ) from exc


@flow(name="detect_changes")
def detect_changes(
    request: DetectChangesRequest, stac_api_url: str, registrar: Any = None
) -> DetectChangesResult:
    """Detect changes inside the zones between two periods and write reviewable outputs."""
    zones: Any = load_zones(request.zones)
    bbox = _bbox_4326(zones)
    items_before = search_period(
        request.zones,
        stac_api_url,
        request.collection,
        bbox,
        request.before,
        request.max_cloud_cover,
    )
    items_after = search_period(
        request.zones,
        stac_api_url,
        request.collection,
        bbox,
        request.after,
        request.max_cloud_cover,
    )
    grid = grid_for_zones(zones, [*items_before, *items_after])
    detector = load_detector(request.detector)  # fails here, before any composite
    landcover = load_landcover()
    require_bands(detector, DEFAULT_BANDS, f"the {request.collection} composite")
    with staged_dir(request.out) as stage:
        before = composite_to_cog(
            items_before, grid, stage / "composites" / "before.tif", request.chunk, "before"
        )
        after = composite_to_cog(
            items_after, grid, stage / "composites" / "after.tif", request.chunk, "after"
        )
        change = detect(before, after, stage / "change", request.chunk, request.detector)
        params = PatchParams(min_mapping_unit_m2=request.min_mapping_unit_m2)
        patches, screened = make_patches(
            change, before, after, zones, params, stage / "patches.gpkg", request.chunk, landcover
        )
        outputs = {
            "summary page": "summary.html",
            "map picture": "map.png",
            "patches": "patches.gpkg",
            "change mask": "change/change_mask.tif",
            "change prob": "change/change_prob.tif",
            "before composite": "composites/before.tif",
            "after composite": "composites/after.tif",
        }
        if request.stations is not None:
            for package in make_station_packages(patches, request.stations, stage / "tasks"):
                outputs[f"tasks {package.stem}"] = str(package.relative_to(stage))
        scores = None
        if request.truth is not None:
            truth = read_truth(request.truth)
            scores = scores_dict(patch_scores(patches, truth, zones))
        summary = RunSummary(
            zones_file=str(request.zones),
            before=request.before,
            after=request.after,
            items_before=[i.id for i in items_before],
            items_after=[i.id for i in items_after],
            detector=detector.name,
            detector_version=detector.version,
            n_patches=len(patches),
            total_area_ha=float(patches["area_ha"].sum()) if len(patches) else 0.0,
            outputs=outputs,
            scores=scores,
            parameters={
                "collection": request.collection,
                "max_cloud_cover": request.max_cloud_cover,
                "min_mapping_unit_m2": request.min_mapping_unit_m2,
                "crs": str(grid.crs),
                "resolution": grid.resolution.x,
                "landcover_model": f"{landcover.name} {landcover.version}",
            },
        )
        render_map_png(before, after, patches, zones, stage / "map.png")
        write_summary_html(summary, patches, stage)
    out = request.out.resolve()
    processing = ProcessingInfo(
        lineage=f"tiandi detect_changes {request.before} -> {request.after}",
        software={"tiandi": __version__},
        inputs=[i.id for i in [*items_before, *items_after]],
        model=detector.name,
        model_version=detector.version,
        parameters=summary.parameters,
    )
    run_id = f"{out.name}-{request.after.replace('/', '_')}"
    if request.store is not None:
        info = RunInfo(
            run_id,
            datetime.now(UTC),
            request.before,
            request.after,
            zone_set_version(zones),
            str(out),
            summary.parameters,
        )
        record_patches(request.store, patches, screened, info)
    items = [
        output_item(
            f"{run_id}-change",
            {
                "change_mask": out / "change" / "change_mask.tif",
                "change_prob": out / "change" / "change_prob.tif",
                "patches": out / "patches.gpkg",
                "before": out / "composites" / "before.tif",
                "after": out / "composites" / "after.tif",
            },
            datetime=period_end(request.after),
            collection=OUTPUT_COLLECTION,
            processing=processing,
        )
    ]
    if registrar is not None:
        register_outputs(registrar, items)
    return DetectChangesResult(out=out, summary=summary, patches=patches, output_items=items)
