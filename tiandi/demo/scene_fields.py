"""Random smooth fields and shapes for the demo scene generator.

Everything here is plain float32 numpy, vectorised and deterministic for a given
``numpy.random.Generator``: smooth noise is drawn on a coarse grid, blurred there and
upsampled bilinearly with element-wise operations only (no BLAS, whose summation order
may depend on the thread count), so re-runs give bit-identical arrays.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import ndimage
from shapely.geometry import Polygon

F32 = npt.NDArray[np.float32]

_PAD = 4  # coarse cells around the field so the blur sees no edge


def _axis(n: int, step: float, m: int) -> tuple[npt.NDArray[np.intp], F32]:
    """Index of the left coarse neighbour and the weight of the right one, per pixel."""
    u = (np.arange(n, dtype=np.float64) + 0.5) / step - 0.5 + _PAD
    i0 = np.clip(np.floor(u).astype(np.intp), 0, m - 2)
    return i0, (u - i0).astype(np.float32)


def upsample(coarse: F32, shape: tuple[int, int], step: float) -> F32:
    """Bilinear upsampling of a padded coarse grid (cell size ``step`` px) to ``shape``."""
    iy, fy = _axis(shape[0], step, coarse.shape[0])
    ix, fx = _axis(shape[1], step, coarse.shape[1])
    rows = coarse[:, ix] * (1.0 - fx) + coarse[:, ix + 1] * fx
    out: F32 = rows[iy] * (1.0 - fy)[:, None]
    out += rows[iy + 1] * fy[:, None]
    return out


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma_px: float) -> F32:
    """Gaussian random field of unit variance with correlation length ``sigma_px`` pixels."""
    step = max(sigma_px / 3.0, 1.0)
    blur = sigma_px / step
    cy = math.ceil(shape[0] / step) + 2 * _PAD
    cx = math.ceil(shape[1] / step) + 2 * _PAD
    coarse = ndimage.gaussian_filter(
        rng.standard_normal((cy, cx), dtype=np.float32), blur, mode="reflect"
    )
    coarse -= coarse.mean(dtype=np.float64)
    coarse /= max(float(coarse.std(dtype=np.float64)), 1e-6)
    if step == 1.0:
        return np.ascontiguousarray(coarse[_PAD : _PAD + shape[0], _PAD : _PAD + shape[1]])
    return upsample(coarse, shape, step)


def fractal_field(
    rng: np.random.Generator, shape: tuple[int, int], sigmas_px: tuple[float, ...]
) -> F32:
    """Sum of smooth fields, each half the weight of the previous one."""
    out = np.zeros(shape, dtype=np.float32)
    for k, sigma in enumerate(sigmas_px):
        out += np.float32(0.5**k) * smooth_field(rng, shape, sigma)
    return out


def bump(shape: tuple[int, int], cx: float, cy: float, sigma: float) -> F32:
    """Separable Gaussian bump (peak 1) centred at pixel (cx, cy)."""
    gx = np.exp(-0.5 * ((np.arange(shape[1], dtype=np.float32) + 0.5 - cx) / sigma) ** 2)
    gy = np.exp(-0.5 * ((np.arange(shape[0], dtype=np.float32) + 0.5 - cy) / sigma) ** 2)
    out: F32 = np.outer(gy, gx).astype(np.float32)
    return out


def block_mean(a: F32) -> F32:
    """Mean of 2x2 blocks (10 m to 20 m); the array sides must be even."""
    out: F32 = a[0::2, 0::2] + a[1::2, 0::2]
    out += a[0::2, 1::2]
    out += a[1::2, 1::2]
    out *= np.float32(0.25)
    return out


def blob(
    rng: np.random.Generator,
    cx: float,
    cy: float,
    radius: float,
    *,
    aspect: float = 1.0,
    angle: float = 0.0,
    roughness: float = 0.15,
    n: int = 96,
) -> Polygon:
    """Star-shaped irregular polygon (pixel coordinates) of mean radius ``radius``."""
    theta = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    r = np.ones(n)
    for k in range(2, 7):
        r += roughness * rng.standard_normal() / k * np.cos(k * theta + rng.uniform(0, 2 * math.pi))
    r = np.clip(r, 0.35, None) * radius
    x = r * np.cos(theta) * math.sqrt(aspect)
    y = r * np.sin(theta) / math.sqrt(aspect)
    ca, sa = math.cos(angle), math.sin(angle)
    return Polygon(np.column_stack([cx + ca * x - sa * y, cy + sa * x + ca * y]))
