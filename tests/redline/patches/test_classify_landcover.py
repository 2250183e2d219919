"""HJ 1156 classes from before/after land cover: rules L0–L7, zonal means, reclassification."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr
from shapely.geometry import box

from tiandi.errors import InputError
from tiandi.models.landcover import (
    LANDCOVER_BANDS,
    LANDCOVER_CLASSES,
    PROB_NAMES,
    landcover_probabilities,
    load_landcover,
)
from tiandi.redline.patches.classify import ShapeMetrics, classify_patch
from tiandi.redline.patches.classify_landcover import (
    LC_METHOD,
    RULES_METHOD,
    classify_patch_landcover,
    landcover_zonal_means,
    patch_landcover_means,
    reclassify_from_means,
    reclassify_with_landcover,
)
from tiandi.redline.vocabulary import ChangeType, HJ1156Class

SIGNATURES = {  # after-state BOA reflectance of docs/architecture.md
    "quarry": [0.18, 0.20, 0.24, 0.28, 0.36, 0.32],
    "construction": [0.12, 0.13, 0.14, 0.19, 0.26, 0.23],
    "road": [0.10, 0.11, 0.12, 0.16, 0.21, 0.19],
    "aquaculture": [0.06, 0.07, 0.05, 0.03, 0.02, 0.01],
    "solar": [0.07, 0.07, 0.07, 0.10, 0.12, 0.10],
    "clearing": [0.09, 0.11, 0.14, 0.22, 0.28, 0.22],
}
EXPECTED = {
    "quarry": HJ1156Class.MINING,
    "construction": HJ1156Class.INDUSTRY,
    "road": HJ1156Class.TRANSPORT,
    "aquaculture": HJ1156Class.AQUACULTURE,
    "solar": HJ1156Class.ENERGY,
    "clearing": HJ1156Class.AGRICULTURE,
}
FOREST = [0.03, 0.05, 0.03, 0.32, 0.16, 0.08]
BLOB = ShapeMetrics.from_geometry(box(0, 0, 200, 150))
ROAD = ShapeMetrics.from_geometry(box(0, 0, 1500, 25))


def _bands(values: list[float]) -> dict[str, float]:
    return dict(zip(LANDCOVER_BANDS, values, strict=True))


def _lc(**probs: float) -> dict[str, float]:
    return {c: probs.get(c, 0.0) for c in LANDCOVER_CLASSES}


@pytest.mark.parametrize("kind", sorted(SIGNATURES))
def test_planted_event_signatures_get_their_class_from_model_probabilities(kind: str) -> None:
    model = load_landcover()
    spectra = np.asarray([FOREST, SIGNATURES[kind]], dtype=np.float32).T
    proba = model.predict_proba(spectra)
    before_lc = dict(zip(LANDCOVER_CLASSES, proba[:, 0].tolist(), strict=True))
    after_lc = dict(zip(LANDCOVER_CLASSES, proba[:, 1].tolist(), strict=True))
    shape = ROAD if kind == "road" else BLOB
    cls, ctype, conf, method = classify_patch_landcover(
        before_lc, after_lc, _bands(FOREST), _bands(SIGNATURES[kind]), shape
    )
    assert (cls, ctype, method) == (EXPECTED[kind], ChangeType.NEW, LC_METHOD)
    assert 0.0 < conf <= 1.0


def test_missing_land_cover_falls_back_to_the_rules() -> None:
    before, after = _bands(FOREST), _bands(SIGNATURES["quarry"])
    nan_lc = dict.fromkeys(LANDCOVER_CLASSES, math.nan)
    got = classify_patch_landcover(nan_lc, nan_lc, before, after, BLOB)
    assert got[:3] == classify_patch(before, after, BLOB) and got[3] == RULES_METHOD


def test_water_appearing_is_aquaculture_and_bare_to_vegetation_is_reduced() -> None:
    veg = _bands(FOREST)
    water = _bands(SIGNATURES["aquaculture"])
    cls, ctype, conf, _ = classify_patch_landcover(
        _lc(trees=0.9, grass_shrub=0.1), _lc(water=0.95, bare=0.05), veg, water, BLOB
    )
    assert cls is HJ1156Class.AQUACULTURE and ctype is ChangeType.NEW and conf > 0.8
    cls, ctype, _, method = classify_patch_landcover(
        _lc(bare=0.8, built=0.2), _lc(grass_shrub=0.7, trees=0.3), _bands(SIGNATURES["quarry"]),
        veg, BLOB,
    )  # fmt: skip
    assert ctype is ChangeType.REDUCED and cls is HJ1156Class.MINING and method == LC_METHOD


def test_no_land_cover_evidence_keeps_the_rule_guess() -> None:
    veg = _bands(FOREST)
    got = classify_patch_landcover(_lc(trees=1.0), _lc(trees=1.0), veg, veg, BLOB)
    assert got[3] == RULES_METHOD and got[:3] == classify_patch(veg, veg, BLOB)


def _grid_dataset(values: dict[str, np.ndarray]) -> xr.Dataset:
    rows, cols = next(iter(values.values())).shape
    ds = xr.Dataset(
        {k: (("y", "x"), v) for k, v in values.items()},
        coords={"y": 1000.0 - 10.0 * (np.arange(rows) + 0.5), "x": 10.0 * (np.arange(cols) + 0.5)},
    )
    out: xr.Dataset = ds.rio.write_crs("EPSG:32650")
    return out


def test_zonal_means_are_exact_and_do_not_depend_on_the_window() -> None:
    probs = {v: np.zeros((40, 30), dtype=np.float32) for v in PROB_NAMES}
    probs["prob_water"][:20, :] = 1.0  # top half water
    probs["prob_bare"][20:, :] = 1.0  # bottom half bare
    probs["prob_water"][0, 0] = np.nan  # a no-data pixel is skipped
    ds = _grid_dataset(probs)
    patches = gpd.GeoDataFrame(
        geometry=[box(0, 900, 100, 1000), box(0, 700, 100, 900), box(500, 0, 600, 50)],
        crs="EPSG:32650",
    )
    a = landcover_zonal_means(patches, ds, window_rows=3)
    b = landcover_zonal_means(patches, ds, window_rows=256)
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    assert a.loc[0, "prob_water"] == 1.0 and a.loc[1, "prob_water"] == 0.5
    assert a.loc[1, "prob_bare"] == 0.5
    assert a.loc[2].isna().all()  # outside the grid
    with pytest.raises(InputError, match="prob_"):
        landcover_zonal_means(patches, ds.drop_vars("prob_bare"))


def test_reclassify_rewrites_class_columns_and_keeps_enlarged() -> None:
    before = {v: np.zeros((20, 20), dtype=np.float32) for v in PROB_NAMES}
    before["prob_trees"][:] = 1.0
    after = {v: np.zeros((20, 20), dtype=np.float32) for v in PROB_NAMES}
    after["prob_water"][:] = 1.0
    row = {
        "patch_id": "TB-1",
        "change_type": "enlarged",
        "hj1156_class": "other",
        "class_confidence": 0.3,
        "mean_prob": 0.81,
        **{f"before_{b.lower()}": v for b, v in _bands(FOREST).items()},
        **{f"after_{b.lower()}": v for b, v in _bands(SIGNATURES["aquaculture"]).items()},
    }
    patches = gpd.GeoDataFrame([row], geometry=[box(20, 850, 120, 950)], crs="EPSG:32650")
    out = reclassify_with_landcover(patches, _grid_dataset(before), _grid_dataset(after))
    got = out.iloc[0]
    assert got["hj1156_class"] == "aquaculture" and got["hj1156_zh"] == "养殖"
    assert got["change_type"] == "enlarged" and got["class_method"] == LC_METHOD
    assert got["after_prob_water"] == 1.0 and got["before_prob_trees"] == 1.0
    assert got["confidence"] == pytest.approx(math.sqrt(0.81 * got["class_confidence"]), abs=1e-3)


def test_land_cover_inside_patches_only_gives_the_whole_scene_means() -> None:
    rng = np.random.default_rng(7)
    composite = _grid_dataset(
        {b: rng.uniform(0.01, 0.4, (64, 48)).astype(np.float32) for b in LANDCOVER_BANDS}
    )
    composite["B04"][5, 5] = np.nan  # a no-data pixel inside a patch is skipped
    patches = gpd.GeoDataFrame(
        geometry=[
            box(20, 850, 120, 950),
            box(300, 500, 480, 990).difference(box(350, 600, 400, 700)),  # with a hole
            box(0, 360, 480, 380),  # spans the grid's width and two windows
            box(900, 0, 1000, 50),  # outside the grid
        ],
        crs="EPSG:32650",
    )
    model = load_landcover()
    lc = landcover_probabilities(composite, model)
    for window_rows, ds in ((7, composite), (1024, composite.chunk({"y": 16, "x": 16}))):
        whole = landcover_zonal_means(patches, lc, window_rows=window_rows)
        inside = patch_landcover_means(patches, ds, model, window_rows=window_rows)
        np.testing.assert_array_equal(inside.to_numpy(), whole.to_numpy())
    assert inside.iloc[:3].notna().all().all() and inside.iloc[3].isna().all()
    with pytest.raises(InputError, match="B12"):
        patch_landcover_means(patches, composite.drop_vars("B12"), model)


def test_reclassify_from_means_matches_reclassify_with_landcover() -> None:
    before = {v: np.zeros((20, 20), dtype=np.float32) for v in PROB_NAMES}
    before["prob_bare"][:] = 1.0
    after = {v: np.zeros((20, 20), dtype=np.float32) for v in PROB_NAMES}
    after["prob_trees"][:] = 1.0
    row = {
        "patch_id": "TB-2",
        "change_type": "new",
        "hj1156_class": "other",
        "class_confidence": 0.3,
        "mean_prob": 0.7,
        **{f"before_{b.lower()}": v for b, v in _bands(SIGNATURES["quarry"]).items()},
        **{f"after_{b.lower()}": v for b, v in _bands(FOREST).items()},
    }
    patches = gpd.GeoDataFrame([row], geometry=[box(20, 850, 120, 950)], crs="EPSG:32650")
    b_ds, a_ds = _grid_dataset(before), _grid_dataset(after)
    expected = reclassify_with_landcover(patches, b_ds, a_ds)
    got = reclassify_from_means(
        patches, landcover_zonal_means(patches, b_ds), landcover_zonal_means(patches, a_ds)
    )
    assert got.equals(expected)
    assert got.iloc[0]["change_type"] == "reduced"
