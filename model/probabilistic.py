"""Probabilistic scores of forecast quantiles per site and lead, against two probabilistic references.

- Probabilistic persistence: today's flow plus the site's training-period distribution of lead-k
  changes, Q(t) + quantiles of Q(t+k) - Q(t), clipped at zero.
- Day-of-year climatology: the training-period flows of the target day's calendar day, within
  `CLIMATOLOGY_HALF_WINDOW` days either side, over every training year.

CRPSS = 1 - CRPS / CRPS of the reference, over the same days. Coverage is the share of observations
inside the central 50 % (q0.25..q0.75) and 90 % (q0.05..q0.95) intervals; the PIT summary is its
mean (0.5 when unbiased) and its largest distance from the uniform distribution (Kolmogorov).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from model.metrics import crps_by_day, pit_values
from model.site_data import SiteSeries
from model.uncertainty import LEVELS, SiteResiduals, last_observed, level_index

CLIMATOLOGY_HALF_WINDOW = 15
PROBABILISTIC_COLUMNS = (
    "crps",
    "crpss_persistence",
    "crpss_climatology",
    "coverage_50",
    "coverage_90",
    "pit_mean",
    "pit_ks",
)
_INTERVALS = {"coverage_50": (0.25, 0.75), "coverage_90": (0.05, 0.95)}


def persistence_changes(record: SiteSeries, start: dt.date, end: dt.date, horizon: int) -> np.ndarray:
    """[horizon, len(LEVELS)] quantiles of the lead-k flow changes, mm/day, over issue days in start..end."""
    first, last = max(record.index_of(start), 0), min(record.index_of(end), record.n_days - 1)
    changes = np.full((horizon, len(LEVELS)), np.nan)
    for lead in range(1, horizon + 1):
        issue = np.arange(first, last - lead + 1)
        change = record.flow_mm[issue + lead] - record.flow_mm[issue]
        change = change[~np.isnan(change)]
        if len(change):
            changes[lead - 1] = np.quantile(change, LEVELS)
    return changes


def climatology_by_day_of_year(record: SiteSeries, start: dt.date, end: dt.date) -> np.ndarray:
    """[366, len(LEVELS)] flow quantiles, mm/day, per calendar day (row = day of year - 1) over start..end."""
    first, last = max(record.index_of(start), 0), min(record.index_of(end), record.n_days - 1)
    flow = record.flow_mm[first : last + 1]
    day_of_year = _day_of_year(record, first, last)
    table = np.full((366, len(LEVELS)), np.nan)
    for day in range(1, 367):
        distance = np.abs(day_of_year - day)
        chosen = flow[(np.minimum(distance, 366 - distance) <= CLIMATOLOGY_HALF_WINDOW) & ~np.isnan(flow)]
        if len(chosen):
            table[day - 1] = np.quantile(chosen, LEVELS)
    return table


def score_probabilistic(
    record: SiteSeries,
    forecast_mm: np.ndarray,
    residuals: SiteResiduals,
    period: tuple[dt.date, dt.date],
    reference_period: tuple[dt.date, dt.date],
) -> list[dict]:
    """Probabilistic scores of one site per lead day.

    Args:
        record: The site's record (observed flow, mm/day).
        forecast_mm: [days, horizon] ensemble-mean forecasts in mm/day, row t issued on day t.
        residuals: The site's calibration.
        period: Scored issue days (lead k: issue days t with t and t+k inside).
        reference_period: Where the references' distributions come from (the training period).

    Returns:
        One dict per lead: site_id, lead_days and `PROBABILISTIC_COLUMNS`.
    """
    horizon = forecast_mm.shape[1]
    first, last = max(record.index_of(period[0]), 0), min(record.index_of(period[1]), record.n_days - 1)
    changes = persistence_changes(record, *reference_period, horizon)
    climatology = climatology_by_day_of_year(record, *reference_period)
    quantiles = residuals.quantiles(forecast_mm, last_observed(record.flow_mm))  # [days, horizon, levels]
    rows = []
    for lead in range(1, horizon + 1):
        issue = np.arange(first, last - lead + 1)
        observed = record.flow_mm[issue + lead]
        ours = quantiles[issue, lead - 1]
        persistence = np.maximum(record.flow_mm[issue, None] + changes[lead - 1][None, :], 0.0)
        climate = climatology[_day_of_year(record, first + lead, last)[: len(issue)] - 1]
        scored = ~np.isnan(observed) & ~np.isnan(ours).any(axis=1) & ~np.isnan(persistence).any(axis=1)
        scored &= ~np.isnan(climate).any(axis=1)
        observed, ours = observed[scored], ours[scored]
        crps = crps_by_day(observed, ours, LEVELS).mean() if scored.any() else np.nan
        row = {"site_id": record.site.site_id, "lead_days": lead, "crps": crps}
        row["crpss_persistence"] = _skill(crps, crps_by_day(observed, persistence[scored], LEVELS))
        row["crpss_climatology"] = _skill(crps, crps_by_day(observed, climate[scored], LEVELS))
        for column, (low, high) in _INTERVALS.items():
            lower, upper = ours[:, level_index((low, high))].T
            row[column] = float(((observed >= lower) & (observed <= upper)).mean()) if scored.any() else np.nan
        pit = pit_values(observed, ours, LEVELS)
        row["pit_mean"] = float(pit.mean()) if scored.any() else np.nan
        row["pit_ks"] = _uniform_distance(pit) if scored.any() else np.nan
        rows.append(row)
    return rows


def score_probabilistic_sites(
    records: list[SiteSeries],
    forecasts_mm: dict[str, np.ndarray],
    residuals: dict[str, SiteResiduals],
    period: tuple[dt.date, dt.date],
    reference_period: tuple[dt.date, dt.date],
) -> pd.DataFrame:
    """`score_probabilistic` of every site, one row per (site_id, lead_days)."""
    rows = []
    for record in records:
        site_id = record.site.site_id
        rows += score_probabilistic(record, forecasts_mm[site_id], residuals[site_id], period, reference_period)
    return pd.DataFrame(rows)


def _skill(crps: float, reference: np.ndarray) -> float:
    mean = float(reference.mean()) if len(reference) else np.nan
    return float(1.0 - crps / mean) if mean > 0 else np.nan


def _uniform_distance(pit: np.ndarray) -> float:
    ordered = np.sort(pit)
    n = len(ordered)
    steps = np.arange(1, n + 1) / n
    return float(max(np.max(steps - ordered), np.max(ordered - (steps - 1.0 / n))))


def _day_of_year(record: SiteSeries, first: int, last: int) -> np.ndarray:
    days = pd.date_range(record.day_at(first), record.day_at(last), freq="D")
    return days.dayofyear.to_numpy()
