"""Baseline change detector: change vector analysis (CVA) that tolerates the seasons.

Method (per pixel, on harmonised BOA reflectance composites ``before`` and ``after``):

1. Differences ``d_b = after_b - before_b`` of the six bands B02 B03 B04 B08 B11 B12 and of
   three indices (NDVI, BSI, NDWI; see :mod:`tiandi.eo.indices`).
2. Change magnitude ::

       m² = Σ_{B02,B03,B04,B11,B12} (d_b / s_refl)²
            + g² · [ (w_nir · d_B08 / s_refl)² + (ΔNDVI / s_index)² + (ΔBSI / s_index)²
                     + (ΔNDWI / s_index)² ]

   The visible and SWIR bands barely move when vegetation greens up or senesces, while
   NIR and every NIR-based index swing by 0.2-0.3; so those terms are damped by
   ``g = 1 - seasonal_damping · v`` where ``v`` ramps from 0 to 1 as the *smaller* NDVI
   of the two periods goes from ``veg_ndvi_low`` to ``veg_ndvi_high``: vegetation that
   stays vegetation (crop green-up, autumn forest) counts mostly by its visible/SWIR
   change; vegetation turned into bare soil, buildings, roads, water or solar panels
   (after-NDVI below 0.25) counts fully.
3. Threshold ``t``: ``fixed`` (default ``threshold``) or ``otsu`` on the magnitudes of up
   to ``otsu_sample_blocks`` chunks spread over the grid (bounded work), clipped to
   ``otsu_bounds``. ``change_prob = 1 / (1 + exp(-(m - t) / prob_scale))``, so 0.5 at
   the threshold.
4. ``change_mask`` = ``m >= t`` with connected groups (8-connectivity) smaller than
   ``min_pixels`` removed (area opening: it removes speckle but keeps 2-3 px wide roads,
   which a 3x3 opening would erase). It runs per chunk; a speck touching a chunk border is
   kept, so the step never recomputes neighbouring chunks.
5. No data: a pixel NaN in any band of either composite gets ``change_prob`` NaN and
   ``change_mask`` 255, never 0 or 1.

Calibration of the defaults (``s_refl`` 0.04, ``w_nir`` 0.5, ``s_index`` 0.25,
``seasonal_damping`` 0.8, NDVI ramp 0.25-0.35, ``threshold`` 2.0) on the after-state
signatures of docs/architecture.md: seasonal cropland (NIR 0.18 <-> 0.38) scores 0.64,
grass -> green crop 0.74, while every human-activity kind on forest, grass or cropland
scores 2.16 (road on sparse crop) to 11.6 (quarry on forest).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import dask.array as da
import numpy as np
import xarray as xr
from numpy.typing import NDArray
from scipy.ndimage import label
from skimage.filters import threshold_otsu

from tiandi.errors import InputError
from tiandi.models.base import CHANGE, NO_CHANGE, NO_DATA

__all__ = ["BANDS", "BaselineDetector", "BaselineParams"]

BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")
_VIS_SWIR = (0, 1, 2, 4, 5)
_NIR = 3


@dataclass(frozen=True)
class BaselineParams:
    """Parameters of :class:`BaselineDetector` (see the module docstring)."""

    s_refl: float = 0.04
    w_nir: float = 0.5
    s_index: float = 0.25
    seasonal_damping: float = 0.8
    veg_ndvi_low: float = 0.25
    veg_ndvi_high: float = 0.35
    threshold_method: Literal["fixed", "otsu"] = "fixed"
    threshold: float = 2.0
    otsu_bounds: tuple[float, float] = (1.5, 4.0)
    otsu_sample_blocks: int = 4
    prob_scale: float = 0.5
    min_pixels: int = 4

    def __post_init__(self) -> None:
        if self.threshold_method not in ("fixed", "otsu"):
            raise InputError(f"threshold_method {self.threshold_method!r} is not 'fixed' or 'otsu'")
        for name in ("s_refl", "s_index", "threshold", "prob_scale"):
            if not getattr(self, name) > 0:
                raise InputError(f"BaselineParams.{name}={getattr(self, name)!r} must be > 0")
        if not 0 <= self.seasonal_damping <= 1:
            raise InputError(f"seasonal_damping={self.seasonal_damping} must be in [0, 1]")
        if not self.veg_ndvi_high > self.veg_ndvi_low:
            raise InputError("veg_ndvi_high must be greater than veg_ndvi_low")
        if self.min_pixels < 1 or self.otsu_sample_blocks < 1:
            raise InputError("min_pixels and otsu_sample_blocks must be >= 1")


def _nd(a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float32]:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray((a - b) / (a + b), dtype=np.float32)


def _indices(r: list[NDArray[np.float32]]) -> tuple[NDArray[np.float32], ...]:
    b02, b03, b04, b08, b11, _ = r
    return _nd(b08, b04), _nd(b11 + b04, b08 + b02), _nd(b03, b08)


def magnitude(*arrays: NDArray[Any], params: BaselineParams) -> NDArray[np.float32]:
    """Change magnitude from six ``before`` then six ``after`` reflectance arrays."""
    before = [np.asarray(a, dtype=np.float32) for a in arrays[:6]]
    after = [np.asarray(a, dtype=np.float32) for a in arrays[6:]]
    p = params
    sq = np.zeros(before[0].shape, dtype=np.float32)
    for i in _VIS_SWIR:
        sq += ((after[i] - before[i]) / np.float32(p.s_refl)) ** 2
    ib, ia = _indices(before), _indices(after)
    extra = (p.w_nir * (after[_NIR] - before[_NIR]) / np.float32(p.s_refl)) ** 2
    for xb, xa in zip(ib, ia, strict=True):
        extra += ((xa - xb) / np.float32(p.s_index)) ** 2
    min_ndvi = np.fmin(ib[0], ia[0])
    v = np.clip((min_ndvi - p.veg_ndvi_low) / (p.veg_ndvi_high - p.veg_ndvi_low), 0, 1)
    g = 1 - np.float32(p.seasonal_damping) * v
    mag = np.sqrt(sq + g * g * extra).astype(np.float32)
    invalid = np.zeros(mag.shape, dtype=bool)
    for a in (*before, *after):
        invalid |= np.isnan(a)
    mag[invalid] = np.nan
    return mag


def _prob(mag: NDArray[np.float32], threshold: float, scale: float) -> NDArray[np.float32]:
    with np.errstate(over="ignore"):
        z = np.exp(-(mag - np.float32(threshold)) / np.float32(scale))
    prob: NDArray[np.float32] = (1.0 / (1.0 + z)).astype(np.float32)
    return prob


def _mask(prob: NDArray[np.float32], min_pixels: int) -> NDArray[np.uint8]:
    """0/1/255 mask from the probability with specks under ``min_pixels`` removed.

    Groups touching the array border are kept: they may continue in the next chunk.
    """
    return change_mask(prob >= 0.5, np.isnan(prob), min_pixels)


def change_mask(
    change: NDArray[np.bool_], nodata: NDArray[np.bool_], min_pixels: int
) -> NDArray[np.uint8]:
    """0/1/255 mask of ``change`` with groups (8-connected) under ``min_pixels`` removed,
    ``nodata`` pixels 255. Groups touching the array border are kept: they may continue in
    the next chunk. Shared by the detectors that threshold a per-pixel layer."""
    if min_pixels > 1 and change.any():
        labels, n = label(change, structure=np.ones((3, 3), dtype=bool))
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        keep = sizes >= min_pixels
        edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
        keep[edge] = True
        keep[0] = False
        change = keep[labels]
    out = np.where(change, CHANGE, NO_CHANGE).astype(np.uint8)
    out[nodata] = NO_DATA
    return out


class BaselineDetector:
    """Seasonally robust change vector analysis (see the module docstring)."""

    name = "baseline-cva"
    version = "0.1.0"

    def __init__(self, params: BaselineParams | None = None) -> None:
        self.params = params if params is not None else BaselineParams()

    def _inputs(self, before: xr.Dataset, after: xr.Dataset) -> list[xr.DataArray]:
        for period, ds in (("before", before), ("after", after)):
            missing = [b for b in BANDS if b not in ds.data_vars]
            if missing:
                raise InputError(
                    f"the {period} composite lacks band(s) {missing}; the baseline detector "
                    f"needs {BANDS} (composite_period's default bands)"
                )
        if before[BANDS[0]].shape != after[BANDS[0]].shape or any(
            c in before.coords
            and c in after.coords
            and not np.allclose(before[c].values, after[c].values)
            for c in ("y", "x")
        ):
            raise InputError(
                f"the before {before[BANDS[0]].shape} and after {after[BANDS[0]].shape} "
                "composites are not on the same grid; composite both periods on one grid"
            )
        after_aligned = after.assign_coords(
            {c: before[c] for c in ("y", "x") if c in before.coords}
        )
        return [before[b] for b in BANDS] + [after_aligned[b] for b in BANDS]

    def magnitude(self, before: xr.Dataset, after: xr.Dataset) -> xr.DataArray:
        """The change magnitude ``m`` (float32, NaN no data), lazy when the inputs are."""
        arrays = self._inputs(before, after)
        mag: xr.DataArray = xr.apply_ufunc(
            magnitude,
            *arrays,
            kwargs={"params": self.params},
            dask="parallelized",
            output_dtypes=[np.float32],
        )
        return mag

    def threshold(self, mag: xr.DataArray) -> float:
        """The magnitude threshold: fixed, or Otsu on a bounded sample of chunks."""
        p = self.params
        if p.threshold_method == "fixed":
            return p.threshold
        data = mag.data
        if isinstance(data, da.Array):
            nby, nbx = data.numblocks[-2:]
            picks = sorted(
                {
                    (
                        round(k * (nby - 1) / max(1, p.otsu_sample_blocks - 1)),
                        round(k * (nbx - 1) / max(1, p.otsu_sample_blocks - 1)),
                    )
                    for k in range(p.otsu_sample_blocks)
                }
            )
            blocks = da.compute(  # type: ignore[no-untyped-call]
                *[data.blocks[i, j] for i, j in picks], optimize_graph=False
            )
            sample = np.concatenate([np.ravel(b) for b in blocks])
        else:
            sample = np.ravel(np.asarray(data))
        sample = sample[np.isfinite(sample)]
        if sample.size < 100 or np.ptp(sample) == 0:
            return p.threshold
        lo, hi = p.otsu_bounds
        otsu = float(threshold_otsu(sample))  # type: ignore[no-untyped-call]
        return float(np.clip(otsu, lo, hi))

    def detect(self, before: xr.Dataset, after: xr.Dataset) -> xr.Dataset:
        """``change_prob`` and ``change_mask`` between two composites of one grid."""
        mag = self.magnitude(before, after)
        t = self.threshold(mag)
        p = self.params
        prob = xr.apply_ufunc(
            _prob,
            mag,
            kwargs={"threshold": t, "scale": p.prob_scale},
            dask="parallelized",
            output_dtypes=[np.float32],
        )
        mask = xr.apply_ufunc(
            _mask,
            prob,
            kwargs={"min_pixels": p.min_pixels},
            dask="parallelized",
            output_dtypes=[np.uint8],
        )
        prob.attrs = {"long_name": "change probability", "units": "1"}
        mask.attrs = {
            "long_name": "change mask",
            "flag_values": [NO_CHANGE, CHANGE, NO_DATA],
            "flag_meanings": "no_change change no_data",
        }
        attrs = {
            "model": self.name,
            "model_version": self.version,
            "threshold": t,
            "parameters": repr(asdict(p)),
        }
        out = xr.Dataset({"change_prob": prob, "change_mask": mask}, attrs=attrs)
        if "spatial_ref" in before.coords:
            out = out.assign_coords(spatial_ref=before.coords["spatial_ref"])
        return out
