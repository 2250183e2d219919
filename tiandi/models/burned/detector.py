"""Burned-area detector: burn scars between two composites from NIR (B08) and SWIR2 (B12).

Method, per pixel of two composites on one grid (reflectance; NaN = no data):

1. Normalized Burn Ratio ``NBR = (B08 - B12) / (B08 + B12)`` of each period and
   ``dNBR = NBR_pre - NBR_post`` (Key & Benson 2006). The detection index is one of
   ``dnbr``; ``rbr``, the Relativized Burn Ratio ``dNBR / (NBR_pre + 1.001)`` (Parks,
   Dillon & Miller 2014, Remote Sensing 6:1827); or ``rdnbr``, the Relativized dNBR
   ``dNBR / sqrt(|NBR_pre|)`` (Miller & Thode 2007, RSE 109:66; ``|NBR_pre|`` floored at
   0.001 here, where it is unstable: dry chaparral has NBR_pre near 0).
2. The index is averaged over a ``smooth_px`` x ``smooth_px`` window (NaN-aware), since
   fire perimeters are contiguous and single pixels are noisy; a sharp scar edge thereby
   reaches up to ``smooth_px // 2`` pixels further (also from unvegetated land).
3. Threshold per scene: ``max(floor, median + z * MAD)`` of the smoothed index over the
   vegetated valid pixels (MAD scaled by 1.4826 to a standard deviation). The median
   absorbs the phenological offset between the two dates (Key 2006's "dNBR offset") and
   the MAD the scene's noise; ``floor`` keeps a scene with a very quiet background from
   calling noise a burn. The median assumes that most vegetated land of the scene did
   not burn (true of the fire chips, 8-27 % burned, and of monitoring zones). On a lazy
   input the statistics come from up to ``stat_sample_blocks`` chunks spread over the
   grid (bounded work).
4. Only land that was vegetated before can burn: ``NDVI_pre = (B08 - B04)/(B08 + B04)``
   at least ``veg_ndvi`` (summer-dry Californian grass and chaparral sit at 0.1-0.25, so
   the bound is low); elsewhere ``change_prob`` is 0 and ``change_mask`` 0.
5. ``change_prob = 1 / (1 + exp(-(index - threshold) / prob_scale))`` (0.5 at the
   threshold); ``change_mask`` = ``change_prob >= 0.5`` with 8-connected groups smaller
   than ``min_pixels`` removed (per chunk; groups touching a chunk border are kept).
6. ``severity``: the USGS FIREMON classes of Key & Benson (2006), "Landscape Assessment",
   in Lutes et al., FIREMON, USDA Forest Service Gen. Tech. Rep. RMRS-GTR-164-CD, LA-1-55,
   on raw dNBR (x1000 in the source): unburned < 100, low 100-269, moderate-low 270-439,
   moderate-high 440-659, high >= 660 (the same table as UN-SPIDER's recommended practice).
   A pixel outside ``change_mask`` is unburned (0); a burned pixel whose dNBR is below
   0.1 is low (1), since the detector found it burned.
7. No data: NaN in any band used of either period gives ``change_prob`` NaN,
   ``change_mask`` 255 and ``severity`` 255.

Pixel sizes (``smooth_px``, ``min_pixels``) were chosen on 20 m chips; the defaults
(:data:`DEFAULT_PARAMS`) and how they were chosen are in ``scripts/experiments/burned``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import dask.array as da
import numpy as np
import xarray as xr
from numpy.typing import NDArray
from scipy.ndimage import label

from tiandi.errors import InputError
from tiandi.models.base import CHANGE, CLOUD_MARGIN_PX, NO_CHANGE, NO_DATA

__all__ = [
    "BANDS",
    "DEFAULT_PARAMS",
    "DNBR_PARAMS",
    "SEVERITY_BREAKS",
    "SEVERITY_CLASSES",
    "BurnedAreaDetector",
    "BurnedAreaParams",
    "severity_class",
]

BANDS = ("B04", "B08", "B12")
"""Bands the detector reads from both composites (red for NDVI, NIR and SWIR2 for NBR)."""
SEVERITY_BREAKS = (0.10, 0.27, 0.44, 0.66)
"""dNBR lower bounds of low, moderate-low, moderate-high and high severity (Key & Benson
2006, FIREMON LA-1-55; x1000 there: 100, 270, 440, 660)."""
SEVERITY_CLASSES = ("unburned", "low", "moderate-low", "moderate-high", "high")
"""``severity`` values 0..4 in order; 255 is no data."""
Index = Literal["dnbr", "rbr", "rdnbr"]


@dataclass(frozen=True)
class BurnedAreaParams:
    """Parameters of :class:`BurnedAreaDetector` (see the module docstring)."""

    index: Index = "rbr"
    smooth_px: int = 5
    floor: float = 0.03
    z: float | None = 1.5
    veg_ndvi: float = 0.1
    min_pixels: int = 200
    prob_scale: float = 0.02
    stat_sample_blocks: int = 16

    def __post_init__(self) -> None:
        if self.index not in ("dnbr", "rbr", "rdnbr"):
            raise InputError(f"BurnedAreaParams.index {self.index!r} is not dnbr, rbr or rdnbr")
        if self.smooth_px < 1 or self.smooth_px % 2 == 0:
            raise InputError(f"BurnedAreaParams.smooth_px={self.smooth_px} must be odd and >= 1")
        if (self.z is not None and self.z < 0) or self.prob_scale <= 0:
            raise InputError("BurnedAreaParams.z must be None or >= 0, and prob_scale > 0")
        if self.min_pixels < 1 or self.stat_sample_blocks < 1:
            raise InputError("BurnedAreaParams.min_pixels and stat_sample_blocks must be >= 1")


DEFAULT_PARAMS = BurnedAreaParams()
"""The choice of ``scripts/experiments/burned/lofo.py`` on all 7 California pairs (grid of
3,888 sets; see the README there). That choice procedure, scored leave-one-fire-out:
summed F1 0.680 (P 0.773, R 0.607), per fire 0.10-0.95, against 0.662 (P 0.764, R 0.584)
for dNBR > 0.1 on the same fires. Reproduce: ``PYTHONPATH=. python
scripts/experiments/burned/lofo.py --root ../shared/data/s2-burned-areas-california/pairs``.
"""
DEFAULT_PARAMS_CHOSEN_ON = (
    "1-12_20200824",
    "10TH_20240624",
    "4-8_20200817",
    "5_INCIDENT_20240715",
    "68_20210818",
    "DOVE_20241019",
    "KENNETH_20250109",
)
"""The fires :data:`DEFAULT_PARAMS` were chosen on: a score on them is not a test score."""
DNBR_PARAMS = BurnedAreaParams(
    index="dnbr", smooth_px=1, floor=0.1, z=None, veg_ndvi=-np.inf, min_pixels=1
)
"""The training-free reference: burned where dNBR > 0.1 (Key & Benson's low-severity
bound), no smoothing, no vegetation mask, no patch filter (``load_detector("burned-dnbr")``)."""


def _nd(a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float32]:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray((a - b) / (a + b), dtype=np.float32)


def burn_indices(
    b04_pre: NDArray[np.float32],
    b08_pre: NDArray[np.float32],
    b12_pre: NDArray[np.float32],
    b08_post: NDArray[np.float32],
    b12_post: NDArray[np.float32],
    index: Index,
) -> NDArray[np.float32]:
    """(index, dNBR, NDVI_pre) stacked on a last axis from the five band arrays; all three
    NaN where any is."""
    nbr_pre = _nd(b08_pre, b12_pre)
    dnbr = nbr_pre - _nd(b08_post, b12_post)
    with np.errstate(divide="ignore", invalid="ignore"):
        if index == "rbr":
            value = dnbr / (nbr_pre + np.float32(1.001))
        elif index == "rdnbr":
            value = dnbr / np.sqrt(np.maximum(np.abs(nbr_pre), np.float32(0.001)))
        else:
            value = dnbr
    ndvi = _nd(b08_pre, b04_pre)
    out = np.stack([value, dnbr, ndvi], axis=-1).astype(np.float32)
    out[~np.isfinite(out).all(axis=-1)] = np.nan
    return out


def severity_class(dnbr: NDArray[np.floating]) -> NDArray[np.uint8]:
    """Key & Benson class 0..4 of each dNBR value (:data:`SEVERITY_BREAKS`); NaN -> 255."""
    d = np.asarray(dnbr)
    breaks = np.asarray(SEVERITY_BREAKS, dtype=d.dtype)  # float32 0.44 is class 3, not 2
    out: NDArray[np.uint8] = np.digitize(np.nan_to_num(d, nan=-1.0), breaks).astype(np.uint8)
    out[np.isnan(d)] = NO_DATA
    return out


def _prob(
    value: NDArray[np.float32], ndvi: NDArray[np.float32], threshold: float, p: BurnedAreaParams
) -> NDArray[np.float32]:
    with np.errstate(over="ignore", invalid="ignore"):
        prob = 1.0 / (1.0 + np.exp(-(value - np.float32(threshold)) / np.float32(p.prob_scale)))
    prob = np.where(ndvi >= p.veg_ndvi, prob, 0.0).astype(np.float32)
    prob[np.isnan(value) | np.isnan(ndvi)] = np.nan
    return prob


def _mask(prob: NDArray[np.float32], min_pixels: int) -> NDArray[np.uint8]:
    burned = prob >= 0.5
    if min_pixels > 1 and burned.any():
        labels, n = label(burned, structure=np.ones((3, 3), dtype=bool))
        keep = np.bincount(labels.ravel(), minlength=n + 1) >= min_pixels
        keep[np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])] = True
        keep[0] = False
        burned = keep[labels]
    out = np.where(burned, CHANGE, NO_CHANGE).astype(np.uint8)
    out[np.isnan(prob)] = NO_DATA
    return out


def _severity(dnbr: NDArray[np.float32], mask: NDArray[np.uint8]) -> NDArray[np.uint8]:
    cls = severity_class(dnbr)
    out = np.where(mask == CHANGE, np.maximum(cls, 1), 0).astype(np.uint8)
    out[mask == NO_DATA] = NO_DATA
    return out


def _sample(data: NDArray[np.float32] | da.Array, blocks: int) -> NDArray[np.float32]:
    """All values of an in-memory array, or those of up to ``blocks`` spread chunks."""
    if not isinstance(data, da.Array):
        return np.ravel(np.asarray(data))
    nby, nbx = data.numblocks[-2:]
    side = max(1, int(np.sqrt(blocks)))
    picks = sorted(
        {
            (round(i * (nby - 1) / max(1, side - 1)), round(j * (nbx - 1) / max(1, side - 1)))
            for i in range(side)
            for j in range(side)
        }
    )
    values = da.compute(  # type: ignore[no-untyped-call]
        *[data.blocks[i, j] for i, j in picks], optimize_graph=False
    )
    return np.concatenate([np.ravel(v) for v in values])


def _apply(
    func: Callable[..., NDArray[Any]],
    *arrays: xr.DataArray,
    dtype: type[np.generic] = np.float32,
    **kwargs: Any,
) -> xr.DataArray:
    """``func`` per chunk (lazy on lazy input), with ``kwargs`` passed through."""
    out: xr.DataArray = xr.apply_ufunc(
        func, *arrays, kwargs=kwargs, dask="parallelized", output_dtypes=[dtype]
    )
    return out


class BurnedAreaDetector:
    """Burn scars between two composites (see the module docstring); ``change_prob`` is a
    burn score 0-1, ``change_mask`` 0/1/255 and ``severity`` the Key & Benson class."""

    version = "0.1.0"
    bands = BANDS

    def __init__(self, params: BurnedAreaParams | None = None, name: str = "burned-area") -> None:
        self.params = params if params is not None else DEFAULT_PARAMS
        self.name = name
        #: Fires whose data fitted or chose this detector (evaluations mark them).
        self.fitted_on: tuple[str, ...] = (
            DEFAULT_PARAMS_CHOSEN_ON if self.params == DEFAULT_PARAMS else ()
        )

    # The disturbance declaration (tiandi.models.base): one change type, so change_mask
    # stands for change_class; severity and dNBR become patch attributes.
    change_types: tuple[str, ...] = ("burned",)
    class_layers: dict[str, tuple[str, ...]] = {"severity": SEVERITY_CLASSES}  # noqa: RUF012
    mean_layers: tuple[str, ...] = ("dnbr",)
    cloud_margin_px: int = CLOUD_MARGIN_PX  # one date a side: see tiandi.models.base

    def _inputs(self, before: xr.Dataset, after: xr.Dataset) -> list[xr.DataArray]:
        for period, ds in (("before", before), ("after", after)):
            missing = [b for b in BANDS if b not in ds.data_vars]
            if missing:
                raise InputError(
                    f"the {period} composite lacks band(s) {', '.join(missing)} (it has "
                    f"{', '.join(map(str, ds.data_vars)) or 'none'}); the burned-area detector "
                    f"needs {', '.join(BANDS)}: composite them (composite_period bands=...)"
                )
        ref, other = before[BANDS[0]], after[BANDS[0]]
        if ref.shape != other.shape or any(
            c in before.coords and c in after.coords and not np.allclose(before[c], after[c])
            for c in ("y", "x")
        ):
            raise InputError(
                f"the before {ref.shape} and after {other.shape} composites are not on the "
                "same grid; composite both periods on one GeoBox (or read fire chips with "
                "tiandi.models.burned.read_fire, which aligns them by georeference)"
            )
        after = after.assign_coords({c: before[c] for c in ("y", "x") if c in before.coords})
        return [before["B04"], before["B08"], before["B12"], after["B08"], after["B12"]]

    def scores(self, before: xr.Dataset, after: xr.Dataset) -> xr.Dataset:
        """``index`` (smoothed detection index), ``dnbr`` and ``ndvi_pre``; lazy when the
        inputs are."""
        stack: xr.DataArray = xr.apply_ufunc(
            burn_indices,
            *self._inputs(before, after),
            kwargs={"index": self.params.index},
            dask="parallelized",
            output_dtypes=[np.float32],
            output_core_dims=[["layer"]],
            dask_gufunc_kwargs={"output_sizes": {"layer": 3}},
        )
        value, dnbr, ndvi = (stack.isel(layer=i, drop=True) for i in range(3))
        k = self.params.smooth_px
        if k > 1:
            smoothed = value.rolling({d: k for d in value.dims}, center=True, min_periods=1)
            value = smoothed.mean().where(value.notnull()).astype(np.float32)
        return xr.Dataset({"index": value, "dnbr": dnbr, "ndvi_pre": ndvi})

    def threshold(self, scores: xr.Dataset) -> float:
        """``max(floor, median + z * MAD)`` of the index over vegetated valid pixels
        (``floor`` itself when ``z`` is None)."""
        p = self.params
        if p.z is None:
            return p.floor
        value = _sample(scores["index"].data, p.stat_sample_blocks)
        ndvi = _sample(scores["ndvi_pre"].data, p.stat_sample_blocks)
        x = value[np.isfinite(value) & (ndvi >= p.veg_ndvi)]
        if x.size < 100:
            return p.floor
        med = float(np.median(x))
        mad = 1.4826 * float(np.median(np.abs(x - med)))
        return max(p.floor, med + p.z * mad)

    def detect(self, before: xr.Dataset, after: xr.Dataset) -> xr.Dataset:
        """``change_prob``, ``change_mask``, ``severity`` and ``dnbr`` on the grid of
        ``before`` (``after`` must share it)."""
        return self.decide(self.scores(before, after), before)

    def decide(self, scores: xr.Dataset, like: xr.Dataset | None = None) -> xr.Dataset:
        """The output layers from :meth:`scores` (split out so experiments reuse scores)."""
        p = self.params
        t = self.threshold(scores)
        prob = _apply(_prob, scores["index"], scores["ndvi_pre"], threshold=t, p=p)
        mask = _apply(_mask, prob, min_pixels=p.min_pixels, dtype=np.uint8)
        severity = _apply(_severity, scores["dnbr"], mask, dtype=np.uint8)
        prob.attrs = {"long_name": "burn score", "units": "1"}
        mask.attrs = {
            "long_name": "burned mask",
            "flag_values": [NO_CHANGE, CHANGE, NO_DATA],
            "flag_meanings": "unburned burned no_data",
        }
        severity.attrs = {
            "long_name": "burn severity (Key & Benson 2006 dNBR classes)",
            "flag_values": [0, 1, 2, 3, 4, NO_DATA],
            "flag_meanings": " ".join(c.replace("-", "_") for c in SEVERITY_CLASSES) + " no_data",
        }
        attrs = {
            "model": self.name,
            "model_version": self.version,
            "threshold": t,
            "parameters": repr(asdict(p)),
            "change_type": "burned",
        }
        layers = {"change_prob": prob, "change_mask": mask, "severity": severity}
        out = xr.Dataset({**layers, "dnbr": scores["dnbr"]}, attrs=attrs)
        if like is not None and "spatial_ref" in like.coords:
            out = out.assign_coords(spatial_ref=like.coords["spatial_ref"])
        return out
