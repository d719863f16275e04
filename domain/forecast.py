"""The forecast a service returns: plain data, no torch or HTTP types."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import math

from domain.flood import RETURN_PERIODS

FLOW_UNIT = "m3/s"


@dataclasses.dataclass(frozen=True)
class ForecastDay:
    """One lead day of a forecast.

    Attributes:
        lead_days: Days after the issue date (1..horizon).
        date: The forecast day.
        flow: Forecast daily mean discharge, m3/s: the ensemble mean (the point forecast).
        quantiles: Level -> flow quantile, m3/s, non-decreasing with the level.
        exceedance: Return period in years -> probability that the day's flow exceeds the site's flood
            threshold of that period; None when the site has no thresholds.
        observed: Observed discharge on that day (hindcasts only), m3/s, or None.
    """

    lead_days: int
    date: dt.date
    flow: float
    quantiles: dict[float, float] = dataclasses.field(default_factory=dict)
    exceedance: dict[int, float] | None = None
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
        thresholds: Return period in years -> the site's flood threshold, m3/s; None when unknown.
        severity: The highest threshold likely exceeded on some day (`domain.flood.severity`).
        trend: Rising, falling or steady (`domain.flood.trend`).
    """

    site_id: str
    issue_date: dt.date
    model_version: str
    days: tuple[ForecastDay, ...]
    hindcast: bool = False
    stale_age_s: float | None = None
    registry_version: str | None = None
    forecast_id: str | None = None
    thresholds: dict[int, float] | None = None
    severity: str = "unknown"
    trend: str = "steady"

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
            "severity": self.severity,
            "trend": self.trend,
            "thresholds": None
            if self.thresholds is None
            else {str(k): round(v, 4) for k, v in self.thresholds.items()},
            "forecast": [_day_json(day, self.hindcast) for day in self.days],
        }

    def as_csv(self) -> str:
        """The forecast days as CSV with a header row: lead_days, date, flow, one column per quantile level
        (q0.05, ...), one per threshold's exceedance probability (exceed_2y, ...; empty without thresholds)
        and, for hindcasts, observed."""
        levels = list(self.days[0].quantiles) if self.days else []
        header = ["lead_days", "date", "flow", *(f"q{level:g}" for level in levels)]
        header += [f"exceed_{years}y" for years in RETURN_PERIODS]
        header += ["observed"] if self.hindcast else []
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        for entry in (_day_json(day, self.hindcast) for day in self.days):
            exceedance = entry["exceedance"] or {}
            row = [entry["lead_days"], entry["date"], entry["flow"], *entry["quantiles"].values()]
            row += [exceedance.get(str(years), "") for years in RETURN_PERIODS]
            row += [_blank(entry["observed"])] if self.hindcast else []
            writer.writerow(row)
        return buffer.getvalue()


def _day_json(day: ForecastDay, hindcast: bool) -> dict:
    entry = {
        "lead_days": day.lead_days,
        "date": day.date.isoformat(),
        "flow": round(day.flow, 4),
        "quantiles": {f"{level:g}": round(value, 4) for level, value in day.quantiles.items()},
        "exceedance": None if day.exceedance is None else {str(k): round(p, 3) for k, p in day.exceedance.items()},
    }
    if hindcast:
        observed = day.observed
        entry["observed"] = None if observed is None or math.isnan(observed) else round(observed, 4)
    return entry


def _blank(value: float | None) -> object:
    return "" if value is None else value
