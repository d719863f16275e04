"""UpstreamClient against the replay server: retries, backoff, Retry-After, timeouts, error bodies, concurrency."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time

import pytest

from adapter.http_client import UpstreamClient
from config.settings import UpstreamConfig
from domain.errors import DataFormatError, DataSourceError, UpstreamTimeoutError
from test.replay_server import (
    HTML_PAGE,
    SLOW,
    TRUNCATED,
    Fault,
    ReplayServer,
    gateway_error,
    http_error,
    open_meteo_error,
)

ROUTE = "usgs-locations"
PARAMS = {"id": "USGS-01646500", "f": "json"}
SOURCE = "USGS Water Data API"


@pytest.fixture
def waits() -> list[float]:
    """The waits the client asked for between attempts (recorded instead of slept)."""
    return []


@pytest.fixture
def client(upstream_config: UpstreamConfig, waits: list[float]) -> UpstreamClient:
    return UpstreamClient(SOURCE, upstream_config, 2, {"X-Api-Key": "key-from-env"}, sleep=waits.append)


def location_url(replay: ReplayServer) -> str:
    return f"{replay.usgs_url}/collections/monitoring-locations/items"


def test_returns_the_recorded_json_with_user_agent_and_key_header(replay, client, upstream_config) -> None:
    body = client.get_json(location_url(replay), PARAMS)
    assert body == replay.fixture("usgs_v1_monitoring_location_USGS-01646500.json")
    request = replay.requests[-1]
    assert request.headers["User-Agent"] == upstream_config.user_agent
    assert request.headers["X-Api-Key"] == "key-from-env"
    assert "key-from-env" not in request.query


def test_retries_a_500_with_growing_jittered_backoff(replay, upstream_config, waits) -> None:
    config = dataclasses.replace(upstream_config, retries=3, backoff_s=0.01)
    client = UpstreamClient(SOURCE, config, 2, sleep=waits.append)
    replay.fail(ROUTE, http_error(500, b"Something went wrong."), times=3)
    assert client.get_json(location_url(replay), PARAMS)["numberReturned"] == 1
    assert replay.hits(ROUTE) == 4
    # Each wait is the exponential step minus up to half of it.
    for attempt, wait in enumerate(waits):
        assert 0.005 * 2**attempt <= wait <= 0.01 * 2**attempt
    assert len(waits) == 3


def test_a_429_waits_as_long_as_retry_after_says(replay, client, waits) -> None:
    replay.fail(ROUTE, gateway_error(429, "OVER_RATE_LIMIT", "quota", retry_after="0"))
    assert client.get_json(location_url(replay), PARAMS)["numberReturned"] == 1
    assert waits == [0.0]
    assert replay.hits(ROUTE) == 2


def test_a_retry_after_beyond_the_cap_gives_up_at_once(replay, client, waits) -> None:
    replay.fail(ROUTE, gateway_error(429, "OVER_RATE_LIMIT", "API rate limit exceeded", retry_after="1800"))
    with pytest.raises(DataSourceError, match="OVER_RATE_LIMIT: API rate limit exceeded.*1800 s") as caught:
        client.get_json(location_url(replay), PARAMS)
    assert caught.value.status == 502
    assert replay.hits(ROUTE) == 1 and waits == []


@pytest.mark.parametrize(
    "fault, attempts, reason",
    [
        (open_meteo_error(503, "The service is overloaded"), 2, "HTTP 503 .*: The service is overloaded"),
        (
            http_error(500, b"<html><body><h1>Something went wrong.</h1></body></html>"),
            2,
            "HTTP 500 .*: Something went wrong",
        ),
        (gateway_error(429, "OVER_RATE_LIMIT", "API rate limit exceeded"), 2, "HTTP 429 .*: OVER_RATE_LIMIT"),
    ],
)
def test_transient_errors_give_up_after_the_retries(replay, client, fault, attempts, reason) -> None:
    replay.fail(ROUTE, fault, times=None)
    with pytest.raises(DataSourceError, match=f"^{SOURCE}: {reason}") as caught:
        client.get_json(location_url(replay), PARAMS)
    assert type(caught.value) is DataSourceError and caught.value.status == 502
    assert replay.hits(ROUTE) == attempts


@pytest.mark.parametrize(
    "status, fixture, reason",
    [
        (400, "usgs_v1_error_unknown_property.json", "InvalidQuery: At least one requested property wasn't found"),
        (400, "usgs_v1_error_time_envelope_too_large.json", "InvalidQuery: The requested time envelope is too large"),
        (403, "usgs_v1_error_invalid_api_key.json", "API_KEY_INVALID: An invalid api_key was supplied"),
    ],
)
def test_client_errors_report_the_recorded_reason_without_retrying(replay, client, status, fixture, reason) -> None:
    replay.fail(ROUTE, http_error(status, replay.fixture_bytes(fixture)))
    with pytest.raises(DataSourceError, match=f"HTTP {status} from .*monitoring-locations/items: {reason}"):
        client.get_json(location_url(replay), PARAMS)
    assert replay.hits(ROUTE) == 1


def test_a_slow_upstream_is_a_504_timeout_after_the_retries(replay, client) -> None:
    replay.fail(ROUTE, SLOW, times=None)
    began = time.monotonic()
    with pytest.raises(UpstreamTimeoutError, match=f"^{SOURCE}: no answer from .* within 0.5 s") as caught:
        client.get_json(location_url(replay), PARAMS)
    assert caught.value.status == 504 and caught.value.code == "upstream_timeout"
    assert replay.hits(ROUTE) == 2
    assert time.monotonic() - began < 1.5  # two 0.5 s timeouts, not the 1.5 s answers


@pytest.mark.parametrize(
    "fault, fragment",
    [(TRUNCATED, "application/json"), (HTML_PAGE, "text/html.*502 Bad Gateway Bad Gateway")],
)
def test_a_body_that_is_not_json_is_a_data_format_error(replay, client, fault, fragment) -> None:
    replay.fail(ROUTE, fault)
    with pytest.raises(DataFormatError, match=f"^{SOURCE}: .* not valid JSON \\({fragment}"):
        client.get_json(location_url(replay), PARAMS)
    assert replay.hits(ROUTE) == 1


def test_an_unreachable_upstream_is_retried_then_a_data_source_error(upstream_config, waits) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    client = UpstreamClient(SOURCE, upstream_config, 2, sleep=waits.append)
    with pytest.raises(DataSourceError, match=f"^{SOURCE}: cannot read http://127.0.0.1:{closed_port}/x"):
        client.get_json(f"http://127.0.0.1:{closed_port}/x")
    assert len(waits) == upstream_config.retries


def test_concurrent_requests_are_capped_per_upstream(replay, upstream_config) -> None:
    client = UpstreamClient(SOURCE, upstream_config, 2)
    replay.fail(ROUTE, Fault(delay_s=0.2), times=6)
    threads = [threading.Thread(target=client.get_json, args=(location_url(replay), PARAMS)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert replay.hits(ROUTE) == 6
    assert replay.max_in_flight[ROUTE] == 2
