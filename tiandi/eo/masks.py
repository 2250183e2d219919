"""The cloud mask of a composite, chosen from the items: SCL, s2cloudless or QA_PIXEL.

The composite (:func:`tiandi.eo.composite.composite_period`) masks an SCL-like band
(classes {0, 1, 3, 8, 9, 10}). :func:`with_cloud_masks` gives it one for every kind of
imagery, by the kind :func:`tiandi.catalog.providers.normalise.mask_kind` names:

- ``scl`` (Sentinel-2 L2A): the item's own SCL; nothing is computed.
- ``s2cloudless`` (Sentinel-2 L1C): per item, the ten s2cloudless bands are read on the
  run's grid (TOA reflectance, the item's DN offset applied), s2cloudless gives the cloud
  mask and the geometric projection of :func:`~tiandi.eo.clouds.cloud_shadow_mask` the
  shadows (sun angles from ``view:sun_azimuth``/``view:sun_elevation`` or
  ``s2:mean_solar_azimuth``/``s2:mean_solar_zenith``, else computed from the acquisition
  time and the grid's centre); written as an SCL-like COG on the grid.
- ``qa_pixel`` (Landsat Collection 2 Level-2): QA_PIXEL's cloud, dilated cloud, cirrus
  (→ 9) and cloud shadow (→ 3) bits and fill (→ 0) as an SCL-like COG; the six bands are
  rescaled with their ``raster:bands`` scale and offset (0.0000275, -0.2) to
  reflectance x 10000 and written as uint16 COGs on the grid (0 = no data, so a
  reflectance at or below 0 is no data), so the composite reads them like Sentinel-2.

Derived files go to ``folder`` (the caller's temporary folder). Each item is read eagerly
on the grid, one at a time: for L1C and Landsat, memory is about 10 float32 layers of the
grid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import odc.stac
import pystac
import rasterio
from odc.geo.geobox import GeoBox
from pyproj import Transformer

from tiandi.catalog.providers.normalise import MaskKind, scale_offset
from tiandi.eo._harmonise import boa_offset
from tiandi.eo.clouds import (
    S2CLOUDLESS_BANDS,
    cloud_shadow_mask,
    landsat_qa_flags,
    s2_cloud_mask,
    s2_cloud_probability,
    scl_from_masks,
)
from tiandi.errors import InputError

__all__ = ["LANDSAT_BANDS", "sun_angles", "with_cloud_masks"]

LANDSAT_BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")
_SHADOW_BANDS = ("B08", "B11", "B12")


def with_cloud_masks(
    items: Sequence[pystac.Item], grid: GeoBox, kind: MaskKind, folder: Path
) -> list[pystac.Item]:
    """``items`` with an ``SCL`` asset the composite can mask with (see the module)."""
    if kind == "scl":
        return list(items)
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "s2cloudless":
        return [_l1c_item(item, grid, folder) for item in items]
    return [_landsat_item(item, grid, folder) for item in items]


def _read(item: pystac.Item, bands: Sequence[str], grid: GeoBox) -> dict[str, npt.NDArray]:  # type: ignore[type-arg]
    ds = odc.stac.load(
        [item], bands=list(bands), geobox=grid, dtype="uint16", resampling="nearest",
        fail_on_error=True,
    )  # fmt: skip
    return {b: np.asarray(ds[b].values[0]) for b in bands}


def _write(path: Path, data: npt.NDArray, grid: GeoBox, nodata: int) -> Path:  # type: ignore[type-arg]
    rows, cols = data.shape
    profile = {
        "driver": "GTiff", "width": cols, "height": rows, "count": 1,
        "dtype": data.dtype.name, "crs": str(grid.crs), "transform": grid.transform,
        "nodata": nodata, "compress": "deflate", "tiled": True,
        "blockxsize": 256, "blockysize": 256,
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


def _with_assets(
    item: pystac.Item, files: dict[str, Path], grid: GeoBox, dtypes: dict[str, str]
) -> pystac.Item:
    out = item.clone()
    for key, path in files.items():
        out.add_asset(
            key,
            pystac.Asset(
                href=path.resolve().as_uri(),  # absolute: a relative href resolves against the API
                media_type=pystac.MediaType.COG,
                roles=["data"],
                extra_fields={
                    "proj:transform": list(grid.transform)[:6],
                    "proj:shape": list(grid.shape),
                    "raster:bands": [
                        {
                            "nodata": 0,
                            "data_type": dtypes[key],
                            "spatial_resolution": abs(grid.resolution.x),
                        }
                    ],
                },
            ),
        )
    return out


def sun_angles(item: pystac.Item, grid: GeoBox) -> tuple[float, float]:
    """(azimuth, zenith) of the sun in degrees for ``item``: from its properties, else
    computed from its datetime at the grid's centre (NOAA's low-accuracy formulas, ±1°)."""
    p = item.properties
    if p.get("view:sun_azimuth") is not None and p.get("view:sun_elevation") is not None:
        return float(p["view:sun_azimuth"]), 90.0 - float(p["view:sun_elevation"])
    if p.get("s2:mean_solar_azimuth") is not None and p.get("s2:mean_solar_zenith") is not None:
        return float(p["s2:mean_solar_azimuth"]), float(p["s2:mean_solar_zenith"])
    if item.datetime is None:
        raise InputError(
            f"STAC item {item.id!r} has no datetime and no sun angles (view:sun_azimuth, "
            "view:sun_elevation); the cloud-shadow projection needs one of them"
        )
    x, y = grid.extent.centroid.coords[0]
    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(x, y)
    return _solar_position(item.datetime, lat, lon)


def _solar_position(when: datetime, lat: float, lon: float) -> tuple[float, float]:
    day = when.timetuple().tm_yday
    hour = when.hour + when.minute / 60 + when.second / 3600
    g = 2 * math.pi / 365 * (day - 1 + (hour - 12) / 24)
    decl = (
        0.006918 - 0.399912 * math.cos(g) + 0.070257 * math.sin(g)
        - 0.006758 * math.cos(2 * g) + 0.000907 * math.sin(2 * g)
    )  # fmt: skip
    eqtime = 229.18 * (
        0.000075 + 0.001868 * math.cos(g) - 0.032077 * math.sin(g)
        - 0.014615 * math.cos(2 * g) - 0.040849 * math.sin(2 * g)
    )  # fmt: skip
    ha = math.radians((hour * 60 + eqtime + 4 * lon) / 4 - 180)
    phi = math.radians(lat)
    cos_z = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(ha)
    zenith = math.acos(max(-1.0, min(1.0, cos_z)))
    cos_az = (math.sin(decl) - math.sin(phi) * cos_z) / (math.cos(phi) * math.sin(zenith))
    azimuth = math.degrees(math.acos(max(-1.0, min(1.0, cos_az))))
    if ha > 0:
        azimuth = 360.0 - azimuth
    return azimuth, math.degrees(zenith)


def _l1c_item(item: pystac.Item, grid: GeoBox, folder: Path) -> pystac.Item:
    bands = sorted({*S2CLOUDLESS_BANDS, *_SHADOW_BANDS})
    if item.properties.get("s2:radio_add_offset") is not None:  # L1C SAFE (tiandi ingest s2)
        item = item.clone()
        item.properties.setdefault("s2:boa_add_offset", item.properties["s2:radio_add_offset"])
    dn = _read(item, bands, grid)
    offset = boa_offset(item)  # the composite applies the same offset to the L1C bands
    nodata = np.zeros(grid.shape, dtype=bool)
    toa: dict[str, npt.NDArray[np.float32]] = {}
    for band in bands:
        nodata |= dn[band] == 0
        toa[band] = (np.maximum(dn[band].astype(np.float32) + offset, 1.0) / 10000.0).astype(
            np.float32
        )
    prob = s2_cloud_probability(np.stack([toa[b] for b in S2CLOUDLESS_BANDS]))
    cloud = s2_cloud_mask(prob)
    azimuth, zenith = sun_angles(item, grid)
    shadow = cloud_shadow_mask(
        cloud, toa["B08"], toa["B11"], toa["B12"],
        sun_azimuth_deg=azimuth, sun_zenith_deg=zenith, pixel_size_m=abs(grid.resolution.x),
    )  # fmt: skip
    scl = scl_from_masks(cloud, shadow, nodata)
    path = _write(folder / f"{item.id}_SCL.tif", scl, grid, nodata=0)
    return _with_assets(item, {"SCL": path}, grid, {"SCL": "uint8"})


def _landsat_scales(item: pystac.Item) -> dict[str, tuple[float, float]]:
    scales: dict[str, tuple[float, float]] = {}
    for band in LANDSAT_BANDS:
        scale, offset = scale_offset(item.assets[band])
        if scale is None or offset is None:
            raise InputError(
                f"Landsat item {item.id!r}: asset {band} has no raster:bands scale and "
                "offset; Collection 2 Level-2 surface reflectance has scale 0.0000275 and "
                "offset -0.2: use the Level-2 collection (landsat-c2-l2)"
            )
        scales[band] = (scale, offset)
    return scales


def _landsat_item(item: pystac.Item, grid: GeoBox, folder: Path) -> pystac.Item:
    scales = _landsat_scales(item)
    dn = _read(item, [*LANDSAT_BANDS, "QA_PIXEL"], grid)
    qa = landsat_qa_flags(dn["QA_PIXEL"])
    cloud = qa.cloud | qa.dilated_cloud | qa.cirrus
    scl = scl_from_masks(cloud, qa.cloud_shadow, qa.fill)
    files = {"SCL": _write(folder / f"{item.id}_SCL.tif", scl, grid, nodata=0)}
    for band, (scale, offset) in scales.items():
        refl = dn[band].astype(np.float64) * scale + offset
        out = np.clip(np.rint(refl * 10000.0), 0, 65535).astype(np.uint16)
        out[dn[band] == 0] = 0
        files[band] = _write(folder / f"{item.id}_{band}.tif", out, grid, nodata=0)
    result = _with_assets(item, files, grid, {k: "uint16" for k in files} | {"SCL": "uint8"})
    result.properties["s2:boa_add_offset"] = 0
    return result
