"""Stratified random sampling design after Olofsson et al. (2014), with the map classes
(or other strata) as strata:

- :func:`sample_size` — total sample size from a target standard error of overall
  accuracy and conjectured user's accuracies (their eq. 13).
- :func:`allocate` — proportional allocation with a minimum per stratum for rare
  (change) strata, as the paper suggests (e.g. 50 or 100 units).
- :func:`stratified_random_sample` — points drawn without replacement from the pixels of
  each stratum of a raster, deterministic for a seed.

The estimates from the sample are in :mod:`tiandi.redline.accuracy.estimates`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tiandi.errors import InputError


@dataclass(frozen=True, eq=False)
class SamplePoints:
    """Sample units drawn from a stratum raster: pixel indices and pixel-centre coordinates."""

    point_id: tuple[str, ...]
    stratum: npt.NDArray[np.int64]
    row: npt.NDArray[np.int64]
    col: npt.NDArray[np.int64]
    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.point_id)

    def records(self) -> list[dict[str, Any]]:
        """One plain dict per point (for tables, GeoPackages, field task lists)."""
        return [
            {
                "point_id": self.point_id[k],
                "stratum": int(self.stratum[k]),
                "row": int(self.row[k]),
                "col": int(self.col[k]),
                "x": float(self.x[k]),
                "y": float(self.y[k]),
            }
            for k in range(len(self))
        ]


def _weights(values: Sequence[float], what: str) -> npt.NDArray[np.float64]:
    w = np.asarray(values, dtype=np.float64)
    if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise InputError(
            f"{what} {list(values)!r} must be a non-empty list of finite, non-negative numbers "
            "with a positive sum (mapped areas or area proportions of the strata)"
        )
    out: npt.NDArray[np.float64] = w / w.sum()
    return out


def sample_size(weights: Sequence[float], expected_users: Sequence[float], target_se: float) -> int:
    """Total sample size n = (Σ W_i S_i / S(Ô))² (Olofsson et al. 2014, eq. 13), rounded up.

    ``weights`` are the strata's mapped areas or proportions W_i; ``expected_users`` the
    conjectured user's accuracies U_i (S_i = sqrt(U_i (1 - U_i))); ``target_se`` the
    standard error of overall accuracy to achieve, e.g. 0.01.
    """
    w = _weights(weights, "stratum weights")
    u = np.asarray(expected_users, dtype=np.float64)
    if u.shape != w.shape or not np.all((u > 0) & (u <= 1)):
        raise InputError(
            f"expected user's accuracies {list(expected_users)!r} must be one value in (0, 1] "
            f"per stratum ({w.size} strata)"
        )
    if not (math.isfinite(target_se) and 0 < target_se < 1):
        raise InputError(f"target standard error {target_se!r} must be in (0, 1), e.g. 0.01")
    s = np.sqrt(u * (1 - u))
    # round before ceil so that float noise cannot add one unit
    return max(math.ceil(round(float((w @ s / target_se) ** 2), 9)), 1)


def allocate(
    n_total: int, weights: Sequence[float], *, minimum: int | Sequence[int] = 50
) -> tuple[int, ...]:
    """Split ``n_total`` over strata in proportion to ``weights``, each at least ``minimum``.

    Strata whose proportional share falls below their minimum get the minimum and the
    rest is shared proportionally among the others (repeated until stable); integer
    counts by largest remainder, ties to the lower index, so the result sums to
    ``n_total``. Strata with zero weight get none.
    """
    w = _weights(weights, "stratum weights")
    try:
        mins = np.broadcast_to(np.asarray(minimum, dtype=np.int64), w.shape).copy()
    except ValueError:
        raise InputError(
            f"minimum sample sizes {minimum!r} must be one number or one per stratum ({w.size})"
        ) from None
    if np.any(mins < 0):
        raise InputError(f"minimum sample sizes {minimum!r} must not be negative")
    mins[w == 0] = 0
    if n_total < 0 or int(mins.sum()) > n_total:
        raise InputError(
            f"cannot allocate {n_total} sample units: the minima need {int(mins.sum())}; "
            "raise the total or lower the minimum per stratum"
        )
    fixed = np.zeros(w.shape, dtype=bool)
    share = np.zeros(w.shape)
    while True:
        free = ~fixed & (w > 0)
        rest = n_total - mins[fixed].sum()
        share = np.where(free, rest * w / max(w[free].sum(), 1e-300), 0.0)
        low = free & (share < mins)
        if not low.any():
            break
        fixed |= low
    counts = np.where(fixed, mins, np.floor(share).astype(np.int64))
    left = n_total - int(counts.sum())
    if left > 0:
        order = sorted(np.flatnonzero(~fixed & (w > 0)), key=lambda i: (-(share[i] % 1), i))
        for i in order[:left]:
            counts[i] += 1
    return tuple(int(c) for c in counts)


def stratified_random_sample(
    strata: npt.ArrayLike,
    transform: Sequence[float],
    allocation: Mapping[int, int],
    *,
    seed: int,
    nodata: int | None = None,
) -> SamplePoints:
    """Draw ``allocation[s]`` distinct pixels of each stratum value ``s`` from ``strata``.

    ``strata`` is a 2-D integer raster (numpy array or xarray DataArray) and
    ``transform`` its affine transform (a, b, c, d, e, f) as in rasterio/affine; the
    coordinates returned are pixel centres in the raster's CRS. Pixels equal to
    ``nodata`` are never drawn. Deterministic for a given ``seed``; points are ordered by
    stratum, then row-major pixel index.
    """
    grid = np.asarray(strata)
    if grid.ndim != 2 or not np.issubdtype(grid.dtype, np.integer):
        raise InputError(
            f"stratum map has shape {grid.shape} and dtype {grid.dtype}; it must be a 2-D "
            "integer raster (one stratum code per pixel)"
        )
    if len(transform) not in (6, 9):
        raise InputError(f"transform {tuple(transform)!r} must be an affine (a, b, c, d, e, f)")
    a, b, c, d, e, f = (float(v) for v in list(transform)[:6])
    flat = grid.ravel()
    rng = np.random.default_rng(seed)
    picks: list[npt.NDArray[np.int64]] = []
    codes: list[npt.NDArray[np.int64]] = []
    for code in sorted(allocation):
        n = int(allocation[code])
        if nodata is not None and code == nodata:
            raise InputError(f"stratum {code} is the nodata value; it cannot be sampled")
        if n < 0:
            raise InputError(f"allocation for stratum {code} is {n}; it must not be negative")
        pixels = np.flatnonzero(flat == code)
        if n > pixels.size:
            raise InputError(
                f"stratum {code} has {pixels.size} pixels but {n} sample units were "
                "allocated to it; lower its allocation or check the stratum codes"
            )
        chosen = np.sort(pixels[rng.choice(pixels.size, size=n, replace=False)])
        picks.append(chosen.astype(np.int64))
        codes.append(np.full(n, code, dtype=np.int64))
    index = np.concatenate(picks) if picks else np.zeros(0, dtype=np.int64)
    stratum = np.concatenate(codes) if codes else np.zeros(0, dtype=np.int64)
    row, col = np.divmod(index, grid.shape[1])
    cx, cy = col + 0.5, row + 0.5
    ids: list[str] = []
    for code in sorted(allocation):
        ids += [f"s{code}-{k + 1:04d}" for k in range(int(allocation[code]))]
    return SamplePoints(
        tuple(ids),
        stratum,
        row.astype(np.int64),
        col.astype(np.int64),
        a * cx + b * cy + c,
        d * cx + e * cy + f,
    )
