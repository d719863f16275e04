"""Tests of model/dataset.py: windows, padding, last-flow carry and the window plan."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from domain.site import Site
from model.dataset import (
    ISSUE_DAYS_PER_WINDOW,
    SiteTensors,
    cut_window,
    iter_batches,
    plan_windows,
    stack_windows,
    to_site_tensors,
)
from model.scaler import FeatureScaler
from model.site_data import build_site_series

START = pd.Timestamp("2000-01-01")
N_PAST, N_FEATURES, N_STATIC = 3, 2, 4


def numbered_site(n_days: int) -> SiteTensors:
    """Arrays whose values encode the day index, so every cut can be checked by arithmetic."""
    day = np.arange(n_days, dtype=np.float32)
    return SiteTensors(
        site_id="01234567",
        start=START,
        past=np.stack([day, day + 0.25, np.ones(n_days, np.float32)], axis=1),  # last column plays the mask
        future=np.stack([day, -day], axis=1),
        target=day.copy(),
        last_flow=day + 0.5,
        static=np.arange(N_STATIC, dtype=np.float32),
    )


@pytest.mark.parametrize(("seq_len", "n_issue", "horizon"), [(5, 1, 1), (10, 4, 3), (7, 20, 5)])
def test_cut_window_shapes(seq_len: int, n_issue: int, horizon: int) -> None:
    window = cut_window(numbered_site(100), 40, n_issue, seq_len, horizon)

    assert window["past"].shape == (seq_len + n_issue - 1, N_PAST)
    assert window["future"].shape == (n_issue, horizon, N_FEATURES)
    assert window["target"].shape == (n_issue, horizon)
    assert window["last_flow"].shape == (n_issue,)
    assert window["static"].shape == (N_STATIC,)
    assert all(array.dtype == np.float32 for array in window.values())


def test_cut_window_rows_hold_the_right_days() -> None:
    seq_len, n_issue, horizon, first = 10, 4, 3, 40
    window = cut_window(numbered_site(100), first, n_issue, seq_len, horizon)

    # Past: days first-seq_len+1 .. first+N-1, the last N of them are the issue days.
    np.testing.assert_array_equal(window["past"][:, 0], np.arange(first - seq_len + 1, first + n_issue))
    issue = first + np.arange(n_issue)
    # Issue i sees its own day as the last of its seq_len past days.
    np.testing.assert_array_equal(window["past"][seq_len - 1 :, 0], issue)
    # Target and future row i: days issue_i + 1 .. issue_i + horizon.
    leads = issue[:, None] + np.arange(1, horizon + 1)[None, :]
    np.testing.assert_array_equal(window["target"], leads)
    np.testing.assert_array_equal(window["future"][..., 0], leads)
    np.testing.assert_array_equal(window["future"][..., 1], -leads)
    np.testing.assert_array_equal(window["last_flow"], issue + 0.5)


def test_cut_window_pads_before_the_record_start() -> None:
    seq_len = 10
    window = cut_window(numbered_site(100), 3, 2, seq_len, 2)

    # Rows for days -6 .. -1 do not exist: zeros, mask 0.
    np.testing.assert_array_equal(window["past"][:6], 0.0)
    np.testing.assert_array_equal(window["past"][6:, 0], np.arange(0, 5))
    np.testing.assert_array_equal(window["past"][6:, 2], 1.0)


def test_cut_window_pads_after_the_record_end() -> None:
    window = cut_window(numbered_site(50), 47, 3, 5, 3)

    # Issues 47, 48, 49; leads reach day 52 but the record ends at day 49.
    expected = np.array([[48, 49, np.nan], [49, np.nan, np.nan], [np.nan, np.nan, np.nan]])
    np.testing.assert_array_equal(window["target"], expected)
    np.testing.assert_array_equal(window["future"][2], 0.0)
    np.testing.assert_array_equal(window["last_flow"], [47.5, 48.5, 49.5])


def test_cut_window_does_not_alias_the_site_arrays() -> None:
    site = numbered_site(60)
    window = cut_window(site, 30, 5, 10, 2)

    window["target"][:] = np.nan
    window["past"][:] = -1.0

    assert not np.isnan(site.target).any() and site.past.min() >= 0.0


def test_stack_windows_adds_the_batch_dimension() -> None:
    site = numbered_site(100)
    batch = stack_windows([cut_window(site, first, 4, 10, 3) for first in (20, 50)])

    assert tuple(batch.past.shape) == (2, 13, N_PAST)
    assert tuple(batch.future.shape) == (2, 4, 3, N_FEATURES)
    assert tuple(batch.static.shape) == (2, N_STATIC)
    assert tuple(batch.last_flow.shape) == (2, 4)
    assert tuple(batch.target.shape) == (2, 4, 3)
    assert batch.target[1, 0, 0].item() == 51.0


# to_site_tensors needs a real scaler: one site, 40 days, flow observed on some days only.
FEATURES = ("precipitation",)
OBSERVED = (np.arange(40) < 10) | (np.arange(40) == 20)


@pytest.fixture
def record_and_scaler():
    days = pd.date_range("2000-01-01", periods=40)
    flow = np.where(OBSERVED, np.arange(40) + 1.0, np.nan)
    record = build_site_series(
        Site("01234567", "x", 0.0, 0.0, 86.4),
        pd.DataFrame({"site_id": "01234567", "time": days, "precipitation": np.linspace(0, 5, 40)}),
        pd.DataFrame({"site_id": "01234567", "time": days, "flow": flow}),
        FEATURES,
    )
    return record, FeatureScaler.fit([record], FEATURES, dt.date(2000, 1, 1), dt.date(2000, 2, 9))


def test_to_site_tensors_masks_missing_flow(record_and_scaler) -> None:
    record, scaler = record_and_scaler

    tensors = to_site_tensors(record, scaler, seq_len=8)

    assert tensors.past.shape == (40, len(FEATURES) + 2)
    flow_input, mask = tensors.past[:, -2], tensors.past[:, -1]
    np.testing.assert_array_equal(mask, OBSERVED.astype(np.float32))
    np.testing.assert_array_equal(flow_input[~OBSERVED], 0.0)
    np.testing.assert_allclose(flow_input[OBSERVED], scaler.scale_flow_input(record.flow_mm[OBSERVED]), rtol=1e-6)
    assert np.isfinite(tensors.past).all() and np.isfinite(tensors.future).all()
    assert np.isnan(tensors.target[~OBSERVED]).all()
    np.testing.assert_allclose(tensors.target[OBSERVED], scaler.standardize_flow("01234567", record.flow_mm[OBSERVED]))
    np.testing.assert_array_equal(tensors.static, scaler.static_vector("01234567"))


def test_last_flow_carries_forward_within_seq_len_only(record_and_scaler) -> None:
    record, scaler = record_and_scaler
    seq_len = 8

    tensors = to_site_tensors(record, scaler, seq_len)

    last = tensors.last_flow
    target = tensors.target
    np.testing.assert_array_equal(last[:10], target[:10])
    # Day 9 is the last observation before the gap: an issue day still sees it while
    # it lies within its seq_len past days, i.e. up to day 9 + seq_len - 1 = 16.
    np.testing.assert_array_equal(last[10:17], target[9])
    np.testing.assert_array_equal(last[17:20], 0.0)
    assert last[20] == target[20]
    np.testing.assert_array_equal(last[21:28], target[20])
    np.testing.assert_array_equal(last[28:], 0.0)


def site_of_length(n_days: int) -> SiteTensors:
    return numbered_site(n_days)


def covered_issue_days(plan: list[tuple[int, int]], n_sites: int) -> list[np.ndarray]:
    counts = [np.zeros(5000, dtype=int) for _ in range(n_sites)]
    for number, first in plan:
        counts[number][first : first + ISSUE_DAYS_PER_WINDOW] += 1
    return counts


def expected_issue_days(site: SiteTensors, start: dt.date, end: dt.date, seq_len: int) -> np.ndarray:
    # Issue day t forecasts t+1 first: the period's first target day is issued the day before.
    first = max(site.index_of(start) - 1, seq_len - 1)
    last = min(site.index_of(end) - 1, len(site.target) - 2)
    return np.arange(first, last + 1)


@pytest.mark.parametrize(
    ("start", "end", "seq_len"),
    [
        (dt.date(2000, 3, 1), dt.date(2003, 1, 31), 100),  # spans several windows
        (dt.date(2000, 1, 1), dt.date(2000, 12, 31), 200),  # seq_len cuts the period start
        (dt.date(2002, 6, 1), dt.date(2002, 6, 10), 30),  # shorter than one window
        (dt.date(2002, 1, 1), dt.date(2010, 1, 1), 30),  # runs past the record end
    ],
)
def test_fixed_plan_covers_each_issue_day_exactly_once(start: dt.date, end: dt.date, seq_len: int) -> None:
    sites = [site_of_length(1200), site_of_length(900)]

    plan = plan_windows(sites, start, end, seq_len, rng=None)

    for site, counts in zip(sites, covered_issue_days(plan, len(sites)), strict=True):
        wanted = expected_issue_days(site, start, end, seq_len)
        assert (counts[wanted] == 1).all()
        # Windows may run past the period (those targets are hidden later) but never start before it.
        assert min(first for number, first in plan if sites[number] is site) == wanted[0]
    assert all(first >= seq_len - 1 for _, first in plan)


def test_fixed_plan_is_deterministic_and_ordered() -> None:
    sites = [site_of_length(1200), site_of_length(1200)]
    plan = plan_windows(sites, dt.date(2000, 6, 1), dt.date(2002, 12, 31), 60, rng=None)

    assert plan == plan_windows(sites, dt.date(2000, 6, 1), dt.date(2002, 12, 31), 60, rng=None)
    assert plan == sorted(plan)


def test_plan_skips_sites_without_issue_days_in_the_period() -> None:
    sites = [site_of_length(100), site_of_length(1200)]

    plan = plan_windows(sites, dt.date(2002, 1, 1), dt.date(2002, 12, 31), 30, rng=None)

    assert plan and {number for number, _ in plan} == {1}


def trained_issue_days(
    sites: list[SiteTensors], plan: list[tuple[int, int]], seq_len: int, period: tuple[dt.date, dt.date]
) -> list[np.ndarray]:
    """How often each issue day gets at least one unmasked target, per site, over one pass."""
    counts = [np.zeros(5000, dtype=int) for _ in sites]
    batches = iter_batches(sites, plan, seq_len, horizon=3, period=period, batch_size=len(plan))
    for (number, first), target in zip(plan, next(batches).target.numpy(), strict=True):
        issue = first + np.arange(ISSUE_DAYS_PER_WINDOW)
        trained = ~np.isnan(target).all(axis=1) & (issue >= 0)
        np.add.at(counts[number], issue[trained], 1)
    return counts


@pytest.mark.parametrize("seed", range(10))
def test_shuffled_plan_trains_each_issue_day_exactly_once(seed: int) -> None:
    sites = [site_of_length(1200), site_of_length(1000)]
    start, end, seq_len = dt.date(2000, 3, 1), dt.date(2003, 1, 31), 100

    plan = plan_windows(sites, start, end, seq_len, np.random.default_rng(seed))

    for site, counts in zip(sites, trained_issue_days(sites, plan, seq_len, (start, end)), strict=True):
        wanted = expected_issue_days(site, start, end, seq_len)
        np.testing.assert_array_equal(counts[wanted], 1)
        # Nothing outside the period's issue days (short history, other periods) is trained.
        assert counts.sum() == len(wanted)


def test_shuffled_plan_is_reproducible_from_its_seed() -> None:
    sites = [site_of_length(1200)]
    period = (dt.date(2000, 3, 1), dt.date(2003, 1, 31))
    first = plan_windows(sites, *period, 100, np.random.default_rng(5))
    assert first == plan_windows(sites, *period, 100, np.random.default_rng(5))


def test_iter_batches_hides_targets_after_the_period_end() -> None:
    sites = [site_of_length(1000), site_of_length(800)]
    start, end, seq_len, horizon = dt.date(2000, 4, 1), dt.date(2001, 6, 30), 50, 4
    plan = plan_windows(sites, start, end, seq_len, rng=None)
    end_index = sites[0].index_of(end)

    batches = list(iter_batches(sites, plan, seq_len, horizon, (start, end), batch_size=3))

    assert sum(batch.target.shape[0] for batch in batches) == len(plan)
    assert [batch.target.shape[0] for batch in batches] == [3, 1]
    seen = 0
    for batch in batches:
        for target in batch.target.numpy():
            first = plan[seen][1]
            seen += 1
            lead_day = first + np.arange(ISSUE_DAYS_PER_WINDOW)[:, None] + np.arange(1, horizon + 1)
            assert np.isnan(target[lead_day > end_index]).all()
            # Days up to the end keep their value, which is the day number.
            np.testing.assert_array_equal(target[lead_day <= end_index], lead_day[lead_day <= end_index])
    # The site arrays themselves are untouched.
    assert not np.isnan(sites[0].target).any()
