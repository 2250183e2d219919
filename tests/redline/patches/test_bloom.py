"""Bloom grades by share, the alert rule, no data kept apart from no bloom, the ledger."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tiandi.errors import InputError
from tiandi.redline.patches.bloom import BloomGrade, BloomGrading, series_frame, series_rows
from tiandi.redline.reports.ledger import BLOOM_REGISTER, bloom_register


@pytest.mark.parametrize(
    ("share", "grade"),
    [
        (0.0, "none"),
        (0.05, "scattered"),
        (0.10, "scattered"),
        (0.2, "local"),
        (0.45, "regional"),
        (0.61, "widespread"),
        (math.nan, "no_data"),
    ],
)
def test_grades_follow_the_share_of_the_clear_water(share: float, grade: str) -> None:
    assert BloomGrading().grade(50_000.0, share) == grade


def test_a_few_bloom_pixels_are_no_bloom_and_the_alert_threshold_is_configurable() -> None:
    grading = BloomGrading(min_bloom_m2=1000.0, alert_from=BloomGrade.LOCAL)
    assert grading.grade(900.0, 0.5) == BloomGrade.NONE
    assert not grading.alert(BloomGrade.SCATTERED) and grading.alert(BloomGrade.REGIONAL)
    assert not BloomGrading().alert(BloomGrade.NO_DATA) and BloomGrade.LOCAL.zh == "局部性水华"
    with pytest.raises(InputError, match="three rising shares"):
        BloomGrading(bounds=(0.3, 0.1, 0.6))
    with pytest.raises(InputError, match="alert_from must be a bloom grade"):
        BloomGrading(alert_from=BloomGrade.NONE)


def test_a_cloudy_date_is_no_data_and_keeps_its_ledger_row() -> None:
    bodies = pd.DataFrame(
        {"water_id": ["L-W1", "L-W2"], "zone_id": ["L", "L"], "zone_name": ["湖", "湖"],
         "n_pixels": [1000, 400]}
    )  # fmt: skip
    # clear_px, bloom_px, bloom FAI sum, bloom FAI max, FAI sum
    stats = np.array([[1000, 250, 25.0, 0.2, 10.0], [100, 0, 0.0, -np.inf, -2.0]])
    rows = series_rows(bodies, "2026-07-01", stats, 100.0, 0.5, BloomGrading())
    w1, w2 = rows
    assert (w1["grade"], w1["alert"], w1["bloom_area_m2"], w1["bloom_share"]) == (
        "local", True, 25_000.0, 0.25
    )  # fmt: skip
    assert w1["bloom_area_mu"] == pytest.approx(37.5, abs=0.01)
    assert (w2["grade"], w2["alert"], w2["bloom_area_m2"], w2["clear_share"]) == (
        "no_data", False, None, 0.25
    )  # fmt: skip
    ledger = bloom_register(series_frame(rows))
    assert list(ledger.columns) == BLOOM_REGISTER and len(ledger) == 2
    assert list(ledger["alert"]) == ["是 yes", "否 no"] and pd.isna(ledger["area_m2"][1])
