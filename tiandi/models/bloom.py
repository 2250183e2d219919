"""Floating-algae (蓝藻水华) screening on Sentinel-2 L2A: water bodies, FAI, bloom pixels.

The pixel side of bloom monitoring; the grading, tables and patches are in
:mod:`tiandi.redline.patches.bloom`, the flow in :mod:`tiandi.flows.monitor_blooms`.

- **Water bodies** come from the MNDWI (Xu 2006, ``(B03 - B11) / (B03 + B11)``) of the
  period's median composite of clear observations, above ``mndwi_threshold`` (0, Xu's
  threshold), inside each zone; each connected piece of at least ``min_water_m2`` is a
  water body (``<zone_id>-W<k>``, largest first). MNDWI must also exceed the NDVI of the
  same composite (the water rule of Zou et al. 2018, PNAS 115: 3810–3815, who combine
  MNDWI > NDVI with an EVI bound): MNDWI alone is above 0 on dense vegetation in terrain
  shadow (dark NIR and SWIR), which the FAI then reads as a bloom over the whole "water
  body"; open water has NDVI below 0, a lake with a summer bloom has it below its MNDWI
  in the season's median. The median of the season and not one
  date, because a dense surface scum looks like vegetation on the day it floats (high
  NIR and SWIR, MNDWI below 0) and would cut the bloom out of its own lake; the median
  over the season sees open water. Land cover was not used: tiandi's land-cover model
  (:mod:`tiandi.models.landcover`) is rule-based on the same bands and would add nothing
  but a dependency. ``shore_px`` pixels along the shore are left out of the statistics
  (mixed land/water pixels and the adjacency effect raise NIR there).
- **FAI** (Hu 2009, Remote Sensing of Environment 113: 2118–2129): ``NIR − [RED +
  (SWIR1 − RED)·(λNIR − λRED)/(λSWIR1 − λRED)]`` with the Sentinel-2A MSI central
  wavelengths of B04, B08 and B11 (:data:`S2_WAVELENGTH_NM`, from ESA's spectral response
  functions, document COPE-GSEG-EOPG-TN-15-0007). Hu used Rayleigh-corrected reflectance;
  tiandi applies it to L2A bottom-of-atmosphere reflectance, which lowers FAI over water a
  little.
- **Bloom pixels**: FAI above ``fai_threshold``, by default −0.004, the threshold Hu et
  al. 2010 (J. Geophys. Res. 115, C04002) used for cyanobacteria blooms in 太湖 on MODIS;
  set it per lake and sensor when field checks suggest another.
- **No data**: a pixel is clear where SCL is not {0, 1, 3, 8, 9, 10} (dilated by
  ``dilate_px``), exactly as in the composites (:mod:`tiandi.eo.composite`). A date on
  which less than ``min_clear_share`` of a water body is clear is *no data* for it,
  never zero bloom.
- **Cloud margin**: a clear pixel within ``cloud_margin_px`` grid pixels of an unclear
  one (:data:`tiandi.models.base.CLOUD_MARGIN_PX`, 9: 90 m at 10 m) counts as observed
  water but is never a bloom pixel. A bloom is mapped from one date, with no median of
  other dates to outvote the thin edge of a cloud that SCL leaves unflagged, and that
  edge raises the FAI (a cloud's NIR is above its red–SWIR baseline). Ocean-colour
  processors flag such a cloud margin for the same reason (stray light, adjacency); 90 m
  is Fmask's default cloud buffer (3 Landsat pixels) and covers the edge measured on the
  demo's real-spectra scene (false bloom pixels within 60-80 m of the SCL cloud, none
  beyond). Counted as observed, so that a date's clear share (and whether it is no data)
  stays the cloud mask's.

Statistics are computed per chunk (dask) and summed, so memory stays bounded by the
chunk size; the bloom map of one date is computed whole only for the dates that need
patches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dask
import dask.array as da
import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pystac
import rasterio.features
import shapely
import xarray as xr
from odc.geo.geobox import GeoBox
from scipy import ndimage

from tiandi.eo.composite import composite_period
from tiandi.errors import InputError, NoDataError
from tiandi.models.base import CLOUD_MARGIN_PX

#: Central wavelengths (nm) of the Sentinel-2A MSI bands the FAI uses.
S2_WAVELENGTH_NM = {"B04": 664.6, "B08": 832.8, "B11": 1613.7}
FAI_BANDS = ("B04", "B08", "B11")
WATER_BANDS = ("B03", "B04", "B08", "B11")
#: Statistics per water body and date: clear pixels, bloom pixels, FAI sum and maximum
#: over the bloom pixels, FAI sum over the clear pixels.
STAT_NAMES = ("clear_px", "bloom_px", "bloom_fai_sum", "bloom_fai_max", "fai_sum")


@dataclass(frozen=True)
class BloomParams:
    """Thresholds of bloom screening (see the module docstring for their sources)."""

    fai_threshold: float = -0.004
    mndwi_threshold: float = 0.0
    min_water_m2: float = 10_000.0
    shore_px: int = 1
    min_clear_share: float = 0.5
    min_patch_m2: float = 1000.0
    dilate_px: int = 2
    cloud_margin_px: int = CLOUD_MARGIN_PX

    def __post_init__(self) -> None:
        if not 0.0 < self.min_clear_share <= 1.0:
            raise InputError(
                f"BloomParams: min_clear_share must be in (0, 1] (got {self.min_clear_share})"
            )
        if (
            min(self.min_water_m2, self.min_patch_m2) < 0
            or min(self.shore_px, self.dilate_px, self.cloud_margin_px) < 0
        ):
            raise InputError(
                "BloomParams: min_water_m2, min_patch_m2, shore_px, dilate_px and "
                "cloud_margin_px must be ≥ 0"
            )


def fai(red: Any, nir: Any, swir1: Any) -> Any:
    """Floating algae index (Hu 2009) of Sentinel-2 B04, B08, B11 reflectance (0–1)."""
    w = S2_WAVELENGTH_NM
    slope = (w["B08"] - w["B04"]) / (w["B11"] - w["B04"])
    return nir - (red + (swir1 - red) * slope)


def mndwi(green: Any, swir1: Any) -> Any:
    """Modified normalised difference water index (Xu 2006), NaN where both are 0."""
    total = green + swir1
    with np.errstate(invalid="ignore", divide="ignore"):
        return (green - swir1) / np.where(total != 0, total, np.nan)


@dataclass(frozen=True)
class WaterBodies:
    """The water bodies of a zone set on ``grid``.

    ``labels``: int32 raster, 0 outside water, ``k`` for the ``k``-th row of ``table``
    (its interior: the shore pixels are 0); ``table``: ``water_id, zone_id, zone_name,
    area_m2, n_pixels, geometry`` (in the grid's CRS, whole water body)."""

    labels: npt.NDArray[np.int32]
    table: gpd.GeoDataFrame
    grid: GeoBox

    @property
    def pixel_m2(self) -> float:
        """Area of one grid pixel in m² (the grid is projected)."""
        return float(abs(self.grid.resolution.x * self.grid.resolution.y))


def _zone_raster(zones: gpd.GeoDataFrame, grid: GeoBox) -> npt.NDArray[np.int32]:
    shapes = [(g, i + 1) for i, g in enumerate(zones.to_crs(grid.crs).geometry) if g is not None]
    out: npt.NDArray[np.int32] = rasterio.features.rasterize(
        shapes, out_shape=grid.shape, transform=grid.transform, fill=0, dtype="int32"
    )
    return out


def water_mask(items: Sequence[pystac.Item], grid: GeoBox, params: BloomParams, chunk: int) -> Any:
    """MNDWI > threshold and MNDWI > NDVI of the median composite of ``items`` (bool numpy
    array; the module docstring)."""
    ref = composite_period(items, grid, bands=WATER_BANDS, chunk=chunk, dilate_px=params.dilate_px)
    index = mndwi(ref["B03"].data, ref["B11"].data)
    nir, red = ref["B08"].data, ref["B04"].data
    ndvi = (nir - red) / da.where(nir + red != 0, nir + red, np.nan)
    return np.asarray(((index > params.mndwi_threshold) & (index > ndvi)).compute())


def polygons(labels: npt.NDArray[np.int32], grid: GeoBox) -> dict[int, Any]:
    """The (multi)polygon of every label > 0 of ``labels`` on ``grid``, in one pass."""
    parts: dict[int, list[Any]] = {}
    for g, v in rasterio.features.shapes(labels, mask=labels > 0, transform=grid.transform):
        parts.setdefault(int(v), []).append(shapely.geometry.shape(g))
    return {k: shapely.union_all(v) for k, v in parts.items()}


def _zone_bodies(
    water: npt.NDArray[np.bool_], pixel_m2: float, params: BloomParams
) -> tuple[npt.NDArray[np.int32], list[int], npt.NDArray[np.int64]]:
    """Connected pieces of ``water``, the labels of those kept (largest first), sizes."""
    pieces, n = ndimage.label(water)
    sizes = np.bincount(pieces.ravel(), minlength=n + 1)
    order = np.argsort(-sizes[1:], kind="stable") + 1
    keep = [int(k) for k in order if sizes[k] * pixel_m2 >= params.min_water_m2]
    return pieces.astype(np.int32), keep, sizes


def find_water_bodies(
    water: npt.NDArray[np.bool_], zones: gpd.GeoDataFrame, grid: GeoBox, params: BloomParams
) -> WaterBodies:
    """The water bodies of each zone (see the module docstring); ``zones`` need
    ``zone_id`` (and ``name``).

    Raises :class:`InputError` naming every zone with no water body at all."""
    zone_px = _zone_raster(zones, grid)
    pixel_m2 = float(abs(grid.resolution.x * grid.resolution.y))
    labels = np.zeros(grid.shape, dtype=np.int32)
    whole = np.zeros(grid.shape, dtype=np.int32)
    rows: list[dict[str, Any]] = []
    dry: list[str] = []
    for z, zone in enumerate(zones.to_dict("records"), start=1):
        pieces, keep, sizes = _zone_bodies(water & (zone_px == z), pixel_m2, params)
        if not keep:
            dry.append(f"{zone['zone_id']} ({zone.get('name') or 'unnamed'})")
        for rank, k in enumerate(keep, start=1):
            body = pieces == k
            inner = (
                ndimage.binary_erosion(body, iterations=params.shore_px)
                if params.shore_px
                else body
            )
            labels[inner] = whole[body] = len(rows) + 1
            rows.append(
                {
                    "water_id": f"{zone['zone_id']}-W{rank}",
                    "zone_id": str(zone["zone_id"]),
                    "zone_name": str(zone.get("name") or ""),
                    "zone_type": zone.get("zone_type"),
                    "functional_zone": zone.get("functional_zone"),
                    "area_m2": round(float(sizes[k]) * pixel_m2, 1),
                    "n_pixels": int(inner.sum()),
                }
            )
    if dry:
        raise InputError(
            f"no water body of at least {params.min_water_m2:g} m² in zone(s) {', '.join(dry)} "
            f"(MNDWI > {params.mndwi_threshold:g} of the period's composite); bloom monitoring "
            "needs lakes or reservoirs: remove these zones from the zone set, or check that "
            "the period's imagery covers them"
        )
    shapes = polygons(whole, grid)
    geometry = [shapes.get(k + 1) for k in range(len(rows))]
    table = gpd.GeoDataFrame(rows, geometry=geometry, crs=grid.crs)
    return WaterBodies(labels, table, grid)


def items_by_date(items: Sequence[pystac.Item]) -> dict[str, list[pystac.Item]]:
    """The items of each acquisition day (UTC), days in order (tiles of one day together)."""
    days: dict[str, list[pystac.Item]] = {}
    for item in sorted(items, key=lambda i: (str(i.datetime), i.id)):
        if item.datetime is not None:
            days.setdefault(item.datetime.date().isoformat(), []).append(item)
    return days


def date_layers(
    items: Sequence[pystac.Item], grid: GeoBox, params: BloomParams, chunk: int
) -> xr.Dataset | None:
    """B04, B08, B11 of one date's items (NaN where not clear), or None when nothing on
    the grid is clear that day."""
    try:
        return composite_period(
            items, grid, bands=FAI_BANDS, chunk=chunk, dilate_px=params.dilate_px
        )
    except NoDataError:
        return None


def near_cloud(layers: xr.Dataset, params: BloomParams) -> npt.NDArray[np.bool_]:
    """Clear pixels of one date within ``params.cloud_margin_px`` of an unclear one (the
    cloud margin, module docstring), counted from the mask already dilated by
    ``dilate_px`` (bool numpy array of the grid)."""
    unclear = ~np.isfinite(np.asarray(layers["B04"].values))
    extra = params.cloud_margin_px - params.dilate_px
    if extra <= 0 or not unclear.any():
        return np.zeros(unclear.shape, dtype=bool)
    grown = ndimage.binary_dilation(unclear, np.ones((3, 3), dtype=bool), iterations=extra)
    out: npt.NDArray[np.bool_] = grown & ~unclear
    return out


def _block_stats(
    labels: npt.NDArray[np.int32],
    red: npt.NDArray[np.float32],
    nir: npt.NDArray[np.float32],
    swir: npt.NDArray[np.float32],
    near: npt.NDArray[np.bool_],
    n: int,
    threshold: float,
) -> npt.NDArray[np.float64]:
    index = fai(red.astype(np.float64), nir.astype(np.float64), swir.astype(np.float64))
    clear = (labels > 0) & np.isfinite(index)
    lab, value = labels[clear], index[clear]
    bloom = (value > threshold) & ~near[clear]
    out = np.zeros((len(STAT_NAMES), n + 1))
    out[0] = np.bincount(lab, minlength=n + 1)
    out[1] = np.bincount(lab[bloom], minlength=n + 1)
    out[2] = np.bincount(lab[bloom], weights=value[bloom], minlength=n + 1)
    out[3] = -np.inf
    np.maximum.at(out[3], lab[bloom], value[bloom])
    out[4] = np.bincount(lab, weights=value, minlength=n + 1)
    return out


def _combine(parts: Sequence[npt.NDArray[np.float64]]) -> npt.NDArray[np.float64]:
    total: npt.NDArray[np.float64] = np.sum(parts, axis=0)
    total[3] = np.max([p[3] for p in parts], axis=0)
    return total


def date_stats(
    layers: xr.Dataset, bodies: WaterBodies, params: BloomParams
) -> npt.NDArray[np.float64]:
    """Per water body (row ``k - 1`` for label ``k``) the :data:`STAT_NAMES` of one date,
    computed chunk by chunk (shape ``(n_bodies, len(STAT_NAMES))``)."""
    n = len(bodies.table)
    bands = [layers[b].data for b in FAI_BANDS]
    labels = da.from_array(bodies.labels, chunks=bands[0].chunks)  # type: ignore[no-untyped-call]
    near = da.from_array(near_cloud(layers, params), chunks=bands[0].chunks)  # type: ignore[no-untyped-call]
    blocks = zip(*(a.to_delayed().ravel() for a in (labels, *bands, near)), strict=True)
    parts = [
        dask.delayed(_block_stats)(lab, r, nr, s, m, n, params.fai_threshold)  # type: ignore[attr-defined]
        for lab, r, nr, s, m in blocks
    ]
    (total,) = dask.compute(dask.delayed(_combine)(parts))  # type: ignore[attr-defined,no-untyped-call]
    return np.asarray(total, dtype=np.float64)[:, 1:].T


def bloom_pieces(layers: xr.Dataset, bodies: WaterBodies, params: BloomParams) -> gpd.GeoDataFrame:
    """Connected bloom areas of one date inside the water bodies, at least
    ``min_patch_m2``: ``water_id, n_pixels, area_m2, fai_mean, fai_max, geometry`` (grid
    CRS). Computes the date's FAI whole (float32 of the grid)."""
    index = np.asarray(
        fai(*(layers[b].data.astype(np.float32) for b in FAI_BANDS)).compute(), dtype=np.float32
    )
    bloom = (bodies.labels > 0) & np.isfinite(index) & (index > params.fai_threshold)
    bloom &= ~near_cloud(layers, params)
    pieces, n = ndimage.label(bloom)
    ids = np.arange(1, n + 1)
    counts = np.bincount(pieces.ravel(), minlength=n + 1)[1:]
    means, maxima = ndimage.mean(index, pieces, ids), ndimage.maximum(index, pieces, ids)
    body = ndimage.maximum(bodies.labels, pieces, ids)
    shapes = polygons(pieces.astype(np.int32), bodies.grid)
    rows = [
        {
            "water_id": str(bodies.table["water_id"].iloc[int(body[k]) - 1]),
            "n_pixels": int(counts[k]),
            "area_m2": round(float(counts[k]) * bodies.pixel_m2, 1),
            "fai_mean": round(float(means[k]), 4),
            "fai_max": round(float(maxima[k]), 4),
            "geometry": shapes[k + 1],
        }
        for k in range(n)
        if counts[k] * bodies.pixel_m2 >= params.min_patch_m2
    ]
    columns = ["water_id", "n_pixels", "area_m2", "fai_mean", "fai_max", "geometry"]
    return gpd.GeoDataFrame(rows, columns=columns, geometry="geometry", crs=bodies.grid.crs)


__all__ = [
    "FAI_BANDS",
    "S2_WAVELENGTH_NM",
    "STAT_NAMES",
    "BloomParams",
    "WaterBodies",
    "bloom_pieces",
    "date_layers",
    "date_stats",
    "fai",
    "find_water_bodies",
    "items_by_date",
    "mndwi",
    "near_cloud",
    "water_mask",
]
