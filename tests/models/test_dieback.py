"""Dieback alerts on small numpy series: seasonal baseline, robust z, provisional/confirmed."""

from __future__ import annotations

import math
import warnings
from datetime import date, timedelta

import numpy as np
import pytest

from tiandi.errors import InputError
from tiandi.models.dieback import (
    STATUS_CONFIRMED,
    STATUS_NO_DATA,
    STATUS_NONE,
    STATUS_PROVISIONAL,
    DiebackParams,
    Observation,
    alert_maps,
    baseline_dates,
    confidence,
    doy_distance,
    drop_series,
    nan_percentile,
    robust_stats,
    woody_mask,
)

SHAPE = (6, 6)


def _season(day: date, year_shift: int = 0) -> tuple[float, float]:
    """NDVI and NDMI of a deciduous forest: leaf-off 0.35/0.05, peak 0.85/0.40 in July."""
    doy = day.timetuple().tm_yday - year_shift
    g = math.exp(-0.5 * ((doy - 200) / 55) ** 2)
    return 0.35 + 0.5 * g, 0.05 + 0.35 * g


def _obs(day: date, rng: np.random.Generator, drop: float = 0.0, shift: int = 0) -> Observation:
    ndvi, ndmi = _season(day, shift)
    noise = rng.normal(0, 0.01, (2, *SHAPE)).astype(np.float32)
    layers = {
        "ndvi": (np.full(SHAPE, ndvi, np.float32) + noise[0]),
        "ndmi": (np.full(SHAPE, ndmi, np.float32) + noise[1]),
    }
    layers["ndvi"][:2, :2] -= drop
    layers["ndmi"][:2, :2] -= drop
    return Observation(day, layers)


def _baseline(rng: np.random.Generator) -> list[Observation]:
    """Three years, a date every 12 days from March to November, phenology shifted ±10 d."""
    out = []
    for year, shift in ((2022, -10), (2023, 0), (2024, 10)):
        day = date(year, 3, 1)
        while day.month < 12:
            out.append(_obs(day, rng, shift=shift))
            day += timedelta(days=12)
    return out


def test_doy_distance_wraps_round_the_year() -> None:
    assert doy_distance(date(2025, 12, 30), date(2025, 1, 3)) == 4  # round the year end
    assert doy_distance(date(2024, 3, 1), date(2025, 3, 1)) in (0, 1)


def test_baseline_dates_are_the_seasonal_window_of_earlier_years_only() -> None:
    rng = np.random.default_rng(0)
    base = [*_baseline(rng), _obs(date(2025, 6, 1), rng)]
    chosen = baseline_dates(date(2025, 6, 15), base, 30)
    assert chosen
    assert all(base[i].day.year < 2025 for i in chosen)
    assert all(doy_distance(base[i].day, date(2025, 6, 15)) <= 30 for i in chosen)


def test_robust_stats_floor_the_scale_and_need_enough_observations() -> None:
    stack = np.array([[[0.8]], [[0.8]], [[0.8]], [[np.nan]]], np.float32)
    median, scale, count = robust_stats(stack, 0.03, 3)
    assert median[0, 0] == pytest.approx(0.8)
    assert scale[0, 0] == pytest.approx(0.03)  # MAD 0: the floor, not a zero division
    assert count[0, 0] == 3
    median, scale, _ = robust_stats(stack, 0.03, 4)
    assert np.isnan(median[0, 0]) and np.isnan(scale[0, 0])


def test_seasonal_variation_of_the_baseline_is_not_flagged() -> None:
    rng = np.random.default_rng(1)
    base = _baseline(rng)
    # spring, peak and autumn dates: far from each other's NDVI, each normal for its season
    period = [
        _obs(date(2025, d.month, d.day), rng, shift=5)
        for d in (date(2025, 4, 10), date(2025, 7, 20), date(2025, 10, 25))
    ]
    params = DiebackParams()
    drops = drop_series(period, base, params)
    alerts = alert_maps([o.day for o in period], drops, params, np.ones(SHAPE, bool))
    assert (alerts.status == STATUS_NONE).all()
    assert float(np.nanmax(drops)) < params.z_threshold


def test_one_anomalous_date_is_provisional_two_consecutive_are_confirmed() -> None:
    rng = np.random.default_rng(2)
    base = _baseline(rng)
    days = [date(2025, 6, 10), date(2025, 7, 5), date(2025, 7, 30)]
    params = DiebackParams()
    forest = np.ones(SHAPE, bool)
    only_last = [_obs(days[0], rng), _obs(days[1], rng), _obs(days[2], rng, drop=0.3)]
    alerts = alert_maps(days, drop_series(only_last, base, params), params, forest)
    assert (alerts.status[:2, :2] == STATUS_PROVISIONAL).all()
    assert (alerts.status[2:, 2:] == STATUS_NONE).all()
    assert (alerts.first[:2, :2] == 2).all() and (alerts.n_anomalous[:2, :2] == 1).all()
    two = [_obs(days[0], rng), _obs(days[1], rng, drop=0.3), _obs(days[2], rng, drop=0.3)]
    alerts = alert_maps(days, drop_series(two, base, params), params, forest)
    assert (alerts.status[:2, :2] == STATUS_CONFIRMED).all()
    assert (alerts.first[:2, :2] == 1).all() and (alerts.last[:2, :2] == 2).all()
    assert (alerts.max_z[:2, :2] > 5).all()


def test_cloudy_date_does_not_break_a_run_and_an_unrepeated_anomaly_is_dropped() -> None:
    rng = np.random.default_rng(3)
    base = _baseline(rng)
    days = [date(2025, 7, 5), date(2025, 7, 20), date(2025, 8, 5)]  # summer plateau
    params = DiebackParams()
    forest = np.ones(SHAPE, bool)
    cloudy = _obs(days[1], rng)
    cloudy = Observation(days[1], {k: np.full(SHAPE, np.nan, np.float32) for k in cloudy.layers})
    series = [_obs(days[0], rng, drop=0.3), cloudy, _obs(days[2], rng, drop=0.3)]
    alerts = alert_maps(days, drop_series(series, base, params), params, forest)
    assert (alerts.status[:2, :2] == STATUS_CONFIRMED).all()
    transient = [_obs(days[0], rng, drop=0.3), _obs(days[1], rng), _obs(days[2], rng)]
    alerts = alert_maps(days, drop_series(transient, base, params), params, forest)
    assert (alerts.status == STATUS_NONE).all()  # a later clear date did not confirm it


def test_only_eligible_pixels_alert_and_no_baseline_is_no_data() -> None:
    rng = np.random.default_rng(4)
    base = _baseline(rng)
    days = [date(2025, 7, 5), date(2025, 7, 30)]
    params = DiebackParams()
    series = [_obs(d, rng, drop=0.3) for d in days]
    forest = np.ones(SHAPE, bool)
    forest[0, 0] = False
    alerts = alert_maps(days, drop_series(series, base, params), params, forest)
    assert alerts.status[0, 0] == STATUS_NONE and alerts.status[1, 1] == STATUS_CONFIRMED
    far = [Observation(date(2022, 1, 5), base[0].layers)]  # nothing in July's window
    alerts = alert_maps(days, drop_series(series, far, params), params, forest)
    assert (alerts.status == STATUS_NO_DATA).all()


def test_a_date_where_most_of_the_forest_drops_is_skipped() -> None:
    rng = np.random.default_rng(5)
    base = _baseline(rng)
    days = [date(2025, 7, 5), date(2025, 7, 30)]
    params = DiebackParams()
    hazy = _obs(days[0], rng)
    hazy = Observation(days[0], {k: v - 0.3 for k, v in hazy.layers.items()})
    series = [hazy, _obs(days[1], rng)]
    alerts = alert_maps(days, drop_series(series, base, params), params, np.ones(SHAPE, bool))
    assert alerts.skipped == (days[0],)
    assert (alerts.status == STATUS_NONE).all()


def test_confidence_rises_with_confirmation_and_strength() -> None:
    p = DiebackParams()
    assert confidence("provisional", 3.0, 1, p) < confidence("confirmed", 3.0, 2, p)
    assert confidence("confirmed", 3.0, 2, p) < confidence("confirmed", 9.0, 5, p) <= 1.0


def test_woody_mask_and_params_checks() -> None:
    rng = np.random.default_rng(6)
    base = _baseline(rng)
    assert woody_mask(base).all()
    grass = [Observation(o.day, {"ndvi": o.layers["ndvi"] * 0.5}) for o in base]
    assert not woody_mask(grass).any()
    with pytest.raises(InputError, match="window_days"):
        DiebackParams(window_days=0)
    with pytest.raises(InputError, match="monitoring period"):
        drop_series([], base, DiebackParams())


@pytest.mark.parametrize("n", [1, 2, 3, 5])
@pytest.mark.parametrize("q", [0.0, 50.0, 90.0, 100.0])
def test_nan_percentile_is_numpys_nanpercentile(n: int, q: float) -> None:
    rng = np.random.default_rng(n)
    stack = rng.normal(size=(n, 40, 40)).astype(np.float32)
    stack[rng.random(stack.shape) < 0.3] = np.nan
    stack[:, 0, 0] = np.nan  # a pixel with no value at all
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.nanpercentile(stack, q, axis=0)
    np.testing.assert_allclose(nan_percentile(stack, q), expected, rtol=0, atol=1e-6)
    assert np.isnan(nan_percentile(stack, q)[0, 0])
