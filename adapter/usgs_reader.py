"""Observed daily discharge and site metadata from the USGS Water Data OGC API v1.

Daily means (parameter 00060, statistic 00003) come from `collections/daily/items`,
fetched per site in calendar blocks of `upstream.usgs_chunk_years` years, each
walked page by page through its `next` links and cached as one entry. Values
arrive as strings (or null) in ft3/s and leave as m3/s, with each day's approval
status and qualifiers. Site metadata come from `collections/monitoring-locations`,
the first day of record from `collections/time-series-metadata`.
Site ids are the bare USGS numbers (`01646500`); requests name them `USGS-01646500`.
The legacy NWIS WaterServices are never called: they shut down on 2027-02-22.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from adapter.base import AbstractFlowReader
from adapter.http_client import UpstreamClient
from adapter.upstream_cache import UpstreamCache, calendar_blocks, data_ttl_s, request_key
from config.settings import UpstreamConfig
from domain.errors import DataFormatError, UnknownSiteError
from domain.frames import FlowFrame, validate_frame
from domain.provenance import mark_stale, oldest
from domain.site import Site, position_problem
from utils.dates import daily_index

LOGGER = logging.getLogger(__name__)

FT3S_TO_M3S = 0.028316846592
SQ_MI_TO_KM2 = 2.589988110336
FT3S = "ft^3/s"
DAILY_PROPERTIES = "time,value,unit_of_measure,approval_status,qualifier,time_series_id"


class UsgsFlowReader(AbstractFlowReader):
    """Daily mean discharge of the configured USGS sites, cached on disk."""

    def __init__(
        self,
        client: UpstreamClient,
        cache: UpstreamCache,
        upstream: UpstreamConfig,
        site_ids: tuple[str, ...],
        today: Callable[[], dt.date] = dt.date.today,
    ) -> None:
        """Args:
        client: HTTP client of the USGS API (carries the optional X-Api-Key header).
        cache: The upstream cache.
        upstream: Base URL, page size, block length and cache lifetimes.
        site_ids: The USGS site numbers this reader serves.
        today: The current local day (tests pin it).
        """
        self._client = client
        self._cache = cache
        self._upstream = upstream
        self._site_ids = site_ids
        self._today = today

    def list_sites(self) -> list[Site]:
        return [self.site(site_id) for site_id in self._site_ids]

    def site(self, site_id: str) -> Site:
        """Metadata from `monitoring-locations`; `flow_start` is the first day of the site's daily-mean
        discharge series (`time-series-metadata`), `flow_end` its `last_observed` day."""
        self._check_served(site_id)
        location = self._location(site_id)
        return Site(
            site_id=site_id,
            name=location["name"],
            latitude=location["latitude"],
            longitude=location["longitude"],
            area_km2=location["area_sq_mi"] * SQ_MI_TO_KM2,
            flow_start=self._record_start(site_id),
            flow_end=self.last_observed(site_id),
        )

    def last_observed(self, site_id: str) -> dt.date | None:
        """The last day with a value in the last `upstream.recent_days` days (None when there is none)."""
        today = self._today()
        rows, _ = self._daily_rows(site_id, today - dt.timedelta(days=self._upstream.recent_days), today)
        observed = [row["time"] for row in rows if row["value"] is not None]
        return dt.date.fromisoformat(max(observed)) if observed else None

    def read_flow(self, site_id: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        """A `FlowFrame` in m3/s with `approval_status` and `qualifiers`; null and absent days are NaN.

        Raises:
            DataSourceError: USGS failed (naming it) and nothing is cached; a stale copy is marked instead.
        """
        rows, stale_age_s = self._daily_rows(site_id, start, end)
        frame = _flow_frame(site_id, rows, start, end)
        return mark_stale(validate_frame(FlowFrame, frame, f"USGS daily values of site {site_id}"), stale_age_s)

    def _check_served(self, site_id: str) -> None:
        if site_id not in self._site_ids:
            raise UnknownSiteError(f"unknown site {site_id}: not in data.sites")

    def _location(self, site_id: str) -> dict[str, Any]:
        url = f"{self._upstream.usgs_url}/collections/monitoring-locations/items"
        params = {"id": f"USGS-{site_id}", "f": "json"}
        download = functools.partial(self._download_location, url, params, site_id)
        return self._cache.fetch(request_key(url, params), self._upstream.history_ttl_s, download).payload

    def _download_location(self, url: str, params: dict[str, str], site_id: str) -> dict[str, Any]:
        return _parse_location(self._client.get_json(url, params), site_id)

    def _record_start(self, site_id: str) -> dt.date | None:
        """First day of the earliest daily-mean discharge series: `read_flow` merges every series."""
        url = f"{self._upstream.usgs_url}/collections/time-series-metadata/items"
        params = {
            "monitoring_location_id": f"USGS-{site_id}",
            "parameter_code": "00060",
            "statistic_id": "00003",
            "skipGeometry": "true",
            "f": "json",
        }
        download = functools.partial(self._download_record_start, url, params, site_id)
        begin = self._cache.fetch(request_key(url, params), self._upstream.history_ttl_s, download).payload
        return dt.date.fromisoformat(begin) if begin else None

    def _download_record_start(self, url: str, params: dict[str, str], site_id: str) -> str | None:
        return _parse_record_start(self._client.get_json(url, params), site_id)

    def _daily_rows(self, site_id: str, start: dt.date, end: dt.date) -> tuple[list[dict], float | None]:
        """Raw rows of the days start..end, and the age of the oldest stale block among them."""
        today = self._today()
        rows, stale_age_s = [], None
        for first, last in calendar_blocks(start, end, self._upstream.usgs_chunk_years):
            url = f"{self._upstream.usgs_url}/collections/daily/items"
            params = {
                "monitoring_location_id": f"USGS-{site_id}",
                "parameter_code": "00060",
                "statistic_id": "00003",
                "time": f"{first}/{last}",
                "skipGeometry": "true",
                "properties": DAILY_PROPERTIES,
                "limit": str(self._upstream.usgs_page_size),
                "f": "json",
            }
            download = functools.partial(self._walk_pages, url, params, site_id)
            block = self._cache.fetch(request_key(url, params), data_ttl_s(last, today, self._upstream), download)
            rows += [row for row in block.payload if start.isoformat() <= row["time"] <= end.isoformat()]
            stale_age_s = oldest(stale_age_s, block.stale_age_s)
        return rows, stale_age_s

    def _walk_pages(self, url: str, params: dict[str, str], site_id: str) -> list[dict]:
        """Every row of a query, following `next` links as given; any failing page fails the whole walk."""
        rows, seen = [], set()
        page = self._client.get_json(url, params)
        while True:
            rows += _parse_daily_page(page, site_id)
            link = _next_link(page)
            if link is None:
                return rows
            if link in seen:
                raise DataFormatError(f"USGS daily values of site {site_id}: paging loops back to {link}")
            seen.add(link)
            page = self._client.get_json(link)


def _features(page: Any, what: str) -> list[dict]:
    features = page.get("features") if isinstance(page, dict) else None
    if not isinstance(features, list) or not all(isinstance(f, dict) for f in features):
        raise DataFormatError(f"{what}: the response has no GeoJSON 'features' list")
    return features


def _next_link(page: dict) -> str | None:
    for link in page.get("links") or ():
        if isinstance(link, dict) and link.get("rel") == "next" and link.get("href"):
            return str(link["href"])
    return None


def _parse_daily_page(page: Any, site_id: str) -> list[dict]:
    what = f"USGS daily values of site {site_id}"
    rows = []
    for feature in _features(page, what):
        properties = feature.get("properties") or {}
        day, value = properties.get("time"), properties.get("value")
        try:
            dt.date.fromisoformat(day)
        except (TypeError, ValueError) as exc:
            raise DataFormatError(f"{what}: 'time' {day!r} is not a date") from exc
        if value is not None and properties.get("unit_of_measure") != FT3S:
            raise DataFormatError(f"{what}: {day}: unit {properties.get('unit_of_measure')!r}, expected {FT3S}")
        rows.append(
            {
                "time": day,
                "value": value,
                "approval_status": properties.get("approval_status"),
                "qualifiers": _qualifiers(properties.get("qualifier")),
                "time_series_id": str(properties.get("time_series_id") or ""),
            }
        )
    return rows


def _qualifiers(raw: Any) -> str | None:
    # A list of words in practice (["ICE", "ESTIMATED"]), although the schema says string.
    if isinstance(raw, list):
        return ",".join(str(word) for word in raw) or None
    return str(raw) if raw else None


def _parse_location(page: Any, site_id: str) -> dict[str, Any]:
    what = f"USGS monitoring location USGS-{site_id}"
    features = _features(page, what)
    if not features:
        raise UnknownSiteError(f"unknown site {site_id}: USGS has no monitoring location USGS-{site_id}")
    properties = features[0].get("properties") or {}
    coordinates = (features[0].get("geometry") or {}).get("coordinates")
    area = properties.get("drainage_area") or properties.get("contributing_drainage_area")
    try:
        longitude, latitude = (float(value) for value in coordinates[:2])  # GeoJSON order: [lon, lat]
        area_sq_mi = float(area)
    except (TypeError, ValueError) as exc:
        raise DataFormatError(f"{what}: no usable coordinates {coordinates!r} or drainage area {area!r}") from exc
    problem = position_problem(latitude, longitude, area_sq_mi * SQ_MI_TO_KM2)
    if problem:
        raise DataFormatError(f"{what}: {problem}")
    name = str(properties.get("monitoring_location_name") or f"USGS-{site_id}")
    return {"name": name, "latitude": latitude, "longitude": longitude, "area_sq_mi": area_sq_mi}


def _parse_record_start(page: Any, site_id: str) -> str | None:
    """The earliest `begin` (a local timestamp; its day) of the daily-mean discharge series, or None."""
    what = f"USGS time series of site {site_id}"
    days = []
    for feature in _features(page, what):
        properties = feature.get("properties") or {}
        if (properties.get("parameter_code"), properties.get("statistic_id")) != ("00060", "00003"):
            continue  # the query asks for these only; anything else is not discharge
        begin = properties.get("begin")
        try:
            days.append(dt.date.fromisoformat(str(begin)[:10]))
        except ValueError as exc:
            raise DataFormatError(f"{what}: 'begin' {begin!r} is not a date") from exc
    return min(days).isoformat() if days else None


def _preference(row: dict) -> tuple:
    # Several series can report one day: prefer a value, then an approved one, then the lowest series id.
    return row["time"], row["value"] is None, row["approval_status"] != "Approved", row["time_series_id"]


def _flow_frame(site_id: str, rows: list[dict], start: dt.date, end: dt.date) -> pd.DataFrame:
    chosen: dict[str, dict] = {}
    for row in sorted(rows, key=_preference):
        chosen.setdefault(row["time"], row)
    days = daily_index(start, end)
    picked = [chosen.get(day.date().isoformat()) for day in days]
    return pd.DataFrame(
        {
            "site_id": site_id,
            "time": days,
            "flow": [_m3s(row, site_id) for row in picked],
            "approval_status": [row["approval_status"] if row else None for row in picked],
            "qualifiers": [row["qualifiers"] if row else None for row in picked],
        }
    )


def _m3s(row: dict | None, site_id: str) -> float:
    if row is None or row["value"] is None:
        return math.nan
    try:
        return float(row["value"]) * FT3S_TO_M3S
    except (TypeError, ValueError) as exc:
        raise DataFormatError(f"USGS daily values of site {site_id}: {row['time']}: value {row['value']!r}") from exc
