"""Quantiles, flood thresholds, exceedance, severity and trend over HTTP; CSV; observations."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from config.settings import AppConfig
from domain.flood import RETURN_PERIODS
from test.integration.test_http import DEMO_SITE, assert_error, get_json, response_validator
from test.support import RunningService, with_archive

pytestmark = pytest.mark.slow

LEVELS = ("0.05", "0.1", "0.25", "0.5", "0.75", "0.9", "0.95")


@pytest.fixture(scope="module")
def api(trained_config: AppConfig, tmp_path_factory: pytest.TempPathFactory):
    """The service over the tiny trained model, with an archive of its own."""
    with RunningService(with_archive(trained_config, tmp_path_factory.mktemp("outlook"))) as service:
        yield service


def hindcast(service: RunningService, query: str = "") -> dict:
    status, body = get_json(service, f"/forecast?site_id={DEMO_SITE}&forecast_days=5&issue_date=2022-06-01{query}")
    assert status == 200, body
    response_validator("Forecast").validate(body)
    return body


def test_every_day_has_monotone_non_negative_quantiles(api: RunningService) -> None:
    # They need not bracket `flow`: where the model's errors on the calibration period lean one way,
    # the distribution leans with them, and the point forecast stays the model's own.
    for day in hindcast(api)["forecast"]:
        values = [day["quantiles"][level] for level in LEVELS]
        assert list(day["quantiles"]) == list(LEVELS)
        assert values == sorted(values) and values[0] >= 0


def test_exceedance_probabilities_agree_with_the_quantiles(api: RunningService) -> None:
    body = hindcast(api)
    thresholds = body["thresholds"]
    assert set(thresholds) == {str(years) for years in RETURN_PERIODS}
    for day in body["forecast"]:
        probabilities = [day["exceedance"][str(years)] for years in RETURN_PERIODS]
        assert probabilities == sorted(probabilities, reverse=True)  # higher thresholds are less likely
        for years in RETURN_PERIODS:
            threshold, p = thresholds[str(years)], day["exceedance"][str(years)]
            for level in LEVELS:
                # A threshold below the q-quantile is exceeded with probability >= 1 - q, and one above it
                # with probability <= 1 - q (both read from the same distribution).
                if threshold < day["quantiles"][level]:
                    assert p >= 1 - float(level) - 1e-3, (years, level)
                elif threshold > day["quantiles"][level]:
                    assert p <= 1 - float(level) + 1e-3, (years, level)


def test_severity_and_trend_follow_from_the_days(api: RunningService) -> None:
    body = hindcast(api)
    likely = [years for day in body["forecast"] for years in RETURN_PERIODS if day["exceedance"][str(years)] >= 0.5]
    assert body["severity"] == (f"{max(likely)}-year" if likely else "none")
    assert body["trend"] in ("rising", "falling", "steady")


def test_info_serves_the_flood_thresholds_the_forecast_uses(api: RunningService) -> None:
    status, info = get_json(api, f"/info?site_id={DEMO_SITE}")
    assert status == 200
    response_validator("Info").validate(info)
    thresholds = info["sites"][0]["flood_thresholds"]
    assert thresholds["years"] == 8 and "L-moments" in thresholds["method"]
    assert {years: round(flow, 4) for years, flow in thresholds["flows"].items()} == hindcast(api)["thresholds"]


def test_quantiles_can_be_chosen_among_the_offered_levels(api: RunningService) -> None:
    days = hindcast(api, "&quantiles=0.95,0.05")["forecast"]
    assert all(list(day["quantiles"]) == ["0.05", "0.95"] for day in days)
    assert days == [
        {**day, "quantiles": {level: day["quantiles"][level] for level in ("0.05", "0.95")}}
        for day in hindcast(api)["forecast"]
    ]


@pytest.mark.parametrize("value", ["0.07", "0.5,", "median", "0.05;0.95", "1"])
def test_unsupported_quantiles_are_400_naming_the_allowed_ones(api: RunningService, value: str) -> None:
    assert_error(
        api,
        f"/forecast?site_id={DEMO_SITE}&forecast_days=5&quantiles={value}",
        400,
        "invalid_request",
        "quantiles",
        "0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95",
    )


def test_unsupported_format_is_400_naming_the_allowed_ones(api: RunningService) -> None:
    assert_error(api, f"/forecast?site_id={DEMO_SITE}&forecast_days=5&format=xml", 400, "invalid_request", "json, csv")


def test_csv_is_the_same_table_with_a_header_row(api: RunningService) -> None:
    query = f"/forecast?site_id={DEMO_SITE}&forecast_days=3&issue_date=2022-06-01"
    body = get_json(api, query)[1]
    response = api.get(query + "&format=csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == [
        "lead_days",
        "date",
        "flow",
        *(f"q{level}" for level in LEVELS),
        *(f"exceed_{years}y" for years in RETURN_PERIODS),
        "observed",
    ]
    assert len(rows) == 3
    for row, day in zip(rows, body["forecast"], strict=True):
        assert (int(row["lead_days"]), row["date"], float(row["flow"])) == (day["lead_days"], day["date"], day["flow"])
        assert [float(row[f"q{level}"]) for level in LEVELS] == [day["quantiles"][level] for level in LEVELS]
        assert [float(row[f"exceed_{years}y"]) for years in RETURN_PERIODS] == [
            day["exceedance"][str(years)] for years in RETURN_PERIODS
        ]
        assert float(row["observed"]) == day["observed"]
    # Asked again (answered from memory), it is still CSV; errors stay JSON.
    assert api.get(query + "&format=csv").text == response.text
    assert_error(api, query + "&format=csv&quantiles=0.3", 400, "invalid_request", "quantiles")


def test_observations_give_every_day_of_the_period(api: RunningService) -> None:
    status, body = get_json(api, f"/observations?site_id={DEMO_SITE}&start=2022-05-01&end=2022-06-01")
    assert status == 200
    response_validator("Observations").validate(body)
    days = [entry["date"] for entry in body["observations"]]
    assert days[0] == "2022-05-01" and days[-1] == "2022-06-01" and len(days) == 32
    forecast = hindcast(api)
    assert body["observations"][-1]["flow"] is not None
    after = get_json(api, f"/observations?site_id={DEMO_SITE}&start=2022-06-02&end=2022-06-03")[1]
    assert [entry["flow"] for entry in after["observations"]] == [day["observed"] for day in forecast["forecast"][:2]]


@pytest.mark.parametrize(
    ("query", "status", "fragment"),
    [
        ("start=2022-06-01&end=2022-05-01", 400, "must not be before"),
        ("start=2020-01-01&end=2022-01-01", 400, "at most 366 days"),
        ("start=2022-02-30&end=2022-03-01", 400, "calendar date"),
        ("start=2022-01-01", 400, "'end'"),
    ],
)
def test_bad_observation_periods_are_400(api: RunningService, query: str, status: int, fragment: str) -> None:
    assert_error(api, f"/observations?site_id={DEMO_SITE}&{query}", status, "invalid_request", fragment)


def test_observations_of_an_unknown_site_are_404(api: RunningService) -> None:
    assert_error(api, "/observations?site_id=12345678&start=2022-01-01&end=2022-01-02", 404, "unknown_site")


def test_archived_forecasts_keep_their_quantiles(api: RunningService) -> None:
    body = hindcast(api)
    status, listed = get_json(api, f"/forecasts?site_id={DEMO_SITE}&limit=100")
    assert status == 200
    response_validator("ForecastList").validate(listed)
    kept = next(entry for entry in listed["forecasts"] if entry["forecast_id"] == body["forecast_id"])
    for lead, day in enumerate(body["forecast"]):
        assert {level: kept["quantiles"][level][lead] for level in LEVELS} == day["quantiles"]
        assert {years: round(kept["exceedance"][years][lead], 3) for years in kept["exceedance"]} == day["exceedance"]
    assert dt.date.fromisoformat(kept["issue_date"]) == dt.date(2022, 6, 1)
