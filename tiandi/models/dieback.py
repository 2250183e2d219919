"""Forest dieback / disturbance alerts: per-pixel robust anomalies against earlier years.

The method follows NASA OPERA DIST-ALERT (Land Surface Disturbance Alert from HLS,
product specification ``ProductSpec_DIST_HLS``): each new clear observation of a pixel is
compared with a baseline of the *same seasonal window of earlier years*, a pixel whose
vegetation drops beyond the baseline's spread raises an alert, the alert is
*provisional* on its first anomalous date and *confirmed* when later dates show it
again. Here, for Sentinel-2 and forests (病虫害、干旱导致的林木枯死):

- Indices: NDVI (B08/B04) and NDMI (B08/B11, canopy water). Both must drop by at least
  ``min_drop`` (0.1) as well as by ``z_threshold`` robust SDs.
- Baseline of a monitoring date ``d``: every clear observation of the previous
  ``baseline_years`` years whose day of year lies within ``window_days`` of ``d``'s (circular
  distance). Per pixel: median ``m`` and ``MAD``; scale ``s = max(1.4826·MAD, min_scale)``
  (1.4826·MAD estimates the standard deviation of normal data; the floor keeps a pixel
  with a few near-identical baseline values from turning noise into huge z). A pixel with
  fewer than ``min_baseline_obs`` baseline observations has no z (no data, never "no
  change").
- Robust z of each index: ``(x − m) / s``. The *drop* of a date is the smaller of
  ``−z_ndvi`` and ``−z_ndmi`` (so both indices must fall); a clear date is anomalous when
  the drop is at least ``z_threshold`` (3 robust SDs, the usual outlier bound, which on
  normal data flags 0.13 % of clear dates per index).
- Status per pixel along the period's clear dates in time order (cloudy dates neither
  confirm nor break a run): ``confirmed`` when ``confirm_dates`` (2) consecutive clear
  dates are anomalous; ``provisional`` when the last clear date is anomalous but no run is
  long enough yet; ``none`` otherwise (an isolated anomaly that a later clear date did
  not repeat is dropped, as DIST-ALERT drops unconfirmed alerts). A date on which more
  than ``max_date_share`` (half) of the eligible clear pixels are anomalous is left out
  (:attr:`AlertMaps.skipped`): residual cloud, haze or snow, not a dying forest.

Everything here is plain numpy on (time, rows, cols) float32 stacks (NaN = no clear
observation); loading the dates is :mod:`tiandi.eo.series`, patches and the clear-cut
rule are :mod:`tiandi.redline.patches.dieback`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from tiandi.eo.indices import index_array
from tiandi.errors import InputError

F32 = npt.NDArray[np.float32]

#: Per-pixel alert status values (uint8 raster ``alert_status``).
STATUS_NONE = 0
STATUS_PROVISIONAL = 1
STATUS_CONFIRMED = 2
STATUS_NO_DATA = 255
STATUS_NAMES = {STATUS_PROVISIONAL: "provisional", STATUS_CONFIRMED: "confirmed"}
#: 1.4826·MAD is the standard deviation of normally distributed data.
MAD_TO_SD = 1.4826
INDICES = ("ndvi", "ndmi")


@dataclass(frozen=True)
class DiebackParams:
    """Thresholds of the dieback alerts (see the module docstring)."""

    window_days: int = 30
    z_threshold: float = 3.0
    min_baseline_obs: int = 3
    confirm_dates: int = 2
    min_scale: float = 0.03
    min_drop: float = 0.1
    max_date_share: float = 0.5

    def __post_init__(self) -> None:
        if not 1 <= self.window_days <= 182:
            raise InputError(f"window_days={self.window_days} must be 1..182 days")
        if self.z_threshold <= 0 or self.min_scale <= 0:
            raise InputError(
                f"z_threshold={self.z_threshold} and min_scale={self.min_scale} must be > 0"
            )
        if self.min_baseline_obs < 1 or self.confirm_dates < 1:
            raise InputError(
                f"min_baseline_obs={self.min_baseline_obs} and confirm_dates="
                f"{self.confirm_dates} must be >= 1"
            )


@dataclass(frozen=True)
class Observation:
    """One date's index layers (``ndvi``, ``ndmi`` …, NaN where not clear)."""

    day: date
    layers: Mapping[str, F32]


@dataclass(frozen=True)
class AlertMaps:
    """Per-pixel result of :func:`alert_maps` over the period's dates."""

    dates: tuple[date, ...]
    status: npt.NDArray[np.uint8]
    first: npt.NDArray[np.int16]  # index into dates of the first anomalous date, -1 none
    last: npt.NDArray[np.int16]  # index of the last anomalous date, -1 none
    n_anomalous: npt.NDArray[np.int16]
    max_z: F32  # largest drop in robust SDs (NaN: never had a z)
    drops: F32  # (time, rows, cols) drop per date, NaN where no z
    skipped: tuple[date, ...] = ()  # dates left out: most of the forest anomalous at once


def doy_distance(a: date, b: date) -> int:
    """Days between the days of year of ``a`` and ``b``, going round the year end (a leap
    day may make it one day short)."""
    d = abs(a.timetuple().tm_yday - b.timetuple().tm_yday)
    return min(d, 365 - d)


def baseline_dates(day: date, baseline: Sequence[Observation], window_days: int) -> list[int]:
    """Indices of the ``baseline`` observations in the seasonal window of ``day`` (only
    from earlier years: an observation of ``day``'s own year never enters)."""
    return [
        i
        for i, obs in enumerate(baseline)
        if obs.day.year < day.year and doy_distance(obs.day, day) <= window_days
    ]


def robust_stats(stack: F32, min_scale: float, min_obs: int) -> tuple[F32, F32, F32]:
    """Median, scale ``max(1.4826·MAD, min_scale)`` and count of a (n, rows, cols) stack,
    ignoring NaN; median and scale are NaN where fewer than ``min_obs`` values exist."""
    count = np.isfinite(stack).sum(axis=0).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels
        median = np.nanmedian(stack, axis=0).astype(np.float32)
        mad = np.nanmedian(np.abs(stack - median[None]), axis=0).astype(np.float32)
    scale = np.maximum(MAD_TO_SD * mad, np.float32(min_scale)).astype(np.float32)
    few = count < min_obs
    median[few] = np.nan
    scale[few] = np.nan
    return median, scale, count


def drop_series(
    period: Sequence[Observation], baseline: Sequence[Observation], params: DiebackParams
) -> F32:
    """(time, rows, cols) drop in robust SDs of each period date against its seasonal
    baseline: the smaller of the indices' ``−z`` (NaN: cloudy or too little baseline)."""
    if not period:
        raise InputError("no observation in the monitoring period; give at least one date")
    names = tuple(n for n in INDICES if n in period[0].layers)
    shape = next(iter(period[0].layers.values())).shape
    out = np.full((len(period), *shape), np.nan, dtype=np.float32)
    for t, obs in enumerate(period):
        chosen = [baseline[i] for i in baseline_dates(obs.day, baseline, params.window_days)]
        if not chosen:
            continue
        drops = []
        for name in names:
            stack = np.stack([np.asarray(b.layers[name], dtype=np.float32) for b in chosen])
            median, scale, _ = robust_stats(stack, params.min_scale, params.min_baseline_obs)
            loss = median - np.asarray(obs.layers[name], dtype=np.float32)
            z = loss / scale
            drops.append(np.where(loss >= params.min_drop, z, np.minimum(z, 0.0)))
        out[t] = np.minimum.reduce(drops)
    return out


def alert_maps(
    dates: Sequence[date], drops: F32, params: DiebackParams, eligible: npt.NDArray[np.bool_]
) -> AlertMaps:
    """Alert status, first/last anomalous date, count and largest drop per pixel.

    ``drops`` is :func:`drop_series`' output for ``dates`` (time order); ``eligible``
    (rows, cols) marks the pixels that may raise an alert (forest in the baseline).
    Pixels without any finite drop are :data:`STATUS_NO_DATA`."""
    if drops.shape[0] != len(dates):
        raise InputError(f"{drops.shape[0]} drop layers for {len(dates)} dates; pass one per date")
    shape = drops.shape[1:]
    run = np.zeros(shape, np.int16)
    best = np.zeros(shape, np.int16)
    n = np.zeros(shape, np.int16)
    first = np.full(shape, -1, np.int16)
    last = np.full(shape, -1, np.int16)
    last_anomalous = np.zeros(shape, bool)
    skipped = []
    for t in range(len(dates)):
        clear = np.isfinite(drops[t])
        anomalous = clear & (np.nan_to_num(drops[t], nan=-np.inf) >= params.z_threshold)
        anomalous &= eligible
        if anomalous.sum() > params.max_date_share * max(int((clear & eligible).sum()), 1):
            skipped.append(dates[t])  # residual cloud, haze or snow: the whole forest "drops"
            continue
        run = np.where(anomalous, run + 1, np.where(clear, 0, run)).astype(np.int16)
        best = np.maximum(best, run)
        n += anomalous.astype(np.int16)
        first = np.where(anomalous & (first < 0), t, first).astype(np.int16)
        last = np.where(anomalous, t, last).astype(np.int16)
        last_anomalous = np.where(clear, anomalous, last_anomalous)
    status = np.full(shape, STATUS_NONE, np.uint8)
    status[last_anomalous & (n > 0)] = STATUS_PROVISIONAL
    status[best >= params.confirm_dates] = STATUS_CONFIRMED
    any_z = np.isfinite(drops).any(axis=0)
    status[~any_z] = STATUS_NO_DATA
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        kept = np.array([d not in skipped for d in dates], dtype=bool)
        used = np.where(eligible[None] & kept[:, None, None], drops, np.nan)
        max_z = np.nanmax(used, axis=0).astype(np.float32)
    return AlertMaps(tuple(dates), status, first, last, n, max_z, drops, tuple(skipped))


def confidence(status: str, max_z: float, n_anomalous: int, params: DiebackParams) -> float:
    """Confidence 0–1 of an alert: a base by status (provisional 0.4, confirmed 0.7) plus
    up to 0.2 for the strength of the drop (``max_z`` from the threshold to twice it) and
    up to 0.1 for more anomalous dates than needed to confirm."""
    base = 0.7 if status == "confirmed" else 0.4
    excess = (max_z - params.z_threshold) / params.z_threshold if np.isfinite(max_z) else 0.0
    strength = min(max(excess, 0.0), 1.0)
    extra = min(max(n_anomalous - params.confirm_dates, 0) / 3.0, 1.0)
    return round(min(base + 0.2 * strength + 0.1 * extra, 1.0), 3)


def indices_of(reflectance: Mapping[str, F32]) -> dict[str, F32]:
    """NDVI and NDMI of reflectance layers (NaN where not clear), and BSI when B02 is there
    too (:func:`tiandi.eo.indices.index_array`)."""
    names = ("ndvi", "ndmi", "bsi") if "B02" in reflectance else ("ndvi", "ndmi")
    return {name: index_array(name, reflectance) for name in names}


def bare_after(
    landcover: npt.NDArray[np.uint8], ndvi: F32, bsi: F32, classes: Sequence[str]
) -> npt.NDArray[np.bool_]:
    """Pixels bare in the monitoring period: land cover ``bare`` or ``built`` (class
    indices of ``classes``), or NDVI < 0.3 with bare-soil index BSI > 0.05."""
    idx = [classes.index(c) for c in ("bare", "built") if c in classes]
    by_class = np.isin(landcover, idx)
    by_index = (np.nan_to_num(ndvi, nan=1.0) < 0.3) & (np.nan_to_num(bsi, nan=-1.0) > 0.05)
    out: npt.NDArray[np.bool_] = by_class | by_index
    return out


def nan_percentile(stack: F32, q: float) -> npt.NDArray[np.float64]:
    """``np.nanpercentile(stack, q, axis=0)`` (linear interpolation; NaN where a pixel has
    no value) for a short (n, rows, cols) stack, by one sort of the whole stack: numpy's
    own loops over every pixel when there are NaNs, which took minutes on 2048^2."""
    data = np.sort(np.asarray(stack, dtype=np.float64), axis=0)  # NaN sort last
    count = np.isfinite(data).sum(axis=0)
    pos = (q / 100.0) * np.maximum(count - 1, 0)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, np.maximum(count - 1, 0))
    a = np.take_along_axis(data, lo[None], axis=0)[0]
    b = np.take_along_axis(data, hi[None], axis=0)[0]
    t = pos - lo
    out: npt.NDArray[np.float64] = np.where(t >= 0.5, b - (b - a) * (1 - t), a + (b - a) * t)
    out[count == 0] = np.nan
    return out


def woody_mask(
    baseline: Sequence[Observation], min_ndvi: float = 0.6, percentile: float = 90.0
) -> npt.NDArray[np.bool_]:
    """Forest / woody vegetation in the baseline: the ``percentile`` (90th) of a pixel's
    clear baseline NDVI is at least ``min_ndvi`` (0.6, a closed green canopy at the peak
    of the seasonal windows). The peak rather than the median, so a deciduous forest
    monitored in spring or autumn is still forest."""
    if not baseline:
        raise InputError("no baseline observation to find the forest from")
    stack = np.stack([np.asarray(o.layers["ndvi"], dtype=np.float32) for o in baseline])
    peak = nan_percentile(stack, percentile)
    out: npt.NDArray[np.bool_] = np.nan_to_num(peak, nan=-1.0) >= min_ndvi
    return out
