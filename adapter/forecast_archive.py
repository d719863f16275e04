"""The forecast archive: every forecast issued, and what users said about them, in a real database.

SQLite by default (a file, embedded), PostgreSQL when a database URL is configured (replicas then
share it). One repository class speaks SQL (SQLAlchemy Core), each write in one transaction.
A forecast is stored once: its id is derived from what makes it (site, issue date, model
version, a fingerprint of its inputs), so a repeat of the same forecast is the same row. A
SQLite file that is not a database any more is moved aside and a new one started.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import DatabaseError, SQLAlchemyError

from domain.errors import DataSourceError

LOGGER = logging.getLogger(__name__)

METADATA = sa.MetaData()
FORECASTS = sa.Table(
    "forecasts",
    METADATA,
    sa.Column("forecast_id", sa.String(32), primary_key=True),
    sa.Column("site_id", sa.String(15), nullable=False),
    sa.Column("issue_date", sa.Date, nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("registry_version", sa.String(16)),
    sa.Column("inputs_fingerprint", sa.String(64), nullable=False),
    sa.Column("hindcast", sa.Boolean, nullable=False),
    sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("stale_age_s", sa.Float),
    sa.Column("drift", sa.Float),
    sa.Column("filled_gaps", sa.Integer, nullable=False),
    sa.Column("flows", sa.Text, nullable=False),  # JSON list, m3/s per lead day
    sa.Column("quantiles", sa.Text),  # JSON {level: [m3/s per lead day]}; NULL in rows of earlier versions
    sa.Column("exceedance", sa.Text),  # JSON {return period: [probability per lead day]}; NULL: no thresholds
    sa.Index("forecasts_by_site_and_time", "site_id", "issued_at"),
    sa.Index("forecasts_by_time", "issued_at", "forecast_id"),
)
FEEDBACK = sa.Table(
    "feedback",
    METADATA,
    sa.Column("feedback_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("forecast_id", sa.String(32), sa.ForeignKey("forecasts.forecast_id"), nullable=False),
    sa.Column("site_id", sa.String(15), nullable=False),
    sa.Column("rating", sa.Integer, nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("observed_flow", sa.Float),
    sa.Column("observed_at", sa.DateTime(timezone=True)),
    sa.Column("client", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("feedback_by_site", "site_id", "created_at"),
)


def forecast_id(site_id: str, issue_date: dt.date, model_version: str, inputs_fingerprint: str) -> str:
    """The id of a forecast: the same site, issue date, model and inputs give the same id."""
    key = f"{site_id}|{issue_date.isoformat()}|{model_version}|{inputs_fingerprint}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclasses.dataclass(frozen=True)
class ArchivedForecast:
    """One issued forecast as the archive keeps it.

    `quantiles` maps a level ("0.05") to its flow per lead day (m3/s); `exceedance` maps a return period
    ("2") to the probability per lead day of exceeding the site's threshold (None: no thresholds).
    """

    forecast_id: str
    site_id: str
    issue_date: dt.date
    model_version: str
    registry_version: str | None
    inputs_fingerprint: str
    hindcast: bool
    issued_at: dt.datetime
    stale_age_s: float | None
    drift: float | None
    filled_gaps: int
    flows: tuple[float, ...]
    quantiles: dict[str, tuple[float, ...]] | None = None
    exceedance: dict[str, tuple[float, ...]] | None = None

    def as_json(self) -> dict:
        """JSON-ready form (`GET /forecasts`)."""
        entry = dataclasses.asdict(self)
        entry.update(
            issue_date=self.issue_date.isoformat(), issued_at=self.issued_at.isoformat(), flows=list(self.flows)
        )
        return entry


@dataclasses.dataclass(frozen=True)
class Feedback:
    """What a user said about an issued forecast."""

    forecast_id: str
    site_id: str
    rating: int
    comment: str
    observed_flow: float | None
    observed_at: dt.datetime | None
    client: str
    created_at: dt.datetime
    feedback_id: int | None = None

    def as_json(self) -> dict:
        """JSON-ready form (`GET /feedback`)."""
        entry = dataclasses.asdict(self)
        entry.update(
            created_at=self.created_at.isoformat(),
            observed_at=self.observed_at.isoformat() if self.observed_at else None,
        )
        return entry


class ForecastArchive:
    """Issued forecasts and feedback in SQLite or PostgreSQL."""

    def __init__(self, url: str, sqlite_path: Path) -> None:
        """Args:
        url: A SQLAlchemy database URL (`postgresql+psycopg://...`); empty: SQLite at `sqlite_path`.
        sqlite_path: The SQLite file when `url` is empty.
        """
        self._url = url or f"sqlite:///{sqlite_path}"
        self._sqlite_path = None if url else sqlite_path
        self._engine: sa.Engine | None = None
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        """The database, for messages (without credentials)."""
        return (
            str(self._sqlite_path) if self._sqlite_path else sa.make_url(self._url).render_as_string(hide_password=True)
        )

    def store(self, *forecasts: ArchivedForecast) -> None:
        """Keep forecasts, in one transaction (a repeat of one already kept changes nothing).

        Raises:
            DataSourceError: The database failed (none of them is kept).
        """
        rows = {}
        for forecast in forecasts:
            row = dataclasses.asdict(forecast)
            row["flows"] = json.dumps(list(forecast.flows))
            for column in _JSON_COLUMNS:
                value = getattr(forecast, column)
                row[column] = None if value is None else json.dumps({key: list(each) for key, each in value.items()})
            row["issued_at"] = _to_utc(forecast.issued_at)
            rows[forecast.forecast_id] = row
        with self._transaction("storing forecasts") as connection:
            dialect = sqlite_dialect if connection.dialect.name == "sqlite" else postgresql_dialect
            insert = dialect.insert(FORECASTS).on_conflict_do_nothing(index_elements=[FORECASTS.c.forecast_id])
            connection.execute(insert, list(rows.values()))

    def get(self, forecast_id: str) -> ArchivedForecast | None:
        """One forecast, or None.

        Raises:
            DataSourceError: The database failed.
        """
        with self._transaction("reading a forecast") as connection:
            row = connection.execute(sa.select(FORECASTS).where(FORECASTS.c.forecast_id == forecast_id)).first()
        return None if row is None else _forecast(row)

    def page(
        self, site_id: str | None, issued_since: dt.datetime | None, cursor: str | None, limit: int
    ) -> tuple[list[ArchivedForecast], str | None]:
        """Forecasts in the order they were issued, `limit` at a time, and the cursor of the next page.

        Raises:
            ValueError: The cursor is not one this archive gave.
            DataSourceError: The database failed.
        """
        query = sa.select(FORECASTS).order_by(FORECASTS.c.issued_at, FORECASTS.c.forecast_id).limit(limit + 1)
        if site_id is not None:
            query = query.where(FORECASTS.c.site_id == site_id)
        if issued_since is not None:
            query = query.where(FORECASTS.c.issued_at >= _to_utc(issued_since))
        if cursor is not None:
            after_time, after_id = _decode_cursor(cursor)
            after_time = _to_utc(after_time)
            query = query.where(
                sa.or_(
                    FORECASTS.c.issued_at > after_time,
                    sa.and_(FORECASTS.c.issued_at == after_time, FORECASTS.c.forecast_id > after_id),
                )
            )
        with self._transaction("listing forecasts") as connection:
            rows = [_forecast(row) for row in connection.execute(query)]
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, _encode_cursor(rows[-1]) if more else None

    def issued(self, site_id: str, first_issue: dt.date, last_issue: dt.date) -> list[ArchivedForecast]:
        """The operational (not hindcast) forecasts of a site issued between two days, oldest first.

        Raises:
            DataSourceError: The database failed.
        """
        query = (
            sa.select(FORECASTS)
            .where(FORECASTS.c.site_id == site_id, FORECASTS.c.hindcast.is_(False))
            .where(FORECASTS.c.issue_date >= first_issue, FORECASTS.c.issue_date <= last_issue)
            .order_by(FORECASTS.c.issued_at)
        )
        with self._transaction("reading issued forecasts") as connection:
            return [_forecast(row) for row in connection.execute(query)]

    def count(self) -> int:
        """How many forecasts are kept.

        Raises:
            DataSourceError: The database failed.
        """
        with self._transaction("counting forecasts") as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(FORECASTS)).scalar_one())

    def add_feedback(self, feedback: Feedback) -> int:
        """Keep a user's feedback; returns its id.

        Raises:
            DataSourceError: The database failed.
        """
        row = {key: value for key, value in dataclasses.asdict(feedback).items() if key != "feedback_id"}
        row["created_at"] = _to_utc(feedback.created_at)
        row["observed_at"] = _to_utc(feedback.observed_at) if feedback.observed_at else None
        with self._transaction("storing feedback") as connection:
            return int(connection.execute(FEEDBACK.insert().values(**row)).inserted_primary_key[0])

    def feedback(self, site_id: str | None, limit: int) -> list[Feedback]:
        """The newest feedback, of one site or all.

        Raises:
            DataSourceError: The database failed.
        """
        query = sa.select(FEEDBACK).order_by(FEEDBACK.c.feedback_id.desc()).limit(limit)
        if site_id is not None:
            query = query.where(FEEDBACK.c.site_id == site_id)
        with self._transaction("reading feedback") as connection:
            return [_feedback(row) for row in connection.execute(query)]

    def feedback_counts(self) -> dict[str, int]:
        """How much feedback each site has.

        Raises:
            DataSourceError: The database failed.
        """
        query = sa.select(FEEDBACK.c.site_id, sa.func.count()).group_by(FEEDBACK.c.site_id)
        with self._transaction("counting feedback") as connection:
            return {site: int(count) for site, count in connection.execute(query)}

    @contextlib.contextmanager
    def _transaction(self, what: str) -> Iterator[sa.Connection]:
        """One transaction; a database failure leaves as a `DataSourceError` naming the archive."""
        try:
            with self._connected().begin() as connection:
                yield connection
        except (SQLAlchemyError, OSError) as exc:
            self._forget_connection()
            raise DataSourceError(f"forecast archive {self.where}: {what} failed: {_first_line(exc)}") from exc

    def _connected(self) -> sa.Engine:
        with self._lock:
            if self._engine is None:
                if self._sqlite_path is not None:
                    self._sqlite_path.parent.mkdir(parents=True, exist_ok=True)
                engine = sa.create_engine(self._url, pool_pre_ping=True)
                if self._sqlite_path is not None:
                    # Write-ahead log: the workers' lookups read while the writer writes.
                    sa.event.listen(engine, "connect", _write_ahead_log)
                self._create_tables(engine)
                self._engine = engine
            return self._engine

    def _create_tables(self, engine: sa.Engine) -> None:
        try:
            METADATA.create_all(engine)
            _add_missing_columns(engine)
        except DatabaseError as exc:
            if self._sqlite_path is None or "not a database" not in str(exc):
                raise
            engine.dispose()
            aside = self._sqlite_path.with_name(
                f"{self._sqlite_path.name}.corrupt-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}"
            )
            self._sqlite_path.rename(aside)
            LOGGER.error(
                "forecast archive %s is not a database: moved to %s, a new one started", self._sqlite_path, aside
            )
            METADATA.create_all(engine)

    def _forget_connection(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
            self._engine = None


# Columns added to the forecasts table after its first release: created in an existing archive on start.
_JSON_COLUMNS = ("quantiles", "exceedance")


def _add_missing_columns(engine: sa.Engine) -> None:
    present = {column["name"] for column in sa.inspect(engine).get_columns(FORECASTS.name)}
    with engine.begin() as connection:
        for column in _JSON_COLUMNS:
            if column not in present:
                connection.execute(sa.text(f"ALTER TABLE {FORECASTS.name} ADD COLUMN {column} TEXT"))
                LOGGER.info("forecast archive: column %s added to %s", column, FORECASTS.name)


def _forecast(row: Any) -> ArchivedForecast:
    values = dict(row._mapping)
    values["flows"] = tuple(json.loads(values["flows"]))
    for column in _JSON_COLUMNS:
        raw = values[column]
        values[column] = None if raw is None else {key: tuple(each) for key, each in json.loads(raw).items()}
    values["issued_at"] = _utc(values["issued_at"])
    return ArchivedForecast(**values)


def _feedback(row: Any) -> Feedback:
    values = dict(row._mapping)
    values["created_at"] = _utc(values["created_at"])
    values["observed_at"] = _utc(values["observed_at"]) if values["observed_at"] else None
    return Feedback(**values)


def _to_utc(moment: dt.datetime) -> dt.datetime:
    # SQLite keeps the clock time and drops the offset: every time goes in as UTC.
    return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _utc(moment: dt.datetime) -> dt.datetime:
    # SQLite gives naive datetimes back; every time stored is UTC.
    return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _encode_cursor(last: ArchivedForecast) -> str:
    return base64.urlsafe_b64encode(f"{last.issued_at.isoformat()}|{last.forecast_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    try:
        moment, identifier = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return _utc(dt.datetime.fromisoformat(moment)), identifier
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"cursor {cursor!r} is not one this service gave") from exc


def _write_ahead_log(connection: Any, _record: Any) -> None:
    connection.execute("PRAGMA journal_mode=WAL")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
