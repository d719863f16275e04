"""OpenMeteoReader over HTTP against the replay server: variables, time zone, hosts per window, null tails, cache."""

from __future__ import annotations

import datetime as dt

import pytest

from adapter.http_client import UpstreamClient
from adapter.open_meteo_reader import OpenMeteoReader
from adapter.upstream_cache import UpstreamCache
from config.settings import UpstreamConfig
from domain.errors import DataFormatError, DataSourceError
from domain.site import Site
from test.replay_server import TODAY, ReplayServer, http_error, meteo_value, open_meteo_error

SITE = Site(
    "01646500", "POTOMAC RIVER NEAR WASH, DC LITTLE FALLS PUMP STA", 38.949777777777776, -77.12763888888888, 29940.26
)
VARIABLES = {
    "precipitation": "precipitation_sum",
    "temperature_max": "temperature_2m_max",
    "temperature_min": "temperature_2m_min",
    "temperature_mean": "temperature_2m_mean",
    "evapotranspiration": "et0_fao_evapotranspiration",
}


@pytest.fixture
def reader(upstream_config: UpstreamConfig) -> OpenMeteoReader:
    client = UpstreamClient("Open-Meteo", upstream_config, 1)
    cache = UpstreamCache(upstream_config.cache_dir / "upstream.sqlite")
    return OpenMeteoReader(client, cache, upstream_config, lambda: TODAY)


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def days_of(frame) -> list[str]:
    return list(frame["time"].dt.strftime("%Y-%m-%d"))


def assert_served_values(frame) -> None:
    """Every cell equals what the replay server generated for that variable and day."""
    for _, row in frame.iterrows():
        for column, name in VARIABLES.items():
            assert row[column] == pytest.approx(meteo_value(name, SITE.latitude, row["time"].date())), (
                column,
                row["time"],
            )


def test_history_maps_the_five_daily_variables(reader, replay: ReplayServer) -> None:
    frame = reader.read_history(SITE, day("2026-06-01"), day("2026-06-03"))
    assert days_of(frame) == ["2026-06-01", "2026-06-02", "2026-06-03"]
    assert list(frame.columns) == ["site_id", "time", *VARIABLES]
    assert_served_values(frame)
    (request,) = replay.requests
    assert request.route == "archive"
    assert request.params["daily"].split(",") == list(VARIABLES.values())
    # The whole calendar year is one cached block; the archive refuses days after today.
    assert (request.params["start_date"], request.params["end_date"]) == ("2026-01-01", "2026-10-01")


def test_every_request_names_the_sites_time_zone(reader, replay: ReplayServer) -> None:
    reader.read_history(SITE, day("2025-12-30"), day("2026-01-02"))
    reader.read_forecast(SITE, day("2026-09-30"), 5)
    assert {r.route for r in replay.requests} == {"archive", "forecast"}
    assert {r.params["timezone"] for r in replay.requests} == {"America/New_York"}
    assert {(r.params["latitude"], r.params["longitude"]) for r in replay.requests} == {
        ("38.949777777777776", "-77.12763888888888")
    }


def test_the_archives_null_tail_is_filled_from_the_forecast_apis_past_days(reader, replay: ReplayServer) -> None:
    # The replayed archive has nulls from 2026-09-29 on (its lag); the forecast API has them.
    frame = reader.read_history(SITE, day("2026-09-25"), day("2026-10-10"))
    assert days_of(frame) == [f"2026-09-{d}" for d in range(25, 31)] + ["2026-10-01"]
    assert_served_values(frame)
    forecast = [r for r in replay.requests if r.route == "forecast"]
    assert [(r.params["past_days"], r.params["forecast_days"]) for r in forecast] == [("7", "16")]


def test_old_history_needs_no_forecast_call(reader, replay: ReplayServer) -> None:
    reader.read_history(SITE, day("2024-12-20"), day("2025-01-10"))
    assert sorted(r.params["start_date"] for r in replay.requests) == ["2024-01-01", "2025-01-01"]
    assert replay.hits("forecast") == 0


def test_the_forecast_gives_the_days_after_the_issue_date(reader) -> None:
    frame = reader.read_forecast(SITE, day("2026-09-30"), 5)
    assert days_of(frame) == [f"2026-10-0{d}" for d in range(1, 6)]
    assert_served_values(frame)


def test_days_past_the_forecast_horizon_are_left_out(reader) -> None:
    # The replayed forecast turns null from 2026-10-15 (like the recorded 16-day tail).
    frame = reader.read_forecast(SITE, day("2026-10-10"), 8)
    assert days_of(frame) == ["2026-10-11", "2026-10-12", "2026-10-13", "2026-10-14"]


def test_hindcast_lead_days_older_than_the_forecast_window_come_from_the_archive(reader, replay: ReplayServer) -> None:
    frame = reader.read_forecast(SITE, day("2026-06-30"), 3)
    assert days_of(frame) == ["2026-07-01", "2026-07-02", "2026-07-03"]
    assert_served_values(frame)
    assert replay.hits("archive") == 1


def test_repeated_reads_are_served_from_the_cache(reader, replay: ReplayServer) -> None:
    reader.read_history(SITE, day("2026-01-01"), day("2026-09-30"))
    reader.read_forecast(SITE, day("2026-09-30"), 5)
    before = replay.hits()
    reader.read_history(SITE, day("2026-02-01"), day("2026-09-30"))
    reader.read_forecast(SITE, day("2026-09-30"), 5)
    assert replay.hits() == before


def test_open_meteos_reason_is_reported(reader, replay: ReplayServer) -> None:
    reason = "Parameter 'start_date' is out of allowed range from 1940-01-01 to 2026-10-01"
    replay.fail("archive", open_meteo_error(400, reason))
    with pytest.raises(DataSourceError, match=f"^Open-Meteo: HTTP 400 from .*/archive: {reason}"):
        reader.read_history(SITE, day("2026-06-01"), day("2026-06-03"))


def test_the_recorded_archive_response_lacks_our_variables(reader, replay: ReplayServer) -> None:
    recorded = replay.fixture_bytes("openmeteo_archive_1953-01-31_1953-02-01_hourly_daily.json")
    replay.fail("archive", http_error(200, recorded))
    with pytest.raises(DataFormatError, match="'daily.temperature_2m_max' is missing"):
        reader.read_history(SITE, day("2026-06-01"), day("2026-06-03"))
