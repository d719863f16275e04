"""Tests of domain/requests.py: query parameter casting and the 400 messages."""

from __future__ import annotations

import datetime as dt

import pytest

from domain.errors import InvalidRequestError
from domain.requests import INFO_QUERY_SCHEMA, forecast_query_schema, parse_query

LEVELS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
SCHEMA = forecast_query_schema(5, LEVELS)
SITE = "01234567"


def args(**values: str | list[str]) -> dict[str, list[str]]:
    """Tornado's shape: every parameter maps to the list of its raw values."""
    return {name: value if isinstance(value, list) else [value] for name, value in values.items()}


def test_valid_query_is_cast() -> None:
    query = parse_query(SCHEMA, args(site_id=SITE, forecast_days="3", issue_date="2020-02-29"))

    assert query == {"site_id": SITE, "forecast_days": 3, "issue_date": dt.date(2020, 2, 29)}
    assert type(query["forecast_days"]) is int
    assert type(query["issue_date"]) is dt.date


def test_issue_date_is_optional_and_site_id_stays_a_string() -> None:
    query = parse_query(SCHEMA, args(site_id="000000012345678", forecast_days="5"))

    assert query == {"site_id": "000000012345678", "forecast_days": 5}


@pytest.mark.parametrize("days", ["1", "5", " 2", "+4"])
def test_forecast_days_bounds_are_inclusive(days: str) -> None:
    assert parse_query(SCHEMA, args(site_id=SITE, forecast_days=days))["forecast_days"] == int(days)


def test_maximum_follows_the_model_horizon() -> None:
    assert parse_query(forecast_query_schema(10, LEVELS), args(site_id=SITE, forecast_days="10"))["forecast_days"] == 10
    with pytest.raises(InvalidRequestError, match="at most 1"):
        parse_query(forecast_query_schema(1, LEVELS), args(site_id=SITE, forecast_days="2"))


@pytest.mark.parametrize(
    ("arguments", "name", "reason"),
    [
        (args(forecast_days="3"), "site_id", "missing"),
        (args(site_id=SITE), "forecast_days", "missing"),
        (args(site_id="0123456a", forecast_days="3"), "site_id", "8 to 15 digits"),
        (args(site_id="1234567", forecast_days="3"), "site_id", "8 to 15 digits"),
        (args(site_id="1234567890123456", forecast_days="3"), "site_id", "8 to 15 digits"),
        (args(site_id="", forecast_days="3"), "site_id", "8 to 15 digits"),
        (args(site_id=SITE, forecast_days="0"), "forecast_days", "at least 1"),
        (args(site_id=SITE, forecast_days="-1"), "forecast_days", "at least 1"),
        (args(site_id=SITE, forecast_days="6"), "forecast_days", "at most 5"),
        (args(site_id=SITE, forecast_days="2.5"), "forecast_days", "integer"),
        (args(site_id=SITE, forecast_days="abc"), "forecast_days", "integer"),
        (args(site_id=SITE, forecast_days=""), "forecast_days", "integer"),
        (args(site_id=SITE, forecast_days="3", issue_date="2020-02-30"), "issue_date", "calendar date"),
        (args(site_id=SITE, forecast_days="3", issue_date="2021-02-29"), "issue_date", "calendar date"),
        (args(site_id=SITE, forecast_days="3", issue_date="2020-1-1"), "issue_date", "YYYY-MM-DD"),
        (args(site_id=SITE, forecast_days="3", issue_date="yesterday"), "issue_date", "YYYY-MM-DD"),
        (args(site_id=SITE, forecast_days="3", issue_date="20200101"), "issue_date", "YYYY-MM-DD"),
        (args(site_id=[SITE, "07654321"], forecast_days="3"), "site_id", "once"),
        (args(site_id=SITE, forecast_days=["3", "3"]), "forecast_days", "once"),
        (args(site_id=SITE, forecast_days="3", days="3"), "days", "unknown"),
        (args(site_id=SITE, forecast_days="3", site="x"), "site", "unknown"),
    ],
)
def test_invalid_query_names_the_parameter(arguments: dict, name: str, reason: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_query(SCHEMA, arguments)

    message = str(info.value)
    assert f"'{name}'" in message
    assert reason in message
    assert info.value.status == 400


def test_bad_value_is_echoed_in_the_message() -> None:
    with pytest.raises(InvalidRequestError, match=r"got 'abc'"):
        parse_query(SCHEMA, args(site_id=SITE, forecast_days="abc"))


def test_unknown_parameter_message_lists_accepted_ones() -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_query(SCHEMA, args(site_id=SITE, forecast_days="3", lead="2"))

    assert "site_id, forecast_days, issue_date" in str(info.value)


def test_info_query_accepts_nothing_or_a_site() -> None:
    assert parse_query(INFO_QUERY_SCHEMA, {}) == {}
    assert parse_query(INFO_QUERY_SCHEMA, args(site_id=SITE)) == {"site_id": SITE}


@pytest.mark.parametrize(
    ("arguments", "name"),
    [
        (args(site_id="123"), "site_id"),
        (args(site_id="abcdefgh"), "site_id"),
        (args(site_id=[SITE, SITE]), "site_id"),
        (args(forecast_days="3"), "forecast_days"),
    ],
)
def test_info_query_rejects_bad_parameters(arguments: dict, name: str) -> None:
    with pytest.raises(InvalidRequestError, match=f"'{name}'"):
        parse_query(INFO_QUERY_SCHEMA, arguments)


def test_superscript_digit_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequestError, match="forecast_days"):
        parse_query(SCHEMA, args(site_id=SITE, forecast_days="²"))


def test_site_id_with_trailing_newline_is_rejected() -> None:
    with pytest.raises(InvalidRequestError, match="site_id"):
        parse_query(SCHEMA, args(site_id=SITE + "\n", forecast_days="3"))
