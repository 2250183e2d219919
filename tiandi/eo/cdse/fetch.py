"""``tiandi fetch cdse``: Sentinel-2 L2A of the Copernicus Data Space for the zones, as items.

:func:`fetch_cdse` reads the credentials (before anything is asked of the network),
searches the Catalog API for the zones' bounding box and the period, and for each
acquisition (one UTC day) asks the Process API for B02 B03 B04 B08 B11 B12 and SCL on one
grid: 10 m in the UTM CRS of the zones' centre, snapped to whole 10 m, 10 pixels beyond
the zones, cut into tiles of at most ``max_tile_px`` (2500, the Process API's limit) per
side. Tiles are written into a temporary GeoTIFF per band, then each band becomes a COG
(:func:`tiandi.eo.cog.cog_from_geotiff`) in ``<home>/cdse/<item id>/<band>.tif``.

Nothing is half-written: every acquisition is fetched into a staging folder first; only
when all succeeded are the folders moved into place and the items registered, in one
call of the registrar. An acquisition whose SCL is 0 (no data) everywhere over the grid
(the scene only touched the bounding box's corner) is skipped and reported.

The items are those of ``tiandi catalog register``/``ingest s2``: canonical asset keys,
``proj``, ``eo:bands``, ``raster:bands`` (nodata 0; scale 0.0001 and offset 0 on the
reflectance bands, since the Process API harmonises the baseline-04.00 offset away, and
``s2:boa_add_offset`` 0), ``eo:cloud_cover`` computed from the fetched SCL over the grid,
and ``tiandi:cdse_scenes`` (the Catalog API's scene ids).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pystac
import rasterio
from odc.geo.geobox import GeoBox
from pystac.extensions.raster import RasterBand, RasterExtension
from rasterio.windows import Window
from sentinelhub.config import SHConfig
from sentinelhub.download.sentinelhub_client import SentinelHubDownloadClient

from tiandi.catalog.cloud_cover import resolve_cloud_cover
from tiandi.catalog.items import item_from_rasters
from tiandi.catalog.register import Registrar
from tiandi.eo.cdse.api import BANDS, Acquisition, fetch_tile, search_acquisitions
from tiandi.eo.cdse.credentials import load_credentials, quiet_oauth_logs, sh_config
from tiandi.eo.cog import cog_from_geotiff
from tiandi.eo.grid import geobox_for_bounds
from tiandi.errors import InputError, NoDataError
from tiandi.settings import Settings

__all__ = ["MAX_TILE_PX", "FetchGrid", "Tile", "fetch_cdse", "fetch_grid"]

#: The Process API's largest output side (pixels).
MAX_TILE_PX = 2500
RESOLUTION = 10.0
BUFFER_PX = 10
_SCALE = 1e-4


@dataclass(frozen=True)
class Tile:
    """One Process API request: bounds in the grid's CRS, size (cols, rows), window."""

    bounds: tuple[float, float, float, float]
    size: tuple[int, int]
    window: Window


@dataclass(frozen=True)
class FetchGrid:
    """The grid the zones are fetched on, its EPSG code, tiles and lon/lat bounding box."""

    geobox: GeoBox
    epsg: int
    tiles: tuple[Tile, ...]
    bbox_4326: tuple[float, float, float, float]

    @property
    def key(self) -> str:
        """Eight hex digits naming the grid (CRS and bounds) in item ids."""
        text = f"{self.epsg}:{tuple(round(v, 3) for v in self.geobox.boundingbox)}"
        return hashlib.sha256(text.encode()).hexdigest()[:8]


def fetch_grid(zones: gpd.GeoDataFrame, *, max_tile_px: int = MAX_TILE_PX) -> FetchGrid:
    """The 10 m grid in the zones' UTM CRS covering them (plus 10 px), and its tiles."""
    if zones.empty or zones.crs is None:
        raise InputError("the zones are empty or have no CRS; give a zones file with polygons")
    if not 16 <= max_tile_px <= MAX_TILE_PX:
        raise InputError(f"tile size {max_tile_px} must be between 16 and {MAX_TILE_PX} px")
    utm = zones.estimate_utm_crs()
    epsg = int(utm.to_epsg())
    x0, y0, x1, y1 = (float(v) for v in zones.to_crs(utm).total_bounds)
    pad = BUFFER_PX * RESOLUTION
    snap = (
        math.floor((x0 - pad) / RESOLUTION) * RESOLUTION,
        math.floor((y0 - pad) / RESOLUTION) * RESOLUTION,
        math.ceil((x1 + pad) / RESOLUTION) * RESOLUTION,
        math.ceil((y1 + pad) / RESOLUTION) * RESOLUTION,
    )
    geobox = geobox_for_bounds(f"EPSG:{epsg}", RESOLUTION, snap)
    rows, cols = geobox.shape
    tiles = []
    for r0 in range(0, rows, max_tile_px):
        for c0 in range(0, cols, max_tile_px):
            h, w = min(max_tile_px, rows - r0), min(max_tile_px, cols - c0)
            left, top = snap[0] + c0 * RESOLUTION, snap[3] - r0 * RESOLUTION
            bounds = (left, top - h * RESOLUTION, left + w * RESOLUTION, top)
            tiles.append(Tile(bounds, (w, h), Window(c0, r0, w, h)))
    lon0, lat0, lon1, lat1 = (float(v) for v in zones.to_crs("EPSG:4326").total_bounds)
    return FetchGrid(geobox, epsg, tuple(tiles), (lon0, lat0, lon1, lat1))


def fetch_cdse(
    zones: gpd.GeoDataFrame,
    period: tuple[dt.datetime, dt.datetime],
    settings: Settings,
    registrar: Registrar,
    *,
    collection: str = "sentinel-2-l2a",
    max_cloud_cover: float | None = None,
    max_tile_px: int = MAX_TILE_PX,
    attempts: int = 3,
    retry_sleep_s: float = 2.0,
    progress: Callable[[str], None] | None = None,
) -> list[pystac.Item]:
    """Fetch every acquisition over ``zones`` in ``period``, register the items, return them.

    ``InputError`` for missing or refused credentials; ``NoDataError`` when the Catalog
    API has no scene; ``ServiceError`` when an API keeps failing. On any error nothing is
    registered and no file is left behind.
    """
    say = progress or (lambda _line: None)
    credentials = load_credentials(settings)
    grid = fetch_grid(zones, max_tile_px=max_tile_px)
    config = sh_config(settings, credentials, attempts=attempts, sleep_s=retry_sleep_s)
    # sentinelhub caches sessions by client id and token URL: authenticate anew, so the
    # secret given now is the one checked
    SentinelHubDownloadClient.clear_cache()
    with quiet_oauth_logs():
        found = search_acquisitions(
            config, grid.bbox_4326, period, collection=collection, max_cloud_cover=max_cloud_cover
        )
        if not found:
            raise NoDataError(_nothing_found(settings, grid, period, collection, max_cloud_cover))
        say(f"{len(found)} acquisitions, {len(grid.tiles)} tile(s) of up to {max_tile_px} px")
        root = settings.cdse_path
        stage = root / f".staging-{os.getpid()}"
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir(parents=True)
        try:
            fetched = _fetch_all(config, found, grid, stage, say)
            return _publish_all(stage, root, fetched, collection, registrar)
        finally:
            shutil.rmtree(stage, ignore_errors=True)


def _fetch_all(
    config: SHConfig,
    found: list[Acquisition],
    grid: FetchGrid,
    stage: Path,
    say: Callable[[str], None],
) -> list[tuple[Acquisition, str]]:
    """Fetch each acquisition into ``stage/<item id>``; those with data, and their ids."""
    fetched: list[tuple[Acquisition, str]] = []
    for acq in found:
        item_id = f"cdse-s2l2a-{acq.day:%Y%m%d}-{grid.key}"
        if _fetch_acquisition(config, acq, grid, stage / item_id):
            fetched.append((acq, item_id))
            say(f"{acq.day}: {len(acq.scene_ids)} scene(s) -> {item_id}")
        else:
            say(f"{acq.day}: no data over the zones, skipped")
    if not fetched:
        raise NoDataError(
            f"the {len(found)} acquisitions found have no data over the zones' grid; widen "
            "the period (nothing was registered)"
        )
    return fetched


def _nothing_found(
    settings: Settings,
    grid: FetchGrid,
    period: tuple[dt.datetime, dt.datetime],
    collection: str,
    max_cloud_cover: float | None,
) -> str:
    cloud = "" if max_cloud_cover is None else f" with eo:cloud_cover <= {max_cloud_cover:g} %"
    bbox = ", ".join(f"{v:.4f}" for v in grid.bbox_4326)
    return (
        f"the Copernicus Data Space Catalog API ({settings.cdse_base_url}) has no "
        f"{collection} scene over the zones (lon/lat {bbox}) from {period[0]:%Y-%m-%d} to "
        f"{period[1]:%Y-%m-%d}{cloud}; widen the period or raise --max-cloud-cover "
        "(nothing was fetched or registered)"
    )


def _fetch_acquisition(config: SHConfig, acq: Acquisition, grid: FetchGrid, folder: Path) -> bool:
    """Fetch every tile into one GeoTIFF per band, then COGs; False when all is no data."""
    folder.mkdir(parents=True)
    rows, cols = grid.geobox.shape
    profile = {
        "driver": "GTiff", "width": cols, "height": rows, "count": 1, "nodata": 0,
        "crs": f"EPSG:{grid.epsg}", "transform": grid.geobox.transform, "tiled": True,
        "blockxsize": 512, "blockysize": 512, "compress": "zstd", "zstd_level": 1,
        "bigtiff": "if_safer",
    }  # fmt: skip
    strips = {b: folder / f".{b}.strips.tif" for b in BANDS}
    any_data = False
    files = {
        b: rasterio.open(p, "w", **profile, dtype="uint8" if b == "SCL" else "uint16")
        for b, p in strips.items()
    }
    try:
        for tile in grid.tiles:
            data = fetch_tile(config, acq, tile.bounds, grid.epsg, tile.size)
            any_data = any_data or bool(data[-1].any())
            for i, band in enumerate(BANDS):
                files[band].write(data[i].astype(files[band].dtypes[0]), 1, window=tile.window)
    finally:
        for dst in files.values():
            dst.close()
    if any_data:
        for band, path in strips.items():
            resampling = "nearest" if band == "SCL" else "average"
            cog_from_geotiff(path, folder / f"{band}.tif", overview_resampling=resampling)
    for path in strips.values():
        path.unlink(missing_ok=True)
    return any_data


def _publish_all(
    stage: Path,
    root: Path,
    fetched: list[tuple[Acquisition, str]],
    collection: str,
    registrar: Registrar,
) -> list[pystac.Item]:
    """Move every fetched folder into place and register the items in one call; on a
    failure the folders moved so far are removed again (nothing registered)."""
    moved: list[Path] = []
    try:
        items = []
        for acq, item_id in fetched:
            moved.append(root / item_id)
            items.append(_publish(stage / item_id, root / item_id, acq, item_id, collection))
        registrar.register(items)
    except BaseException:
        for path in moved:
            shutil.rmtree(path, ignore_errors=True)
        raise
    return items


def _publish(
    staged: Path, final: Path, acq: Acquisition, item_id: str, collection: str
) -> pystac.Item:
    """Move the acquisition's folder into place and describe it as a STAC item."""
    if final.exists():
        shutil.rmtree(final)
    os.replace(staged, final)
    assets = {b: final / f"{b}.tif" for b in BANDS}
    cloud = resolve_cloud_cover({"SCL": assets["SCL"]})
    properties: dict[str, object] = {
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "s2:boa_add_offset": 0,
        "tiandi:source": "cdse-process-api",
        "tiandi:cdse_scenes": list(acq.scene_ids),
    }
    if acq.platform:
        properties["platform"] = acq.platform
    if cloud is not None:
        properties["eo:cloud_cover"] = cloud
    item = item_from_rasters(
        item_id, assets, datetime=acq.start, collection=collection, properties=properties
    )
    for key, asset in item.assets.items():
        raster = RasterExtension.ext(asset, add_if_missing=True)
        old = (raster.bands or [RasterBand.create()])[0]
        band = RasterBand.create(
            data_type=old.data_type, nodata=0, spatial_resolution=old.spatial_resolution
        )
        if key != "SCL":
            band.scale, band.offset = _SCALE, 0.0
        raster.bands = [band]
    return item
