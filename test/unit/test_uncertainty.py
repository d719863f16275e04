"""Calibrated residual quantiles and exceedance probabilities (model/uncertainty.py)."""

from __future__ import annotations

import numpy as np
import pytest

from model.uncertainty import (
    LEVELS,
    Calibration,
    SiteResiduals,
    exceedance,
    fit_site_residuals,
    last_observed,
    level_index,
)

RNG = np.random.default_rng(3)


def synthetic(days: int = 4000, horizon: int = 2, noise: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Observed flow and forecasts whose sqrt-space errors are normal with a known spread."""
    truth = RNG.gamma(2.0, 2.0, size=days)
    forecasts = np.full((days, horizon), np.nan)
    for lead in range(1, horizon + 1):
        forecasts[:-lead, lead - 1] = np.maximum(np.sqrt(truth[lead:]) + RNG.normal(0, noise, days - lead), 0) ** 2
    return truth, forecasts


def coverage(residuals: SiteResiduals, observed: np.ndarray, forecasts: np.ndarray, low: float, high: float) -> float:
    quantiles = residuals.quantiles(forecasts, observed)  # issued with each day's flow observed
    lower, upper = quantiles[..., level_index((low,))[0]], quantiles[..., level_index((high,))[0]]
    target = np.stack([np.roll(observed, -lead) for lead in range(1, forecasts.shape[1] + 1)], axis=1)
    scored = ~np.isnan(forecasts)
    inside = (target >= lower) & (target <= upper)
    return float(inside[scored].mean())


def test_quantiles_cover_fresh_data_at_their_nominal_rate() -> None:
    observed, forecasts = synthetic()
    residuals = fit_site_residuals(observed, forecasts)
    fresh_observed, fresh_forecasts = synthetic()
    assert coverage(residuals, fresh_observed, fresh_forecasts, 0.05, 0.95) == pytest.approx(0.90, abs=0.02)
    assert coverage(residuals, fresh_observed, fresh_forecasts, 0.25, 0.75) == pytest.approx(0.50, abs=0.03)


def test_quantiles_are_non_negative_and_non_decreasing_and_nan_without_a_forecast() -> None:
    observed, forecasts = synthetic()
    residuals = fit_site_residuals(observed, forecasts)
    quantiles = residuals.quantiles(np.array([[0.0, 0.0], [50.0, 3.0], [np.nan, 1.0]]), np.array([1.0, 1.0, np.nan]))
    assert quantiles.shape == (3, 2, len(LEVELS))
    finite = quantiles[~np.isnan(quantiles)]
    assert (finite >= 0).all()
    assert (np.diff(quantiles[:2], axis=-1) >= 0).all()
    assert np.isnan(quantiles[2, 0]).all() and not np.isnan(quantiles[2, 1]).any()


def test_spread_widens_about_the_median() -> None:
    observed, forecasts = synthetic()
    plain = fit_site_residuals(observed, forecasts, Calibration(spread=1.0)).residuals
    wide = fit_site_residuals(observed, forecasts, Calibration(spread=1.5)).residuals
    middle = len(LEVELS) // 2
    np.testing.assert_allclose(wide[..., middle], plain[..., middle])
    np.testing.assert_allclose(wide[..., -1] - wide[..., middle], 1.5 * (plain[..., -1] - plain[..., middle]))


def test_exceedance_reads_the_same_curve_as_the_quantiles() -> None:
    observed, forecasts = synthetic()
    curve = fit_site_residuals(observed, forecasts).quantiles(np.array([4.0, 4.0]), 3.0)[0]
    at_quantiles = exceedance(curve, curve[[4, 49, 94]])  # q0.05, q0.5, q0.95
    np.testing.assert_allclose(at_quantiles, [0.95, 0.50, 0.05], atol=1e-6)
    assert exceedance(curve, np.array([curve[0] - 1, curve[-1] + 1])).tolist() == [1.0, 0.0]


def test_a_threshold_on_a_tie_at_zero_reads_the_ties_highest_level() -> None:
    curve = np.concatenate([np.zeros(30), np.linspace(0.1, 7.0, len(LEVELS) - 30)])
    assert exceedance(curve, np.array([0.0]))[0] == pytest.approx(1 - LEVELS[29], abs=1e-6)


def test_json_round_trip() -> None:
    observed, forecasts = synthetic()
    residuals = fit_site_residuals(observed, forecasts, Calibration(power=0.0))
    again = SiteResiduals.from_json(residuals.as_json())
    np.testing.assert_allclose(
        again.quantiles(forecasts[:10], observed[:10]), residuals.quantiles(forecasts[:10], observed[:10]), atol=1e-3
    )


@pytest.mark.parametrize("levels", [(0.05, 0.123), (0.0,), (1.0,)])
def test_levels_off_the_grid_are_refused(levels: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="among 0.01, 0.02"):
        level_index(levels)


def test_rises_and_falls_get_residuals_of_their_own() -> None:
    """Big forecast rises fall 0.5 mm/day short; every other forecast is exact."""
    observed = RNG.gamma(2.0, 2.0, size=6000)
    forecasts = np.full((6000, 1), np.nan)
    forecasts[:-1, 0] = np.where(observed[1:] > observed[:-1] + 1, observed[1:] - 0.5, observed[1:])
    residuals = fit_site_residuals(observed, forecasts, Calibration(power=1.0, regimes=1, spread=1.0))
    fall, rise = residuals.residuals[0]
    assert residuals.directions == 2
    np.testing.assert_allclose(fall, 0.0, atol=1e-9)
    assert rise[94] == pytest.approx(0.5) and rise[4] == pytest.approx(0.0)
    # Served: a forecast above the last observed flow reads the rise's residuals.
    assert residuals.quantiles(np.array([3.0]), 2.0)[0, 94] == pytest.approx(3.5)
    assert residuals.quantiles(np.array([3.0]), 4.0)[0, 94] == pytest.approx(3.0)


def test_last_observed_carries_the_last_value_forward() -> None:
    flow = np.array([np.nan, 1.0, np.nan, np.nan, 4.0, np.nan])
    np.testing.assert_array_equal(last_observed(flow), [np.nan, 1.0, 1.0, 1.0, 4.0, 4.0])
