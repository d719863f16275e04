"""Daily date helpers: the project works in local calendar days, inclusive ranges."""

from __future__ import annotations

import datetime as dt

import pandas as pd


def daily_index(start: dt.date, end: dt.date) -> pd.DatetimeIndex:
    """Return every day from `start` to `end` inclusive (empty when start > end)."""
    return pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="D")


def lead_dates(issue_date: dt.date, days: int) -> list[dt.date]:
    """Return the forecast days `issue_date + 1` .. `issue_date + days`."""
    return [issue_date + dt.timedelta(days=lead) for lead in range(1, days + 1)]


def as_date(value: pd.Timestamp | dt.date) -> dt.date:
    """Return a plain `datetime.date` for a pandas timestamp or a date."""
    return value.date() if isinstance(value, pd.Timestamp) else value
