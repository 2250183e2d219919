"""HJ 1156 class of a patch from before/after land-cover probabilities plus change evidence.

An alternative to the spectral rules of :mod:`tiandi.redline.patches.classify` (which stay the
fallback and the default; see "Measured" below). Inputs per patch: the zonal means of
the land-cover probabilities (:mod:`tiandi.models.landcover`, ``prob_<class>``) before
and after, the before/after band and index means that ``extract_patches`` already
writes, and the patch shape. With ``A`` = after and ``B`` = before probabilities,
``veg`` = trees + grass_shrub + cropland and ``art`` = built + bare:

L0  no land cover (NaN): the rule-based guess, unchanged.
L1  restoration: art(B) ≥ 0.5, veg(A) ≥ 0.5 and veg(A) − veg(B) ≥ 0.3 → ``reduced``; the
    class is the rule-based one for the before state when the rules also say reduced,
    else mining (bare before) or industry (built before); 0.5.
L2  aquaculture: water(A) ≥ 0.5 and water(B) < 0.3 → 0.6 + 0.3 × (water(A) − water(B)).
L3  energy (panels): the rules' panel test (R3: B08 ≤ 0.13, visible ≤ 0.13, B11 ≤ 0.22,
    NDBI > 0, NDVI ≤ 0.30), whatever the shape and the land cover (a one-pixel strip
    along a farm's edge reads as its neighbours' cover) → 0.7.
L4  transport: the rules' thin-strip test (width ≤ 40 m and elongation ≥ 6 or aspect
    ≥ 10) and NDVI(A) < 0.40, whatever the land cover: the land cover of a strip two
    pixels wide is mostly that of its verges (a road through fields reads as cropland)
    → 0.7.
L5  energy: art(A) + water(A) ≥ 0.5 and the rules' dark-surface test (R5: visible
    ≤ 0.10, B11 ≤ 0.17, B08 ≤ 0.20, NDVI ≤ 0.40, NDWI < 0.10) → 0.7.
L6  agriculture: cropland(A) ≥ 0.3, veg(B) ≥ 0.5 with NDVI loss ≥ 0.2 (clearing for
    fields), and cropland(A) ≥ built(A) or a soil spectrum (B11 ≥ 1.8 × mean visible:
    bare soil is dark in the visible and bright in the SWIR, concrete and bare industrial
    ground are flatter) → 0.55 + 0.3 × cropland(A).
L7  mining: art(A) ≥ 0.5 and either bare(A) ≥ built(A) with the rules' bright test
    (mean visible ≥ 0.16, B11 ≥ 0.30) → 0.75, or the rules' large-bare test (area
    ≥ 5 ha, NDVI ≤ 0.10, visible ≥ 0.12) → 0.65; industry: art(A) ≥ 0.5 otherwise →
    0.5 + 0.3 × built share.
L8  otherwise the rule-based guess.

Change type: ``reduced`` from L1; otherwise the rule-based one (``enlarged`` needs the
ring context that only ``extract_patches`` measures). Tourism and settlement are never
guessed, as in the rules.

Measured on the planted demo events (``tiandi demo --size 1024``, seeds 0–4: 30 patches
that hit an event, matched to the event they overlap most): rules 30/30 and land cover
30/30 correct (per class, n = agriculture 5, aquaculture 4, energy 5, industry 4,
mining 5, transport 7: 1.00 for both), all 30 decided by L2–L6 (none fell back). The
demo's signatures were what the rules were tuned on, so this only shows the land-cover
path is not worse there. Since it is at least as good and its evidence comes from a
model trained on real labels, it is the recommended default wherever the flow computes
land cover; the rules remain the fallback (L0/L8, and whenever no land cover is given).
That measurement predates the baseline's retirement as the default: with the integrated
detector, solar farms and roads are found as small pieces and the real-spectra scene's
quarries as bare industrial ground, which L3, L4, L6 and L7 now take into account
(measured per event in docs/decisions.md, "HJ 1156 classes on real spectra").

:func:`landcover_zonal_means` computes the per-patch means on the land-cover grid in
windows of rows (bounded memory); :func:`patch_landcover_means` gives the same means
from a composite and the model, running the model only on the pixels of the patches'
bounding boxes rather than on the whole scene; :func:`reclassify_with_landcover` (from
land-cover datasets) and :func:`reclassify_from_means` (from those means) add
``before_prob_<class>``/``after_prob_<class>`` columns and rewrite the class columns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import dask.array as da
import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import rasterio.features
import xarray as xr
from affine import Affine
from shapely.geometry.base import BaseGeometry

from tiandi.errors import InputError
from tiandi.models.landcover import (
    LANDCOVER_BANDS,
    LANDCOVER_CLASSES,
    PROB_NAMES,
    LandCoverModel,
)
from tiandi.redline.patches._grid import Grid, grid_of
from tiandi.redline.patches.classify import (
    BAND_NAMES,
    INDEX_NAMES,
    ShapeMetrics,
    bright_bare,
    classify_patch,
    dark_surface,
    large_bare,
    panel_surface,
    spectral_indices,
    thin_strip,
    visible_mean,
)
from tiandi.redline.vocabulary import ChangeType, HJ1156Class

LC_METHOD = "landcover"
SOIL_SWIR_RATIO = 1.8
"""B11 / mean visible from which an after-state reads as bare soil (L6)."""
RULES_METHOD = "rules"


def classify_patch_landcover(
    before_lc: Mapping[str, float],
    after_lc: Mapping[str, float],
    before: Mapping[str, float],
    after: Mapping[str, float],
    shape: ShapeMetrics,
) -> tuple[HJ1156Class, ChangeType, float, str]:
    """(class, change type, confidence, method) by rules L0–L8 of this module.

    ``before_lc``/``after_lc`` map class names of :data:`LANDCOVER_CLASSES` to mean
    probabilities; ``before``/``after`` the band/index means; ``method`` is
    ``"landcover"`` or ``"rules"`` (fallback used).
    """
    rule_cls, rule_type, rule_conf = classify_patch(before, after, shape)
    A = {c: float(after_lc.get(c, math.nan)) for c in LANDCOVER_CLASSES}
    B = {c: float(before_lc.get(c, math.nan)) for c in LANDCOVER_CLASSES}
    if not all(math.isfinite(v) for v in (*A.values(), *B.values())):
        return rule_cls, rule_type, rule_conf, RULES_METHOD  # L0
    veg_a = A["trees"] + A["grass_shrub"] + A["cropland"]
    veg_b = B["trees"] + B["grass_shrub"] + B["cropland"]
    art_b = B["built"] + B["bare"]
    if art_b >= 0.5 and veg_a >= 0.5 and veg_a - veg_b >= 0.3:  # L1
        if rule_type is ChangeType.REDUCED and rule_cls is not HJ1156Class.OTHER:
            return rule_cls, ChangeType.REDUCED, 0.5, LC_METHOD
        removed = HJ1156Class.MINING if B["bare"] >= B["built"] else HJ1156Class.INDUSTRY
        return removed, ChangeType.REDUCED, 0.5, LC_METHOD
    ctype = ChangeType.NEW if rule_type is ChangeType.REDUCED else rule_type
    if A["water"] >= 0.5 and B["water"] < 0.3:  # L2
        return HJ1156Class.AQUACULTURE, ctype, 0.6 + 0.3 * (A["water"] - B["water"]), LC_METHOD
    found = _activity(A, B, spectral_indices(before), spectral_indices(after), shape)
    if found is None:
        return rule_cls, rule_type, rule_conf, RULES_METHOD  # L8
    return found[0], ctype, found[1], LC_METHOD


def _activity(
    A: Mapping[str, float],
    B: Mapping[str, float],
    b: Mapping[str, float],
    a: Mapping[str, float],
    shape: ShapeMetrics,
) -> tuple[HJ1156Class, float] | None:
    """Rules L3–L7 (``A``/``B`` land cover after/before, ``a``/``b`` spectral means)."""
    art_a = A["built"] + A["bare"]
    veg_b = B["trees"] + B["grass_shrub"] + B["cropland"]
    if panel_surface(a):  # L3
        return HJ1156Class.ENERGY, 0.7
    if a["ndvi"] < 0.40 and thin_strip(shape):  # L4
        return HJ1156Class.TRANSPORT, 0.7
    if art_a + A["water"] >= 0.5 and dark_surface(a):  # L5
        return HJ1156Class.ENERGY, 0.7
    ndvi_loss = b["ndvi"] - a["ndvi"] if math.isfinite(b["ndvi"]) else math.nan
    soil = a.get("B11", math.nan) >= SOIL_SWIR_RATIO * visible_mean(a)
    cropland = A["cropland"] >= 0.3 and (A["cropland"] >= A["built"] or soil)
    if cropland and veg_b >= 0.5 and ndvi_loss >= 0.2:  # L6
        return HJ1156Class.AGRICULTURE, 0.55 + 0.3 * A["cropland"]
    if art_a >= 0.5:  # L7
        if A["bare"] >= A["built"] and bright_bare(a):
            return HJ1156Class.MINING, 0.75
        if large_bare(a, shape):
            return HJ1156Class.MINING, 0.65
        return HJ1156Class.INDUSTRY, 0.5 + 0.3 * A["built"] / art_a
    return None


def landcover_zonal_means(
    patches: gpd.GeoDataFrame, landcover: xr.Dataset, *, window_rows: int = 1024
) -> pd.DataFrame:
    """Mean of each ``prob_<class>`` over every patch's pixels (pixel centre inside).

    ``landcover`` is the output of :func:`tiandi.models.landcover.landcover_probabilities`
    (lazy is fine: it is computed one window of ``window_rows`` rows at a time). Returns
    one row per patch (same index) with columns :data:`PROB_NAMES`; NaN where a patch
    has no valid pixel. ``InputError`` when a probability variable is missing.
    """
    missing = [v for v in PROB_NAMES if v not in landcover]
    if missing:
        raise InputError(
            f"land-cover dataset lacks {missing}; pass the output of "
            "tiandi.models.landcover.landcover_probabilities"
        )
    grid = grid_of(landcover, "land cover")
    n = len(patches)
    sums = np.zeros((n, len(PROB_NAMES)))
    counts = np.zeros((n, len(PROB_NAMES)))
    if n:
        geoms = patches.to_crs(grid.crs).geometry.values
        boxes = [_pixel_box(g, grid) for g in geoms]
        c_lo, c_hi = min(bx[2] for bx in boxes), max(bx[3] for bx in boxes)
        for a, b, hits in _windows(boxes, window_rows):
            sub = landcover[list(PROB_NAMES)].isel(
                {grid.y_dim: slice(a, b), grid.x_dim: slice(c_lo, c_hi)}
            )
            sub = sub.compute()  # all classes in one pass: they share the model's forward pass
            block = np.stack([np.asarray(sub[v].values, dtype="float64") for v in PROB_NAMES])
            for i in hits:
                _accumulate(sums[i], counts[i], block, geoms[i], boxes[i], (a, b, c_lo), grid)
    return _means(sums, counts, patches.index)


def patch_landcover_means(
    patches: gpd.GeoDataFrame,
    composite: xr.Dataset,
    model: LandCoverModel,
    *,
    window_rows: int = 1024,
) -> pd.DataFrame:
    """Mean land-cover probabilities per patch, running ``model`` only inside the patches.

    The same result as :func:`landcover_zonal_means` of
    ``landcover_probabilities(composite, model)`` (the model is per pixel, so a pixel's
    probabilities do not depend on its neighbours), but the model runs only on each
    patch's bounding box: per window of ``window_rows`` rows, the boxes of the patches
    it holds are read from ``composite`` (lazy is fine) in one computation, then
    classified in memory. ``InputError`` when the composite lacks a band of the model.
    """
    missing = [b for b in LANDCOVER_BANDS if b not in composite.data_vars]
    if missing:
        raise InputError(
            f"composite lacks band(s) {missing} for land cover (it has "
            f"{sorted(map(str, composite.data_vars))}); composite bands {list(LANDCOVER_BANDS)}"
        )
    grid = grid_of(composite, "composite")
    n = len(patches)
    sums = np.zeros((n, len(PROB_NAMES)))
    counts = np.zeros((n, len(PROB_NAMES)))
    if n:
        stack = composite[list(LANDCOVER_BANDS)].to_array("band")
        stack = stack.transpose("band", grid.y_dim, grid.x_dim).data  # (band, y, x), lazy or not
        geoms = patches.to_crs(grid.crs).geometry.values
        boxes = [_pixel_box(g, grid) for g in geoms]
        for a, b, hits in _windows(boxes, window_rows):
            rows = [(max(boxes[i][0], a), min(boxes[i][1], b)) for i in hits]
            cols = [(boxes[i][2], boxes[i][3]) for i in hits]
            subs = [stack[:, r0:r1, c0:c1] for (r0, r1), (c0, c1) in zip(rows, cols, strict=True)]
            boxed = da.compute(*subs)  # type: ignore[no-untyped-call]  # one read per window
            for i, r, sub in zip(hits, rows, boxed, strict=True):
                block = model.predict_proba(sub).astype("float64")
                origin = (r[0], r[1], boxes[i][2])
                _accumulate(sums[i], counts[i], block, geoms[i], boxes[i], origin, grid)
    return _means(sums, counts, patches.index)


def _windows(
    boxes: list[tuple[int, int, int, int]], window_rows: int
) -> list[tuple[int, int, list[int]]]:
    """Windows of rows (a, b) over the boxes' rows, each with the boxes it holds."""
    r_lo, r_hi = min(bx[0] for bx in boxes), max(bx[1] for bx in boxes)
    out = []
    for a in range(r_lo, r_hi, window_rows):
        b = min(a + window_rows, r_hi)
        hits = [i for i, bx in enumerate(boxes) if bx[0] < b and bx[1] > a and bx[2] < bx[3]]
        if hits:
            out.append((a, b, hits))
    return out


def _means(
    sums: npt.NDArray[np.float64], counts: npt.NDArray[np.float64], index: pd.Index
) -> pd.DataFrame:
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return pd.DataFrame(means, columns=list(PROB_NAMES), index=index)


def _pixel_box(geom: BaseGeometry, grid: Grid) -> tuple[int, int, int, int]:
    """Rows and columns (r0, r1, c0, c1) of the grid that ``geom``'s bounds cover."""
    x0, y0, x1, y1 = geom.bounds
    inv = ~grid.transform
    cols, rows = zip(*(inv @ (x, y) for x in (x0, x1) for y in (y0, y1)), strict=True)
    return (
        max(math.floor(min(rows)), 0),
        min(math.ceil(max(rows)), grid.height),
        max(math.floor(min(cols)), 0),
        min(math.ceil(max(cols)), grid.width),
    )


def _accumulate(
    sums: npt.NDArray[np.float64],
    counts: npt.NDArray[np.float64],
    block: npt.NDArray[np.float64],
    geom: BaseGeometry,
    box: tuple[int, int, int, int],
    origin: tuple[int, int, int],
    grid: Grid,
) -> None:
    """Add one patch's valid pixels of ``block`` (window rows a..b, from column c_lo)."""
    a, b, c_lo = origin
    r0, r1 = max(box[0], a), min(box[1], b)
    c0, c1 = box[2], box[3]
    if r0 >= r1:
        return
    t = grid.transform * Affine.translation(c0, r0)
    inside = rasterio.features.geometry_mask(
        [geom], out_shape=(r1 - r0, c1 - c0), transform=t, invert=True
    )
    vals = block[:, r0 - a : r1 - a, c0 - c_lo : c1 - c_lo][:, inside]
    ok = np.isfinite(vals)
    sums += np.where(ok, vals, 0.0).sum(axis=1)
    counts += ok.sum(axis=1)


def reclassify_with_landcover(
    patches: gpd.GeoDataFrame, before_lc: xr.Dataset, after_lc: xr.Dataset
) -> gpd.GeoDataFrame:
    """Patches with land-cover columns added and the class re-guessed by L0–L7.

    Adds ``before_prob_<class>``, ``after_prob_<class>`` and ``class_method``; rewrites
    ``hj1156_class``, ``hj1156_zh``, ``change_type``, ``change_type_zh``,
    ``class_confidence`` and ``confidence`` (√(mean_prob × class confidence), as
    ``extract_patches`` does). Patches must carry the ``extract_patches`` columns.
    """
    return reclassify_from_means(
        patches, landcover_zonal_means(patches, before_lc), landcover_zonal_means(patches, after_lc)
    )


def reclassify_from_means(
    patches: gpd.GeoDataFrame, before_means: pd.DataFrame, after_means: pd.DataFrame
) -> gpd.GeoDataFrame:
    """:func:`reclassify_with_landcover` from per-patch mean probabilities.

    ``before_means``/``after_means`` are what :func:`landcover_zonal_means` or
    :func:`patch_landcover_means` return for ``patches`` (same index, :data:`PROB_NAMES`).
    """
    out = patches.copy()
    for c, v in zip(LANDCOVER_CLASSES, PROB_NAMES, strict=True):
        out[f"before_prob_{c}"] = before_means[v].round(4)
        out[f"after_prob_{c}"] = after_means[v].round(4)
    if out.empty:
        out["class_method"] = pd.Series([], dtype=object)
        return out
    metric = out.to_crs(out.estimate_utm_crs()) if not out.crs.is_projected else out
    results = []
    for idx, geom in zip(out.index, metric.geometry.values, strict=True):
        row = out.loc[idx]
        before = {n: _value(row, f"before_{n.lower()}") for n in (*INDEX_NAMES, *BAND_NAMES)}
        after = {n: _value(row, f"after_{n.lower()}") for n in (*INDEX_NAMES, *BAND_NAMES)}
        shape = ShapeMetrics.from_geometry(geom)
        rule_type = ChangeType(str(row["change_type"]))
        b_lc = {c: _value(row, f"before_prob_{c}") for c in LANDCOVER_CLASSES}
        a_lc = {c: _value(row, f"after_prob_{c}") for c in LANDCOVER_CLASSES}
        cls, ctype, conf, method = classify_patch_landcover(b_lc, a_lc, before, after, shape)
        if method == LC_METHOD and ctype is ChangeType.NEW and rule_type is ChangeType.ENLARGED:
            ctype = ChangeType.ENLARGED  # the ring context is only known to extract_patches
        if method == RULES_METHOD:
            cls, ctype, conf = (
                HJ1156Class(str(row["hj1156_class"])),
                rule_type,
                float(row["class_confidence"]),
            )
        prob = _value(row, "mean_prob")
        total = math.sqrt(prob * conf) if math.isfinite(prob) else conf / 2
        results.append((cls, ctype, conf, method, total))
    out["hj1156_class"] = [r[0].value for r in results]
    out["hj1156_zh"] = [r[0].zh for r in results]
    out["change_type"] = [r[1].value for r in results]
    out["change_type_zh"] = [r[1].zh for r in results]
    out["class_confidence"] = [round(r[2], 3) for r in results]
    out["confidence"] = [round(min(max(r[4], 0.0), 1.0), 3) for r in results]
    out["class_method"] = [r[3] for r in results]
    return out


def _value(row: pd.Series, name: str) -> float:
    v = row.get(name, math.nan)
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan
