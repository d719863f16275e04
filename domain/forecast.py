"""The forecast a service returns: plain data, no torch or HTTP types."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

FLOW_UNIT = "m3/s"


@dataclasses.dataclass(frozen=True)
class ForecastDay:
    """One lead day of a forecast.

    Attributes:
        lead_days: Days after the issue date (1..horizon).
        date: The forecast day.
        flow: Forecast daily mean discharge, m3/s.
        observed: Observed discharge on that day (hindcasts only), m3/s, or None.
    """

    lead_days: int
    date: dt.date
    flow: float
    observed: float | None = None


@dataclasses.dataclass(frozen=True)
class Forecast:
    """A flow forecast for one site, issued with flow observed through `issue_date`.

    Attributes:
        site_id: The site.
        issue_date: Last day of observed flow the forecast starts from.
        model_version: Version id of the model bundle that made it.
        days: One entry per lead day, in order.
        hindcast: True when issued for a past date on request (observations shown beside it).
        stale_age_s: None when every input was fresh; otherwise the age in seconds of the oldest
            cached input served because its upstream failed.
        registry_version: The model's version in the registry (None when served without one).
        forecast_id: Its id in the archive (the same forecast, the same id): what feedback names.
    """

    site_id: str
    issue_date: dt.date
    model_version: str
    days: tuple[ForecastDay, ...]
    hindcast: bool = False
    stale_age_s: float | None = None
    registry_version: str | None = None
    forecast_id: str | None = None

    def as_json(self) -> dict:
        """Return the forecast as a JSON-ready dict."""
        return {
            "forecast_id": self.forecast_id,
            "site_id": self.site_id,
            "issue_date": self.issue_date.isoformat(),
            "unit": FLOW_UNIT,
            "model_version": self.model_version,
            "registry_version": self.registry_version,
            "hindcast": self.hindcast,
            "stale": self.stale_age_s is not None,
            "stale_age_s": None if self.stale_age_s is None else round(self.stale_age_s),
            "forecast": [_day_json(day, self.hindcast) for day in self.days],
        }


def _day_json(day: ForecastDay, hindcast: bool) -> dict:
    entry = {"lead_days": day.lead_days, "date": day.date.isoformat(), "flow": round(day.flow, 4)}
    if hindcast:
        observed = day.observed
        entry["observed"] = None if observed is None or math.isnan(observed) else round(observed, 4)
    return entry
