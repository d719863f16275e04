"""Persistent cache of upstream answers, with stale fallback when an upstream fails.

One SQLite file holds one row per logical request (source URL, site, date
block): the parsed payload as JSON and when it was fetched. Each write is one
SQLite transaction, so a crash leaves the previous copy, never half of one.
An entry younger than its time-to-live is served without a request; an older
one is refreshed, and kept and served as stale (with its age) when the
refresh fails. The cache is an optimisation: when its file is unreadable the
readers download as if it were empty.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from adapter.observer import NullObserver, UpstreamObserver
from config.settings import UpstreamConfig
from domain.errors import DataSourceError

LOGGER = logging.getLogger(__name__)

SCHEMA = "CREATE TABLE IF NOT EXISTS response (key TEXT PRIMARY KEY, fetched_at REAL NOT NULL, payload TEXT NOT NULL)"


@dataclasses.dataclass(frozen=True)
class CachedPayload:
    """A payload and whether it is a stale copy.

    Attributes:
        payload: The JSON-ready value the download returned.
        stale_age_s: None when fresh; the copy's age in seconds when served because the upstream failed.
    """

    payload: Any
    stale_age_s: float | None = None


def request_key(url: str, params: Mapping[str, object]) -> str:
    """A cache key naming the source, the site and the date range of a request (parameters sorted)."""
    return f"{url}?{urlencode(sorted((name, str(value)) for name, value in params.items()))}"


def calendar_blocks(start: dt.date, end: dt.date, years: int) -> list[tuple[dt.date, dt.date]]:
    """The blocks of `years` calendar years, aligned on multiples of `years`, that cover start..end.

    Fixed boundaries make overlapping requests (yesterday's and today's forecast,
    training and serving) share cache entries.
    """
    if start > end:
        return []
    first = start.year - start.year % years
    return [(dt.date(year, 1, 1), dt.date(year + years - 1, 12, 31)) for year in range(first, end.year + 1, years)]


def data_ttl_s(last_day: dt.date, today: dt.date, upstream: UpstreamConfig) -> float:
    """Cache lifetime of observations up to `last_day`: short while they may still be revised or filled."""
    recent = last_day >= today - dt.timedelta(days=upstream.recent_days)
    return upstream.recent_ttl_s if recent else upstream.history_ttl_s


class UpstreamCache:
    """Upstream payloads on disk, shared by readers, threads and processes."""

    def __init__(
        self, path: Path, now: Callable[[], float] = time.time, observer: UpstreamObserver | None = None
    ) -> None:
        """Args:
        path: The SQLite file; its directory is created on first use.
        now: Wall clock in seconds (tests move it instead of waiting).
        observer: Counts hits, misses and stale serves.
        """
        self._path = path
        self._now = now
        self._observer = observer or NullObserver()
        self._guard = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}

    def fetch(self, key: str, ttl_s: float, download: Callable[[], Any]) -> CachedPayload:
        """Return the cached payload for `key`, downloading it when missing or older than `ttl_s`.

        Args:
            key: What was asked of which upstream (see `request_key`).
            ttl_s: Age in seconds below which the cached copy is served without a request.
            download: Fetches and parses the payload (JSON-ready); raises `DataSourceError` on failure.

        Returns:
            The payload; stale (with its age) when the download failed and an older copy exists.

        Raises:
            DataSourceError: The download failed and nothing is cached.
        """
        # One download per key at a time: concurrent identical forecasts make one upstream call.
        with self._lock_for(key):
            entry = self._read(key)
            now = self._now()
            if entry is not None and now - entry[0] < ttl_s:
                self._observer.cache_lookup("hit")
                return CachedPayload(entry[1])
            try:
                payload = download()
            except DataSourceError as exc:
                if entry is None:
                    raise
                LOGGER.warning("%s; serving the cached copy fetched %.0f s ago", exc, now - entry[0])
                self._observer.cache_lookup("stale")
                return CachedPayload(entry[1], stale_age_s=now - entry[0])
            self._observer.cache_lookup("miss")
            self._write(key, now, payload)
            return CachedPayload(payload)

    def _lock_for(self, key: str) -> threading.Lock:
        with self._guard:
            return self._key_locks.setdefault(key, threading.Lock())

    def _connect(self) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self._path, timeout=30)
        # WAL: the service's readers never wait for a training process that is writing.
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(SCHEMA)
        return connection

    def _read(self, key: str) -> tuple[float, Any] | None:
        try:
            with closing(self._connect()) as connection:
                row = connection.execute("SELECT fetched_at, payload FROM response WHERE key = ?", (key,)).fetchone()
            return None if row is None else (row[0], json.loads(row[1]))
        except (sqlite3.Error, OSError, ValueError) as exc:
            LOGGER.warning("upstream cache %s is unreadable (%s); downloading instead", self._path, exc)
            return None

    def _write(self, key: str, fetched_at: float, payload: Any) -> None:
        try:
            with closing(self._connect()) as connection, connection:
                connection.execute(
                    "INSERT OR REPLACE INTO response (key, fetched_at, payload) VALUES (?, ?, ?)",
                    (key, fetched_at, json.dumps(payload, separators=(",", ":"))),
                )
        except (sqlite3.Error, OSError) as exc:
            LOGGER.warning("upstream cache %s is not writable (%s); the answer is not cached", self._path, exc)
