"""UpstreamCache on a real SQLite file: hits, expiry, stale fallback, persistence; and the block/TTL helpers."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from pathlib import Path

import pytest

from adapter.upstream_cache import UpstreamCache, calendar_blocks, data_ttl_s, request_key
from config.settings import UpstreamConfig
from domain.errors import DataSourceError, UnknownSiteError

KEY = "https://upstream.example/daily?site=01646500&time=2025-01-01%2F2029-12-31"


class Clock:
    """A wall clock the test moves."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Upstream:
    """A download function that counts its calls and can be made to fail."""

    def __init__(self) -> None:
        self.calls = 0
        self.error: Exception | None = None

    def __call__(self) -> dict:
        self.calls += 1
        if self.error:
            raise self.error
        return {"rows": [{"time": "2026-09-28", "value": "3800"}], "call": self.calls}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(tmp_path: Path, clock: Clock) -> UpstreamCache:
    return UpstreamCache(tmp_path / "cache" / "upstream.sqlite", now=clock)


def test_a_fresh_entry_is_served_without_downloading(cache, clock) -> None:
    upstream = Upstream()
    first = cache.fetch(KEY, 3600, upstream)
    clock.now += 3599
    second = cache.fetch(KEY, 3600, upstream)
    assert upstream.calls == 1
    assert second == first and second.stale_age_s is None
    assert second.payload["rows"][0]["value"] == "3800"


def test_an_expired_entry_is_downloaded_again(cache, clock) -> None:
    upstream = Upstream()
    cache.fetch(KEY, 3600, upstream)
    clock.now += 3600
    assert cache.fetch(KEY, 3600, upstream).payload["call"] == 2
    assert cache.fetch(KEY, 3600, upstream).payload["call"] == 2


def test_a_failed_refresh_serves_the_expired_copy_with_its_age(cache, clock) -> None:
    upstream = Upstream()
    cache.fetch(KEY, 3600, upstream)
    clock.now += 7200
    upstream.error = DataSourceError("USGS Water Data API: HTTP 503")
    stale = cache.fetch(KEY, 3600, upstream)
    assert stale.payload["call"] == 1 and stale.stale_age_s == 7200
    # The failure did not refresh the copy: once the upstream is back, the next fetch does.
    upstream.error = None
    fresh = cache.fetch(KEY, 3600, upstream)
    assert fresh.payload["call"] == 3 and fresh.stale_age_s is None


def test_a_failure_with_nothing_cached_raises(cache) -> None:
    upstream = Upstream()
    upstream.error = DataSourceError("Open-Meteo: HTTP 500")
    with pytest.raises(DataSourceError, match="Open-Meteo"):
        cache.fetch(KEY, 3600, upstream)


def test_errors_other_than_source_failures_are_not_masked_by_a_copy(cache, clock) -> None:
    upstream = Upstream()
    cache.fetch(KEY, 0, upstream)
    upstream.error = UnknownSiteError("unknown site 01646500")
    with pytest.raises(UnknownSiteError):
        cache.fetch(KEY, 0, upstream)


def test_entries_persist_for_the_next_process(tmp_path, clock) -> None:
    path = tmp_path / "upstream.sqlite"
    UpstreamCache(path, now=clock).fetch(KEY, 3600, Upstream())
    upstream = Upstream()
    assert UpstreamCache(path, now=clock).fetch(KEY, 3600, upstream).payload["call"] == 1
    assert upstream.calls == 0


def test_an_unreadable_cache_file_means_downloading(tmp_path, clock) -> None:
    path = tmp_path / "upstream.sqlite"
    path.write_bytes(b"not a database" * 100)
    upstream = Upstream()
    assert UpstreamCache(path, now=clock).fetch(KEY, 3600, upstream).payload["call"] == 1
    assert upstream.calls == 1


def test_concurrent_fetches_of_one_key_download_once(cache) -> None:
    calls = []

    def slow_download() -> dict:
        calls.append(1)
        time.sleep(0.2)
        return {"ok": True}

    threads = [threading.Thread(target=cache.fetch, args=(KEY, 3600, slow_download)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(calls) == 1


def test_request_key_ignores_parameter_order() -> None:
    assert request_key("u", {"b": 2, "a": "x y"}) == request_key("u", {"a": "x y", "b": 2}) == "u?a=x+y&b=2"


@pytest.mark.parametrize(
    "start, end, years, blocks",
    [
        ("2026-09-01", "2026-09-30", 5, [("2025-01-01", "2029-12-31")]),
        ("2024-03-01", "2026-09-30", 5, [("2020-01-01", "2024-12-31"), ("2025-01-01", "2029-12-31")]),
        ("2025-12-30", "2026-01-02", 1, [("2025-01-01", "2025-12-31"), ("2026-01-01", "2026-12-31")]),
        ("2026-01-02", "2026-01-01", 1, []),
    ],
)
def test_calendar_blocks_are_aligned(start, end, years, blocks) -> None:
    expected = [(dt.date.fromisoformat(a), dt.date.fromisoformat(b)) for a, b in blocks]
    assert calendar_blocks(dt.date.fromisoformat(start), dt.date.fromisoformat(end), years) == expected


def test_recent_data_expire_sooner_than_history() -> None:
    config = dataclasses.replace(UpstreamConfig(), recent_days=120, recent_ttl_s=10.0, history_ttl_s=1000.0)
    today = dt.date(2026, 10, 1)
    assert data_ttl_s(dt.date(2026, 6, 3), today, config) == 10.0
    assert data_ttl_s(dt.date(2026, 6, 2), today, config) == 1000.0
