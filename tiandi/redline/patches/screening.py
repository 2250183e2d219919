"""Automatic screening (初筛): remove pseudo-changes before ecologists review patches.

HJ 1156 monitoring looks for human activity: land converted from vegetation to bare
ground, buildings, roads, water or panels (新增/扩大), or such a surface returned to
vegetation (减少). A detected patch whose before/after means show neither is a
pseudo-change — seasonal greening, crop rotation, haze or shadow remnants — and is
screened out with a reason. Screened patches are kept (GeoPackage layer ``screened``)
so a reviewer can see what was removed and why; they are never dispatched.

Rules, on the patch means written by :func:`tiandi.redline.patches.extract.extract_patches`
(Δ = after − before):

- ``below_mmu`` — a piece smaller than the minimum mapping unit (pieces left when a
  patch is split at zone borders).
- for new/enlarged patches, evidence of conversion is required, any of:
  ΔNDVI ≤ −0.15 (vegetation lost), NDWI turning positive (new open water), ΔBSI ≥ 0.10
  (bare soil/rock exposed), ΔNDBI ≥ 0.10 (built surface). The ΔNDVI threshold sits well
  inside the NDVI loss of every human-activity cover in docs/architecture.md
  (solar panels, the weakest, lose about 0.2 from grassland) and outside the
  ±0.1 spread of the same vegetation between half-year composites. Without evidence:
  ``seasonal_greening`` when ΔNDVI > 0.10, else ``weak_spectral_change``.
- for new/enlarged patches, the after state must not be vegetation: after NDVI < 0.30
  (the usual limit between sparse and moderate vegetation cover) or new open water.
  Vegetation that thinned but still covers the ground (harvest, senescence, thinning)
  is ``vegetation_remains``.
- for reduced (restoration) patches, the before state must have been a disturbed
  surface: NDVI < 0.20 and (BSI > 0.05 or NDBI > 0 or NDWI > 0). Otherwise the greening
  is seasonal or crop rotation: ``seasonal_greening``.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from tiandi.redline.vocabulary import SCREEN_REASONS_ZH, ChangeType


@dataclass(frozen=True)
class ScreeningParams:
    """Thresholds of the screening rules (see the module docstring)."""

    min_mapping_unit_m2: float = 1000.0
    ndvi_loss: float = -0.15
    bsi_gain: float = 0.10
    ndbi_gain: float = 0.10
    greening: float = 0.10
    disturbed_ndvi: float = 0.20
    disturbed_bsi: float = 0.05
    vegetated_after: float = 0.30


def screening_reasons(patches: pd.DataFrame, params: ScreeningParams) -> pd.Series:
    """The screening reason of each patch, or "" for a patch that is kept."""
    d_ndvi = patches["after_ndvi"] - patches["before_ndvi"]
    new_water = (patches["after_ndwi"] > 0) & (patches["before_ndwi"] <= 0)
    converted = (
        (d_ndvi <= params.ndvi_loss)
        | new_water
        | (patches["after_bsi"] - patches["before_bsi"] >= params.bsi_gain)
        | (patches["after_ndbi"] - patches["before_ndbi"] >= params.ndbi_gain)
    )
    disturbed_before = (patches["before_ndvi"] < params.disturbed_ndvi) & (
        (patches["before_bsi"] > params.disturbed_bsi)
        | (patches["before_ndbi"] > 0)
        | (patches["before_ndwi"] > 0)
    )
    reduced = patches["change_type"] == ChangeType.REDUCED.value
    still_vegetated = (patches["after_ndvi"] >= params.vegetated_after) & ~new_water
    reasons = np.select(
        [
            patches["area_m2"] < params.min_mapping_unit_m2,
            reduced & ~disturbed_before,
            ~reduced & ~converted & (d_ndvi > params.greening),
            ~reduced & ~converted,
            ~reduced & still_vegetated,
        ],
        [
            "below_mmu",
            "seasonal_greening",
            "seasonal_greening",
            "weak_spectral_change",
            "vegetation_remains",
        ],
        default="",
    )
    return pd.Series(reasons, index=patches.index, dtype=object)


def screen_patches(
    patches: gpd.GeoDataFrame, params: ScreeningParams | None = None
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Split patches into (kept, screened); screened ones carry ``screen_reason``(``_zh``)."""
    params = params or ScreeningParams()
    if patches.empty:
        screened = patches.assign(screen_reason=pd.Series(dtype=object))
        return patches, screened.assign(screen_reason_zh=pd.Series(dtype=object))
    reasons = screening_reasons(patches, params)
    kept = patches[reasons == ""].reset_index(drop=True)
    screened = patches[reasons != ""].copy()
    screened["screen_reason"] = reasons[reasons != ""]
    screened["screen_reason_zh"] = screened["screen_reason"].map(SCREEN_REASONS_ZH)
    return kept, screened.reset_index(drop=True)
