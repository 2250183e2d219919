"""One Sentinel-2 L2A acquisition of the demo scene: reflectance, clouds, shadows, SCL.

The surface is the cover's reflectance on that day times the static texture. Clouds are
soft blobs of a thresholded fractal field (opacity ``alpha``) blended towards a bright
cloud top; cirrus is a thin veil; each cloud casts a shadow displaced away from the sun
(10:30 local solar time, so north-west, longer in winter). The SCL band (20 m) is derived
from what was drawn: 9/8 for opaque/thinner cloud, 10 cirrus, 3 shadow, 6 water,
4 vegetation, 5 bare or built, 0 outside the swath. Pixel noise is added last, then
reflectance x 10000, plus 1000 for processing baseline 04.00.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from tiandi.demo.scene_fields import F32, block_mean, fractal_field
from tiandi.demo.scene_landcover import U8
from tiandi.demo.scene_spectra import BANDS, BANDS_20M, CLOUD, WATER_COVERS, signatures

U16 = npt.NDArray[np.uint16]

LATITUDE = 40.2
_SHADOW_DARKENING = np.array([0.70, 0.70, 0.70, 0.60, 0.55, 0.55], dtype=np.float32)
_CIRRUS = np.array([0.06, 0.06, 0.06, 0.05, 0.03, 0.02], dtype=np.float32)
CLOUD_CLASSES = (8, 9, 10)
NOISE_GAIN = np.float32(0.015)
NOISE_FLOOR = np.float32(0.002)


def noise_sd(rho: F32) -> F32:
    """Standard deviation of the pixel noise added to reflectance ``rho`` (any shape)."""
    out: F32 = NOISE_GAIN * rho + NOISE_FLOOR
    return out


@dataclass(frozen=True)
class Acquisition:
    """What one acquisition looks like: date, platform, baseline, cloudiness."""

    day: date
    time: str
    platform: str
    baseline: str
    cloud: float
    cirrus: bool = False
    nodata_corner: bool = False

    @property
    def item_id(self) -> str:
        """Sentinel-2 style product id, e.g. ``S2B_MSIL2A_20250312_T50TMK``."""
        mission = "S2" + self.platform[-1].upper()
        return f"{mission}_MSIL2A_{self.day:%Y%m%d}_T50TMK"

    @property
    def offset(self) -> int:
        """DN added to every valid pixel (1000 from baseline 04.00 on)."""
        return 1000 if self.baseline >= "04.00" else 0


@dataclass(frozen=True)
class Rendered:
    """Digital numbers of every band (10 m or 20 m), SCL (20 m) and the cloud cover (%)."""

    bands: dict[str, U16]
    scl: U8
    cloud_cover: float


def shadow_offset(day: date, cloud_height_m: float) -> tuple[int, int]:
    """(rows, columns) from a cloud to its shadow at 10:30 local solar time, 10 m pixels."""
    doy = day.timetuple().tm_yday
    decl = math.radians(23.44 * math.sin(2 * math.pi * (284 + doy) / 365.0))
    lat = math.radians(LATITUDE)
    hour = math.radians(-22.5)
    sin_el = math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(hour)
    el = math.asin(sin_el)
    cos_az = (math.sin(decl) - sin_el * math.sin(lat)) / (math.cos(el) * math.cos(lat))
    az = math.acos(max(-1.0, min(1.0, cos_az)))  # morning: sun east of south
    length = min(cloud_height_m / math.tan(el) / 10.0, 300.0)
    return round(math.cos(az) * length), round(-math.sin(az) * length)


def _shift(a: F32, drow: int, dcol: int) -> F32:
    out = np.zeros_like(a)
    n, m = a.shape
    if abs(drow) >= n or abs(dcol) >= m:
        return out
    src_r = slice(max(-drow, 0), n - max(drow, 0))
    dst_r = slice(max(drow, 0), n - max(-drow, 0))
    src_c = slice(max(-dcol, 0), m - max(dcol, 0))
    dst_c = slice(max(dcol, 0), m - max(-dcol, 0))
    out[dst_r, dst_c] = a[src_r, src_c]
    return out


def _clouds(
    acq: Acquisition, shape: tuple[int, int], rng: np.random.Generator
) -> tuple[F32, F32, F32]:
    """Cloud opacity, cirrus veil and shadow strength, each 0..1 per 10 m pixel."""
    alpha = np.zeros(shape, dtype=np.float32)
    if acq.cloud > 0:
        field = fractal_field(rng, shape, (100.0, 30.0, 8.0))
        thr = np.quantile(field[::4, ::4], 1.0 - acq.cloud)
        alpha = np.clip((field - thr) / np.float32(0.6) + np.float32(0.3), 0.0, 1.0)
    cirrus = np.zeros(shape, dtype=np.float32)
    if acq.cirrus:
        veil = fractal_field(rng, shape, (300.0, 80.0))
        thr = np.quantile(veil[::4, ::4], 0.7)
        cirrus = np.clip((veil - thr) / np.float32(1.0), 0.0, 0.8)
    drow, dcol = shadow_offset(acq.day, rng.uniform(1000.0, 2500.0))
    return alpha, cirrus, _shift(alpha, drow, dcol)


def _to_dn(rho: F32, offset: int, nodata: npt.NDArray[np.bool_]) -> U16:
    rho *= np.float32(10000.0)
    np.clip(rho, 1.0, 65535.0 - offset, out=rho)
    np.rint(rho, out=rho)
    dn = rho.astype(np.uint16)
    if offset:
        dn += np.uint16(offset)
    dn[nodata] = 0
    return dn


SurfaceOf = Callable[[int, U8, int], F32]
"""A fresh surface reflectance (n, n) of a band: (band index, cover, day of year)."""


def _surface(b: int, sig: F32, cover: U8, texture: F32, surface: SurfaceOf | None, doy: int) -> F32:
    if surface is None:
        out: F32 = np.take(sig[:, b], cover) * texture
        return out
    return surface(b, cover, doy)


def render(
    acq: Acquisition,
    cover: U8,
    texture: F32,
    rng: np.random.Generator,
    paint: Sequence[tuple[npt.NDArray[np.intp], F32]] = (),
    surface: SurfaceOf | None = None,
) -> Rendered:
    """Draw one acquisition over the given cover and texture; ``paint``: (flat pixel
    indices, (n, 6) reflectance) that replace the cover's surface there (the planted
    disturbances' real pixels), under the same clouds and noise. ``surface(band index,
    cover, day of year)``, when given, is a fresh surface reflectance of a band that
    replaces the cover's table value times the texture (the real-spectra scene)."""
    n = cover.shape[0]
    sig = signatures(acq.day.timetuple().tm_yday)
    alpha, cirrus, beta = _clouds(acq, cover.shape, rng)
    half = (n // 2, n // 2)
    nodata20 = np.zeros(half, dtype=bool)
    if acq.nodata_corner:
        r, c = np.indices(half)
        nodata20 = (c - r) > 0.6 * half[0]
    nodata10 = np.repeat(np.repeat(nodata20, 2, axis=0), 2, axis=1)
    coarse = {"alpha": block_mean(alpha), "cirrus": block_mean(cirrus), "beta": block_mean(beta)}
    bands: dict[str, U16] = {}
    surface20: dict[str, F32] = {}
    for b, name in enumerate(BANDS):
        surf = _surface(b, sig, cover, texture, surface, acq.day.timetuple().tm_yday)
        for index, spectra in paint:
            surf.reshape(-1)[index] = spectra[:, b]
        a, ci, be, nodata = alpha, cirrus, beta, nodata10
        if name in BANDS_20M or name in ("B04", "B08"):
            surface20[name] = block_mean(surf)
        if name in BANDS_20M:
            surf = surface20[name]
            a, ci, be, nodata = coarse["alpha"], coarse["cirrus"], coarse["beta"], nodata20
        surf *= np.float32(1.0) - _SHADOW_DARKENING[b] * be
        top = CLOUD[b] * (np.float32(0.85) + np.float32(0.15) * a)
        rho = surf * (np.float32(1.0) - a) + top * a + _CIRRUS[b] * ci
        noise = rng.standard_normal(rho.shape, dtype=np.float32)
        noise *= noise_sd(rho)
        rho += noise
        bands[name] = _to_dn(rho, acq.offset, nodata)

    water = np.isin(cover, WATER_COVERS).astype(np.float32)
    red, nir = surface20["B04"], surface20["B08"]
    ndvi = (nir - red) / np.maximum(nir + red, np.float32(1e-6))
    scl = np.where(block_mean(water) > 0.5, 6, np.where(ndvi > 0.3, 4, 5)).astype(np.uint8)
    scl[(coarse["beta"] > 0.3) & (coarse["alpha"] < 0.3)] = 3
    scl[coarse["cirrus"] > 0.2] = 10
    scl[coarse["alpha"] > 0.3] = 8
    scl[coarse["alpha"] > 0.65] = 9
    scl[nodata20] = 0
    valid = int((scl != 0).sum())
    cloudy = int(np.isin(scl, CLOUD_CLASSES).sum())
    cover_pct = round(100.0 * cloudy / valid, 2) if valid else 100.0
    return Rendered(bands=bands, scl=scl, cloud_cover=cover_pct)
