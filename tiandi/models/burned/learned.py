"""Learned burned-area detector (``burned-area``, alias ``burned-learned``): a post-fire
model plus a burn index.

Two small trained parts, one per-pixel score each, then the same patch rules:

1. **Post-fire model** (gradient-boosted trees, LightGBM, :func:`post_features`): how
   burned a pixel looks *after* the fire alone, from NBR, NDVI, B04/B08/B12 reflectance
   and NBR relative to the scene median (pixel, 5 px and 15 px means). It is trained on
   the 14 ``post-only`` fires of ``s2-burned-areas-california`` (post-fire chip and
   perimeter, no pre-fire chip), none of which is a fire pair the detector is scored on.
2. **Combiner** (logistic regression, :func:`pair_features`), trained on the fire pairs,
   on the features the weights name (``features``; format-1 weights: ``z5 L5 veg``):
   ``z<n>``, the ``n`` px mean of the Relativized Burn Ratio (RBR) as a robust z-score
   against the scene's vegetated land (median and MAD, as :class:`BurnedAreaDetector`
   uses them); ``L<n>``, the ``n`` px mean of the post-fire model's logit; ``veg``,
   whether the land was vegetated before (NDVI_pre >= 0.1); ``sd<n>_dnbr`` /
   ``sd<n>_nbr_post`` (texture). v0.2 uses ``z5 L5 veg z15 L15``.
3. ``change_prob`` is the combiner's probability re-centred so that 0.5 is the chosen
   threshold; ``change_mask`` (:func:`burned_mask`) takes the pixels at or over the
   threshold whose NBR dropped (dNBR > 0) as seeds, grows them through 8-connected pixels
   over ``grow_low`` (whose NBR dropped), fills holes of at most ``fill_holes`` pixels
   (where NBR dropped) and keeps 8-connected groups of at least ``min_pixels`` pixels;
   ``severity`` the Key & Benson dNBR class of burned pixels (as ``burned-area``).

The weights (``tiandi/models/weights/burned-learned-v0.2.json``, model card ``.md``
beside it), the choice of features and post-processing and their nested
leave-one-fire-out figures come from ``scripts/experiments/burned/protocol.py``
(``learned.py`` there built v0.1). The detector computes in memory (a lazy input
is computed): it suits fire chips and zone-sized scenes, not continent-wide mosaics.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray
from scipy.ndimage import label, uniform_filter

from tiandi.errors import ModelError
from tiandi.models.base import CHANGE, NO_CHANGE, NO_DATA
from tiandi.models.burned.detector import BANDS, BurnedAreaDetector, severity_class

__all__ = [
    "LEARNED_WEIGHTS",
    "PAIR_FEATURES_V1",
    "BurnedLearnedDetector",
    "Combiner",
    "burned_mask",
    "check_feature_names",
    "nan_mean",
    "nan_std",
    "pair_features",
    "post_features",
]

LEARNED_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "burned-learned-v0.2.json"
"""The shipped weights of ``burned-learned`` (post-fire trees and combiner)."""
VEG_NDVI = 0.1
F64 = NDArray[np.float64]


def nan_mean(x: F64, size: int) -> F64:
    """Mean over a ``size`` x ``size`` window of the finite values (edges: nearest); NaN
    stays NaN."""
    ok = np.isfinite(x)
    total = uniform_filter(np.where(ok, x, 0.0), size, mode="nearest")
    count = uniform_filter(ok.astype(np.float64), size, mode="nearest")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, total / np.maximum(count, 1e-9), np.nan)


def _nd(a: F64, b: F64) -> F64:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray((a - b) / (a + b), dtype=np.float64)


def post_features(b04: F64, b08: F64, b12: F64) -> F64:
    """The post-fire model's 9 features on a last axis (reflectance 0-1 in)."""
    nbr, ndvi = _nd(b08, b12), _nd(b08, b04)
    finite = nbr[np.isfinite(nbr)]
    rel = nbr - (float(np.median(finite)) if finite.size else 0.0)
    layers = [nbr, ndvi, b12, b08, b04, rel, nan_mean(rel, 5), nan_mean(rel, 15)]
    return np.stack([*layers, nan_mean(nbr, 5)], axis=-1)


def _robust_z(value: F64, vegetated: NDArray[np.bool_]) -> F64:
    pool = value[vegetated & np.isfinite(value)]
    if pool.size < 100:
        pool = value[np.isfinite(value)]
    if pool.size == 0:
        return np.full(value.shape, np.nan)
    med = float(np.median(pool))
    mad = 1.4826 * float(np.median(np.abs(pool - med)))
    return (value - med) / max(mad, 1e-3)


PAIR_FEATURES_V1: tuple[str, ...] = ("z5", "L5", "veg")
"""The combiner's features of weights format 1 (and the default)."""
_FEATURE_RE = re.compile(r"^(z|L)(\d+)$|^sd(\d+)_(dnbr|nbr_post)$|^veg$")


def check_feature_names(names: tuple[str, ...] | list[str]) -> None:
    """``ModelError`` naming the first combiner feature name that is not known."""
    for name in names:
        if not _FEATURE_RE.match(name):
            raise ModelError(
                f"combiner feature {name!r} is unknown; known: z<px>, L<px> (window means), "
                "sd<px>_dnbr, sd<px>_nbr_post (window standard deviations), veg"
            )


def nan_std(x: F64, size: int) -> F64:
    """Standard deviation over a ``size`` x ``size`` window of the finite values."""
    mean = nan_mean(x, size)
    mean_sq = nan_mean(x * x, size)
    return np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))


def pair_features(
    bands: dict[str, F64], post_logit: F64, names: tuple[str, ...] = PAIR_FEATURES_V1
) -> F64:
    """The combiner's features on a last axis, from ``pre_B04 pre_B08 pre_B12 post_B08
    post_B12`` bands and the post-fire model's logit, named as in ``names``:

    - ``z<n>``: the ``n`` px mean of RBR as a robust z-score against the scene's vegetated
      land (median, MAD);
    - ``L<n>``: the ``n`` px mean of the post-fire model's logit;
    - ``sd<n>_dnbr`` / ``sd<n>_nbr_post``: the ``n`` px standard deviation of dNBR / of
      NBR after (texture);
    - ``veg``: vegetated before (NDVI_pre >= 0.1), 0/1.
    """
    check_feature_names(names)
    nbr_pre = _nd(bands["pre_B08"], bands["pre_B12"])
    nbr_post = _nd(bands["post_B08"], bands["post_B12"])
    dnbr = nbr_pre - nbr_post
    with np.errstate(divide="ignore", invalid="ignore"):
        rbr = dnbr / (nbr_pre + 1.001)
    ndvi_pre = _nd(bands["pre_B08"], bands["pre_B04"])
    vegetated = np.nan_to_num(ndvi_pre, nan=-1.0) >= VEG_NDVI
    layers: list[F64] = []
    for name in names:
        match = _FEATURE_RE.match(name)
        assert match is not None  # checked above
        if name == "veg":
            layers.append(vegetated.astype(np.float64))
        elif match.group(1) == "z":
            layers.append(_robust_z(nan_mean(rbr, int(match.group(2))), vegetated))
        elif match.group(1) == "L":
            layers.append(nan_mean(post_logit, int(match.group(2))))
        else:
            source = dnbr if match.group(4) == "dnbr" else nbr_post
            layers.append(nan_std(source, int(match.group(3))))
    return np.stack(layers, axis=-1)


class Combiner:
    """Standardised logistic regression: ``sigmoid(w0 + sum w_i (x_i - mean_i) / sd_i)``."""

    def __init__(self, mean: list[float], sd: list[float], weights: list[float]) -> None:
        self.mean, self.sd = np.asarray(mean), np.asarray(sd)
        self.weights = np.asarray(weights)
        if not len(self.mean) == len(self.sd) == len(self.weights) - 1:
            raise ModelError("combiner weights: mean, sd and weights[1:] differ in length")

    def logit(self, x: F64) -> F64:
        """The linear score of each row of ``x`` (..., n_features)."""
        z = (x - self.mean) / self.sd
        return np.asarray(self.weights[0] + z @ self.weights[1:], dtype=np.float64)

    def as_dict(self) -> dict[str, list[float]]:
        """JSON-ready weights."""
        return {k: [float(v) for v in getattr(self, k)] for k in ("mean", "sd", "weights")}


def _post_logit(booster: Any, feats: F64) -> F64:
    flat = feats.reshape(-1, feats.shape[-1])
    ok = np.isfinite(flat).all(axis=1)
    out = np.full(flat.shape[0], np.nan)
    if ok.any():
        p = np.clip(np.asarray(booster.predict(flat[ok], num_threads=1)), 1e-4, 1 - 1e-4)
        out[ok] = np.log(p / (1 - p))
    return out.reshape(feats.shape[:-1])


_EIGHT = np.ones((3, 3), dtype=bool)


def _keep_large(burned: NDArray[np.bool_], min_pixels: int) -> NDArray[np.bool_]:
    if min_pixels <= 1 or not burned.any():
        return burned
    labels, n = label(burned, structure=_EIGHT)
    keep = np.bincount(labels.ravel(), minlength=n + 1) >= min_pixels
    keep[0] = False
    out: NDArray[np.bool_] = keep[labels]
    return out


def _grow(seeds: NDArray[np.bool_], allowed: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The 8-connected groups of ``allowed`` that hold a seed."""
    labels, n = label(allowed, structure=_EIGHT)
    keep = np.zeros(n + 1, dtype=bool)
    keep[np.unique(labels[seeds & allowed])] = True
    keep[0] = False
    out: NDArray[np.bool_] = keep[labels]
    return out


def _fill_holes(burned: NDArray[np.bool_], max_pixels: int) -> NDArray[np.bool_]:
    """``burned`` with its holes (4-connected unburned groups that do not touch the edge)
    of at most ``max_pixels`` pixels filled."""
    if max_pixels <= 0 or not burned.any():
        return burned
    labels, n = label(~burned)
    size = np.bincount(labels.ravel(), minlength=n + 1)
    fill = size <= max_pixels
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    fill[np.unique(edge)] = False
    fill[0] = False
    out: NDArray[np.bool_] = burned | fill[labels]
    return out


def burned_mask(
    prob: F64,
    dropped: NDArray[np.bool_],
    threshold: float,
    min_pixels: int = 1,
    grow_low: float | None = None,
    fill_holes: int = 0,
) -> NDArray[np.bool_]:
    """Burned pixels from the combiner's probability: ``prob >= threshold`` where NBR
    dropped (``dropped``); with ``grow_low``, grown from those seeds through 8-connected
    pixels with ``prob >= grow_low`` that dropped too; holes of at most ``fill_holes``
    pixels filled (where NBR dropped); 8-connected groups under ``min_pixels`` dropped."""
    p = np.nan_to_num(prob)
    burned = (p >= threshold) & dropped
    if grow_low is not None and grow_low < threshold:
        burned = _grow(burned, (p >= grow_low) & dropped)
    if fill_holes > 0:
        burned = _fill_holes(burned, fill_holes) & dropped
    return _keep_large(burned, min_pixels)


def load_booster(model_text: str) -> Any:
    """A LightGBM booster from its text dump."""
    import lightgbm  # only this detector needs it

    return lightgbm.Booster(model_str=model_text)


class BurnedLearnedDetector:
    """Burn scars from a post-fire model and a burn index (see the module docstring)."""

    version = "0.2.0"
    bands = BANDS
    # The disturbance declaration (tiandi.models.base), as burned-area's.
    change_types: tuple[str, ...] = BurnedAreaDetector.change_types
    class_layers: dict[str, tuple[str, ...]] = BurnedAreaDetector.class_layers
    mean_layers: tuple[str, ...] = BurnedAreaDetector.mean_layers
    cloud_margin_px: int = BurnedAreaDetector.cloud_margin_px

    def __init__(
        self, weights: Path | dict[str, Any] = LEARNED_WEIGHTS, name: str | None = None
    ) -> None:
        if isinstance(weights, dict):
            doc = weights
        else:
            try:
                doc = json.loads(Path(weights).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ModelError(
                    f"cannot read burned-learned weights {weights} ({exc}); rebuild them with "
                    "scripts/experiments/burned/protocol.py"
                ) from exc
        self.name = name or str(doc.get("name", "burned-learned"))
        self.booster = load_booster(doc["post_model"])
        self.combiner = Combiner(**doc["combiner"])
        self.threshold = float(doc["threshold"])
        self.min_pixels = int(doc["min_pixels"])
        self.features = tuple(doc.get("features", PAIR_FEATURES_V1))
        check_feature_names(self.features)
        if len(self.features) != len(self.combiner.mean):
            raise ModelError(
                f"burned-learned weights: {len(self.features)} combiner features named, "
                f"{len(self.combiner.mean)} weighted; rebuild them with "
                "scripts/experiments/burned/protocol.py"
            )
        grow = doc.get("grow_low")
        self.grow_low = None if grow is None else float(grow)
        self.fill_holes = int(doc.get("fill_holes", 0))
        #: Fires whose data fitted or chose this model (evaluations mark them).
        self.fitted_on: tuple[str, ...] = (
            *doc.get("trained_on_pairs", ()),
            *doc.get("post_model_fires", ()),
        )
        self._check = BurnedAreaDetector(name=self.name)

    def probability(self, bands: dict[str, F64]) -> F64:
        """The combiner's burn probability per pixel (NaN where a band is)."""
        post = post_features(bands["post_B04"], bands["post_B08"], bands["post_B12"])
        feats = pair_features(bands, _post_logit(self.booster, post), self.features)
        with np.errstate(over="ignore"):
            prob = 1.0 / (1.0 + np.exp(-self.combiner.logit(np.nan_to_num(feats))))
        nodata = ~np.all([np.isfinite(v) for v in bands.values()], axis=0)
        return np.where(nodata, np.nan, prob)

    def detect(self, before: xr.Dataset, after: xr.Dataset) -> xr.Dataset:
        """``change_prob``, ``change_mask``, ``severity`` and ``dnbr`` on the grid of
        ``before`` (``after`` must share it)."""
        arrays = self._check._inputs(before, after)  # checks bands and grid
        names = ("pre_B04", "pre_B08", "pre_B12", "post_B08", "post_B12")
        bands = {
            n: np.asarray(a.values, dtype=np.float64) for n, a in zip(names, arrays, strict=True)
        }
        bands["post_B04"] = np.asarray(after["B04"].values, dtype=np.float64)
        prob = self.probability(bands)
        nodata = np.isnan(prob)
        t = self.threshold
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            shift = np.log(prob / (1 - prob)) - np.log(t / (1 - t))
            centred = (1.0 / (1.0 + np.exp(-shift))).astype(np.float32)
        dnbr = _nd(bands["pre_B08"], bands["pre_B12"]) - _nd(bands["post_B08"], bands["post_B12"])
        # a burn lowers NBR: a pixel whose NBR did not drop is never burned, whatever the
        # post-fire model says of its after-state (bare or dark land that was so before)
        with np.errstate(invalid="ignore"):
            dropped = np.nan_to_num(dnbr) > 0
        burned = burned_mask(prob, dropped, t, self.min_pixels, self.grow_low, self.fill_holes)
        mask = np.where(burned, CHANGE, NO_CHANGE).astype(np.uint8)
        mask[nodata] = NO_DATA
        severity = np.where(burned, np.maximum(severity_class(dnbr), 1), 0).astype(np.uint8)
        severity[nodata] = NO_DATA
        return self._dataset(before, centred, mask, severity, dnbr.astype(np.float32))

    def _dataset(self, like: xr.Dataset, *layers: NDArray[Any]) -> xr.Dataset:
        template = like[BANDS[0]]
        names = ("change_prob", "change_mask", "severity", "dnbr")
        data = {n: template.copy(data=v) for n, v in zip(names, layers, strict=True)}
        for da_ in data.values():
            da_.attrs = {}
        data["change_mask"].attrs = {
            "long_name": "burned mask",
            "flag_values": [NO_CHANGE, CHANGE, NO_DATA],
            "flag_meanings": "unburned burned no_data",
        }
        attrs = {
            "model": self.name,
            "model_version": self.version,
            "threshold": self.threshold,
            "parameters": (
                f"threshold={self.threshold}, min_pixels={self.min_pixels}, "
                f"grow_low={self.grow_low}, fill_holes={self.fill_holes}, "
                f"features={','.join(self.features)}"
            ),
            "change_type": "burned",
        }
        out = xr.Dataset(data, attrs=attrs)
        if "spatial_ref" in like.coords:
            out = out.assign_coords(spatial_ref=like.coords["spatial_ref"])
        return out
