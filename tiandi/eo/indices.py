"""Spectral indices of a composite (lazy, elementwise, float32).

- ``ndvi`` = (B08 - B04) / (B08 + B04)                      vegetation
- ``ndwi`` = (B03 - B08) / (B03 + B08)                      open water (McFeeters 1996)
- ``ndbi`` = (B11 - B08) / (B11 + B08)                      built-up (Zha et al. 2003)
- ``bsi``  = ((B11 + B04) - (B08 + B02)) / ((B11 + B04) + (B08 + B02))   bare soil
- ``ndmi`` = (B08 - B11) / (B08 + B11)                      canopy moisture (Gao 1996)
- ``mndwi`` = (B03 - B11) / (B03 + B11)                     open water (Xu 2006)

NaN where a band is NaN (no clear observation) or a denominator is zero.
:func:`add_indices` adds the first four to a (lazy) composite; :func:`index_array`
computes any of the six on plain arrays (a detector's per-chunk kernel), from the one
table of formulas :data:`FORMULAS`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import xarray as xr

from tiandi.errors import InputError

__all__ = ["FORMULAS", "INDICES", "add_indices", "index_array", "normalized_difference"]

FORMULAS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ndvi": (("B08",), ("B04",)),
    "ndwi": (("B03",), ("B08",)),
    "ndbi": (("B11",), ("B08",)),
    "bsi": (("B11", "B04"), ("B08", "B02")),
    "ndmi": (("B08",), ("B11",)),
    "mndwi": (("B03",), ("B11",)),
}
"""Each index as (summed bands of ``a``, summed bands of ``b``) of ``(a - b) / (a + b)``."""

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


def index_array(name: str, bands: Mapping[str, npt.ArrayLike]) -> npt.NDArray[np.float32]:
    """The index ``name`` of :data:`FORMULAS` from plain reflectance arrays (float32, NaN
    where a band is NaN or the denominator is 0). ``InputError`` for an unknown index or
    a missing band."""
    if name not in FORMULAS:
        raise InputError(f"unknown index {name!r}; known: {', '.join(FORMULAS)}")
    plus, minus = FORMULAS[name]
    missing = [b for b in (*plus, *minus) if b not in bands]
    if missing:
        raise InputError(
            f"index {name} needs band(s) {missing}; the arrays given have {sorted(bands)}"
        )
    a = sum(
        (np.asarray(bands[b], dtype=np.float32) for b in plus[1:]),
        np.asarray(bands[plus[0]], dtype=np.float32),
    )
    b = sum(
        (np.asarray(bands[x], dtype=np.float32) for x in minus[1:]),
        np.asarray(bands[minus[0]], dtype=np.float32),
    )
    total = a + b
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(total != 0, (a - b) / np.where(total != 0, total, 1), np.nan)
    return np.asarray(out, dtype=np.float32)
