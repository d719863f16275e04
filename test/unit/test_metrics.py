"""Tests of model/metrics.py against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model.metrics import kge, low_flow_error, nse

OBS = np.array([1.0, 2.0, 3.0, 4.0])  # mean 2.5, sum of squared deviations 2.25+0.25+0.25+2.25 = 5


def test_nse_hand_computed() -> None:
    # errors 0, 1, -1, 0 -> SSE 2; NSE = 1 - 2/5 = 0.6
    assert nse(OBS, np.array([1.0, 3.0, 2.0, 4.0])) == pytest.approx(0.6)


def test_nse_reversed_series_is_negative() -> None:
    # errors -3, -1, 1, 3 -> SSE 20; NSE = 1 - 20/5 = -3
    assert nse(OBS, OBS[::-1]) == pytest.approx(-3.0)


def test_nse_perfect_and_mean_forecasts() -> None:
    assert nse(OBS, OBS.copy()) == 1.0
    # Forecasting the observed mean every day: SSE equals the spread, NSE = 0.
    assert nse(OBS, np.full(4, 2.5)) == pytest.approx(0.0)


def test_kge_hand_computed_correlation() -> None:
    # sim 1,3,2,4: mean 2.5, same spread as obs -> alpha 1, beta 1;
    # covariance sum (-1.5)(-1.5)+(-0.5)(0.5)+(0.5)(-0.5)+(1.5)(1.5) = 4 -> r = 4/5 = 0.8; KGE = 1 - 0.2
    assert kge(OBS, np.array([1.0, 3.0, 2.0, 4.0])) == pytest.approx(0.8)


def test_kge_components_of_a_scaled_forecast() -> None:
    # sim = 2*obs: r = 1, alpha = std ratio = 2, beta = 5/2.5 = 2 -> 1 - sqrt(0 + 1 + 1)
    assert kge(OBS, 2.0 * OBS) == pytest.approx(1.0 - math.sqrt(2.0))


def test_kge_of_a_shifted_forecast() -> None:
    # sim = obs + 2.5: r = 1, alpha = 1, beta = 5/2.5 = 2 -> 1 - sqrt(1) = 0
    assert kge(OBS, OBS + 2.5) == pytest.approx(0.0)


def test_kge_anticorrelated() -> None:
    # r = -1, alpha = 1, beta = 1 -> 1 - sqrt(4) = -1
    assert kge(OBS, OBS[::-1]) == pytest.approx(-1.0)


def test_kge_constant_forecast_has_zero_correlation() -> None:
    # std(sim) = 0: r taken as 0, alpha = 0, beta = 1 -> 1 - sqrt(1 + 1)
    assert kge(OBS, np.full(4, 2.5)) == pytest.approx(1.0 - math.sqrt(2.0))


def test_kge_perfect_forecast() -> None:
    assert kge(OBS, OBS.copy()) == pytest.approx(1.0)


@pytest.mark.parametrize("metric", [nse, kge])
def test_nan_pairs_are_ignored(metric) -> None:
    observed = np.array([1.0, np.nan, 2.0, 3.0, 4.0, 100.0])
    simulated = np.array([1.0, 5.0, 3.0, 2.0, 4.0, np.nan])

    assert metric(observed, simulated) == pytest.approx(metric(OBS, np.array([1.0, 3.0, 2.0, 4.0])))


@pytest.mark.parametrize("metric", [nse, kge])
@pytest.mark.parametrize(
    ("observed", "simulated"),
    [
        ([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]),  # constant observations
        ([5.0], [5.0]),  # one pair
        ([1.0, np.nan, 3.0], [np.nan, 2.0, np.nan]),  # no complete pair
        ([], []),
    ],
)
def test_undefined_scores_are_nan(metric, observed, simulated) -> None:
    assert math.isnan(metric(np.array(observed), np.array(simulated)))


def test_kge_with_zero_mean_observations_is_nan() -> None:
    assert math.isnan(kge(np.array([-1.0, 1.0]), np.array([-1.0, 1.0])))


@pytest.mark.parametrize("metric", [nse, kge])
def test_accepts_lists_and_float32_and_returns_python_float(metric) -> None:
    value = metric([1, 2, 3, 4], np.array([1, 3, 2, 4], dtype=np.float32))

    assert type(value) is float
    assert value == pytest.approx(metric(OBS, np.array([1.0, 3.0, 2.0, 4.0])))


@pytest.mark.parametrize("metric", [nse, kge])
def test_inputs_are_not_modified(metric) -> None:
    observed = np.array([1.0, np.nan, 3.0, 4.0])
    simulated = np.array([1.0, 2.0, np.nan, 5.0])
    before = observed.copy(), simulated.copy()

    metric(observed, simulated)

    np.testing.assert_array_equal(observed, before[0])
    np.testing.assert_array_equal(simulated, before[1])


def test_low_flow_error_is_the_median_relative_error_on_the_lowest_days() -> None:
    # 40 positive days 1..40: the 30 % quantile is 12.7, so days with flow 1..12 are low.
    observed = np.arange(1.0, 41.0)
    simulated = observed.copy()
    simulated[:12] = observed[:12] * 1.5  # +50 % on every low day
    simulated[12:] = 0.0  # errors on higher days do not count
    assert low_flow_error(observed, simulated) == pytest.approx(0.5)


def test_low_flow_error_of_a_zero_forecast_is_one_and_zero_flow_days_are_left_out() -> None:
    observed = np.concatenate([np.zeros(20), np.arange(1.0, 41.0)])
    assert low_flow_error(observed, np.zeros(60)) == pytest.approx(1.0)
    assert low_flow_error(observed, observed) == 0.0


def test_low_flow_error_needs_ten_low_days() -> None:
    observed = np.concatenate([np.zeros(50), np.arange(1.0, 20.0)])  # 19 positive days: 6 low ones
    assert math.isnan(low_flow_error(observed, observed))
