"""Forecast quantiles from calibrated residuals, per site, lead day and flow regime.

The ensemble-mean forecast f of a site and lead is turned into a distribution by the errors the
model made on a calibration period (the validation period when there is one, else the training
period): in the transformed space g(x) = (x + c)^power (log(x + c) for power 0), with c a small
share of the site's mean flow, the calibration residuals g(observed) - g(f) are split into
classes, by the size of f (equal-count regimes) and by its direction (above the last observed
flow, a forecast rise, or not), and their quantiles on `LEVELS` are kept. A new forecast's
quantile at level p is g^-1(g(f) + residual quantile p of its class), clipped at zero. The defaults of
`Calibration` were chosen on the camels30 tuning splits (`bench/calibration.py`, bench/RESULTS.md).

Every distribution is held on the same grid of levels, so quantiles and exceedance probabilities
are read from one curve and cannot contradict each other.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from model.metrics import cdf_at
from model.site_data import SiteSeries

# Levels 0.01..0.99: the grid every predictive distribution is held on.
LEVELS = np.round(np.arange(1, 100) / 100.0, 2)
# Fewer calibration pairs than this in a regime: the regime uses the pooled residuals of its lead.
MIN_PAIRS_PER_REGIME = 60


@dataclasses.dataclass(frozen=True)
class Calibration:
    """How residuals are calibrated.

    Attributes:
        power: Exponent of the transform (0: logarithm; 1: raw flow).
        regimes: Equal-count classes of the forecast's size, each with residuals of its own.
        offset_share: c of the transform as a share of the site's mean observed flow (keeps dry days finite).
        by_direction: Whether forecast rises (above the last observed flow) get residuals of their own.
        spread: Residual quantiles are widened about their median by this factor (errors on the training
            period itself are smaller than on days the model never saw).
    """

    power: float = 0.0
    regimes: int = 4
    offset_share: float = 0.05
    by_direction: bool = True
    spread: float = 1.05


DEFAULT_CALIBRATION = Calibration()


def _transform(flow_mm: np.ndarray, offset: float, power: float) -> np.ndarray:
    shifted = np.maximum(flow_mm, 0.0) + offset
    return np.log(shifted) if power == 0 else shifted**power


def _inverse(transformed: np.ndarray, offset: float, power: float) -> np.ndarray:
    shifted = np.exp(transformed) if power == 0 else np.maximum(transformed, 0.0) ** (1.0 / power)
    return np.maximum(shifted - offset, 0.0)


@dataclasses.dataclass(frozen=True)
class SiteResiduals:
    """One site's calibrated residuals.

    Attributes:
        power: Exponent of the transform (0: logarithm).
        offset: c of the transform, mm/day.
        edges: [horizon, regimes - 1] transformed forecasts separating the regimes.
        residuals: [horizon, directions x regimes, len(LEVELS)] residual quantiles of each class (class =
            regime + regimes x rise), non-decreasing along the last axis.
        pairs: Calibration pairs per lead day.
        directions: 2 when rises have classes of their own, else 1.
    """

    power: float
    offset: float
    edges: np.ndarray
    residuals: np.ndarray
    pairs: tuple[int, ...]
    directions: int = 1

    def quantiles(self, forecast_mm: np.ndarray, last_flow_mm: np.ndarray | float) -> np.ndarray:
        """Flow quantiles of ensemble-mean forecasts.

        Args:
            forecast_mm: [..., horizon] forecasts, mm/day.
            last_flow_mm: [...] the last flow observed when each was issued, mm/day (NaN: none, read as a rise).

        Returns:
            [..., horizon, len(LEVELS)] quantiles in mm/day, NaN where the forecast is NaN.
        """
        forecast_mm = np.asarray(forecast_mm, dtype=np.float64)
        transformed = _transform(forecast_mm, self.offset, self.power)
        horizon = transformed.shape[-1]
        regimes = self.edges.shape[1] + 1
        rise = (
            ~(forecast_mm <= np.asarray(last_flow_mm, dtype=np.float64)[..., None]) if self.directions == 2 else False
        )
        regime = np.stack(
            [np.searchsorted(self.edges[lead], transformed[..., lead], side="right") for lead in range(horizon)],
            axis=-1,
        )
        residuals = self.residuals[np.arange(horizon), regime + regimes * rise]  # [..., horizon, levels]
        values = _inverse(transformed[..., None] + residuals, self.offset, self.power)
        values = np.maximum.accumulate(values, axis=-1)  # clipping at zero keeps the order; this makes it certain
        return np.where(np.isnan(forecast_mm)[..., None], np.nan, values)

    def as_json(self) -> dict:
        """JSON-ready form, rounded to what matters (0.1 % of a transformed flow)."""
        return {
            "power": self.power,
            "offset": round(self.offset, 6),
            "edges": np.round(self.edges, 5).tolist(),
            "residuals": np.round(self.residuals, 5).tolist(),
            "pairs": list(self.pairs),
            "directions": self.directions,
        }

    @classmethod
    def from_json(cls, raw: dict) -> SiteResiduals:
        """Inverse of `as_json`."""
        return cls(
            power=float(raw["power"]),
            offset=float(raw["offset"]),
            edges=np.asarray(raw["edges"], dtype=np.float64),
            residuals=np.asarray(raw["residuals"], dtype=np.float64),
            pairs=tuple(int(count) for count in raw["pairs"]),
            directions=int(raw["directions"]),
        )


def fit_site_residuals(
    observed_mm: np.ndarray, forecast_mm: np.ndarray, calibration: Calibration = DEFAULT_CALIBRATION
) -> SiteResiduals:
    """Calibrate one site on a period.

    A forecast's direction compares it with the last flow observed up to its issue day.

    Args:
        observed_mm: [days] observed flow, mm/day, NaN where missing.
        forecast_mm: [days, horizon] ensemble-mean forecasts in mm/day, row t issued on day t (NaN: none),
            on the same calendar as `observed_mm`.
        calibration: Transform and regimes.

    Returns:
        The site's residual quantiles; a lead with no calibration pair gets zero-width quantiles.
    """
    n_days, horizon = forecast_mm.shape
    power, regimes = calibration.power, calibration.regimes
    directions = 2 if calibration.by_direction else 1
    observed = observed_mm[observed_mm >= 0]
    offset = max(calibration.offset_share * float(observed.mean()) if len(observed) else 0.0, 1e-3)
    last_flow = last_observed(observed_mm)
    edges = np.zeros((horizon, regimes - 1))
    residuals = np.zeros((horizon, directions * regimes, len(LEVELS)))
    pairs = []
    for lead in range(1, horizon + 1):
        issue = np.arange(n_days - lead)
        target = observed_mm[issue + lead]
        forecast = forecast_mm[issue, lead - 1]
        both = ~np.isnan(target) & ~np.isnan(forecast)
        pairs.append(int(both.sum()))
        if not both.any():
            continue
        g_forecast = _transform(forecast[both], offset, power)
        residual = _transform(target[both], offset, power) - g_forecast
        edges[lead - 1] = np.quantile(g_forecast, np.arange(1, regimes) / regimes)
        pooled = np.quantile(residual, LEVELS)
        rise = ~(forecast[both] <= last_flow[issue][both]) if directions == 2 else np.zeros(len(residual), bool)
        classes = np.searchsorted(edges[lead - 1], g_forecast, side="right") + regimes * rise
        for number in range(directions * regimes):
            chosen = residual[classes == number]
            quantiles = np.quantile(chosen, LEVELS) if len(chosen) >= MIN_PAIRS_PER_REGIME else pooled
            median = quantiles[len(LEVELS) // 2]
            residuals[lead - 1, number] = median + calibration.spread * (quantiles - median)
    return SiteResiduals(power, offset, edges, residuals, tuple(pairs), directions)


def last_observed(flow_mm: np.ndarray) -> np.ndarray:
    """[days] the last non-NaN value of `flow_mm` up to each day (NaN before the first)."""
    positions = np.where(np.isnan(flow_mm), 0, np.arange(len(flow_mm)))
    np.maximum.accumulate(positions, out=positions)
    return flow_mm[positions]  # index 0 when none was observed yet: NaN if day 0 is


def calibrate_sites(
    records: list[SiteSeries],
    forecasts_mm: dict[str, np.ndarray],
    start: dt.date,
    end: dt.date,
    calibration: Calibration = DEFAULT_CALIBRATION,
) -> dict[str, SiteResiduals]:
    """`fit_site_residuals` of every site on `start`..`end`.

    Args:
        records: The sites' records (observed flow, mm/day).
        forecasts_mm: site_id -> [days of the record, horizon] forecasts in mm/day, row t issued on day t.
        start: First issue day of the calibration period.
        end: Its last day.
        calibration: Transform and regimes.
    """
    fitted = {}
    for record in records:
        first, last = max(record.index_of(start), 0), min(record.index_of(end), record.n_days - 1)
        site_id = record.site.site_id
        observed = record.flow_mm[first : last + 1]
        fitted[site_id] = fit_site_residuals(observed, forecasts_mm[site_id][first : last + 1], calibration)
    return fitted


def exceedance(quantiles: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Probability of exceeding each threshold, read from the same quantile curve.

    Args:
        quantiles: [..., len(LEVELS)] flow quantiles (non-decreasing), any unit.
        thresholds: [n] thresholds, the same unit.

    Returns:
        [..., n] probabilities in [0, 1]: 1 - F(threshold), F interpolated linearly between the levels,
        0 below the lowest and 1 above the highest quantile.
    """
    flat = quantiles.reshape(-1, quantiles.shape[-1])
    cdf = np.stack([cdf_at(curve, thresholds, LEVELS) for curve in flat])
    return (1.0 - cdf).reshape(*quantiles.shape[:-1], len(thresholds))


def level_index(levels: tuple[float, ...]) -> np.ndarray:
    """Positions of `levels` on `LEVELS`.

    Raises:
        ValueError: A level is not one of 0.01, 0.02, ..., 0.99.
    """
    positions = np.searchsorted(LEVELS, np.round(levels, 2))
    if any(round(level, 2) != level or not 0.01 <= level <= 0.99 for level in levels):
        raise ValueError(f"quantile levels must be among 0.01, 0.02, ..., 0.99, got {list(levels)}")
    return positions
