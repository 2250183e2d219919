"""Noise level of the dieback z-scores on a real series (eo-learn TestEOPatch, Slovenia).

The patch has eo-learn's NDVI for 68 dates (2015-07 … 2017-12) and a land-cover
reference (75 % forest), no NDMI (its 13-band cube is not in ../shared). 2017 is monitored
against 2015–2016 on the reference forest, NDVI alone; clouds are masked with the
patch's validity mask and s2cloudless probability < 0.1, dilated by 3 px (the role SCL
plays for L2A). No dieback is known there, so what alerts is the false-alert level.
Figures (2026-12): 19 clear dates of 2017 against 11 baseline dates; 4.6 % of clear
forest observations anomalous; 2.7 % of forest pixels confirmed and 4.2 % provisional;
connected alerts of at least 10 px (the 1000 m² mapping unit): 1 confirmed (114 px,
onset 2017-07-20: a compact cluster, likely a real harvest or disturbance, unverified)
and 4 provisional.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from tests.conftest import shared_data
from tests.realdata import eolearn_timestamps
from tiandi.models.dieback import (
    STATUS_CONFIRMED,
    STATUS_PROVISIONAL,
    DiebackParams,
    Observation,
    alert_maps,
    drop_series,
)

pytestmark = pytest.mark.realdata

MMU_PX = 10


def _alerts_at_least(mask: np.ndarray, px: int) -> int:
    labels, _ = ndimage.label(mask)
    sizes = np.bincount(labels.ravel())[1:]
    return int((sizes >= px).sum())


def test_false_alert_level_on_a_real_forest_series() -> None:
    src = shared_data("eolearn-testeopatch") / "TestEOPatch"
    ndvi = np.load(src / "data" / "NDVI.npy")[..., 0]
    valid = np.load(src / "mask" / "IS_VALID.npy")[..., 0].astype(bool)
    clp = np.load(src / "data" / "CLP_S2C.npy")[..., 0]
    forest = np.load(src / "mask_timeless" / "LULC.npy")[..., 0] == 2
    obs = []
    for i, when in enumerate(eolearn_timestamps(src.parent)):
        clear = ~ndimage.binary_dilation(~(valid[i] & (clp[i] < 0.1)), iterations=3)
        if clear.mean() >= 0.05:
            layer = np.where(clear, ndvi[i], np.nan).astype(np.float32)
            obs.append(Observation(when.date(), {"ndvi": layer}))
    baseline = [o for o in obs if o.day.year < 2017]
    period = [o for o in obs if o.day.year == 2017]
    params = DiebackParams()
    drops = drop_series(period, baseline, params)
    alerts = alert_maps([o.day for o in period], drops, params, forest)
    f = drops[:, forest]
    clear = np.isfinite(f)
    anomalous = float(((f >= params.z_threshold) & clear).sum() / clear.sum())
    status = alerts.status[forest]
    confirmed = float((status == STATUS_CONFIRMED).mean())
    provisional = float((status == STATUS_PROVISIONAL).mean())
    big_confirmed = _alerts_at_least(alerts.status == STATUS_CONFIRMED, MMU_PX)
    big_any = _alerts_at_least(
        (alerts.status == STATUS_CONFIRMED) | (alerts.status == STATUS_PROVISIONAL), MMU_PX
    )
    print(
        f"eo-learn 2017 vs 2015-16: {len(period)} dates, {len(baseline)} baseline dates; "
        f"anomalous {anomalous:.4f} of clear forest obs; confirmed {confirmed:.4f}, "
        f"provisional {provisional:.4f} of forest px; alerts >= {MMU_PX} px: "
        f"{big_confirmed} confirmed, {big_any} in all"
    )
    assert len(period) >= 15 and len(baseline) >= 10
    assert anomalous < 0.06
    assert confirmed < 0.04 and provisional < 0.06
    assert big_confirmed <= 1 and big_any <= 6
