"""Accuracy and area estimation after Olofsson et al. (2014).

Olofsson, P., Foody, G. M., Herold, M., Stehman, S. V., Woodcock, C. E., Wulder, M. A.
(2014). Good practices for estimating area and assessing accuracy of land change.
Remote Sensing of Environment 148, 42–57. doi:10.1016/j.rse.2014.02.015

The stratified random sample (size, allocation, drawing) is designed by
:mod:`tiandi.redline.accuracy.design`; from the sample:

- :func:`assess` — from the sample error matrix (counts ``n_ij``, map class rows,
  reference class columns) and the mapped areas: the error matrix in area proportions
  ``p_ij = W_i n_ij / n_i.``, overall, user's and producer's accuracy with standard errors
  (their eqs. 4–7), and area estimates per class with standard errors and confidence
  intervals (eqs. 9–12).
- :func:`estimate_areas` — the area part alone, for strata that are not the map classes
  (e.g. a buffer stratum around changes): rows are strata, columns reference classes.

No finite population correction is applied (as in the paper). Standard errors need at
least two sample units in every stratum.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tiandi.errors import InputError

Z95 = 1.96


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its standard error; ``z`` sets the confidence interval."""

    value: float
    se: float
    z: float = Z95

    @property
    def half_width(self) -> float:
        """Half width of the confidence interval, ``z * se``."""
        return self.z * self.se

    @property
    def ci_low(self) -> float:
        """Lower confidence bound."""
        return self.value - self.half_width

    @property
    def ci_high(self) -> float:
        """Upper confidence bound."""
        return self.value + self.half_width


@dataclass(frozen=True)
class ClassResult:
    """Accuracy and estimated area of one class.

    ``mapped_area`` and ``area`` are in the unit of the mapped areas given; ``producers``
    is None when no sample unit has this reference class (its accuracy is undefined).
    """

    name: str
    mapped_area: float
    weight: float
    n_samples: int
    users: Estimate
    producers: Estimate | None
    area_proportion: Estimate
    area: Estimate


@dataclass(frozen=True)
class AccuracyAssessment:
    """Result of :func:`assess`."""

    classes: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]
    proportions: tuple[tuple[float, ...], ...]  # p_ij, map rows, reference columns
    total_area: float
    overall: Estimate
    per_class: tuple[ClassResult, ...]

    def __getitem__(self, name: str) -> ClassResult:
        for result in self.per_class:
            if result.name == name:
                return result
        raise KeyError(f"no class {name!r}; classes are {', '.join(self.classes)}")


@dataclass(frozen=True)
class AreaResult:
    """Estimated area of one reference class (see :func:`estimate_areas`)."""

    name: str
    area_proportion: Estimate
    area: Estimate


def error_matrix(
    map_labels: Sequence[str], reference_labels: Sequence[str], classes: Sequence[str]
) -> npt.NDArray[np.int64]:
    """Sample counts n_ij (row: map class i, column: reference class j) from labels."""
    if len(map_labels) != len(reference_labels):
        raise InputError(
            f"{len(map_labels)} map labels but {len(reference_labels)} reference labels; "
            "give one of each per sample unit"
        )
    index = {name: k for k, name in enumerate(classes)}
    counts = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for k, (m, r) in enumerate(zip(map_labels, reference_labels, strict=True)):
        if m not in index or r not in index:
            raise InputError(
                f"sample unit {k}: label {m if m not in index else r!r} is not one of the "
                f"classes {list(classes)!r}"
            )
        counts[index[m], index[r]] += 1
    return counts


def _counts(counts: npt.ArrayLike, square: bool) -> npt.NDArray[np.float64]:
    n = np.asarray(counts, dtype=np.float64)
    if n.ndim != 2 or n.shape[0] < 1 or n.shape[1] < 2 or (square and n.shape[0] != n.shape[1]):
        shape = "square (map classes x reference classes)" if square else "strata x classes"
        raise InputError(f"error matrix of shape {n.shape} must be {shape}, with 2 or more classes")
    if not np.all(np.isfinite(n)) or np.any(n < 0) or np.any(n != np.round(n)):
        raise InputError("error matrix must hold non-negative whole sample counts")
    return n


def _names(classes: Sequence[str] | None, k: int) -> tuple[str, ...]:
    names = tuple(str(c) for c in classes) if classes is not None else tuple(map(str, range(k)))
    if len(names) != k or len(set(names)) != k:
        raise InputError(f"class names {names!r} must be {k} distinct names, one per column")
    return names


def _strata(
    n: npt.NDArray[np.float64], areas: Sequence[float], names: Sequence[str]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Mapped areas A_i, weights W_i and row totals n_i., validated."""
    a = np.asarray(areas, dtype=np.float64)
    if a.shape != (n.shape[0],) or not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise InputError(
            f"mapped areas {list(areas)!r} must be {n.shape[0]} positive numbers, one per "
            "stratum (row of the error matrix); drop strata with no mapped area"
        )
    rows = n.sum(axis=1)
    for name, count in zip(names, rows, strict=True):
        if count < 2:
            raise InputError(
                f"stratum {name!r} has {int(count)} sample units; every stratum needs at least "
                "2 to estimate standard errors. Collect more reference samples for it or merge "
                "it with another stratum"
            )
    return a, a / a.sum(), rows


def _area_estimates(
    n: npt.NDArray[np.float64],
    w: npt.NDArray[np.float64],
    rows: npt.NDArray[np.float64],
    total: float,
    z: float,
) -> tuple[list[Estimate], list[Estimate]]:
    """Eqs. 9–12: p.k = Σ_i W_i n_ik/n_i., SE from Σ_i W_i² p_ik(1-p_ik)/(n_i.-1)."""
    frac = n / rows[:, None]
    props = w @ frac
    var = ((w**2)[:, None] * frac * (1 - frac) / (rows - 1)[:, None]).sum(axis=0)
    se = np.sqrt(var)
    prop_est = [Estimate(float(p), float(s), z) for p, s in zip(props, se, strict=True)]
    area_est = [
        Estimate(float(p * total), float(s * total), z) for p, s in zip(props, se, strict=True)
    ]
    return prop_est, area_est


def estimate_areas(
    counts: npt.ArrayLike,
    stratum_areas: Sequence[float],
    *,
    classes: Sequence[str] | None = None,
    z: float = Z95,
) -> tuple[AreaResult, ...]:
    """Area of each reference class from a stratified sample (eqs. 9–12).

    ``counts[h][k]``: sample units of stratum h whose reference class is k;
    ``stratum_areas``: the strata's areas (pixel count × pixel area, any unit; the
    estimates are in that unit). Strata need not be the map classes.
    """
    n = _counts(counts, square=False)
    names = _names(classes, n.shape[1])
    a, w, rows = _strata(n, stratum_areas, [f"row {i}" for i in range(n.shape[0])])
    props, areas = _area_estimates(n, w, rows, float(a.sum()), _z(z))
    return tuple(AreaResult(k, p, ar) for k, p, ar in zip(names, props, areas, strict=True))


def _z(z: float) -> float:
    if not (math.isfinite(z) and z > 0):
        raise InputError(f"z {z!r} must be a positive number, e.g. 1.96 for 95 % intervals")
    return z


def assess(
    counts: npt.ArrayLike,
    mapped_areas: Sequence[float],
    *,
    classes: Sequence[str] | None = None,
    z: float = Z95,
) -> AccuracyAssessment:
    """Accuracy and area estimates from a stratified random sample (strata = map classes).

    ``counts[i][j]``: sample units mapped as class i whose reference class is j;
    ``mapped_areas[i]``: mapped area of class i (pixel count × pixel area; areas come
    back in the same unit). Standard errors: overall accuracy eq. 5, user's eq. 6,
    producer's eq. 7, area eqs. 10–11 of Olofsson et al. (2014); intervals are
    ``value ± z·se``.
    """
    n = _counts(counts, square=True)
    names = _names(classes, n.shape[0])
    z = _z(z)
    a, w, rows = _strata(n, mapped_areas, names)
    frac = n / rows[:, None]  # n_ij / n_i.
    p = w[:, None] * frac  # eq. 4 / Table 9
    users = np.diag(frac)
    u_var = users * (1 - users) / (rows - 1)
    overall = Estimate(float(np.trace(p)), float(math.sqrt(float((w**2 * u_var).sum()))), z)
    col = p.sum(axis=0)
    prop_est, area_est = _area_estimates(n, w, rows, float(a.sum()), z)
    results = []
    for j, name in enumerate(names):
        producers = None
        if col[j] > 0:
            pa = float(p[j, j] / col[j])
            nj = float((a / rows * n[:, j]).sum())  # estimated area of reference class j
            others = sum(
                a[i] ** 2 * frac[i, j] * (1 - frac[i, j]) / (rows[i] - 1)
                for i in range(len(names))
                if i != j
            )
            var = (a[j] ** 2 * (1 - pa) ** 2 * u_var[j] + pa**2 * others) / nj**2
            producers = Estimate(pa, float(math.sqrt(var)), z)
        results.append(
            ClassResult(
                name,
                float(a[j]),
                float(w[j]),
                int(rows[j]),
                Estimate(float(users[j]), float(math.sqrt(u_var[j])), z),
                producers,
                prop_est[j],
                area_est[j],
            )
        )
    return AccuracyAssessment(
        names,
        tuple(tuple(int(v) for v in r) for r in n),
        tuple(tuple(float(v) for v in r) for r in p),
        float(a.sum()),
        overall,
        tuple(results),
    )


@dataclass(frozen=True)
class GroupAccuracy:
    """Accuracy and areas of one group (``group`` = "overall" or a zone value).

    Per class (in ``classes`` order): mapped area, user's and producer's accuracy,
    estimated area (m²). ``proportions`` is the error matrix in area proportions (map
    rows, reference columns). Estimates are None where undefined (no unit mapped or
    found as the class) or, for the whole group, when ``note`` says why.
    """

    group: str
    n_samples: int
    total_area_m2: float
    classes: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]
    proportions: tuple[tuple[float, ...], ...] | None
    mapped_area_m2: tuple[float, ...]
    overall: Estimate | None
    users: tuple[Estimate | None, ...]
    producers: tuple[Estimate | None, ...]
    area_m2: tuple[Estimate | None, ...]
    note: str = ""
