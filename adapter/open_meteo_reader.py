"""Daily meteorology from Open-Meteo: the archive API for history, the forecast API for the rest.

History comes from the archive host in calendar blocks of
`upstream.open_meteo_chunk_years` years, each one cached entry. The forecast
host, asked for `upstream.open_meteo_past_days` past days and 16 coming days in
one cached call, gives the forecast and fills the archive's lag (its null or
missing last days). Every request names the site's IANA time zone, derived
offline from its coordinates, so that days are local calendar days like the
USGS daily means; without it Open-Meteo aggregates UTC days.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from timezonefinder import TimezoneFinder

from adapter.base import AbstractMeteoReader
from adapter.http_client import UpstreamClient
from adapter.upstream_cache import UpstreamCache, calendar_blocks, data_ttl_s, request_key
from config.settings import UpstreamConfig
from domain.errors import DataFormatError
from domain.frames import MeteoFrame, validate_frame
from domain.provenance import mark_stale, oldest
from domain.site import Site

LOGGER = logging.getLogger(__name__)

# Open-Meteo daily variable -> MeteoFrame column, and the unit Open-Meteo reports it in by default.
DAILY_VARIABLES = {
    "precipitation_sum": ("precipitation", "mm"),
    "temperature_2m_max": ("temperature_max", "°C"),
    "temperature_2m_min": ("temperature_min", "°C"),
    "temperature_2m_mean": ("temperature_mean", "°C"),
    "et0_fao_evapotranspiration": ("evapotranspiration", "mm"),
}
ARCHIVE_FIRST_DAY = dt.date(1940, 1, 1)
FORECAST_DAYS = 16


class OpenMeteoReader(AbstractMeteoReader):
    """Observed and forecast daily meteorology at a site's coordinates, cached on disk."""

    def __init__(
        self,
        client: UpstreamClient,
        cache: UpstreamCache,
        upstream: UpstreamConfig,
        today: Callable[[], dt.date] = dt.date.today,
    ) -> None:
        """Args:
        client: HTTP client shared by both Open-Meteo hosts (their free tier counts per IP).
        cache: The upstream cache.
        upstream: Archive and forecast URLs, block length, past days and cache lifetimes.
        today: The current local day (tests pin it).
        """
        self._client = client
        self._cache = cache
        self._upstream = upstream
        self._today = today
        self._timezones = _TimezoneLookup()

    def read_history(self, site: Site, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Days start..min(end, today) that have any value; the archive's null tail filled from the forecast API.

        Raises:
            DataSourceError: Open-Meteo failed (naming the host) and nothing is cached.
        """
        daily, stale_age_s = self._history(site, start, min(end, self._today()))
        return _meteo_frame(site, daily, stale_age_s)

    def read_forecast(self, site: Site, issue_date: dt.date, days: int) -> pd.DataFrame:
        """The forecast API's days issue_date+1 .. issue_date+days (up to 15 days ahead); lead days
        older than its past days (hindcasts) come from the archive, i.e. observed meteorology.

        Raises:
            DataSourceError: Open-Meteo failed (naming the host) and nothing is cached.
        """
        first, last = issue_date + dt.timedelta(days=1), issue_date + dt.timedelta(days=days)
        recent, stale_age_s = self._recent(site)
        window_start = self._today() - dt.timedelta(days=self._upstream.open_meteo_past_days)
        daily = recent.loc[pd.Timestamp(first) : pd.Timestamp(last)]
        if first < window_start:
            older, older_age = self._history(site, first, min(last, window_start - dt.timedelta(days=1)))
            daily, stale_age_s = daily.combine_first(older), oldest(stale_age_s, older_age)
        return _meteo_frame(site, daily, stale_age_s)

    def _history(self, site: Site, start: dt.date, end: dt.date) -> tuple[pd.DataFrame, float | None]:
        today = self._today()
        start = max(start, ARCHIVE_FIRST_DAY)
        daily, stale_age_s = _empty_daily(), None
        for first, last in calendar_blocks(start, end, self._upstream.open_meteo_chunk_years):
            block, age = self._archive_block(site, max(first, ARCHIVE_FIRST_DAY), last, today)
            daily, stale_age_s = block.combine_first(daily), oldest(stale_age_s, age)
        daily = daily.loc[pd.Timestamp(start) : pd.Timestamp(end)]
        recent_start = max(start, today - dt.timedelta(days=self._upstream.open_meteo_past_days))
        expected = pd.date_range(pd.Timestamp(recent_start), pd.Timestamp(end), freq="D")
        if len(expected) and daily.reindex(expected).isna().any(axis=None):
            # The archive lags a few days behind: the forecast API's past days fill its tail.
            recent, age = self._recent(site)
            daily = daily.combine_first(recent.loc[expected[0] : expected[-1]])
            stale_age_s = oldest(stale_age_s, age)
        return daily, stale_age_s

    def _archive_block(
        self, site: Site, first: dt.date, last: dt.date, today: dt.date
    ) -> tuple[pd.DataFrame, float | None]:
        url = self._upstream.open_meteo_archive_url
        params = {**self._location(site), "start_date": first.isoformat(), "end_date": last.isoformat()}
        # The archive refuses days after today; the key keeps the whole block so that yesterday's
        # copy can still stand in for today's when the archive fails.
        asked = {**params, "end_date": min(last, today).isoformat()}
        download = functools.partial(self._download, url, asked)
        cached = self._cache.fetch(
            request_key(url, params), data_ttl_s(min(last, today), today, self._upstream), download
        )
        return _daily_frame(cached.payload), cached.stale_age_s

    def _recent(self, site: Site) -> tuple[pd.DataFrame, float | None]:
        url = self._upstream.open_meteo_forecast_url
        params = {
            **self._location(site),
            "past_days": str(self._upstream.open_meteo_past_days),
            "forecast_days": str(FORECAST_DAYS),
        }
        download = functools.partial(self._download, url, params)
        cached = self._cache.fetch(request_key(url, params), self._upstream.recent_ttl_s, download)
        return _daily_frame(cached.payload), cached.stale_age_s

    def _location(self, site: Site) -> dict[str, str]:
        return {
            "latitude": repr(site.latitude),
            "longitude": repr(site.longitude),
            "daily": ",".join(DAILY_VARIABLES),
            "timezone": self._timezones(site.latitude, site.longitude),
        }

    def _download(self, url: str, params: dict[str, str]) -> dict[str, list]:
        return _parse_daily(self._client.get_json(url, params), f"{self._client.source} ({url})")


class _TimezoneLookup:
    """IANA zone of a point from timezonefinder's bundled boundary data (offline, thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._finder: TimezoneFinder | None = None
        self._zones: dict[tuple[float, float], str] = {}

    def __call__(self, latitude: float, longitude: float) -> str:
        with self._lock:
            if (latitude, longitude) not in self._zones:
                # Loaded on first use: local-data deployments never pay for it.
                self._finder = self._finder or TimezoneFinder()
                zone = self._finder.timezone_at(lat=latitude, lng=longitude)
                # Only points at sea lack a zone; Open-Meteo then picks one from the coordinates.
                self._zones[(latitude, longitude)] = zone or "auto"
            return self._zones[(latitude, longitude)]


def _parse_daily(body: Any, what: str) -> dict[str, list]:
    daily = body.get("daily") if isinstance(body, dict) else None
    if not isinstance(daily, dict) or not isinstance(daily.get("time"), list):
        raise DataFormatError(f"{what}: the response has no 'daily.time' list")
    for day in daily["time"]:
        try:
            dt.date.fromisoformat(day)
        except (TypeError, ValueError) as exc:
            raise DataFormatError(f"{what}: 'daily.time' holds {day!r}, not a date") from exc
    units = body.get("daily_units") or {}
    for name, (_, unit) in DAILY_VARIABLES.items():
        values = daily.get(name)
        if not isinstance(values, list) or len(values) != len(daily["time"]):
            raise DataFormatError(f"{what}: 'daily.{name}' is missing or not as long as 'daily.time'")
        if units.get(name, unit) != unit:
            raise DataFormatError(f"{what}: 'daily.{name}' is in {units[name]!r}, expected {unit!r}")
        wrong = [value for value in values if value is not None and not _is_number(value)]
        if wrong:
            raise DataFormatError(f"{what}: 'daily.{name}' holds {wrong[0]!r}, not a number")
    return {name: daily[name] for name in ("time", *DAILY_VARIABLES)}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _daily_frame(payload: dict[str, list]) -> pd.DataFrame:
    """Our column names over a sorted day index; null -> NaN."""
    columns = {
        column: np.array([np.nan if value is None else value for value in payload[name]], dtype=float)
        for name, (column, _) in DAILY_VARIABLES.items()
    }
    return pd.DataFrame(columns, index=pd.to_datetime(payload["time"], format="%Y-%m-%d")).sort_index()


def _empty_daily() -> pd.DataFrame:
    return pd.DataFrame(
        {column: pd.Series(dtype=float) for column, _ in DAILY_VARIABLES.values()}, index=pd.DatetimeIndex([])
    )


def _meteo_frame(site: Site, daily: pd.DataFrame, stale_age_s: float | None) -> pd.DataFrame:
    daily = daily.dropna(how="all").sort_index()
    frame = daily.rename_axis("time").reset_index()
    frame.insert(0, "site_id", site.site_id)
    valid = validate_frame(MeteoFrame, frame, f"Open-Meteo daily meteorology of site {site.site_id}")
    return mark_stale(valid, stale_age_s)
