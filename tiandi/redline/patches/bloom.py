"""Algal blooms (蓝藻水华) per water body: grades, alerts, the time series, bloom patches.

The grade of a water body on a date follows the bloom-scale grades (水华规模等级) of
China's national monitoring practice for 太湖, 巢湖 and 滇池 (中国环境监测总站; HJ
1098-2020 水华遥感与地面监测评价技术规范（试行）), graded by the bloom's share of the water
surface: 无明显水华 (none), 零星性水华 (scattered), 局部性水华 (local), 区域性水华
(regional), 全面性水华 (widespread). The share bounds here, 10 %, 30 % and 60 %
(:class:`BloomGrading`), are the ones we recall from that practice and could not check
against the standard's text: they are parameters, to be checked before operational use.
Below ``min_bloom_m2`` of bloom (tiandi's own rule, default one minimum patch) a date is
``none``: isolated pixels above the FAI threshold are not a bloom. A date with too little
clear water is ``no_data``, never ``none``. The alert is raised from ``alert_from`` up
(default: any grade above none).

Bloom patches (:func:`bloom_patch_frame`) carry the patch columns of
:mod:`tiandi.redline.patches.extract` with change type ``bloom`` (水华) and HJ 1156 class
``other`` (其他), and the bloom's date, water body, share and FAI statistics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from tiandi.errors import InputError
from tiandi.redline.patches._rows import HEAD_COLUMNS, patch_head
from tiandi.redline.vocabulary import M2_PER_HA, MU_M2, ChangeType, HJ1156Class
from tiandi.redline.zones.read import content_hash


class BloomGrade(StrEnum):
    """Bloom-scale grade of a water body on one date (ordered by severity)."""

    NO_DATA = "no_data"
    NONE = "none"
    SCATTERED = "scattered"
    LOCAL = "local"
    REGIONAL = "regional"
    WIDESPREAD = "widespread"

    @property
    def zh(self) -> str:
        """Chinese label (无明显水华 …)."""
        return _GRADE_ZH[self]

    @property
    def rank(self) -> int:
        """Severity: -1 for no data, 0 for none, 1–4 for the bloom grades."""
        return list(BloomGrade).index(self) - 1


_BLOOM_GRADES = (BloomGrade.SCATTERED, BloomGrade.LOCAL, BloomGrade.REGIONAL, BloomGrade.WIDESPREAD)

_GRADE_ZH = {
    BloomGrade.NO_DATA: "无有效观测",
    BloomGrade.NONE: "无明显水华",
    BloomGrade.SCATTERED: "零星性水华",
    BloomGrade.LOCAL: "局部性水华",
    BloomGrade.REGIONAL: "区域性水华",
    BloomGrade.WIDESPREAD: "全面性水华",
}


@dataclass(frozen=True)
class BloomGrading:
    """Grades by bloom share of the clear water (see the module docstring)."""

    bounds: tuple[float, float, float] = (0.10, 0.30, 0.60)
    min_bloom_m2: float = 1000.0
    alert_from: BloomGrade = BloomGrade.SCATTERED

    def __post_init__(self) -> None:
        b = self.bounds
        if len(b) != 3 or not 0.0 < b[0] < b[1] < b[2] < 1.0:
            raise InputError(f"BloomGrading: bounds must be three rising shares in (0, 1), got {b}")
        if BloomGrade(self.alert_from).rank < 1:
            raise InputError(
                f"BloomGrading: alert_from must be a bloom grade (scattered … widespread), "
                f"got {self.alert_from!r}"
            )

    def grade(self, bloom_m2: float, share: float) -> BloomGrade:
        """The grade of ``bloom_m2`` of bloom covering ``share`` of the clear water."""
        if not math.isfinite(share):
            return BloomGrade.NO_DATA
        if bloom_m2 < self.min_bloom_m2 or share <= 0.0:
            return BloomGrade.NONE
        above = sum(share > b for b in self.bounds)
        return _BLOOM_GRADES[above]

    def alert(self, grade: BloomGrade) -> bool:
        """Whether ``grade`` raises an alert."""
        return grade.rank >= BloomGrade(self.alert_from).rank


#: Columns of the time series (one row per water body and date).
SERIES_COLUMNS = (
    "water_id",
    "zone_id",
    "zone_name",
    "date",
    "clear_share",
    "bloom_area_m2",
    "bloom_area_ha",
    "bloom_area_mu",
    "bloom_share",
    "fai_mean",
    "bloom_fai_mean",
    "bloom_fai_max",
    "grade",
    "grade_zh",
    "alert",
)


def _r(value: float, digits: int) -> float | None:
    return round(float(value), digits) if math.isfinite(value) else None


def series_rows(
    bodies: pd.DataFrame,
    date: str,
    stats: npt.NDArray[np.float64] | None,
    pixel_m2: float,
    min_clear_share: float,
    grading: BloomGrading,
) -> list[dict[str, Any]]:
    """The rows of ``date`` for each water body of ``bodies`` (``water_id, zone_id,
    zone_name, n_pixels``) from its statistics (:data:`tiandi.models.bloom.STAT_NAMES`
    per body; None: nothing clear that day)."""
    rows = []
    for i, body in enumerate(bodies.itertuples(index=False)):
        clear_px, bloom_px, bloom_sum, bloom_max, fai_sum = (
            stats[i] if stats is not None else (0.0, 0.0, 0.0, -math.inf, 0.0)
        )
        clear = clear_px / body.n_pixels if body.n_pixels else 0.0
        ok = clear >= min_clear_share and clear_px > 0
        area = bloom_px * pixel_m2 if ok else math.nan
        share = bloom_px / clear_px if ok else math.nan
        grade = grading.grade(area, share)
        bloom_ok = ok and bloom_px > 0
        rows.append(
            {
                "water_id": body.water_id,
                "zone_id": body.zone_id,
                "zone_name": body.zone_name,
                "date": date,
                "clear_share": round(clear, 4),
                "bloom_area_m2": _r(area, 1),
                "bloom_area_ha": _r(area / M2_PER_HA, 4),
                "bloom_area_mu": _r(area / MU_M2, 2),
                "bloom_share": _r(share, 4),
                "fai_mean": _r(fai_sum / clear_px, 4) if ok else None,
                "bloom_fai_mean": _r(bloom_sum / bloom_px, 4) if bloom_ok else None,
                "bloom_fai_max": _r(bloom_max, 4) if bloom_ok else None,
                "grade": grade.value,
                "grade_zh": grade.zh,
                "alert": grading.alert(grade),
            }
        )
    return rows


def series_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The time series table, sorted by water body and date."""
    frame = pd.DataFrame(rows, columns=list(SERIES_COLUMNS))
    return frame.sort_values(["water_id", "date"], kind="stable").reset_index(drop=True)


def without_clear_dates(series: pd.DataFrame) -> list[str]:
    """The water bodies with no date of usable observations in the series."""
    usable = series.groupby("water_id")["grade"].apply(lambda g: (g != "no_data").any())
    return sorted(str(w) for w, ok in usable.items() if not ok)


def _confidence(fai_mean: float, threshold: float) -> float:
    """How far the patch's mean FAI lies above the threshold: 0.5 at it, 1 at 0.05 above
    (tiandi's heuristic; a field check is what confirms a bloom)."""
    return round(min(1.0, 0.5 + max(0.0, fai_mean - threshold) * 10.0), 3)


#: Columns of a bloom patch besides its geometry.
PATCH_ATTRS = (
    *HEAD_COLUMNS,
    "confidence",
    "n_pixels",
    "bloom_date",
    "water_id",
    "bloom_share",
    "bloom_grade",
    "water_clear_share",
    "fai_mean",
    "fai_max",
)


def bloom_patch_frame(
    pieces: gpd.GeoDataFrame,
    bodies: pd.DataFrame,
    day_rows: pd.DataFrame,
    date: str,
    fai_threshold: float,
) -> gpd.GeoDataFrame:
    """Patches of the bloom ``pieces`` of ``date`` (``water_id, n_pixels, area_m2,
    fai_mean, fai_max, geometry``) in the water bodies whose row of ``day_rows`` alerts."""
    alerting = day_rows[day_rows["alert"].astype(bool)].set_index("water_id")
    meta = bodies.set_index("water_id")
    rows = []
    for piece in pieces[pieces["water_id"].isin(alerting.index)].itertuples(index=False):
        body, day = meta.loc[piece.water_id], alerting.loc[piece.water_id]
        rows.append(
            {
                **patch_head(
                    "BL-" + content_hash(f"{piece.water_id}|{date}", piece.geometry)[:12],
                    str(body["zone_id"]),
                    body,
                    body["zone_name"],
                    piece.area_m2,
                    ChangeType.BLOOM,
                    HJ1156Class.OTHER,
                ),
                "confidence": _confidence(piece.fai_mean, fai_threshold),
                "n_pixels": piece.n_pixels,
                "bloom_date": date,
                "water_id": piece.water_id,
                "bloom_share": day["bloom_share"],
                "bloom_grade": day["grade"],
                "water_clear_share": day["clear_share"],
                "fai_mean": piece.fai_mean,
                "fai_max": piece.fai_max,
                "geometry": piece.geometry,
            }
        )
    geometry = gpd.GeoSeries([r.pop("geometry") for r in rows], crs=pieces.crs)
    frame = gpd.GeoDataFrame(pd.DataFrame(rows, columns=list(PATCH_ATTRS)), geometry=geometry)
    return frame.sort_values(["zone_id", "patch_id"], kind="stable").reset_index(drop=True)


__all__ = [
    "PATCH_ATTRS",
    "SERIES_COLUMNS",
    "BloomGrade",
    "BloomGrading",
    "bloom_patch_frame",
    "series_frame",
    "series_rows",
    "without_clear_dates",
]
