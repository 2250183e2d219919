"""The tasks of the ``detect_changes`` flow, each a thin wrapper around a library function.

Only tasks that talk to a service (the STAC API, the catalog) retry, and only on I/O
errors. File names inside the run folder come from :class:`RunLayout`.
"""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import geopandas as gpd
import pystac
import rasterio
import xarray as xr
from odc.geo.geobox import GeoBox
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tiandi.catalog.items import unreadable_assets
from tiandi.catalog.providers.normalise import MASK_ASSETS, MaskKind
from tiandi.catalog.register import Registrar
from tiandi.catalog.search import search_items
from tiandi.eo.cog import BLOCKSIZE, GDAL_CACHE_MB, CogOutput, read_cog, write_cogs
from tiandi.eo.composite import DEFAULT_BANDS, DILATE_PX, composite_period
from tiandi.eo.masks import with_cloud_masks
from tiandi.eo.storage import as_read_back, composite_output, read_composite
from tiandi.errors import CatalogError, InputError, NoDataError, TiandiError
from tiandi.flows.change_maps import change_outputs, chunked_like, read_change
from tiandi.flows.runtime import local_threads, retry_on
from tiandi.models.base import ChangeDetector, DisturbanceLayers, cloud_margin_px
from tiandi.models.integrated import IntegratedDetector
from tiandi.models.landcover import LandCoverModel
from tiandi.models.registry import load_detector
from tiandi.models.siamese_detector import SiameseDetector
from tiandi.redline.field.tasks import assign_tasks, write_station_packages
from tiandi.redline.patches.classify_landcover import (
    patch_landcover_means,
    reclassify_from_means,
)
from tiandi.redline.patches.confidence import add_confidence, has_confidence_layers
from tiandi.redline.patches.disturbance import extract_disturbances, screen_disturbances
from tiandi.redline.patches.extract import PatchParams, extract_patches, write_patches
from tiandi.redline.patches.screening import ScreeningParams, screen_patches
from tiandi.redline.patches.water import write_water_report
from tiandi.redline.run_layout import RunLayout
from tiandi.redline.store.gpkg import GpkgPatchStore, PatchStore, RunInfo
from tiandi.redline.store.recording import record_detections
from tiandi.redline.zones.read import read_stations, read_zones

_retry_on_io = retry_on(CatalogError, OSError, TimeoutError)  # retries only on I/O errors

#: Chunk side (px) the composites are read in for a network: the files' own tiles. Each of
#: the network's blocks reads the window of its tiles, which overlaps its neighbours';
#: chunks of 512 px decode half as much of the files per window as the flow's 1024.
NETWORK_READ_CHUNK = BLOCKSIZE


@task(cache_policy=NO_CACHE)
def load_zones(path: Path) -> gpd.GeoDataFrame:
    """The zones file, checked (``InputError`` naming it when unusable)."""
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
    """The items of ``collection`` over ``bbox`` in ``period``."""
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


def _unreadable_input(items: list[pystac.Item], label: str, exc: Exception) -> InputError | None:
    """The InputError naming an unreadable input file of ``items``, if there is one (a
    failed read inside Dask arrives without its type)."""
    bad = unreadable_assets(items, [*DEFAULT_BANDS, *MASK_ASSETS["s2cloudless"], "SCL", "QA_PIXEL"])
    if not bad:
        return None
    item_id, file, reason = bad[0]
    return InputError(
        f"raster {file} of item {item_id} ({label} period) cannot be read ({reason}); "
        "re-download or re-create it, or remove the item from the catalog"
        + (f" ({len(bad)} unreadable files in all)" if len(bad) > 1 else "")
    )


@task(cache_policy=NO_CACHE)
def composites_and_change(
    periods: dict[str, list[pystac.Item]],
    grid: GeoBox,
    layout: RunLayout,
    chunk: int,
    detector_name: str = "baseline",
    mask: MaskKind = "scl",
    detector_options: dict[str, Any] | None = None,
) -> tuple[Path, Path, dict[str, Path]]:
    """Both composites and the change maps in one pass over the imagery: each row of
    chunks is composited once, written to the composites' COGs and, as stored (uint16),
    compared by the detector, whose maps are written in the same pass. The outputs are
    those of a composite per period then :func:`detect`. ``mask``: the items' cloud mask
    (L1C and Landsat masks are derived into a temporary folder first).
    ``detector_options``: keyword arguments of ``load_detector`` (a network's ``precision``,
    a water detector's ``sea_min_px``)."""
    with tempfile.TemporaryDirectory(prefix="tiandi-masks-") as tmp:
        masked = {p: with_cloud_masks(items, grid, mask, Path(tmp)) for p, items in periods.items()}
        return _composites_and_change(
            masked, grid, layout, chunk, detector_name, detector_options or {}
        )


def _composites_and_change(
    periods: dict[str, list[pystac.Item]],
    grid: GeoBox,
    layout: RunLayout,
    chunk: int,
    detector_name: str,
    detector_options: dict[str, Any],
) -> tuple[Path, Path, dict[str, Path]]:
    detector = load_detector(detector_name, **detector_options)
    margin = cloud_margin_px(detector)  # a burned-area detector's wider cloud margin
    dilate_px = DILATE_PX if margin is None else margin
    composites = {
        p: composite_period(items, grid, chunk=chunk, dilate_px=dilate_px)
        for p, items in periods.items()
    }
    outputs = [
        composite_output(composites[p], layout.composite(p), tags={"tiandi:period": p})
        for p in ("before", "after")
    ]
    if isinstance(detector, SiameseDetector | IntegratedDetector):
        # The net's tiles overlap and chunk unlike the composites' rows: write the composites,
        # then run the net once on what was written (the two-step path of the earlier flow).
        _write_inputs_named(outputs, periods)
        paths = _detect_with(detector, outputs[0].path, outputs[1].path, layout, chunk)
    else:
        inputs = [as_read_back(composites[p]) for p in ("before", "after")]
        change = chunked_like(detector.detect(*inputs), inputs[0])
        paths, maps = change_outputs(change, detector, layout)
        _write_inputs_named([*outputs, *maps], periods)
    log = get_run_logger()
    for out, (p, items) in zip(outputs, periods.items(), strict=True):
        log.info("%s composite of %d scenes written: %s", p, len(items), out.path.name)
    log.info("change maps written by %s %s", detector.name, detector.version)
    return outputs[0].path, outputs[1].path, paths


def _write_inputs_named(outputs: list[CogOutput], periods: dict[str, list[pystac.Item]]) -> None:
    """``write_cogs``; a failed read of an input file becomes an InputError naming it."""
    try:
        write_cogs(outputs)
    except TiandiError:
        raise
    except Exception as exc:
        for label, items in periods.items():
            error = _unreadable_input(items, label, exc)
            if error is not None:
                raise error from exc
        raise


@task(cache_policy=NO_CACHE)
def detect(
    before: Path,
    after: Path,
    layout: RunLayout,
    chunk: int,
    detector_name: str = "baseline",
    detector_options: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Run the detector on the two composites; write the change maps of ``layout``.
    ``detector_options``: keyword arguments of ``load_detector`` (e.g. ``precision``)."""
    detector = load_detector(detector_name, **(detector_options or {}))
    paths = _detect_with(detector, before, after, layout, chunk)
    get_run_logger().info("change maps written by %s %s", detector.name, detector.version)
    return paths


def _detect_with(
    detector: ChangeDetector, before: Path, after: Path, layout: RunLayout, chunk: int
) -> dict[str, Path]:
    """The change maps of ``detector`` from the two written composites, into ``layout``."""
    if isinstance(detector, IntegratedDetector):
        return _detect_integrated(detector, before, after, layout, chunk)
    # a network reads windows around its blocks, not chunks (NETWORK_READ_CHUNK)
    read = NETWORK_READ_CHUNK if isinstance(detector, SiameseDetector) else chunk
    before_ds = read_composite(before, read)
    change = detector.detect(before_ds, read_composite(after, read))
    if not isinstance(detector, SiameseDetector):
        change = chunked_like(change, before_ds)
    paths, maps = change_outputs(change, detector, layout)
    if isinstance(detector, SiameseDetector):  # threshold the written map: run the net once
        prob, mask_out = maps
        write_cogs([prob])
        mask = detector.mask(read_cog(paths["change_prob"], chunk).isel(band=0, drop=True))
        write_cogs([CogOutput(mask, mask_out.path, 255, "uint8", mask_out.tags)])
    else:  # all maps in one pass: the composites are read and compared once
        write_cogs(maps)
    return paths


def _detect_integrated(
    detector: IntegratedDetector, before: Path, after: Path, layout: RunLayout, chunk: int
) -> dict[str, Path]:
    """The network's probability written first (the net runs once), then the evidence,
    levels and mask from it and the composites, in one pass chunked like the composites."""
    tags = {"tiandi:model": detector.name, "tiandi:model_version": detector.version}
    net_in = [read_composite(p, NETWORK_READ_CHUNK) for p in (before, after)]
    prob = detector.probability(*net_in)
    write_cogs([CogOutput(prob, layout.change_prob, float("nan"), "float32", tags)])
    prob_back = read_cog(layout.change_prob, chunk).isel(band=0, drop=True)
    before_ds, after_ds = (read_composite(p, chunk) for p in (before, after))
    change = detector.layers(prob_back, before_ds, after_ds).assign(change_prob=prob_back)
    paths, maps = change_outputs(change, detector, layout)
    write_cogs([m for m in maps if m.path != layout.change_prob])
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
    layers: DisturbanceLayers | None = None,
    coastal_zones: tuple[str, ...] = (),
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Patches of the change mask, reclassified with land cover, screened, written; for a
    disturbance detector (``layers``) patches of its change types, screened only by the
    minimum mapping unit (:mod:`tiandi.redline.patches.disturbance`). GDAL's block cache
    is bounded (by default 5 % of the RAM: it would keep every tile read). The boxes
    around the patches are read on threads of this process, which wrote the files
    (:func:`tiandi.flows.runtime.local_threads`), not through the cluster."""
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), local_threads():
        if layers is not None:
            before_ds, after_ds = read_composite(before, chunk), read_composite(after, chunk)
            change_ds = read_change(change, chunk)
            found = extract_disturbances(
                change_ds, before_ds, after_ds, zones, layers, params, coastal_zones
            )
            patches, screened = screen_disturbances(found, params.min_mapping_unit_m2)
            write_patches(patches, path, screened)
            reasons = screened["screen_reason"].value_counts().to_dict() if len(screened) else {}
            get_run_logger().info(
                "%d disturbance patches (%s) kept, %d screened out (%s), written to %s",
                len(patches),
                ", ".join(layers.change_types),
                len(screened),
                ", ".join(f"{n} {r}" for r, n in sorted(reasons.items())) or "none",
                path.name,
            )
            return patches, screened
        # read in windows and boxes: chunks of one COG tile decode and convert (float, indices)
        # a quarter of what 1024² chunks would around each box (same values: per pixel)
        change_ds = read_change(change, BLOCKSIZE)
        before_ds, after_ds = read_composite(before, BLOCKSIZE), read_composite(after, BLOCKSIZE)
        candidates = extract_patches(change_ds, before_ds, after_ds, zones, params)
        if has_confidence_layers(change_ds):  # the integrated detector's levels and evidence
            candidates = add_confidence(candidates, change_ds, params)
        candidates = _reclassified(candidates, before_ds, after_ds, landcover)
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


def _reclassified(
    candidates: gpd.GeoDataFrame,
    before: xr.Dataset,
    after: xr.Dataset,
    landcover: LandCoverModel,
) -> gpd.GeoDataFrame:
    """The candidates reclassified by land cover computed only inside them; both periods
    side by side (their box reads and the model's batches release the GIL)."""
    with ThreadPoolExecutor(2) as pool:
        means = pool.map(
            lambda ds: patch_landcover_means(candidates, ds, landcover), (before, after)
        )
        return reclassify_from_means(candidates, *means)


@task(cache_policy=NO_CACHE)
def make_water_report(
    change: dict[str, Path],
    zones: gpd.GeoDataFrame,
    coastal_zones: tuple[str, ...],
    path: Path,
    chunk: int,
) -> None:
    """Water extent per zone and coastlines of the coastal zones (``water.gpkg``); a zone
    without water or without data is said so in the log, not counted as zero change."""
    table = write_water_report(read_change(change, chunk), zones, path, coastal_zones)
    log = get_run_logger()
    for row in table.itertuples():
        if row.status != "ok":
            log.warning(
                "zone %s: %s — its water change is undefined, not 0", row.zone_id, row.status
            )
    log.info("water extent of %d zones and coastlines written to %s", len(table), path.name)


@task(cache_policy=NO_CACHE)
def record_patches(
    store: PatchStore, patches: gpd.GeoDataFrame, screened: gpd.GeoDataFrame, run_info: RunInfo
) -> None:
    """Record the run's kept and screened-out patches in the patch store."""
    if isinstance(store, GpkgPatchStore):
        store.path.parent.mkdir(parents=True, exist_ok=True)
    done = record_detections(store, patches, screened, run_info)
    get_run_logger().info("patch store %s: run %s recorded %s", store.location, done.run_id, done)


@task(cache_policy=NO_CACHE)
def make_station_packages(
    patches: gpd.GeoDataFrame, stations_path: Path, out_dir: Path
) -> list[Path]:
    """One task package per verification station."""
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
def register_outputs(registrar: Registrar, items: list[pystac.Item]) -> None:
    """Make the output items searchable."""
    registrar.register(items)
    get_run_logger().info("%d output items registered", len(items))


def bbox_4326(zones: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    """The zones' bounds in degrees."""
    x0, y0, x1, y1 = (float(v) for v in zones.to_crs("EPSG:4326").total_bounds)
    return (x0, y0, x1, y1)


__all__ = [
    "bbox_4326",
    "composites_and_change",
    "detect",
    "load_zones",
    "make_patches",
    "make_station_packages",
    "make_water_report",
    "record_patches",
    "register_outputs",
    "search_period",
]
