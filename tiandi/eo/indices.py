"""Spectral indices of a composite (lazy, elementwise, float32).

- ``ndvi`` = (B08 - B04) / (B08 + B04)                      vegetation
- ``ndwi`` = (B03 - B08) / (B03 + B08)                      open water (McFeeters 1996)
- ``ndbi`` = (B11 - B08) / (B11 + B08)                      built-up (Zha et al. 2003)
- ``bsi``  = ((B11 + B04) - (B08 + B02)) / ((B11 + B04) + (B08 + B02))   bare soil

NaN where a band is NaN (no clear observation) or a denominator is zero.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from tiandi.errors import InputError

__all__ = ["INDICES", "add_indices", "normalized_difference"]

INDICES = ("ndvi", "ndwi", "ndbi", "bsi")
_NEEDED = ("B02", "B03", "B04", "B08", "B11")


def normalized_difference(a: xr.DataArray, b: xr.DataArray) -> xr.DataArray:
    """``(a - b) / (a + b)`` as float32, NaN where ``a + b`` is 0."""
    total = a + b
    safe = total.where(total != 0)
    return ((a - b) / safe).astype(np.float32)


def add_indices(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with float32 ``ndvi``, ``ndwi``, ``ndbi`` and ``bsi`` added (lazy if ``ds`` is).

    Raises :class:`InputError` when a band the indices need is missing.
    """
    missing = [b for b in _NEEDED if b not in ds.data_vars]
    if missing:
        raise InputError(
            f"the dataset lacks band(s) {missing} needed for {', '.join(INDICES)} "
            f"(it has {sorted(map(str, ds.data_vars))}); composite with bands {_NEEDED}"
        )
    b02, b03, b04, b08, b11 = (ds[b].astype(np.float32) for b in _NEEDED)
    out = ds.assign(
        ndvi=normalized_difference(b08, b04),
        ndwi=normalized_difference(b03, b08),
        ndbi=normalized_difference(b11, b08),
        bsi=normalized_difference(b11 + b04, b08 + b02),
    )
    for name, long in zip(
        INDICES,
        ("NDVI", "NDWI (McFeeters)", "NDBI", "bare soil index"),
        strict=True,
    ):
        out[name].attrs = {"long_name": long, "units": "1"}
    return out
