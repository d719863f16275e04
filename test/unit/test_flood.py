"""Return-period flows (model/flood_frequency.py), severity and trend (domain/flood.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from domain.flood import FloodThresholds, severity, trend
from domain.site import Site
from model.flood_frequency import annual_maxima, fit_flood_thresholds, gumbel_l_moments
from model.site_data import SiteSeries

SITE = Site("01234567", "test", 45.0, -70.0, 86.4)  # 1 m3/s = 1 mm/day


def record(start: str, flow_mm: np.ndarray) -> SiteSeries:
    return SiteSeries(SITE, pd.Timestamp(start), np.zeros((len(flow_mm), 1), np.float32), flow_mm)


def yearly_peaks(peaks: list[float]) -> SiteSeries:
    """Water years from 2000-10-01, flow 1 except one peak a year (in March)."""
    days = pd.date_range("2000-10-01", periods=365 * len(peaks) + len(peaks) // 4 + 1, freq="D")
    flow = np.ones(len(days))
    for number, peak in enumerate(peaks):
        flow[days.get_loc(pd.Timestamp(f"{2001 + number}-03-15"))] = peak
    return record("2000-10-01", flow)


def test_gumbel_by_l_moments_hand_checked() -> None:
    maxima = np.array([10.0, 20.0, 30.0, 40.0])
    location, scale = gumbel_l_moments(maxima)
    # l1 = 25, b1 = (0*10 + 1/3*20 + 2/3*30 + 1*40) / 4 = 16.667, l2 = 2*b1 - l1 = 8.333
    assert scale == pytest.approx(8.3333 / math.log(2), rel=1e-4)
    assert location == pytest.approx(25 - 0.5772156649 * scale, rel=1e-6)


def test_thresholds_grow_with_the_return_period_and_are_in_m3s() -> None:
    peaks = [20.0, 35.0, 28.0, 50.0, 22.0, 31.0, 44.0, 26.0, 38.0, 30.0]
    thresholds = fit_flood_thresholds(
        yearly_peaks(peaks), pd.Timestamp("2000-10-01").date(), pd.Timestamp("2010-09-30").date()
    )
    assert thresholds.years == 10 and thresholds.reason is None
    two, five, ten = (thresholds.flows[years] for years in (2, 5, 10))
    assert np.median(peaks) * 0.8 < two < five < ten < max(peaks) * 1.3
    location, scale = gumbel_l_moments(np.array(peaks))
    assert ten == pytest.approx(location - scale * math.log(-math.log(0.9)))


def test_incomplete_water_years_are_left_out_and_a_short_record_has_no_thresholds_but_a_reason() -> None:
    site = yearly_peaks([20.0, 35.0, 28.0, 50.0, 22.0])
    site.flow_mm[100:200] = np.nan  # the first water year keeps 265 days
    assert len(annual_maxima(site, pd.Timestamp("2000-10-01").date(), pd.Timestamp("2005-09-30").date())) == 4
    thresholds = fit_flood_thresholds(site, pd.Timestamp("2000-10-01").date(), pd.Timestamp("2005-09-30").date())
    assert thresholds.flows is None and thresholds.years == 4
    assert "only 4 water year(s)" in thresholds.reason and "need 8" in thresholds.reason
    assert FloodThresholds.from_json(thresholds.as_json()) == thresholds


def test_severity_is_the_highest_threshold_likely_exceeded() -> None:
    known = FloodThresholds("m", 10, {2: 10.0, 5: 20.0, 10: 30.0})
    assert severity(known, [{2: 0.2, 5: 0.1, 10: 0.0}]) == "none"
    assert severity(known, [{2: 0.2, 5: 0.1, 10: 0.0}, {2: 0.7, 5: 0.5, 10: 0.3}]) == "5-year"
    assert severity(FloodThresholds("m", 3, None, "short"), []) == "unknown"


@pytest.mark.parametrize(
    ("issue_flow", "median", "expected"),
    [
        (10.0, 11.5, "rising"),
        (10.0, 8.5, "falling"),
        (10.0, 10.9, "steady"),
        (None, 5.0, "steady"),
        (0.0, 0.0, "steady"),
    ],
)
def test_trend(issue_flow: float | None, median: float, expected: str) -> None:
    assert trend(issue_flow, median) == expected
