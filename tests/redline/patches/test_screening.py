"""Screening removes pseudo-changes with a reason and keeps human-activity conversions."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import box

from tiandi.redline.patches.screening import ScreeningParams, screen_patches

FOREST = {"ndvi": 0.66, "ndwi": -0.6, "bsi": -0.12, "ndbi": -0.17}
CROP_BARE = {"ndvi": 0.28, "ndwi": -0.35, "bsi": 0.12, "ndbi": 0.10}
CROP_GREEN = {"ndvi": 0.76, "ndwi": -0.62, "bsi": -0.22, "ndbi": -0.27}
QUARRY = {"ndvi": 0.10, "ndwi": -0.18, "bsi": 0.12, "ndbi": 0.11}
SOLAR = {"ndvi": 0.18, "ndwi": -0.18, "bsi": 0.06, "ndbi": 0.10}
POND = {"ndvi": -0.12, "ndwi": 0.23, "bsi": -0.03, "ndbi": -0.13}
HARVESTED = {"ndvi": 0.38, "ndwi": -0.42, "bsi": 0.03, "ndbi": -0.03}


def _patches(*rows: tuple[dict[str, float], dict[str, float], str, float]) -> gpd.GeoDataFrame:
    records = []
    for i, (before, after, change_type, area) in enumerate(rows):
        record: dict[str, object] = {"patch_id": f"TB-{i}", "change_type": change_type}
        record["area_m2"] = area
        record.update({f"before_{k}": v for k, v in before.items()})
        record.update({f"after_{k}": v for k, v in after.items()})
        records.append(record)
    geoms = [box(i * 100, 0, i * 100 + 50, 50) for i in range(len(rows))]
    return gpd.GeoDataFrame(records, geometry=geoms, crs="EPSG:32650")


@pytest.mark.parametrize("after", [QUARRY, SOLAR, POND], ids=["quarry", "solar", "pond"])
def test_conversion_from_forest_is_kept(after: dict[str, float]) -> None:
    kept, screened = screen_patches(_patches((FOREST, after, "new", 50_000)))
    assert len(kept) == 1 and screened.empty


def test_crop_greening_is_seasonal_even_when_classed_as_restoration() -> None:
    kept, screened = screen_patches(
        _patches((CROP_BARE, CROP_GREEN, "reduced", 40_000), (CROP_BARE, CROP_GREEN, "new", 9_000))
    )
    assert kept.empty
    assert list(screened["screen_reason"]) == ["seasonal_greening", "seasonal_greening"]
    assert screened["screen_reason_zh"].str.contains("季节").all()


def test_restoration_of_a_quarry_is_kept() -> None:
    kept, _ = screen_patches(_patches((QUARRY, FOREST, "reduced", 60_000)))
    assert list(kept["patch_id"]) == ["TB-0"]


def test_harvest_that_leaves_vegetation_is_screened() -> None:
    _, screened = screen_patches(_patches((CROP_GREEN, HARVESTED, "new", 5_000)))
    assert list(screened["screen_reason"]) == ["vegetation_remains"]


def test_no_index_change_is_weak_and_small_piece_is_below_mmu() -> None:
    _, screened = screen_patches(
        _patches((FOREST, FOREST, "new", 20_000), (FOREST, QUARRY, "new", 400)),
        ScreeningParams(min_mapping_unit_m2=1000),
    )
    assert list(screened["screen_reason"]) == ["weak_spectral_change", "below_mmu"]


def test_empty_input_gives_empty_outputs() -> None:
    empty = _patches().iloc[0:0]
    kept, screened = screen_patches(empty)
    assert kept.empty and screened.empty and "screen_reason" in screened
