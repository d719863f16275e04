"""Tests of model/predictor.py: the input contract, the window-only forecast, the data checks."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import torch

from config.settings import ModelConfig, TrainingConfig
from domain.errors import InsufficientDataError, UnknownSiteError
from domain.site import Site
from model.bundle import ModelBundle
from model.dataset import to_site_tensors
from model.ensemble import Ensemble, build_network
from model.evaluate import hindcast
from model.predictor import Predictor
from model.scaler import FeatureScaler
from model.site_data import build_site_series, mm_per_day_to_m3s
from model.trainer import training_days
from test.support import no_thresholds_or_spread

FEATURES = ("precipitation", "temperature_mean")
SITE = Site("01234567", "Alder Brook", 45.0, -70.0, 80.0)
MODEL = ModelConfig(meteo_features=FEATURES, seq_len=30, max_forecast_days=3, hidden_size=4, dropout=0.0)
DAYS = pd.date_range("2020-01-01", "2020-06-30")
ISSUE = dt.date(2020, 5, 1)


def frames(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    meteo = pd.DataFrame(
        {
            "site_id": SITE.site_id,
            "time": DAYS,
            "precipitation": rng.gamma(1.0, 3.0, len(DAYS)),
            "temperature_mean": rng.normal(8.0, 5.0, len(DAYS)),
        }
    )
    flow = pd.DataFrame({"site_id": SITE.site_id, "time": DAYS, "flow": rng.gamma(2.0, 2.0, len(DAYS))})
    return meteo, flow


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    meteo, flow = frames()
    record = build_site_series(SITE, meteo, flow, FEATURES)
    scaler = FeatureScaler.fit([record], FEATURES, dt.date(2020, 1, 1), dt.date(2020, 3, 31), ("precipitation",))
    torch.manual_seed(0)
    state_dicts = [build_network(MODEL, len(scaler.static_names)).state_dict() for _ in range(2)]
    training = TrainingConfig(
        train_start=dt.date(2020, 1, 1),
        train_end=dt.date(2020, 3, 31),
        test_start=dt.date(2020, 4, 1),
        test_end=dt.date(2020, 6, 30),
    )
    bundle = ModelBundle(
        "v1",
        MODEL,
        training,
        scaler,
        state_dicts,
        (SITE,),
        {},
        "ab" * 32,
        {},
        False,
        **no_thresholds_or_spread((SITE,), MODEL.max_forecast_days),
    )
    return Predictor(bundle)


def between(frame: pd.DataFrame, first: dt.date, last: dt.date) -> pd.DataFrame:
    return frame.loc[frame["time"].between(pd.Timestamp(first), pd.Timestamp(last))]


def test_input_period_covers_seq_len_past_days_and_the_lead_days(predictor: Predictor) -> None:
    period = predictor.input_period(ISSUE)
    assert (period.first_day, period.issue_date, period.last_day) == (
        dt.date(2020, 4, 2),
        ISSUE,
        dt.date(2020, 5, 4),
    )


def test_a_forecast_from_the_window_equals_the_hindcast_over_the_whole_record(predictor: Predictor) -> None:
    meteo, flow = frames()
    period = predictor.input_period(ISSUE)
    prediction = predictor.predict(
        SITE.site_id,
        ISSUE,
        between(flow, period.first_day, ISSUE),
        between(meteo, period.first_day, ISSUE),
        between(meteo, ISSUE + dt.timedelta(days=1), period.last_day),
    )
    forecast = prediction.flows
    assert len(prediction.inputs_fingerprint) == 64 and prediction.filled_gaps == 0
    assert 0.0 <= prediction.drift < 0.5  # April-May inputs against a January-March training range
    # Scoring cuts the same issue day out of the whole record, scaled at once.
    scaler = predictor.bundle.scaler
    record = build_site_series(SITE, meteo, flow, FEATURES)
    ensemble = Ensemble.from_state_dicts(MODEL, scaler, predictor.bundle.state_dicts)
    tensors = to_site_tensors(record, scaler, MODEL.seq_len)
    first_lead = ISSUE + dt.timedelta(days=1)
    rows = hindcast(ensemble.members, [tensors], first_lead, first_lead, MODEL.seq_len, MODEL.max_forecast_days)
    standardized = rows[SITE.site_id][record.index_of(ISSUE)]
    expected = mm_per_day_to_m3s(np.maximum(scaler.unstandardize_flow(SITE.site_id, standardized), 0.0), SITE.area_km2)
    assert forecast.shape == (3,) and (forecast >= 0).all()
    np.testing.assert_allclose(forecast, expected, rtol=1e-5)


def test_flow_after_the_issue_day_is_never_an_input(predictor: Predictor) -> None:
    meteo, flow = frames()
    period = predictor.input_period(ISSUE)
    history = between(meteo, period.first_day, ISSUE)
    ahead = between(meteo, ISSUE + dt.timedelta(days=1), period.last_day)
    known = predictor.predict(SITE.site_id, ISSUE, between(flow, period.first_day, ISSUE), history, ahead)
    later = between(flow, period.first_day, period.last_day).assign(flow=lambda f: f["flow"] * 100.0)
    later.loc[later["time"] <= pd.Timestamp(ISSUE), "flow"] /= 100.0
    again = predictor.predict(SITE.site_id, ISSUE, later, history, ahead)
    np.testing.assert_array_equal(again.flows, known.flows)
    assert again.inputs_fingerprint == known.inputs_fingerprint  # the inputs it saw are the same


def test_other_inputs_give_another_fingerprint_and_gaps_are_counted(predictor: Predictor) -> None:
    meteo, flow = frames()
    period = predictor.input_period(ISSUE)
    history = between(meteo, period.first_day, ISSUE)
    ahead = between(meteo, ISSUE + dt.timedelta(days=1), period.last_day)
    flow_in = between(flow, period.first_day, ISSUE)
    base = predictor.predict(SITE.site_id, ISSUE, flow_in, history, ahead)
    gappy = flow_in.copy()
    gappy.loc[gappy.index[:3], "flow"] = np.nan
    other = predictor.predict(SITE.site_id, ISSUE, gappy, history, ahead)
    assert other.inputs_fingerprint != base.inputs_fingerprint and other.filled_gaps == 3


def test_the_meteorological_forecast_wins_over_history_on_a_shared_day(predictor: Predictor) -> None:
    meteo, flow = frames()
    period = predictor.input_period(ISSUE)
    flow_in = between(flow, period.first_day, ISSUE)
    ahead = between(meteo, ISSUE + dt.timedelta(days=1), period.last_day)
    stale_history = between(meteo, period.first_day, period.last_day).assign(precipitation=0.0)
    with_forecast = predictor.predict(SITE.site_id, ISSUE, flow_in, stale_history, ahead).flows
    without = predictor.predict(SITE.site_id, ISSUE, flow_in, stale_history, ahead.iloc[0:0]).flows
    assert not np.array_equal(with_forecast, without)


def test_an_unserved_site_is_unknown(predictor: Predictor) -> None:
    meteo, flow = frames()
    with pytest.raises(UnknownSiteError, match="09999999"):
        predictor.predict("09999999", ISSUE, flow, meteo, meteo.iloc[0:0])


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        ("forecast", "meteorological forecast for the 3 days after 2020-05-01 is incomplete"),
        ("history", "meteorology covers"),
        ("flow", "no observed flow in the 30 days up to 2020-05-01"),
    ],
)
def test_missing_inputs_are_insufficient_data_naming_what_is_missing(
    predictor: Predictor, cut: str, message: str
) -> None:
    meteo, flow = frames()
    period = predictor.input_period(ISSUE)
    history = between(meteo, period.first_day, ISSUE)
    ahead = between(meteo, ISSUE + dt.timedelta(days=1), period.last_day)
    flow_in = between(flow, period.first_day, ISSUE)
    if cut == "forecast":
        ahead = ahead.iloc[:-1]
    elif cut == "history":
        history = history.iloc[-5:]
    else:
        flow_in = flow_in.assign(flow=np.nan)
    with pytest.raises(InsufficientDataError, match=message):
        predictor.predict(SITE.site_id, ISSUE, flow_in, history, ahead)


def test_training_days_reach_from_the_input_history_to_the_last_lead_day() -> None:
    training = TrainingConfig(
        train_start=dt.date(2010, 1, 1),
        train_end=dt.date(2015, 12, 31),
        validation_start=dt.date(2005, 1, 1),
        validation_end=dt.date(2006, 12, 31),
        test_start=dt.date(2016, 1, 1),
        test_end=dt.date(2018, 12, 31),
    )
    assert training_days(MODEL, training) == (dt.date(2004, 12, 2), dt.date(2019, 1, 3))
