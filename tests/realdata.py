"""Turn the real data sets of ../shared/data into Sentinel-2-like items the pipeline ingests.

Used only by the real-data tests. Each converter writes, into a temporary folder, one
folder per acquisition with one uint16 GeoTIFF per band (DN = reflectance x 10000, nodata
0) plus an ``SCL`` band, and returns :class:`Frame` records that
``tiandi.catalog.items.item_from_rasters`` registers as STAC items.

Neither source has a Sen2Cor scene classification. The SCL band written here only
carries what the source knows: cloud (9, "cloud high probability") or not cloud
(:data:`CLEAR_SCL` = 4, which the pipeline treats as clear; no land-cover claim is made).

- eo-learn TestEOPatch: ``REFERENCE_SCENES.npy`` (5 frames, 13 bands, L1C TOA reflectance)
  on the patch's own bbox transform (EPSG:32633, pixels of about 9.995 x 9.997 m);
  cloud from the patch's ``mask/CLM.npy``.
- OSCD: one city read with :func:`tiandi.models.oscd.read_city` (every band resampled onto
  the date-1 10 m grid, as the data set's README says). The OSCD rasters are georeferenced
  only by an EPSG:4326 bounding box with non-square degree pixels, and the labels are
  aligned with the pixels, not with coordinates. So the pixels are written 1:1 onto a 10 m
  grid in the city's UTM zone, anchored at the real upper-left corner: the place is right
  to within a few pixels, and pixel (r, c) of every raster is pixel (r, c) of the label.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pystac
import rasterio
from affine import Affine
from pyproj import CRS, Transformer
from rasterio.transform import from_bounds
from shapely.geometry import box, shape

from tiandi.catalog.items import item_from_rasters
from tiandi.models import oscd

CLEAR_SCL = 4
CLOUD_SCL = 9
DN_SCALE = 10000.0

EOLEARN_BANDS = (
    "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12",
)  # fmt: skip
"""Band order of the last axis of eo-learn's ``REFERENCE_SCENES.npy``."""
EOLEARN_FRAME_TIMESTAMPS = (2, 1, 4, 3, 0)
"""Index into ``timestamps.json`` of each frame of ``REFERENCE_SCENES.npy`` (see SOURCE.md)."""


@dataclass(frozen=True)
class Frame:
    """One acquisition written to disk: what ``item_from_rasters`` needs."""

    item_id: str
    when: datetime
    assets: dict[str, Path]
    cloud_cover: float
    platform: str

    def item(self, collection: str) -> pystac.Item:
        """The STAC item of this frame (through the project's own ingest)."""
        return item_from_rasters(
            self.item_id,
            self.assets,
            datetime=self.when,
            collection=collection,
            properties={"eo:cloud_cover": self.cloud_cover, "platform": self.platform},
        )


def _write_band(
    path: Path, data: npt.NDArray[Any], transform: Affine, crs: str, nodata: int
) -> Path:
    rows, cols = data.shape
    profile = {
        "driver": "GTiff",
        "width": cols,
        "height": rows,
        "count": 1,
        "dtype": data.dtype.name,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
        "compress": "deflate",
    }
    if rows >= 256 and cols >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


def to_dn(reflectance: npt.NDArray[Any]) -> npt.NDArray[np.uint16]:
    """Reflectance (0-1, NaN = no data) as Sentinel-2 DNs: x 10000, >= 1, NaN -> 0."""
    refl = np.asarray(reflectance, dtype=np.float64)
    dn = np.clip(np.rint(np.nan_to_num(refl, nan=0.0) * DN_SCALE), 1, 65535)
    dn[~np.isfinite(refl)] = 0
    return dn.astype(np.uint16)


def _write_frame(
    folder: Path,
    bands: Mapping[str, npt.NDArray[Any]],
    scl: npt.NDArray[np.uint8],
    transform: Affine,
    crs: str,
) -> dict[str, Path]:
    assets = {
        name: _write_band(folder / f"{name}.tif", to_dn(refl), transform, crs, nodata=0)
        for name, refl in bands.items()
    }
    assets["SCL"] = _write_band(folder / "SCL.tif", scl, transform, crs, nodata=0)
    return assets


# --- eo-learn TestEOPatch -------------------------------------------------------------------


@dataclass(frozen=True)
class EolearnPatch:
    """Georeferencing of the eo-learn test patch."""

    crs: str
    bounds: tuple[float, float, float, float]
    shape: tuple[int, int]

    @property
    def transform(self) -> Affine:
        """The patch's pixel grid (non-square pixels of about 10 m)."""
        rows, cols = self.shape
        transform: Affine = from_bounds(*self.bounds, width=cols, height=rows)
        return transform

    def zones(self) -> gpd.GeoDataFrame:
        """The patch bbox as the one zone to monitor."""
        return gpd.GeoDataFrame(
            {"zone_id": ["eolearn-patch"], "name": ["TestEOPatch"]},
            geometry=[box(*self.bounds)],
            crs=self.crs,
        )


def eolearn_patch(src: Path) -> EolearnPatch:
    """The CRS, bounds and shape of the patch from ``bbox.geojson`` and the cloud mask."""
    doc = json.loads((src / "TestEOPatch" / "bbox.geojson").read_text(encoding="utf-8"))
    crs = CRS.from_user_input(doc["crs"]["properties"]["name"]).to_string()
    x0, y0, x1, y1 = (float(v) for v in shape(doc).bounds)
    rows, cols = np.load(src / "TestEOPatch" / "mask" / "CLM.npy", mmap_mode="r").shape[1:3]
    return EolearnPatch(crs=crs, bounds=(x0, y0, x1, y1), shape=(int(rows), int(cols)))


def eolearn_timestamps(src: Path) -> list[datetime]:
    """The patch's 68 acquisition times (UTC)."""
    raw = json.loads((src / "TestEOPatch" / "timestamps.json").read_text(encoding="utf-8"))
    return [datetime.fromisoformat(t).replace(tzinfo=UTC) for t in raw]


def eolearn_ndvi(src: Path, timestamp_index: int) -> npt.NDArray[np.float32]:
    """eo-learn's own NDVI (``data/NDVI.npy``) of one date, (rows, cols)."""
    ndvi = np.load(src / "TestEOPatch" / "data" / "NDVI.npy", mmap_mode="r")
    return np.asarray(ndvi[timestamp_index, ..., 0], dtype=np.float32)


def write_eolearn_frames(
    src: Path, out: Path, *, bands: Sequence[str] = EOLEARN_BANDS
) -> list[Frame]:
    """Write the 5 full frames of ``REFERENCE_SCENES.npy`` as per-band GeoTIFFs + SCL.

    SCL is 9 where the patch's ``mask/CLM.npy`` says cloud, else :data:`CLEAR_SCL`;
    ``eo:cloud_cover`` is the CLM cloud share in %. Frames come back in time order.
    """
    patch = eolearn_patch(src)
    scenes = np.load(src / "REFERENCE_SCENES.npy", mmap_mode="r")
    clm = np.load(src / "TestEOPatch" / "mask" / "CLM.npy", mmap_mode="r")
    stamps = eolearn_timestamps(src)
    frames: list[Frame] = []
    for frame, t_index in enumerate(EOLEARN_FRAME_TIMESTAMPS):
        when = stamps[t_index]
        cloud = np.asarray(clm[t_index, ..., 0]) > 0
        scl = np.where(cloud, CLOUD_SCL, CLEAR_SCL).astype(np.uint8)
        data = {b: np.asarray(scenes[frame, ..., EOLEARN_BANDS.index(b)]) for b in bands}
        item_id = f"eolearn_S2A_L1C_{when:%Y%m%dT%H%M%S}"
        assets = _write_frame(out / item_id, data, scl, patch.transform, patch.crs)
        frames.append(
            Frame(item_id, when, assets, round(100.0 * float(cloud.mean()), 2), "sentinel-2a")
        )
    return sorted(frames, key=lambda f: f.when)


# --- OSCD -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OscdPair:
    """One OSCD city written as two acquisitions, with its change label (0/1)."""

    city: str
    frames: tuple[Frame, Frame]
    label: npt.NDArray[np.uint8]
    crs: str
    transform: Affine

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the rasters and the label."""
        return (int(self.label.shape[0]), int(self.label.shape[1]))

    def zones(self) -> gpd.GeoDataFrame:
        """The city's raster extent as the one zone to monitor."""
        rows, cols = self.shape
        x0, y1 = self.transform * (0, 0)
        x1, y0 = self.transform * (cols, rows)
        return gpd.GeoDataFrame(
            {"zone_id": [f"oscd-{self.city}"], "name": [self.city]},
            geometry=[box(x0, y0, x1, y1)],
            crs=self.crs,
        )


def _utm_grid(root: Path, city: str) -> tuple[str, Affine]:
    """A 10 m UTM grid whose upper-left corner is the city's date-1 upper-left corner."""
    ref = oscd.band_files(oscd.images_dir(root) / city, "imgs_1", (oscd.REFERENCE_BAND,))
    with rasterio.open(ref[oscd.REFERENCE_BAND]) as src:
        left, top = src.bounds.left, src.bounds.top
    zone = int((left + 180.0) // 6) + 1
    epsg = (32600 if top >= 0 else 32700) + zone
    x, y = Transformer.from_crs("EPSG:4326", epsg, always_xy=True).transform(left, top)
    x0, y1 = round(x / 10.0) * 10.0, round(y / 10.0) * 10.0
    return f"EPSG:{epsg}", Affine(10.0, 0.0, x0, 0.0, -10.0, y1)


def write_oscd_pair(
    root: Path, city: str, out: Path, *, bands: Sequence[str] = oscd.S2_BANDS
) -> OscdPair:
    """Write ``city``'s two dates as per-band GeoTIFFs + an all-clear SCL (OSCD has no masks).

    Item ids are ``oscd_<city>_<YYYYMMDD>``; the acquisition time is the date of
    ``dates.txt`` at 00:00 UTC (the time of day is not in the data set).
    """
    pair = oscd.read_city(root, city, bands=bands)
    if pair.label is None:  # read_city requires the label by default
        raise ValueError(f"OSCD city {city!r} has no label")
    crs, transform = _utm_grid(root, city)
    scl = np.full(pair.shape, CLEAR_SCL, dtype=np.uint8)
    frames: list[Frame] = []
    for ds, day in ((pair.before, pair.dates[0]), (pair.after, pair.dates[1])):
        when = datetime.combine(day, time(0, 0), tzinfo=UTC)
        item_id = f"oscd_{city}_{day:%Y%m%d}"
        data = {b: np.asarray(ds[b].values) for b in bands}
        assets = _write_frame(out / item_id, data, scl, transform, crs)
        frames.append(Frame(item_id, when, assets, 0.0, "sentinel-2"))
    return OscdPair(city, (frames[0], frames[1]), pair.label, crs, transform)


def oscd_cities(root: Path) -> list[str]:
    """The cities of the OSCD folder ``root`` that have a change label."""
    return [c for c in oscd.list_cities(root) if oscd.label_file(root, c) is not None]
