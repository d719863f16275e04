"""The service keeps what it issues: repeats answered from memory or the archive, GET /forecasts,
and forecasts served on when the archive database is down."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from config.settings import AppConfig
from test.integration.test_http import assert_error, get_json, response_validator
from test.integration.test_monitoring import samples
from test.support import RunningService, with_archive

pytestmark = pytest.mark.slow

FORECAST = "/forecast?site_id=09900003&forecast_days=5"


def wait_archived(service: RunningService, count: int) -> list[dict]:
    deadline = time.monotonic() + 30
    while True:
        listed = get_json(service, "/forecasts")[1]["forecasts"]
        if len(listed) >= count or time.monotonic() > deadline:
            return listed
        time.sleep(0.1)


def forecasts_by_source(service: RunningService) -> dict[str, float]:
    found = samples(service.get("/metrics").text)
    return {
        dict(labels)["source"]: value for (name, labels), value in found.items() if name == "streamflow_forecasts_total"
    }


def test_a_repeat_is_answered_from_memory_and_after_a_restart_from_the_archive(
    trained_config: AppConfig, tmp_path: Path
) -> None:
    config = with_archive(trained_config, tmp_path)
    with RunningService(config) as service:
        status, first = get_json(service, FORECAST)
        assert status == 200 and len(first["forecast_id"]) == 32
        assert get_json(service, FORECAST)[1] == first
        assert (
            get_json(service, FORECAST.replace("forecast_days=5", "forecast_days=2"))[1]["forecast_id"]
            == first["forecast_id"]
        )
        assert forecasts_by_source(service) == {"computed": 1.0, "memory": 2.0}
        (archived,) = wait_archived(service, 1)
    response_validator("ArchivedForecast").validate(archived)
    assert archived["forecast_id"] == first["forecast_id"] and archived["hindcast"] is False
    assert [round(flow, 4) for flow in archived["flows"]] == [day["flow"] for day in first["forecast"]]

    with RunningService(config) as restarted:
        assert get_json(restarted, FORECAST)[1] == first
        assert forecasts_by_source(restarted) == {"archive": 1.0}


def test_every_site_is_precomputed_in_one_pass_and_then_answered_from_memory(
    trained_config: AppConfig, tmp_path: Path
) -> None:
    sites = [f"0990000{number}" for number in range(1, 5)]
    with RunningService(with_archive(trained_config, tmp_path / "alone")) as alone:
        one_by_one = [get_json(alone, f"/forecast?site_id={site}&forecast_days=5")[1] for site in sites]
    with RunningService(with_archive(trained_config, tmp_path / "batched")) as service:
        assert service.services.forecast.precompute() == 4
        assert service.services.forecast.precompute() == 0  # the same inputs: nothing new to compute
        batched = [get_json(service, f"/forecast?site_id={site}&forecast_days=5")[1] for site in sites]
        assert forecasts_by_source(service) == {"memory": 4.0}
        assert len(wait_archived(service, 4)) == 4
    for single, together in zip(one_by_one, batched, strict=True):
        assert together["forecast_id"] == single["forecast_id"]
        assert [day["flow"] for day in together["forecast"]] == pytest.approx(
            [day["flow"] for day in single["forecast"]], abs=2e-4
        )


def test_issued_forecasts_are_listed_in_order_a_page_at_a_time(trained_config: AppConfig, tmp_path: Path) -> None:
    with RunningService(with_archive(trained_config, tmp_path)) as service:
        ids = [
            get_json(service, f"/forecast?site_id=09900001&forecast_days=3&issue_date=2020-06-0{d}")[1]["forecast_id"]
            for d in (1, 2, 3)
        ]
        wait_archived(service, 3)
        first = get_json(service, "/forecasts?limit=2")[1]
        response_validator("ForecastList").validate(first)
        rest = get_json(service, f"/forecasts?limit=2&cursor={first['next_cursor']}")[1]
        assert [f["forecast_id"] for f in first["forecasts"] + rest["forecasts"]] == ids and rest["next_cursor"] is None
        assert all(f["hindcast"] for f in first["forecasts"])
        assert get_json(service, "/forecasts?site_id=09900002")[1]["forecasts"] == []
        assert get_json(service, "/forecasts?issued_since=2199-01-01T00:00:00Z")[1]["forecasts"] == []
        assert_error(service, "/forecasts?cursor=bm90LWEtY3Vyc29y", 400, "invalid_request", "cursor")
        assert_error(service, "/forecasts?issued_since=yesterday", 400, "invalid_request", "issued_since")
        assert_error(service, "/forecasts?limit=100000", 400, "invalid_request", "at most")


def test_forecasts_are_served_while_the_archive_database_is_down(
    trained_config: AppConfig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = with_archive(trained_config, tmp_path, "postgresql+psycopg://streamflow:pw@127.0.0.1:9/archive")
    with RunningService(config) as service:
        for days in (5, 4, 3):
            assert get_json(service, FORECAST.replace("forecast_days=5", f"forecast_days={days}"))[0] == 200
        time.sleep(1.5)  # the writer tries, fails, and retries
        assert_error(service, "/forecasts", 502, "data_source_error", "forecast archive postgresql")
        found = samples(service.get("/metrics").text)
    failed = found[("streamflow_archive_writes_total", frozenset({"outcome": "failed"}.items()))]
    assert failed >= 1 and found[("streamflow_archive_pending", frozenset())] >= 1
    outages = [
        record for record in caplog.records if "forecasts are served and their archiving retried" in record.getMessage()
    ]
    assert len(outages) == 1  # one line per outage, not per write
    assert "pw@" not in outages[0].getMessage()
