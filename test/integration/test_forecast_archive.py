"""adapter/forecast_archive.py on a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from adapter.forecast_archive import ArchivedForecast, Feedback, ForecastArchive, forecast_id
from domain.errors import DataSourceError

pytestmark = pytest.mark.slow

T0 = dt.datetime(2026, 10, 1, 6, 0, tzinfo=dt.UTC)


def issued(site: str, day: int, minutes: int = 0, model: str = "m1", hindcast: bool = False) -> ArchivedForecast:
    issue = dt.date(2026, 9, day)
    fingerprint = f"{site}{day}".ljust(64, "0")
    return ArchivedForecast(
        forecast_id=forecast_id(site, issue, model, fingerprint),
        site_id=site,
        issue_date=issue,
        model_version=model,
        registry_version="3",
        inputs_fingerprint=fingerprint,
        hindcast=hindcast,
        issued_at=T0 + dt.timedelta(minutes=minutes),
        stale_age_s=None,
        drift=0.01,
        filled_gaps=2,
        flows=(1.5, 1.25, 1.0),
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> ForecastArchive:
    if request.param == "sqlite":
        return ForecastArchive("", tmp_path / "archive.sqlite")
    store = ForecastArchive(request.getfixturevalue("postgres_url"), tmp_path / "unused.sqlite")
    with store._transaction("emptying the tables") as connection:  # one server for the session
        for table in ("feedback", "forecasts"):
            connection.exec_driver_sql(f"DELETE FROM {table}")
    return store


def test_a_forecast_round_trips_and_is_stored_once(archive: ForecastArchive) -> None:
    forecast = issued("01646500", 28)
    archive.store(forecast)
    archive.store(forecast)  # the same forecast again: the same row

    assert archive.count() == 1
    assert archive.get(forecast.forecast_id) == forecast
    assert archive.get("0" * 32) is None
    assert forecast.forecast_id == forecast_id("01646500", dt.date(2026, 9, 28), "m1", forecast.inputs_fingerprint)


def test_a_batch_is_stored_in_one_go_leaving_out_what_is_kept_already(archive: ForecastArchive) -> None:
    kept = issued("01646500", 20)
    archive.store(kept)
    batch = [kept, issued("01646500", 21, 1), issued("01646500", 21, 1), issued("01646500", 22, 2)]
    archive.store(*batch)
    assert archive.count() == 3
    assert [f.issue_date.day for f in archive.page(None, None, None, limit=10)[0]] == [20, 21, 22]


def test_pages_follow_the_issue_order_and_resume_from_their_cursor(archive: ForecastArchive) -> None:
    for minutes, (site, day) in enumerate([("01", 20), ("02", 20), ("01", 21), ("01", 22), ("02", 22)]):
        archive.store(issued(site.rjust(8, "0"), day, minutes))

    first, cursor = archive.page(None, None, None, limit=2)
    second, cursor2 = archive.page(None, None, cursor, limit=2)
    third, end = archive.page(None, None, cursor2, limit=2)
    assert [f.issued_at.minute for f in first + second + third] == [0, 1, 2, 3, 4] and end is None
    ones, _ = archive.page("00000001", T0 + dt.timedelta(minutes=1), None, limit=10)
    assert [(f.site_id, f.issue_date.day) for f in ones] == [("00000001", 21), ("00000001", 22)]
    with pytest.raises(ValueError, match="cursor"):
        archive.page(None, None, "not-a-cursor", limit=2)


def test_operational_forecasts_of_a_period_leave_hindcasts_out(archive: ForecastArchive) -> None:
    archive.store(issued("01646500", 20))
    archive.store(issued("01646500", 21, 1, hindcast=True))
    archive.store(issued("01646500", 25, 2))

    found = archive.issued("01646500", dt.date(2026, 9, 19), dt.date(2026, 9, 22))
    assert [f.issue_date.day for f in found] == [20]


def test_feedback_is_kept_and_counted_per_site(archive: ForecastArchive) -> None:
    forecast = issued("01646500", 28)
    archive.store(forecast)
    note = Feedback(forecast.forecast_id, "01646500", 4, "<b>close</b> to the staff gauge", 1.3, T0, "203.0.113.9", T0)
    first = archive.add_feedback(note)
    archive.add_feedback(note)

    (newest, older) = archive.feedback("01646500", limit=10)
    assert newest.feedback_id > older.feedback_id == first
    assert newest.comment == "<b>close</b> to the staff gauge"  # kept as given: inert text, never rendered
    assert newest.observed_at == T0 and archive.feedback_counts() == {"01646500": 2}


def test_a_corrupt_sqlite_file_is_moved_aside_and_a_new_one_started(tmp_path: Path) -> None:
    path = tmp_path / "archive.sqlite"
    path.write_bytes(b"this is not a database, it is half a page of something else")

    archive = ForecastArchive("", path)
    archive.store(issued("01646500", 28))

    assert archive.count() == 1
    (aside,) = tmp_path.glob("archive.sqlite.corrupt-*")
    assert aside.read_bytes().startswith(b"this is not a database")


def test_an_unreachable_database_is_a_data_source_error_naming_it_without_the_password() -> None:
    archive = ForecastArchive("postgresql+psycopg://streamflow:s3cret@127.0.0.1:9/forecasts", Path("unused"))
    with pytest.raises(DataSourceError, match="forecast archive postgresql") as raised:
        archive.count()
    assert "s3cret" not in str(raised.value)
