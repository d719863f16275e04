"""Probabilistic scores and their references (model/metrics.py, model/probabilistic.py)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from domain.site import Site
from model.metrics import crps_by_day, pit_values
from model.probabilistic import climatology_by_day_of_year, persistence_changes, score_probabilistic
from model.site_data import SiteSeries
from model.uncertainty import LEVELS, fit_site_residuals

SITE = Site("01234567", "test", 45.0, -70.0, 86.4)


def record(flow_mm: np.ndarray, start: str = "2000-01-01") -> SiteSeries:
    return SiteSeries(SITE, pd.Timestamp(start), np.zeros((len(flow_mm), 1), np.float32), flow_mm)


def test_crps_of_a_forecast_without_spread_is_its_absolute_error() -> None:
    observed = np.array([1.0, 4.0, 2.5])
    quantiles = np.repeat(np.array([[2.0], [2.0], [2.5]]), len(LEVELS), axis=1)
    np.testing.assert_allclose(crps_by_day(observed, quantiles, LEVELS), [1.0, 2.0, 0.0])


def test_crps_rewards_a_sharp_forecast_centred_on_the_truth() -> None:
    rng = np.random.default_rng(0)
    observed = rng.normal(10, 1, 2000)
    normal = np.quantile(rng.normal(10, 1, 100_000), LEVELS)
    wide = np.quantile(rng.normal(10, 3, 100_000), LEVELS)
    sharp = crps_by_day(observed, np.tile(normal, (2000, 1)), LEVELS).mean()
    assert sharp < crps_by_day(observed, np.tile(wide, (2000, 1)), LEVELS).mean()
    assert sharp == pytest.approx(0.5641, abs=0.02)  # CRPS of N(0, 1) against itself: 1 / sqrt(pi)


def test_pit_of_a_calibrated_forecast_is_uniform_and_nan_where_missing() -> None:
    rng = np.random.default_rng(1)
    curve = np.quantile(rng.normal(0, 1, 100_000), LEVELS)
    observed = np.append(rng.normal(0, 1, 5000), np.nan)
    pit = pit_values(observed, np.tile(curve, (len(observed), 1)), LEVELS)
    assert np.isnan(pit[-1])
    assert np.histogram(pit[:-1], bins=5, range=(0, 1))[0] / 5000 == pytest.approx([0.2] * 5, abs=0.03)


def test_persistence_changes_are_the_lead_day_differences_of_the_reference_period() -> None:
    flow = np.arange(40.0)  # rises 1 mm/day
    changes = persistence_changes(record(flow), dt.date(2000, 1, 1), dt.date(2000, 2, 9), horizon=3)
    np.testing.assert_allclose(changes, np.array([[1.0], [2.0], [3.0]]) * np.ones(len(LEVELS)))


def test_climatology_takes_the_same_calendar_days_of_every_year() -> None:
    days = pd.date_range("2000-01-01", "2003-12-31", freq="D")
    flow = np.where(days.month == 7, 10.0, 1.0)
    table = climatology_by_day_of_year(record(flow), dt.date(2000, 1, 1), dt.date(2003, 12, 31))
    assert (table[pd.Timestamp("2001-07-16").dayofyear - 1] == 10.0).all()
    assert (table[pd.Timestamp("2001-02-15").dayofyear - 1] == 1.0).all()


def test_a_perfect_forecast_scores_crps_zero_and_crpss_one() -> None:
    days = pd.date_range("2000-01-01", "2003-12-31", freq="D")
    flow = 5 + 3 * np.sin(np.arange(len(days)) / 9.0)
    forecasts = np.full((len(days), 2), np.nan)
    for lead in (1, 2):
        forecasts[:-lead, lead - 1] = flow[lead:]
    residuals = fit_site_residuals(flow, forecasts)
    rows = score_probabilistic(
        record(flow),
        forecasts,
        residuals,
        (dt.date(2002, 1, 1), dt.date(2003, 12, 31)),
        (dt.date(2000, 1, 1), dt.date(2001, 12, 31)),
    )
    assert [row["lead_days"] for row in rows] == [1, 2]
    for row in rows:
        assert row["crps"] == pytest.approx(0.0, abs=1e-6)
        assert row["crpss_persistence"] == pytest.approx(1.0) and row["crpss_climatology"] == pytest.approx(1.0)
