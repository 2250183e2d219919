"""Bloom screening on a synthetic lake: water bodies from MNDWI, FAI, bloom pixels per
date, no data under cloud, a dry zone named."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from tests.fixtures.bloom import (
    LAKE,
    LARGE_BLOOM,
    SCUM,
    SEASON,
    SMALL_BLOOM,
    WATER,
    LakeDate,
    _scene,
    bloom_px,
    disk,
    dry_zone,
    lake_items,
    lake_zone,
)
from tests.fixtures.eo import CRS, FOREST, X0, Y0, full_grid, make_items
from tiandi.errors import InputError
from tiandi.models.bloom import (
    BloomParams,
    bloom_pieces,
    date_layers,
    date_stats,
    fai,
    find_water_bodies,
    items_by_date,
    mndwi,
    water_mask,
)
from tiandi.redline.patches.bloom import (
    BloomGrading,
    series_frame,
    series_rows,
    without_clear_dates,
)
from tiandi.redline.zones.read import read_zones

#: The bloom area found on a clear date is within 1 % of the planted disk's.
AREA_TOLERANCE = 0.01


def test_fai_and_mndwi_separate_scum_water_and_forest() -> None:
    def index(s: dict[str, float]) -> float:
        return float(fai(s["B04"], s["B08"], s["B11"]))

    assert index(WATER) < -0.004 < index(SCUM)
    assert index(WATER) == pytest.approx(0.03 - (0.06 - 0.04 * 168.2 / 949.1))
    assert mndwi(WATER["B03"], WATER["B11"]) > 0 > mndwi(FOREST["B03"], FOREST["B11"])
    assert mndwi(SCUM["B03"], SCUM["B11"]) < 0  # why the water mask is the season's median


def _series(items: list, zones: gpd.GeoDataFrame, params: BloomParams) -> pd.DataFrame:  # type: ignore[type-arg]
    grid = full_grid(200)
    bodies = find_water_bodies(water_mask(items, grid, params, 128), zones, grid, params)
    rows = []
    for day, day_items in items_by_date(items).items():
        layers = date_layers(day_items, grid, params, 128)
        stats = date_stats(layers, bodies, params) if layers is not None else None
        rows += series_rows(bodies.table, day, stats, bodies.pixel_m2, 0.5, BloomGrading())
    return series_frame(rows)


def test_the_planted_blooms_are_found_on_their_dates(tmp_path: Path) -> None:
    items = lake_items(tmp_path / "items", SEASON)
    zones = read_zones(lake_zone(tmp_path / "zones.gpkg"))
    series = _series(items, zones, BloomParams()).set_index("date")
    assert set(series["water_id"]) == {"LK-1-W1"}
    small, large = series.loc["2026-05-14"], series.loc["2026-06-03"]
    for row, bloom in ((small, SMALL_BLOOM), (large, LARGE_BLOOM)):
        assert row["bloom_area_m2"] == pytest.approx(bloom_px(bloom) * 100, rel=AREA_TOLERANCE)
        assert row["alert"] and row["clear_share"] > 0.99
    assert (small["grade"], large["grade"]) == ("local", "regional")
    assert large["bloom_area_mu"] == pytest.approx(large["bloom_area_m2"] / 666.67, abs=0.01)
    for clear in ("2026-05-04", "2026-06-13", "2026-06-23"):
        row = series.loc[clear]
        assert (row["grade"], row["alert"], row["bloom_area_m2"]) == ("none", False, 0.0)
    cloudy = series.loc["2026-05-24"]
    assert cloudy["grade"] == "no_data" and not cloudy["alert"]
    assert cloudy["clear_share"] < 0.5 and pd.isna(cloudy["bloom_area_m2"])


def test_a_water_body_never_clear_enough_is_no_data_not_zero(tmp_path: Path) -> None:
    # each date sees one strip of the lake (under half of it); together they see it all
    strips = [(30, 70), (70, 100), (100, 130), (130, 170)]
    days = [LakeDate(f"2026-07-{1 + 10 * i:02d}", clear_cols=s) for i, s in enumerate(strips)]
    items = lake_items(tmp_path / "items", days)
    zones = read_zones(lake_zone(tmp_path / "zones.gpkg"))
    series = _series(items, zones, BloomParams(dilate_px=0))
    assert set(series["water_id"]) == {"LK-1-W1"}
    assert list(series["grade"]) == ["no_data"] * 4
    assert (series["clear_share"] < 0.5).all() and (series["clear_share"] > 0.2).all()
    assert series["bloom_area_m2"].isna().all() and not series["alert"].any()
    assert without_clear_dates(series) == ["LK-1-W1"]


def test_a_zone_without_water_is_named(tmp_path: Path) -> None:
    items = lake_items(tmp_path / "items", SEASON[:2])
    zones = read_zones(dry_zone(tmp_path / "zones.gpkg"))
    with pytest.raises(InputError, match=r"DRY-1 \(林地 Forest\).*remove these zones"):
        _series(items, zones, BloomParams())


def test_bloom_pieces_are_the_planted_disk(tmp_path: Path) -> None:
    items = lake_items(tmp_path / "items", [LakeDate("2026-06-03", bloom=LARGE_BLOOM)])
    zones = read_zones(lake_zone(tmp_path / "zones.gpkg"))
    grid, params = full_grid(200), BloomParams()
    # one date's MNDWI cuts the scum out of its lake (see above): give the lake itself
    bodies = find_water_bodies(disk(*LAKE), zones, grid, params)
    layers = date_layers(items, grid, params, 128)
    assert layers is not None
    pieces = bloom_pieces(layers, bodies, params)
    assert len(pieces) == 1
    [piece] = pieces.itertuples()
    assert piece.n_pixels == bloom_px(LARGE_BLOOM)
    assert piece.area_m2 == pytest.approx(piece.geometry.area, rel=1e-6)
    assert piece.fai_mean == pytest.approx(float(fai(0.05, 0.20, 0.08)), abs=1e-3)


#: Real forest in terrain shadow, as the real-spectra demo scene paints it (EuroSAT
#: ``Forest``): dark NIR and SWIR make its MNDWI positive, its NIR makes the FAI a bloom's.
SHADED_FOREST = {"B02": 0.081, "B03": 0.057, "B04": 0.033, "B08": 0.089, "B11": 0.034, "B12": 0.012}


def test_dense_vegetation_in_shadow_is_not_a_water_body(tmp_path: Path) -> None:
    s = SHADED_FOREST
    assert mndwi(s["B03"], s["B11"]) > 0 and fai(s["B04"], s["B08"], s["B11"]) > 0.03
    scene = _scene(LakeDate("2026-05-04"))
    for band, value in s.items():
        refl = scene.reflectance[band]
        assert isinstance(refl, np.ndarray)
        refl[disk(20, 20, 12, step=2 if band in ("B11", "B12") else 1)] = value
    items = make_items(tmp_path / "items", [scene], size=200)
    zone = box(X0, Y0 - 2000, X0 + 2000, Y0)
    zones = gpd.GeoDataFrame({"zone_id": ["LK-1"], "name": ["tile"]}, geometry=[zone], crs=CRS)
    grid, params = full_grid(200), BloomParams()
    bodies = find_water_bodies(water_mask(items, grid, params, 128), zones, grid, params)
    assert list(bodies.table["water_id"]) == ["LK-1-W1"]  # the lake, not the shaded stand
    assert bodies.table["area_m2"].iloc[0] == pytest.approx(disk(*LAKE).sum() * 100, rel=0.02)


def test_bloom_pixels_near_a_cloud_are_observed_water_but_never_bloom(tmp_path: Path) -> None:
    """The cloud margin (docs/decisions.md, "The real-spectra scene by default"): a cloud's
    unflagged edge raises the FAI, so a clear pixel within ``cloud_margin_px`` of an
    unclear one is never a bloom pixel; it still counts as clear water, so whether a date
    is no data stays the cloud mask's question."""
    day = LakeDate("2026-06-03", bloom=(100, 70, 6), cloud_cols=(40, 60))
    items = lake_items(tmp_path / "items", [day])
    zones = read_zones(lake_zone(tmp_path / "zones.gpkg"))
    grid = full_grid(200)
    margin, plain = BloomParams(), BloomParams(cloud_margin_px=2)  # 2: the mask's own
    bodies = find_water_bodies(disk(*LAKE), zones, grid, margin)
    layers = date_layers(items, grid, margin, 128)
    assert layers is not None
    clear_px, bloom_in_margin = date_stats(layers, bodies, margin)[0][:2]
    assert (clear_px, date_stats(layers, bodies, plain)[0][1]) == (
        date_stats(layers, bodies, plain)[0][0],
        bloom_px((100, 70, 6)),  # the disk, 8-16 px east of the cloud
    )
    # the cloud covers cols 40-59, its mask (dilated by 2) reaches col 61 and the margin
    # of 9 col 68: of the disk (cols 64-76) only cols 69-76 can be bloom
    beyond = disk(100, 70, 6)[:, 69:].sum()
    assert bloom_in_margin == beyond and 0 < beyond < bloom_px((100, 70, 6))
    assert len(bloom_pieces(layers, bodies, plain)) == 1
