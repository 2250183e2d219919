"""A patch's confidence level and the evidence that fired, from the integrated detector's layers.

The integrated detector (:mod:`tiandi.models.integrated`) writes, per pixel, the evidence
bits and the confidence level (:mod:`tiandi.models.evidence`). A patch takes:

- ``evidence``: the names of the evidence that fired on at least ``min_share`` of its
  pixels, comma-separated in the fixed order ``network, vegetation_loss, water_gain,
  water_loss, bare_soil`` (empty string: none reached the share);
- ``confidence_level``: the highest level (``highest`` > ``high`` > ``nominal``) that
  at least ``min_share`` of its pixels hold at or above — agreement counts on the same
  pixels, so a patch whose network pixels and spectral pixels lie side by side lists
  both evidence yet stays below ``highest``.

``min_share`` is 0.25 by default (a quarter of the patch, as FORMA's alerts need 25 % of a
pixel cleared). Patches of other detectors do not get these columns; in the patch store
they stay empty (NULL), which the service and the review page show as "—" and sort last.
One windowed pass over the two layers, like the other zonal statistics.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr

from tiandi.errors import InputError
from tiandi.models.base import NO_DATA
from tiandi.models.evidence import EVIDENCE, EVIDENCE_BITS, evidence_names, patch_level
from tiandi.models.integrated import CONFIDENCE_LAYERS
from tiandi.redline.patches._grid import grid_of, window_of
from tiandi.redline.patches._zonal import zonal_stats
from tiandi.redline.patches.extract import PatchParams

__all__ = ["CONFIDENCE_COLUMNS", "DEFAULT_MIN_SHARE", "add_confidence", "has_confidence_layers"]

CONFIDENCE_COLUMNS = CONFIDENCE_LAYERS
"""The patch columns this module adds (``confidence_level``, ``evidence``)."""
DEFAULT_MIN_SHARE = 0.25


def has_confidence_layers(change: xr.Dataset) -> bool:
    """Whether ``change`` holds the integrated detector's layers."""
    return all(name in change for name in CONFIDENCE_LAYERS)


def add_confidence(
    patches: gpd.GeoDataFrame,
    change: xr.Dataset,
    params: PatchParams | None = None,
    min_share: float = DEFAULT_MIN_SHARE,
) -> gpd.GeoDataFrame:
    """``patches`` (in the grid CRS of ``change``) with ``confidence_level`` and
    ``evidence`` (see the module docstring). ``InputError`` when ``change`` lacks the
    layers or ``min_share`` is not in (0, 1]."""
    if not has_confidence_layers(change):
        raise InputError(
            "the change maps have no confidence_level and evidence layers; run the "
            "integrated detector (--detector integrated)"
        )
    if not 0.0 < min_share <= 1.0:
        raise InputError(f"min_share={min_share} must lie in (0, 1]")
    params = params if params is not None else PatchParams()
    out = patches.copy()
    if patches.empty:
        out["confidence_level"] = pd.Series([], dtype=object)
        out["evidence"] = pd.Series([], dtype=object)
        return out
    grid = grid_of(change, "change")
    window = window_of(patches.to_crs(grid.crs), grid)
    if window is None:
        raise InputError("the patches lie outside the grid of the change maps")
    stats = zonal_stats(
        list(patches.to_crs(grid.crs).geometry.values),
        xr.Dataset(),
        xr.Dataset(),
        xr.Dataset(),
        grid,
        window,
        params.window_rows,
        0,
        _share_layers(change),
    )
    levels: list[str | None] = []
    evidence: list[str | None] = []
    for i in range(len(patches)):
        shares = {n: stats.mean(f"ev_{n}", i) for n in EVIDENCE}
        level_shares = [stats.mean(f"level_{k}", i) for k in (1, 2, 3)]
        if not np.isfinite(level_shares[0]):  # no pixel centre inside (a sliver)
            levels.append(None)
            evidence.append(None)
            continue
        levels.append(patch_level(level_shares, min_share))
        evidence.append(",".join(evidence_names(shares, min_share)))
    out["confidence_level"] = pd.Series(levels, index=out.index, dtype=object)
    out["evidence"] = pd.Series(evidence, index=out.index, dtype=object)
    return out


def _share_layers(change: xr.Dataset) -> dict[str, xr.DataArray]:
    """0/1 float layers (NaN no data) whose patch means are the shares of its pixels."""
    bits, level = change["evidence"], change["confidence_level"]
    valid = bits != NO_DATA
    layers = {
        f"ev_{name}": ((bits & bit) > 0).astype("float32").where(valid)
        for name, bit in EVIDENCE_BITS.items()
    }
    ok = level != NO_DATA
    for k in (1, 2, 3):
        layers[f"level_{k}"] = (level >= k).astype("float32").where(ok)
    return layers
