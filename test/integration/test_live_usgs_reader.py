"""UsgsFlowReader over HTTP against the replay server: recorded values, metadata, variants, paging, cache."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import pytest

from adapter.http_client import UpstreamClient
from adapter.upstream_cache import UpstreamCache
from adapter.usgs_reader import UsgsFlowReader
from config.settings import UpstreamConfig
from domain.errors import DataFormatError, DataSourceError, UnknownSiteError
from domain.provenance import stale_age
from test.replay_server import (
    ABSENT_DAY,
    FIRST_DAY,
    FIXTURE_SITE,
    ICE_DAYS,
    NULL_DAY,
    OTHER_SITE,
    TODAY,
    Fault,
    ReplayServer,
    http_error,
)

DAILY = "usgs-daily"


def make_reader(config: UpstreamConfig, sites: tuple[str, ...] = (FIXTURE_SITE, OTHER_SITE)) -> UsgsFlowReader:
    client = UpstreamClient("USGS Water Data API", config, 2, {"X-Api-Key": "key-from-env"})
    return UsgsFlowReader(client, UpstreamCache(config.cache_dir / "upstream.sqlite"), config, sites, lambda: TODAY)


@pytest.fixture
def reader(upstream_config: UpstreamConfig) -> UsgsFlowReader:
    return make_reader(upstream_config)


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def flows(frame) -> dict[str, float]:
    return {time.date().isoformat(): flow for time, flow in zip(frame["time"], frame["flow"], strict=True)}


def test_recorded_values_convert_from_cubic_feet_to_cubic_metres(reader) -> None:
    frame = reader.read_flow(FIXTURE_SITE, day("2026-09-28"), day("2026-09-30"))
    # Hand-checked: 3800, 3330, 2840 ft3/s x 0.028316846592.
    assert [round(flow, 4) for flow in frame["flow"]] == [107.6040, 94.2951, 80.4198]
    assert list(frame["approval_status"]) == ["Provisional"] * 3
    assert frame["qualifiers"].isna().all()
    assert list(frame["site_id"]) == [FIXTURE_SITE] * 3
    assert stale_age(frame) is None


def test_site_metadata_come_from_the_recorded_monitoring_location(reader, replay: ReplayServer) -> None:
    site = reader.site(FIXTURE_SITE)
    assert site.name == "POTOMAC RIVER NEAR WASH, DC LITTLE FALLS PUMP STA"
    # GeoJSON is [lon, lat]; 11560 sq mi x 2.589988110336 = 29940.2626 km2.
    assert (round(site.latitude, 4), round(site.longitude, 4)) == (38.9498, -77.1276)
    assert round(site.area_km2, 4) == 29940.2626
    assert site.flow_end == day("2026-09-30")
    # The earlier of the site's two daily-mean discharge series, from time-series-metadata.
    assert site.flow_start == FIRST_DAY
    location = [r for r in replay.requests if r.route == "usgs-locations"][0]
    assert location.params["id"] == "USGS-01646500"
    (series,) = [r for r in replay.requests if r.route == "usgs-series"]
    assert (
        series.params["monitoring_location_id"],
        series.params["parameter_code"],
        series.params["statistic_id"],
    ) == (
        "USGS-01646500",
        "00060",
        "00003",
    )
    assert all(r.headers["X-Api-Key"] == "key-from-env" and "key-from-env" not in r.query for r in replay.requests)


def test_daily_requests_follow_the_api_contract(reader, replay: ReplayServer) -> None:
    reader.read_flow(FIXTURE_SITE, day("2026-09-01"), day("2026-09-30"))
    first = [r for r in replay.requests if r.route == DAILY][0].params
    assert first["monitoring_location_id"] == "USGS-01646500"
    assert (first["parameter_code"], first["statistic_id"]) == ("00060", "00003")
    assert first["time"] == "2025-01-01/2029-12-31" and first["skipGeometry"] == "true"


def test_list_sites_gives_every_configured_site(reader) -> None:
    sites = reader.list_sites()
    assert [site.site_id for site in sites] == [FIXTURE_SITE, OTHER_SITE]
    assert sites[1].name == "POTOMAC RIVER AT POINT OF ROCKS, MD"
    assert round(sites[1].area_km2, 1) == round(9651.0 * 2.589988110336, 1)


def test_null_and_absent_days_are_missing_not_zero(reader) -> None:
    frame = reader.read_flow(FIXTURE_SITE, NULL_DAY - dt.timedelta(days=1), ABSENT_DAY + dt.timedelta(days=1))
    values = list(frame["flow"])
    assert len(values) == 4 and not math.isnan(values[0]) and not math.isnan(values[3])
    assert math.isnan(values[1]) and math.isnan(values[2])
    assert frame["approval_status"][2] is None  # no row at all that day


def test_qualifiers_are_kept(reader) -> None:
    frame = reader.read_flow(FIXTURE_SITE, ICE_DAYS[0], ICE_DAYS[1])
    assert list(frame["qualifiers"]) == ["ICE,ESTIMATED"] * 2
    assert list(frame["approval_status"]) == ["Approved"] * 2


def test_duplicate_series_are_resolved_deterministically(reader) -> None:
    frame = reader.read_flow(FIXTURE_SITE, day("2026-09-23"), day("2026-09-26"))
    assert list(frame["time"].dt.strftime("%Y-%m-%d")) == ["2026-09-23", "2026-09-24", "2026-09-25", "2026-09-26"]
    # 09-24: both series have a value; the approved one wins. 09-25: the other series is null; the value wins.
    assert round(frame["flow"][1], 4) == round(2990 * 0.028316846592, 4)
    assert frame["approval_status"][1] == "Approved"
    assert not math.isnan(frame["flow"][2]) and frame["approval_status"][2] == "Provisional"


def test_long_ranges_are_split_into_blocks_and_paged(reader, replay: ReplayServer) -> None:
    frame = reader.read_flow(FIXTURE_SITE, day("2024-01-01"), day("2026-09-30"))
    assert len(frame) == (day("2026-09-30") - day("2024-01-01")).days + 1
    assert frame["flow"].isna().sum() == 2  # NULL_DAY and ABSENT_DAY only
    daily = [r for r in replay.requests if r.route == DAILY]
    # 2020-2024 block: 366 rows; 2025-2029 block: 637 days + 2 duplicates - 1 absent; 200 rows a page.
    assert sorted({r.params["time"] for r in daily}) == ["2020-01-01/2024-12-31", "2025-01-01/2029-12-31"]
    assert len(daily) == 2 + 4
    assert {r.params["limit"] for r in daily} == {"200"}
    assert sum("cursor" in r.params for r in daily) == 4


def test_a_second_read_is_served_from_the_cache(reader, replay: ReplayServer) -> None:
    reader.read_flow(FIXTURE_SITE, day("2026-01-01"), day("2026-09-30"))
    before = replay.hits()
    again = reader.read_flow(FIXTURE_SITE, day("2026-03-01"), day("2026-09-30"))
    reader.site(FIXTURE_SITE)
    assert replay.hits() == before + 2  # only the site's location and series, never asked before
    reader.site(FIXTURE_SITE)
    assert replay.hits() == before + 2
    assert round(again["flow"].iloc[-1], 4) == 80.4198


def test_a_failing_page_fails_the_whole_fetch_and_caches_nothing(reader, replay: ReplayServer) -> None:
    replay.fail(DAILY, http_error(500, b"upstream exploded"), times=None, match="cursor=")
    with pytest.raises(DataSourceError, match="USGS Water Data API: HTTP 500 .*upstream exploded"):
        reader.read_flow(FIXTURE_SITE, day("2025-01-01"), day("2026-09-30"))
    replay.heal()
    frame = reader.read_flow(FIXTURE_SITE, day("2025-01-01"), day("2026-09-30"))
    assert frame["flow"].notna().sum() == len(frame) - 2
    assert sum(r.route == DAILY and "cursor" not in r.params for r in replay.requests) == 2


def test_expired_data_are_served_stale_when_usgs_fails(upstream_config, replay: ReplayServer) -> None:
    reader = make_reader(dataclasses.replace(upstream_config, recent_ttl_s=0.0))
    fresh = reader.read_flow(FIXTURE_SITE, day("2026-09-28"), day("2026-09-30"))
    replay.fail(DAILY, http_error(503, b"maintenance"), times=None)
    stale = reader.read_flow(FIXTURE_SITE, day("2026-09-28"), day("2026-09-30"))
    assert list(stale["flow"]) == list(fresh["flow"])
    assert stale_age(stale) is not None and 0 <= stale_age(stale) < 60
    assert reader.site(FIXTURE_SITE).flow_end == day("2026-09-30")


def test_a_site_without_a_daily_discharge_series_has_no_record_start(reader, replay: ReplayServer) -> None:
    replay.fail("usgs-series", Fault(body=b'{"type": "FeatureCollection", "features": [], "numberReturned": 0}'))
    site = reader.site(FIXTURE_SITE)
    assert (site.flow_start, site.flow_end) == (None, day("2026-09-30"))


def test_a_malformed_series_begin_names_the_site(reader, replay: ReplayServer) -> None:
    body = b'{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"parameter_code": "00060", "statistic_id": "00003", "begin": "soon"}}]}'
    replay.fail("usgs-series", Fault(body=body))
    with pytest.raises(DataFormatError, match="USGS time series of site 01646500: 'begin' 'soon' is not a date"):
        reader.site(FIXTURE_SITE)


def test_the_last_observed_day_needs_no_site_metadata(reader, replay: ReplayServer) -> None:
    assert reader.last_observed(FIXTURE_SITE) == day("2026-09-30")
    assert replay.hits("usgs-locations") == replay.hits("usgs-series") == 0


def test_usgs_failure_with_nothing_cached_names_the_source(reader, replay: ReplayServer) -> None:
    replay.fail(DAILY, http_error(500, b"Internal Server Error"), times=None)
    with pytest.raises(DataSourceError, match="^USGS Water Data API: HTTP 500 from .*/collections/daily/items"):
        reader.read_flow(FIXTURE_SITE, day("2026-09-28"), day("2026-09-30"))


def test_sites_outside_the_configuration_have_no_metadata(reader) -> None:
    # Training lists data.sites; which sites a forecast may ask for is the model bundle's answer.
    with pytest.raises(UnknownSiteError, match="09999999: not in data.sites"):
        reader.site("09999999")


def test_a_site_usgs_does_not_know_is_unknown(upstream_config) -> None:
    with pytest.raises(UnknownSiteError, match="USGS has no monitoring location USGS-09999999"):
        make_reader(upstream_config, ("09999999",)).site("09999999")
