"""Tests of service/recent_answers.py: a repeat of the same query to the same model, renewed when due."""

from __future__ import annotations

import datetime as dt
import time

from domain.forecast import Forecast
from service.recent_answers import RecentAnswers

QUERY = "site_id=09900001&forecast_days=5"


def forecast(model_version: str = "v1", registry_version: str | None = "1") -> Forecast:
    return Forecast("09900001", dt.date(2024, 12, 31), model_version, (), registry_version=registry_version)


def test_a_repeat_of_the_same_query_to_the_same_model_gets_the_same_forecast() -> None:
    recent = RecentAnswers(max_age_s=60.0, max_entries=10)
    answer = forecast()
    recent.put(QUERY, answer)
    assert recent.get(("v1", "1"), QUERY) == (answer, False)
    assert recent.get(("v1", "1"), QUERY + "&issue_date=2020-01-01") is None
    assert recent.get(("v2", "2"), QUERY) is None  # another model served: asked again
    assert recent.get(("v1", None), QUERY) is None


def test_an_old_answer_is_due_for_renewal_and_a_forgotten_one_is_gone() -> None:
    short = RecentAnswers(max_age_s=0.05, max_entries=10)
    answer = forecast()
    short.put(QUERY, answer)
    time.sleep(0.06)
    assert short.get(("v1", "1"), QUERY) == (answer, True)
    short.put(QUERY, answer)  # renewed
    assert short.get(("v1", "1"), QUERY) == (answer, False)
    short.forget(QUERY)
    assert short.get(("v1", "1"), QUERY) is None


def test_nothing_is_kept_at_zero_seconds_and_only_the_newest_are_kept() -> None:
    never = RecentAnswers(max_age_s=0.0, max_entries=10)
    never.put(QUERY, forecast())
    assert never.get(("v1", "1"), QUERY) is None
    few = RecentAnswers(max_age_s=60.0, max_entries=2)
    for days in (1, 2, 3):
        few.put(f"site_id=09900001&forecast_days={days}", forecast())
    assert few.get(("v1", "1"), "site_id=09900001&forecast_days=1") is None
    assert few.get(("v1", "1"), "site_id=09900001&forecast_days=3") is not None
