"""Input normalisation of the change networks: the one place that computes it,
for training (:func:`normalise_images`, numpy city arrays) and for inference
(:func:`normalise_inputs`, lazy or in-memory xarray inputs of the detector).

``"dataset"`` (the default, and what weights without the field were trained with): the
network standardises reflectances with per-band statistics of its training cities, stored
in the weights. ``"per_image"``: each date of each image is first standardised per band
with its own mean and standard deviation over the whole image (NaN ignored, float64
moments), so any per-band gain and offset of one date (L1C top-of-atmosphere vs L2A
surface reflectance, a sensor calibration, a hazy date) cancels exactly; the network's
stored statistics are then those of the standardised training images (about 0 and 1).
``"per_pair"``: both dates standardised per band with moments pooled over the pair, so a
per-band gain and offset shared by both dates (L1C vs L2A: mostly the path radiance the
atmospheric correction removes from every clear date alike) cancels exactly, while a
brightening or darkening between the dates, which is what a change is, stays as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np
import numpy.typing as npt
import xarray as xr

from tiandi.errors import InputError

NORMALISATIONS = ("dataset", "per_image", "per_pair")
"""Input normalisations a change network can be trained with."""
MIN_STD = 1e-6
"""Floor of a band's standard deviation (a constant band is centred, not blown up)."""

FloatArray = npt.NDArray[np.float64]


def check_normalisation(name: str) -> str:
    """``name`` when it is one of :data:`NORMALISATIONS`, else ``InputError``."""
    if name not in NORMALISATIONS:
        raise InputError(
            f"normalisation {name!r} is not one of {', '.join(NORMALISATIONS)}; "
            "use 'dataset' (training-set statistics), 'per_image' or 'per_pair'"
        )
    return name


def band_moments(values: Any) -> tuple[FloatArray, FloatArray]:
    """Mean and standard deviation (float64, NaN ignored) of each band of a
    (bands, rows, cols) numpy or dask array; a band without data gets mean 0 and std 1,
    a constant one std :data:`MIN_STD`. Dask inputs are computed (one pass)."""
    n = int(values.shape[0])
    flat = values.reshape(n, -1).astype(np.float64)
    if isinstance(flat, da.Array):
        valid = da.isfinite(flat)
        count, total, total_sq = da.compute(  # type: ignore[no-untyped-call]
            valid.sum(axis=1),
            da.where(valid, flat, 0.0).sum(axis=1),
            da.where(valid, flat * flat, 0.0).sum(axis=1),
        )
    else:
        valid = np.isfinite(flat)
        count = valid.sum(axis=1)
        total = np.where(valid, flat, 0.0).sum(axis=1)
        total_sq = np.where(valid, flat * flat, 0.0).sum(axis=1)
    return _moments(np.asarray(count), np.asarray(total), np.asarray(total_sq))


def _moments(
    count: FloatArray, total: FloatArray, total_sq: FloatArray
) -> tuple[FloatArray, FloatArray]:
    n = np.maximum(count, 1)
    mean = total / n
    std = np.sqrt(np.maximum(total_sq / n - mean**2, 0.0))
    empty = count == 0
    return np.where(empty, 0.0, mean), np.where(empty, 1.0, np.maximum(std, MIN_STD))


def _standardise(values: Any, mean: FloatArray, std: FloatArray) -> Any:
    """(values − mean) / std per band of a (bands, rows, cols) array, as float32."""
    m = mean.reshape(-1, 1, 1)
    s = std.reshape(-1, 1, 1)
    return ((values.astype(np.float64) - m) / s).astype(np.float32)


def normalise_images(
    images: npt.NDArray[np.floating[Any]], normalisation: str = "per_image"
) -> npt.NDArray[np.float32]:
    """A (dates, bands, rows, cols) array standardised per band: each date with its own
    moments (``per_image``) or both with the moments of the pair (``per_pair``),
    :func:`band_moments`; NaN stays NaN. ``dataset``: the values as they are (float32)."""
    if check_normalisation(normalisation) == "dataset":
        return images.astype(np.float32)
    out = np.empty(images.shape, dtype=np.float32)
    pair = normalisation == "per_pair"
    pooled = band_moments(np.moveaxis(images, 0, 1)) if pair else None
    for d in range(images.shape[0]):
        out[d] = _standardise(images[d], *(pooled or band_moments(images[d])))
    return out


def normalise_inputs(
    before: xr.Dataset, after: xr.Dataset, bands: Sequence[str], normalisation: str
) -> tuple[xr.Dataset, xr.Dataset]:
    """The detector's two dates normalised as :func:`normalise_images` does for training
    (the variables ``bands``; lazy stays lazy apart from the moments, computed here);
    ``dataset`` returns them as they are (the network standardises them itself)."""
    if check_normalisation(normalisation) == "dataset":
        return before, after
    stacks = [xr.concat([ds[b] for b in bands], dim="band").data for ds in (before, after)]
    if normalisation == "per_pair":
        pooled = (
            da.stack(stacks, axis=1)  # type: ignore[no-untyped-call]
            if any(isinstance(s, da.Array) for s in stacks)
            else np.stack(stacks, axis=1)
        )
        moments = [band_moments(pooled)] * 2
    else:
        moments = [band_moments(s) for s in stacks]
    return _scaled(before, bands, *moments[0]), _scaled(after, bands, *moments[1])


def _scaled(ds: xr.Dataset, bands: Sequence[str], mean: FloatArray, std: FloatArray) -> xr.Dataset:
    out = ds.copy()
    for i, band in enumerate(bands):
        scaled = _standardise(ds[band].data[None], mean[i : i + 1], std[i : i + 1])[0]
        out[band] = ds[band].copy(data=scaled)
    return out
