"""Accuracy and area estimates from a verified stratified sample, overall and per group.

The sample comes from :mod:`tiandi.redline.accuracy.sampling`: strata are the mapped change
classes, a buffer stratum and no change, so the strata are not the map classes (the
buffer is mapped as no change). The estimators are therefore the general ones for
stratified random sampling of Stehman (2014), *Estimating area and map accuracy for
stratified random sampling when the strata are different from the map classes*, Int. J.
Remote Sens. 35, 4923–4939; with strata = map classes they reduce exactly to eqs. 4–12 of
Olofsson et al. (2014) (checked against their Table 8 in the tests). For a stratum h of
area A_h with n_h sample units and per-unit indicators y (and x):

- a proportion (overall accuracy: map = reference; area of class k: reference = k; cell
  p_ij: map = i and reference = j) is ``P = Σ_h A_h ȳ_h / A`` with
  ``V(P) = Σ_h A_h² s²_yh / n_h / A²``;
- a ratio (user's accuracy: y = map k and reference k, x = map k; producer's: x =
  reference k) is ``R = Σ A_h ȳ_h / Σ A_h x̄_h`` with the linearised
  ``V(R) = Σ_h A_h² (s²_yh + R² s²_xh − 2 R s_xyh) / n_h / X²``.

No finite population correction (as in the papers). Intervals are ``value ± z·SE``.

Per group (``by="reserve"``: the zone name, i.e. a reserve with its three functional
zones, or one red-line zone): the units in that group form a stratified sample of it,
with the group's own stratum areas as weights (domain estimation, sample sizes taken as
fixed). A group whose strata lack 2 units each is reported without estimates, with the
reason.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from tiandi._io import atomic_path
from tiandi.errors import InputError
from tiandi.redline.accuracy._render import group_dict, group_html, group_markdown, html_page
from tiandi.redline.accuracy.estimates import Z95, Estimate, GroupAccuracy
from tiandi.redline.accuracy.sampling import reference_vocabulary
from tiandi.redline.accuracy.strata import CHANGE, NO_CHANGE
from tiandi.redline.vocabulary import M2_PER_HA, HJ1156Class

BY_ALIASES = {"reserve": "zone_name", "zone": "zone_id"}
_ALIASES = {
    **{c.zh: c.value for c in HJ1156Class},
    "无变化": NO_CHANGE,
    "未变化": NO_CHANGE,
    "no change": NO_CHANGE,
    "变化": CHANGE,
}


@dataclass(frozen=True)
class AccuracyReport:
    """Result of :func:`accuracy_report`: "overall" first, then one entry per group."""

    by: str | None
    z: float
    groups: tuple[GroupAccuracy, ...]

    def __getitem__(self, group: str) -> GroupAccuracy:
        for g in self.groups:
            if g.group == group:
                return g
        raise KeyError(f"no group {group!r}; groups are {[g.group for g in self.groups]}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (areas in m² and ha, estimates with SE and CI)."""
        return {"by": self.by, "z": self.z, "groups": [group_dict(g) for g in self.groups]}

    def to_markdown(self) -> str:
        """Readable Markdown tables (Chinese and English headings)."""
        return "\n".join(group_markdown(g, self.z) for g in self.groups)

    def to_html(self) -> str:
        """A self-contained HTML page with the same tables."""
        return html_page([group_html(g, self.z) for g in self.groups])


def accuracy_report(
    verified_samples: pd.DataFrame,
    stratum_areas: pd.DataFrame,
    *,
    by: str | None = "reserve",
    z: float = Z95,
) -> AccuracyReport:
    """Error matrix, accuracies and area estimates with CIs, overall and per ``by`` group.

    ``verified_samples``: one row per sample unit with ``sample_id, stratum, map_class,
    reference_class`` (HJ 1156 values, ``change``/``no_change``, or their Chinese labels)
    and the ``by`` column; ``stratum_areas``: the ``strata`` table of the design
    (``stratum, area_m2`` and the ``by`` column). ``by``: a zone column
    (``zone_name``, ``zone_id``, ``functional_zone``, ``zone_type``), ``"reserve"``
    (= ``zone_name``) or None for overall only. ``InputError`` for missing columns,
    unverified or unknown reference classes, zero-area strata holding samples, and
    strata that cannot be estimated overall.
    """
    if not (math.isfinite(z) and z > 0):
        raise InputError(f"z {z!r} must be a positive number, e.g. 1.96 for 95 % intervals")
    column = BY_ALIASES.get(by, by) if by is not None else None
    samples = _checked_samples(verified_samples, column)
    areas = _checked_areas(stratum_areas, column)
    classes = _classes(areas, samples)
    overall_areas = areas.groupby("stratum")["area_m2"].sum()
    groups = [_group("overall", samples, overall_areas, areas, classes, z, strict=True)]
    if column is not None:
        keys = sorted(set(areas[column].dropna().astype(str)) | set(samples[column].dropna()))
        for key in keys:
            part = areas[areas[column].astype(str) == key]
            sub = samples[samples[column] == key]
            a = part.groupby("stratum")["area_m2"].sum()
            groups.append(_group(key, sub, a, part, classes, z, strict=False))
    return AccuracyReport(column, z, tuple(groups))


def write_accuracy_report(report: AccuracyReport, path: Path) -> list[Path]:
    """Write ``path`` (.json) and beside it ``.md`` and ``.html``; atomic, stable bytes."""
    path = Path(path)
    outputs = {
        path.with_suffix(".json"): json.dumps(
            report.to_dict(), ensure_ascii=False, indent=2, sort_keys=True
        )
        + "\n",
        path.with_suffix(".md"): report.to_markdown(),
        path.with_suffix(".html"): report.to_html(),
    }
    for target, text in outputs.items():
        with atomic_path(target) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return list(outputs)


# --- input checks ------------------------------------------------------------------------


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(
            f"{what} lack the column(s) {missing}; they have {list(frame.columns)}. Use the "
            "file written by 'tiandi accuracy sample'"
        )


def _checked_samples(samples: pd.DataFrame, column: str | None) -> pd.DataFrame:
    need = ["sample_id", "stratum", "map_class", "reference_class"]
    _require(samples, need + ([column] if column else []), "verified samples")
    frame = pd.DataFrame(samples[need + ([column] if column else [])]).copy()
    if frame.empty:
        raise InputError("verified samples hold no sample unit; nothing to assess")
    ref = frame["reference_class"].map(lambda v: "" if v is None or v != v else str(v).strip())
    frame["reference_class"] = ref.map(lambda v: _ALIASES.get(v, v.lower()))
    missing = frame.loc[frame["reference_class"] == "", "sample_id"].astype(str).tolist()
    if missing:
        raise InputError(
            f"{len(missing)} of {len(frame)} samples have no reference_class (first: "
            f"{', '.join(missing[:5])}); the crew must record what they found at every sample "
            "unit before the assessment (unvisited units would bias the estimates)"
        )
    if column:
        frame[column] = frame[column].map(lambda v: None if v is None or v != v else str(v))
    frame["stratum"] = frame["stratum"].astype(str)
    frame["map_class"] = frame["map_class"].astype(str)
    return frame.reset_index(drop=True)


def _checked_areas(areas: pd.DataFrame, column: str | None) -> pd.DataFrame:
    _require(areas, ["stratum", "map_class", "area_m2"] + ([column] if column else []), "strata")
    frame = pd.DataFrame(areas).copy()
    frame["stratum"] = frame["stratum"].astype(str)
    values = pd.to_numeric(frame["area_m2"], errors="coerce")
    if values.isna().any() or (values < 0).any():
        raise InputError("strata table has missing or negative area_m2; it must be ≥ 0 m²")
    frame["area_m2"] = values.astype(float)
    return frame


def _classes(areas: pd.DataFrame, samples: pd.DataFrame) -> tuple[str, ...]:
    mapped = list(dict.fromkeys(areas["map_class"].astype(str)))
    allowed = list(dict.fromkeys([*mapped, *reference_vocabulary(mapped)]))
    bad = samples[~samples["reference_class"].isin(allowed)]
    if len(bad):
        first = bad.iloc[0]
        raise InputError(
            f"sample {first['sample_id']}: reference_class {first['reference_class']!r} is not "
            f"one of {allowed} ({len(bad)} such samples); correct the field entries"
        )
    bad = samples[~samples["map_class"].isin(mapped)]
    if len(bad):
        raise InputError(
            f"sample {bad.iloc[0]['sample_id']}: map_class {bad.iloc[0]['map_class']!r} is not a "
            f"map class of the strata table ({mapped}); samples and strata do not match"
        )
    used = set(mapped) | set(samples["reference_class"])
    order = [c for c in allowed if c in used and c != NO_CHANGE]
    return (*order, NO_CHANGE) if NO_CHANGE in used else tuple(order)


# --- estimation --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Design:
    area: npt.NDArray[np.float64]  # A_h
    members: list[npt.NDArray[np.intp]]  # sample indices per stratum
    total: float

    def proportion(self, y: npt.NDArray[np.float64], z: float) -> Estimate:
        value = sum(a * y[m].mean() for a, m in zip(self.area, self.members, strict=True))
        var = sum(
            a**2 * y[m].var(ddof=1) / m.size for a, m in zip(self.area, self.members, strict=True)
        )
        return Estimate(float(value / self.total), float(math.sqrt(var) / self.total), z)

    def ratio(
        self, y: npt.NDArray[np.float64], x: npt.NDArray[np.float64], z: float
    ) -> Estimate | None:
        big_x = sum(a * x[m].mean() for a, m in zip(self.area, self.members, strict=True))
        if big_x <= 0:
            return None
        big_y = sum(a * y[m].mean() for a, m in zip(self.area, self.members, strict=True))
        r = big_y / big_x
        var = 0.0
        for a, m in zip(self.area, self.members, strict=True):
            cov = np.cov(y[m], x[m], ddof=1)
            var += a**2 * (cov[0, 0] + r**2 * cov[1, 1] - 2 * r * cov[0, 1]) / m.size
        return Estimate(float(r), float(math.sqrt(max(var, 0.0)) / big_x), z)


def _group(
    name: str,
    samples: pd.DataFrame,
    stratum_area: pd.Series,
    areas: pd.DataFrame,
    classes: tuple[str, ...],
    z: float,
    *,
    strict: bool,
) -> GroupAccuracy:
    k = len(classes)
    index = {c: i for i, c in enumerate(classes)}
    m = samples["map_class"].map(index).to_numpy()
    r = samples["reference_class"].map(index).to_numpy()
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (m, r), 1)
    mapped = areas.groupby(areas["map_class"].astype(str))["area_m2"].sum()
    mapped_area = tuple(float(mapped.get(c, 0.0)) for c in classes)
    total = float(stratum_area.sum())
    empty: tuple[None, ...] = (None,) * k
    matrix = tuple(tuple(int(v) for v in row) for row in counts)
    problem = _design_problem(samples, stratum_area)
    if problem:
        if strict:
            raise InputError(problem)
        return GroupAccuracy(
            name, len(samples), total, classes, matrix, None, mapped_area, None, empty, empty,
            empty, problem,
        )  # fmt: skip
    strata = [s for s in stratum_area.index if stratum_area[s] > 0]
    design = _Design(
        np.array([float(stratum_area[s]) for s in strata]),
        [np.flatnonzero(samples["stratum"].to_numpy() == s) for s in strata],
        total,
    )
    props = tuple(
        tuple(design.proportion(((m == i) & (r == j)).astype(float), z).value for j in range(k))
        for i in range(k)
    )
    users, producers, area = [], [], []
    for i in range(k):
        hit = ((m == i) & (r == i)).astype(float)
        users.append(design.ratio(hit, (m == i).astype(float), z))
        producers.append(design.ratio(hit, (r == i).astype(float), z))
        p = design.proportion((r == i).astype(float), z)
        area.append(Estimate(p.value * total, p.se * total, z))
    overall = design.proportion((m == r).astype(float), z)
    return GroupAccuracy(
        name, len(samples), total, classes, matrix, props, mapped_area, overall, tuple(users),
        tuple(producers), tuple(area),
    )  # fmt: skip


def _design_problem(samples: pd.DataFrame, stratum_area: pd.Series) -> str:
    sampled = samples["stratum"].value_counts()
    for stratum, n in sampled.items():
        if float(stratum_area.get(stratum, 0.0)) <= 0:
            return (
                f"stratum {stratum!r} holds {n} sample units but has zero area in the strata "
                "table; the samples and the strata table do not belong together"
            )
    for stratum, a in stratum_area.items():
        n = int(sampled.get(stratum, 0))
        if a > 0 and n < 2:
            return (
                f"stratum {stratum!r} ({a / M2_PER_HA:.2f} ha) has {n} verified sample units; "
                "every stratum with area needs at least 2 to estimate standard errors"
            )
    return ""
