"""Water-body and coastline change between two composites (新增水面, 水面减少, 围填海).

Method, per pixel of two composites on one grid (reflectance; NaN = no data, which is how
a composite marks cloud, shadow and pixels without a clear observation):

1. ``MNDWI = (B03 - B11) / (B03 + B11)`` (Xu 2006, Int. J. Remote Sens. 27:3025) per
   period; water where ``MNDWI > t``. ``t`` is ``threshold`` (default 0.0, Xu's own
   threshold: open water sits at 0.2-0.8, soil, built-up and vegetation below 0) or, with
   ``threshold_method="otsu"``, Otsu's threshold of the MNDWI of both periods' valid
   pixels, clipped to ``otsu_bounds`` (Otsu needs two modes; a scene with water nowhere
   or everywhere falls back to ``threshold``).
2. ``change_class``: 1 ``water_gain`` (land before, water after), 2 ``water_loss``
   (water before, land after), 3 ``reclamation``: a ``water_loss`` pixel whose water
   before belongs to the sea — a connected (8-neighbour) water body before that touches
   the edge of the data (the grid's edge, or no data next to it: a chip with NaN
   borders; a cloud beside a large lake therefore makes it "sea" too, which only matters
   in coastal zones) and has at least ``sea_min_px`` pixels. (Whether a zone is
   coastal is the flow's business: outside coastal zones a reclamation patch is mapped
   as ``water_loss``, :mod:`tiandi.redline.patches.disturbance`.) 0 elsewhere, 255 where
   either period has no data. The sea needs the whole grid's water mask at once, so the
   before mask (one byte per pixel) is computed eagerly.
3. ``change_prob``: with ``p = 1 / (1 + exp(-(MNDWI - t) / prob_scale))`` the water
   probability of each period, ``p_b (1 - p_a) + (1 - p_b) p_a``; ``change_mask`` 1 where
   ``change_class`` is 1-3. Changed groups smaller than ``min_pixels`` are dropped.
4. ``water_before`` / ``water_after``: 0 land, 1 water, 255 no data, for coastlines
   (:mod:`tiandi.redline.patches.water`) and as patch attributes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import xarray as xr
from numpy.typing import NDArray
from scipy.ndimage import binary_dilation, label
from skimage.filters import threshold_otsu

from tiandi.eo.indices import normalized_difference
from tiandi.errors import InputError
from tiandi.models.base import NO_DATA

__all__ = ["BANDS", "WATER_CLASSES", "WaterChangeDetector", "WaterParams", "mndwi"]

BANDS = ("B03", "B11")
"""Green and SWIR1: the bands of MNDWI."""
WATER_CLASSES = ("land", "water")
GAIN, LOSS, RECLAIMED = 1, 2, 3


@dataclass(frozen=True)
class WaterParams:
    """Parameters of :class:`WaterChangeDetector` (see the module docstring)."""

    threshold: float = 0.0
    threshold_method: Literal["fixed", "otsu"] = "fixed"
    otsu_bounds: tuple[float, float] = (-0.2, 0.4)
    prob_scale: float = 0.05
    min_pixels: int = 10
    sea_min_px: int = 10_000

    def __post_init__(self) -> None:
        if self.threshold_method not in ("fixed", "otsu"):
            raise InputError(
                f"WaterParams.threshold_method {self.threshold_method!r} is not fixed or otsu"
            )
        if self.prob_scale <= 0 or self.min_pixels < 1 or self.sea_min_px < 1:
            raise InputError("WaterParams: prob_scale > 0, min_pixels and sea_min_px >= 1")


def mndwi(ds: xr.Dataset) -> xr.DataArray:
    """MNDWI of a composite (NaN where a band is)."""
    return normalized_difference(ds["B03"].astype("float32"), ds["B11"].astype("float32"))


class WaterChangeDetector:
    """Water gain, water loss and reclamation between two composites (module docstring)."""

    name = "water-mndwi"
    version = "0.1.0"
    bands = BANDS
    change_types: tuple[str, ...] = ("water_gain", "water_loss", "reclamation")
    class_layers: dict[str, tuple[str, ...]] = {  # noqa: RUF012
        "water_before": WATER_CLASSES,
        "water_after": WATER_CLASSES,
    }
    mean_layers: tuple[str, ...] = ()

    def __init__(self, params: WaterParams | None = None) -> None:
        self.params = params if params is not None else WaterParams()

    def _check(self, before: xr.Dataset, after: xr.Dataset) -> None:
        for period, ds in (("before", before), ("after", after)):
            missing = [b for b in BANDS if b not in ds.data_vars]
            if missing:
                raise InputError(
                    f"the {period} composite lacks band(s) {', '.join(missing)}; the water "
                    f"detector needs {', '.join(BANDS)} (green and SWIR1) in both periods"
                )
        same = before["B03"].shape == after["B03"].shape and all(
            c not in before.coords
            or c not in after.coords
            or np.allclose(before[c].values, after[c].values)
            for c in ("y", "x")
        )
        if not same:
            raise InputError(
                f"the before {before['B03'].shape} and after {after['B03'].shape} composites "
                "are not on the same grid (shape or x/y coordinates differ); the water "
                "detector compares pixels in place and does not resample: composite both "
                "periods on one GeoBox (detect_changes does), or reproject one onto the other "
                "(e.g. rioxarray's reproject_match) first"
            )

    def threshold(self, before: NDArray[np.float32], after: NDArray[np.float32]) -> float:
        """The MNDWI water threshold of the scene (fixed, or Otsu within its bounds)."""
        p = self.params
        if p.threshold_method == "fixed":
            return p.threshold
        values = np.concatenate([before[np.isfinite(before)], after[np.isfinite(after)]])
        if values.size < 100 or float(values.min()) == float(values.max()):
            return p.threshold
        t = float(threshold_otsu(values))  # type: ignore[no-untyped-call]
        lo, hi = p.otsu_bounds
        return p.threshold if not lo <= t <= hi else t

    def detect(self, before: xr.Dataset, after: xr.Dataset) -> xr.Dataset:
        """``change_prob``, ``change_mask``, ``change_class``, ``water_before`` and
        ``water_after`` on the grid of ``before`` (computed in memory)."""
        self._check(before, after)
        m_b = np.asarray(mndwi(before).values, dtype="float32")
        m_a = np.asarray(mndwi(after).values, dtype="float32")
        t = self.threshold(m_b, m_a)
        nodata = ~(np.isfinite(m_b) & np.isfinite(m_a))
        w_b, w_a = m_b > t, m_a > t
        klass = np.zeros(m_b.shape, dtype="uint8")
        klass[~w_b & w_a] = GAIN
        klass[w_b & ~w_a] = LOSS
        klass[(klass == LOSS) & self._sea(w_b & ~nodata, nodata)] = RECLAIMED
        klass = _drop_small(klass, self.params.min_pixels)
        klass[nodata] = NO_DATA
        with np.errstate(over="ignore", invalid="ignore"):
            p_b = 1.0 / (1.0 + np.exp(-(m_b - t) / self.params.prob_scale))
            p_a = 1.0 / (1.0 + np.exp(-(m_a - t) / self.params.prob_scale))
        prob = (p_b * (1 - p_a) + (1 - p_b) * p_a).astype("float32")
        prob[nodata] = np.nan
        mask = np.where((klass > 0) & (klass != NO_DATA), 1, 0).astype("uint8")
        mask[nodata] = NO_DATA
        layers = {
            "change_prob": prob,
            "change_mask": mask,
            "change_class": klass,
            "water_before": _water(w_b, nodata),
            "water_after": _water(w_a, nodata),
        }
        ref = before["B03"]
        out = xr.Dataset(
            {k: (ref.dims, v) for k, v in layers.items()},
            coords={c: ref.coords[c] for c in ref.dims if c in ref.coords},
            attrs={
                "model": self.name,
                "model_version": self.version,
                "threshold": t,
                "parameters": repr(asdict(self.params)),
            },
        )
        if "spatial_ref" in before.coords:
            out = out.assign_coords(spatial_ref=before.coords["spatial_ref"])
        return out

    def _sea(self, water: NDArray[np.bool_], nodata: NDArray[np.bool_]) -> NDArray[np.bool_]:
        """Water connected to the edge of the data (the grid's edge, or no data next to
        it, as around a chip with NaN borders) in a body of at least ``sea_min_px``."""
        labels, n = label(water, structure=np.ones((3, 3), dtype=bool))
        if n == 0:
            return np.zeros(water.shape, dtype=bool)
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        rim = binary_dilation(nodata, structure=np.ones((3, 3), dtype=bool))
        edge = np.unique(
            np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1], labels[rim]])
        )
        sea = np.zeros(n + 1, dtype=bool)
        sea[edge] = True
        sea &= sizes >= self.params.sea_min_px
        sea[0] = False
        out: NDArray[np.bool_] = sea[labels]
        return out


def _water(water: NDArray[np.bool_], nodata: NDArray[np.bool_]) -> NDArray[np.uint8]:
    out = water.astype("uint8")
    out[nodata] = NO_DATA
    return out


def _drop_small(klass: NDArray[np.uint8], min_pixels: int) -> NDArray[np.uint8]:
    """Changed groups (any class) smaller than ``min_pixels`` become 0."""
    changed = klass > 0
    if min_pixels <= 1 or not changed.any():
        return klass
    labels, n = label(changed, structure=np.ones((3, 3), dtype=bool))
    keep = np.bincount(labels.ravel(), minlength=n + 1) >= min_pixels
    keep[0] = False
    out = klass.copy()
    out[~keep[labels]] = 0
    return out
