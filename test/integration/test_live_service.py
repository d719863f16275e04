"""Live mode end to end: train on the USGS and Open-Meteo readers against the replay server, then serve.

The replay server stands in for both upstreams (recorded responses, deterministic history
for two Potomac gauges, today pinned to 2026-10-01). Every failure mode must give the
documented status and JSON, keep the service up and leave the other site working.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.loader import load_config
from config.settings import AppConfig
from model.bundle import load_bundle
from service.training_service import train_from_config
from test.integration.test_http import assert_error, get_json, response_validator
from test.replay_server import (
    FIRST_DAY,
    FIXTURE_SITE,
    HTML_PAGE,
    OTHER_SITE,
    SLOW,
    TODAY,
    TRUNCATED,
    Fault,
    ReplayServer,
    gateway_error,
    http_error,
    open_meteo_error,
    upstream_settings,
)
from test.support import RunningService, shared_dir_or_skip, write_config

pytestmark = pytest.mark.slow

FORECAST = f"/forecast?site_id={FIXTURE_SITE}&forecast_days=5"
OTHER_FORECAST = f"/forecast?site_id={OTHER_SITE}&forecast_days=5"
# A fixture-site request of each upstream carries one of these in its query.
USGS_FIXTURE_SITE = f"USGS-{FIXTURE_SITE}"
OPEN_METEO_FIXTURE_SITE = "latitude=38.949"


@pytest.fixture(scope="module")
def live_replay() -> Iterator[ReplayServer]:
    with ReplayServer(shared_dir_or_skip("fixtures", "upstream")) as server:
        yield server


@pytest.fixture(scope="module")
def live_config(live_replay: ReplayServer, tmp_path_factory: pytest.TempPathFactory) -> AppConfig:
    """A tiny model trained on the live readers (through the replay server); its bundle written."""
    root = tmp_path_factory.mktemp("live")
    overrides = {
        "data": {
            "flow_data": "usgs",
            "meteo_data": "open-meteo",
            "demo_dataset": False,
            "sites": [FIXTURE_SITE, OTHER_SITE],
        },
        "model": {"seq_len": 60, "hidden_size": 8},
        "training": {
            "train_start": "2024-03-01",
            "train_end": "2025-06-30",
            "validation_start": "2025-07-01",
            "validation_end": "2025-12-31",
            "test_start": "2026-01-01",
            "test_end": "2026-09-20",
            "epochs": 1,
        },
        "upstream": upstream_settings(live_replay, root / "cache"),
    }
    config = load_config(write_config(root, overrides), {})
    train_from_config(config, lambda: TODAY)
    return config


def with_upstream(config: AppConfig, cache_dir: Path, **changes) -> AppConfig:
    return dataclasses.replace(config, upstream=dataclasses.replace(config.upstream, cache_dir=cache_dir, **changes))


@pytest.fixture(scope="module")
def live_api(live_config: AppConfig) -> Iterator[RunningService]:
    """The service on the trained live model, sharing the cache that training filled."""
    with RunningService(live_config, lambda: TODAY) as service:
        yield service


def test_the_bundle_holds_the_sites_from_usgs_metadata(live_config: AppConfig) -> None:
    sites = {site.site_id: site for site in load_bundle(live_config.paths.model_dir).sites}
    assert set(sites) == {FIXTURE_SITE, OTHER_SITE}
    site = sites[FIXTURE_SITE]
    assert site.name == "POTOMAC RIVER NEAR WASH, DC LITTLE FALLS PUMP STA"
    assert round(site.area_km2, 1) == 29940.3
    assert (site.flow_start, site.flow_end) == (FIRST_DAY, dt.date(2026, 9, 30))


def test_info_answers_through_the_live_readers(live_api: RunningService) -> None:
    status, body = get_json(live_api, "/info")
    assert status == 200
    response_validator("Info").validate(body)
    assert body["synthetic_data"] is False
    (site,) = [site for site in body["sites"] if site["site_id"] == FIXTURE_SITE]
    assert (site["site_id"], round(site["latitude"], 4), round(site["longitude"], 4)) == (
        FIXTURE_SITE,
        38.9498,
        -77.1276,
    )
    assert site["data_period"] == {"start": FIRST_DAY.isoformat(), "end": "2026-09-30"}


def test_forecast_answers_and_a_repeat_makes_no_upstream_call(
    live_api: RunningService, live_replay: ReplayServer
) -> None:
    status, body = get_json(live_api, FORECAST)
    assert status == 200, body
    response_validator("Forecast").validate(body)
    assert body["issue_date"] == "2026-09-30" and body["hindcast"] is False
    assert (body["stale"], body["stale_age_s"]) == (False, None)
    assert [day["date"] for day in body["forecast"]] == [f"2026-10-0{d}" for d in range(1, 6)]
    assert all(day["flow"] >= 0 for day in body["forecast"])
    before = live_replay.hits()
    assert get_json(live_api, FORECAST) == (status, body)
    assert live_replay.hits() == before


FAILURES = [
    pytest.param(
        "usgs-daily",
        http_error(500, b"Internal Server Error"),
        USGS_FIXTURE_SITE,
        502,
        "data_source_error",
        "USGS Water Data API: HTTP 500",
        id="usgs-500",
    ),
    pytest.param(
        "usgs-daily",
        gateway_error(429, "OVER_RATE_LIMIT", "API rate limit exceeded", "0"),
        USGS_FIXTURE_SITE,
        502,
        "data_source_error",
        "OVER_RATE_LIMIT",
        id="usgs-429-exhausted",
    ),
    pytest.param(
        "usgs-daily",
        SLOW,
        USGS_FIXTURE_SITE,
        504,
        "upstream_timeout",
        "USGS Water Data API: no answer",
        id="usgs-timeout",
    ),
    pytest.param(
        "archive", TRUNCATED, OPEN_METEO_FIXTURE_SITE, 502, "data_format_error", "Open-Meteo: ", id="archive-truncated"
    ),
    pytest.param(
        "forecast", HTML_PAGE, OPEN_METEO_FIXTURE_SITE, 502, "data_format_error", "text/html", id="forecast-html"
    ),
    pytest.param(
        "archive",
        open_meteo_error(429, "Daily API request limit exceeded. Please try again tomorrow."),
        OPEN_METEO_FIXTURE_SITE,
        502,
        "data_source_error",
        "Daily API request limit exceeded",
        id="open-meteo-429",
    ),
]


@pytest.mark.parametrize("route, fault, match, status, code, fragment", FAILURES)
def test_upstream_failure_without_a_cached_copy(
    live_config, live_replay, tmp_path, route, fault, match, status, code, fragment
) -> None:
    live_replay.fail(route, fault, times=None, match=match)
    try:
        with RunningService(with_upstream(live_config, tmp_path / "cold"), lambda: TODAY) as service:
            assert_error(service, FORECAST, status, code, fragment)
            assert get_json(service, OTHER_FORECAST)[0] == 200
            assert get_json(service, "/healthCheck")[0] == 200
    finally:
        live_replay.heal()


@pytest.mark.parametrize("route", ["usgs-locations", "usgs-series"])
def test_site_metadata_are_no_forecast_input(live_config, live_replay, tmp_path, route) -> None:
    # The forecast takes the site from the bundle: USGS metadata failing, with nothing cached, stops nothing.
    live_replay.fail(route, http_error(500, b"Internal Server Error"), times=None)
    before = live_replay.hits(route)
    try:
        with RunningService(with_upstream(live_config, tmp_path / "cold"), lambda: TODAY) as service:
            status, body = get_json(service, FORECAST)
    finally:
        live_replay.heal()
    assert status == 200, body
    assert body["stale"] is False
    assert live_replay.hits(route) == before


@pytest.mark.parametrize(
    "route, match, stale_data",
    [
        ("usgs-daily", USGS_FIXTURE_SITE, True),
        ("archive", OPEN_METEO_FIXTURE_SITE, True),
        ("forecast", OPEN_METEO_FIXTURE_SITE, True),
    ],
)
def test_upstream_failure_with_an_expired_copy_serves_it_marked_stale(
    live_config, live_replay, tmp_path, route, match, stale_data
) -> None:
    # Lifetimes of zero: every request reads its data and goes upstream, and falls back on the copy when that fails.
    config = with_upstream(live_config, tmp_path / "expired", recent_ttl_s=0.0, history_ttl_s=0.0)
    config = dataclasses.replace(
        config, server=dataclasses.replace(config.server, input_refresh_s=0.0, repeat_answer_s=0.0)
    )
    with RunningService(config, lambda: TODAY) as service:
        fresh = get_json(service, FORECAST)[1]
        assert fresh["stale"] is False
        live_replay.fail(route, Fault(status=503, body=b"maintenance"), times=None, match=match)
        try:
            status, stale = get_json(service, FORECAST)
        finally:
            live_replay.heal()
        assert status == 200, stale
        response_validator("Forecast").validate(stale)
        assert stale["stale"] is stale_data
        assert 0 <= stale["stale_age_s"] < 60 if stale_data else stale["stale_age_s"] is None
        assert stale["forecast"] == fresh["forecast"]
        assert get_json(service, OTHER_FORECAST)[1]["stale"] is False


def test_metrics_count_upstream_attempts_retries_and_cache_lookups(live_config, live_replay, tmp_path) -> None:
    from test.integration.test_monitoring import samples

    live_replay.fail("usgs-daily", http_error(503, b"Service Unavailable"), times=1, match=USGS_FIXTURE_SITE)
    with RunningService(with_upstream(live_config, tmp_path / "cold"), lambda: TODAY) as service:
        assert get_json(service, FORECAST)[0] == 200  # after one retry
        assert get_json(service, FORECAST)[0] == 200  # from the cache
        found = samples(service.get("/metrics").text)

    def total(name: str, **labels: str) -> float:
        return sum(value for (sample, have), value in found.items() if sample == name and set(labels.items()) <= have)

    usgs = "USGS Water Data API"
    assert total("streamflow_upstream_requests_total", upstream=usgs, outcome="http_5xx") == 1
    assert total("streamflow_upstream_retries_total", upstream=usgs) == 1
    assert total("streamflow_upstream_requests_total", upstream=usgs, outcome="ok") >= 1
    assert total("streamflow_upstream_requests_total", upstream="Open-Meteo", outcome="ok") >= 1
    assert total("streamflow_upstream_request_duration_seconds_count", upstream="Open-Meteo") >= 1
    assert total("streamflow_upstream_cache_total", outcome="miss") >= 1
    assert total("streamflow_upstream_cache_total", outcome="hit") >= 1
