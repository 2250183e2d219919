"""Steps of detect_dieback without imagery: baseline windows, per-zone baseline gaps,
and confirmation carried across runs through the patch store."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
from shapely.geometry import box

from tests.fixtures.store import X0, Y0, run_info
from tiandi.flows.dieback_tasks import (
    baseline_gaps,
    baseline_periods,
    carry_confirmation,
    no_baseline_message,
)
from tiandi.models.dieback import DiebackParams, Observation
from tiandi.redline.store.gpkg import GpkgPatchStore
from tiandi.redline.store.recording import record_detections


def _dieback(status: str, dx: float = 0.0) -> gpd.GeoDataFrame:
    geom = box(X0 + dx, Y0 - 120, X0 + 120 + dx, Y0)
    row = {
        "patch_id": f"TB-{status}-{dx}",
        "zone_id": "ZN-1",
        "zone_name": "测试保护区",
        "zone_type": "reserve",
        "functional_zone": "核心区",
        "area_m2": 14400.0,
        "area_ha": 1.44,
        "area_mu": 21.6,
        "change_type": "dieback",
        "change_type_zh": "林木枯死",
        "hj1156_class": "other",
        "hj1156_zh": "其他",
        "confidence": 0.5,
        "alert_status": status,
        "max_z": 6.0,
        "n_anomalous_dates": 1,
        "geometry": geom,
    }
    return gpd.GeoDataFrame([row], geometry="geometry", crs="EPSG:32650")


def test_baseline_periods_move_back_a_year_each_and_widen_by_the_window() -> None:
    assert baseline_periods("2025-06-01/2025-08-31", 2, 30) == [
        "2024-05-02/2024-09-30",
        "2023-05-02/2023-09-30",
    ]
    assert baseline_periods("2024-02-29/2024-03-31", 1, 0) == ["2023-02-28/2023-03-31"]


def test_a_zone_without_clear_baseline_in_the_season_is_a_gap() -> None:
    masks = {"Z1": np.zeros((4, 4), bool), "Z2": np.zeros((4, 4), bool)}
    masks["Z1"][:2] = True
    masks["Z2"][2:] = True
    clear_top = np.full((4, 4), np.nan, np.float32)
    clear_top[:2] = 0.8
    period = [Observation(date(2025, 7, 1), {"ndvi": np.full((4, 4), 0.8, np.float32)})]
    baseline = [
        Observation(date(2024, 7, 5), {"ndvi": clear_top}),
        Observation(date(2024, 1, 5), {"ndvi": np.full((4, 4), 0.8, np.float32)}),  # winter
    ]
    assert baseline_gaps(masks, period, baseline, DiebackParams()) == ["Z2"]
    message = no_baseline_message(["Z2"], ["2022", "2023", "2024"], 30)
    assert "Z2" in message and "2022, 2023, 2024" in message and "30 days" in message


def test_a_provisional_patch_found_again_by_a_later_run_is_confirmed(tmp_path: Path) -> None:
    store = GpkgPatchStore(tmp_path / "patches.gpkg")
    params = DiebackParams()
    record_detections(store, _dieback("provisional"), None, run_info(1))
    later = carry_confirmation(store, _dieback("provisional", dx=10.0), "run-2", params)
    assert later["alert_status"].iloc[0] == "confirmed"
    assert later["n_anomalous_dates"].iloc[0] == 2 and later["confidence"].iloc[0] >= 0.7
    elsewhere = carry_confirmation(store, _dieback("provisional", dx=5000.0), "run-2", params)
    assert elsewhere["alert_status"].iloc[0] == "provisional"  # a new place: nothing to carry
