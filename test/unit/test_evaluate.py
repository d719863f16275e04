"""The scoring protocol and the skill table (model/evaluate.py), and the baselines reader."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adapter.baselines import read_baselines
from domain.errors import DataFormatError
from domain.site import Site
from model.ensemble import to_mm
from model.evaluate import baseline_medians, format_table, score
from model.metrics import nse
from model.scaler import FeatureScaler
from model.site_data import SiteSeries
from test.support import shared_dir_or_skip

START = pd.Timestamp("2000-01-01")
SITE = Site("01234567", "test", 45.0, -70.0, 86.4)  # 1 m3/s = 1 mm/day


def record(flow_mm: np.ndarray) -> SiteSeries:
    return SiteSeries(SITE, START, np.zeros((len(flow_mm), 1), np.float32), flow_mm.astype(np.float32))


def identity_scaler() -> FeatureScaler:
    # Standardised forecasts equal mm/day forecasts, so the test reasons in mm/day.
    return FeatureScaler(
        features=("precipitation",),
        meteo_mean=np.zeros(1),
        meteo_std=np.ones(1),
        root_scaled=(),
        log_flow_mean=0.0,
        log_flow_std=1.0,
        site_flow_std={SITE.site_id: 1.0},
        static_names=(),
        static_mean=np.zeros(0),
        static_std=np.ones(0),
        site_static={SITE.site_id: np.zeros(0)},
        site_ranges={SITE.site_id: np.array([[0.0, 0.0], [100.0, 100.0]])},
    )


def test_scores_only_issue_days_whose_target_is_inside_the_period() -> None:
    flow = np.arange(1.0, 21.0)  # 20 days, flow = day number
    forecasts = np.full((20, 2), 99.0)  # far off everywhere ...
    period = (dt.date(2000, 1, 6), dt.date(2000, 1, 15))  # indices 5..14
    for lead in (1, 2):
        # ... except where the protocol scores: issue t in 5..14-lead, target t+lead.
        issue = np.arange(5, 15 - lead)
        forecasts[issue, lead - 1] = flow[issue + lead]

    scores = score([record(flow)], {SITE.site_id: forecasts}, *period)

    assert list(scores["lead_days"]) == [1, 2]
    assert (scores["nse"] == 1.0).all()
    assert list(scores["n_days"]) == [9, 8]


def test_persistence_is_the_issue_day_flow_hand_checked() -> None:
    flow = np.array([1.0, 3.0, 2.0, 5.0, 4.0])
    scores = score([record(flow)], {SITE.site_id: np.zeros((5, 1))}, dt.date(2000, 1, 1), dt.date(2000, 1, 5))
    # lead 1: obs = [3, 2, 5, 4], persistence = [1, 3, 2, 5]
    expected = nse(np.array([3.0, 2.0, 5.0, 4.0]), np.array([1.0, 3.0, 2.0, 5.0]))
    assert scores.loc[0, "persistence_nse"] == pytest.approx(expected)
    # 1 - (4+1+9+1) / (sum((obs - 3.5)^2) = 5) = -2
    assert expected == pytest.approx(-2.0)


def test_negative_forecasts_are_clipped_to_zero_before_scoring() -> None:
    flow = np.array([0.0, 0.0, 1.0, 0.0, 2.0, 0.0])
    forecasts = to_mm(identity_scaler(), SITE.site_id, np.full((6, 1), -5.0))
    scores = score([record(flow)], {SITE.site_id: forecasts}, dt.date(2000, 1, 1), dt.date(2000, 1, 6))
    observed = flow[1:]
    assert scores.loc[0, "nse"] == pytest.approx(nse(observed, np.zeros(5)))


def scores_table(model_nse: list[float], persistence_nse: list[float]) -> pd.DataFrame:
    rows = [
        {"site_id": f"0000000{i}", "lead_days": 1, "nse": m, "kge": m, "persistence_nse": p, "persistence_kge": p}
        for i, (m, p) in enumerate(zip(model_nse, persistence_nse, strict=True))
    ]
    return pd.DataFrame(rows)


def test_table_shows_medians_and_names_sites_behind_persistence() -> None:
    table = format_table(scores_table([0.9, 0.5, 0.7], [0.8, 0.6, 0.685]))
    assert "median over 3 sites" in table
    assert "   1 |  0.700   0.685    nan |  0.700   0.685    nan" in table
    # 0.5 < 0.6 - 0.02; 0.7 is within 0.02 of 0.685.
    assert "lead 1: 1 site(s) more than 0.02 NSE below persistence ['00000001']" in table


def test_table_shows_climatology_from_baselines_of_the_scored_sites() -> None:
    baselines = pd.DataFrame(
        [
            {"site_id": "00000000", "lead_days": 1, "baseline": "climatology_doy", "nse": 0.1, "kge": 0.2},
            {"site_id": "00000001", "lead_days": 1, "baseline": "climatology_doy", "nse": 0.3, "kge": 0.4},
            {"site_id": "99999999", "lead_days": 1, "baseline": "climatology_doy", "nse": 9.0, "kge": 9.0},
        ]
    )
    table = format_table(scores_table([0.9, 0.5], [0.8, 0.6]), baselines)
    assert "   1 |  0.700   0.700  0.200 |  0.700   0.700  0.300" in table


def test_reads_the_camels30_baselines() -> None:
    data_dir = shared_dir_or_skip("bench", "camels30")
    baselines = read_baselines(data_dir)
    assert set(baselines["baseline"]) == {"persistence", "climatology_doy"}
    assert baselines["site_id"].str.len().eq(8).all()
    medians = baseline_medians(baselines, list(baselines["site_id"].unique()))
    # The benchmark README: persistence median NSE 0.438 at lead 1; climatology about 0.04.
    assert medians.loc[1, ("nse", "persistence")] == pytest.approx(0.438, abs=0.001)
    assert medians.loc[1, ("nse", "climatology_doy")] == pytest.approx(0.04, abs=0.01)


def test_missing_baselines_file_is_none(tmp_path: Path) -> None:
    assert read_baselines(tmp_path) is None


def test_malformed_baselines_file_names_it(tmp_path: Path) -> None:
    (tmp_path / "baselines.csv").write_text("site_id,lead_days,nse\n01234567,1,0.5\n")
    with pytest.raises(DataFormatError, match="baselines.csv.*'baseline'"):
        read_baselines(tmp_path)


def test_table_shows_low_flow_errors_of_model_and_persistence() -> None:
    rows = [
        {
            "site_id": f"0000000{i}",
            "lead_days": lead,
            "nse": 0.8,
            "kge": 0.8,
            "persistence_nse": 0.5,
            "persistence_kge": 0.5,
            "low_flow_error": 0.1 * lead + 0.01 * i,
            "persistence_low_flow_error": 0.05 * lead,
        }
        for i in range(3)
        for lead in (1, 2)
    ]
    table = format_table(pd.DataFrame(rows))
    assert (
        "low flows (lowest 30 % of observed days), median relative error at lead 1 / 2: 0.110 / 0.210, persistence 0.050 / 0.100"
        in table
    )


def test_a_forecast_of_zero_for_a_flowing_river_scores_a_low_flow_error_of_one() -> None:
    flow = np.arange(1.0, 41.0)
    scores = score([record(flow)], {SITE.site_id: np.zeros((40, 1))}, dt.date(2000, 1, 1), dt.date(2000, 2, 9))
    assert scores.loc[0, "low_flow_error"] == pytest.approx(1.0)
    assert scores.loc[0, "persistence_low_flow_error"] > 0
