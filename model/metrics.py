"""Skill scores: pure functions on arrays, NaN pairs ignored."""

from __future__ import annotations

import numpy as np


def _paired(observed: np.ndarray, simulated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    observed = np.asarray(observed, dtype=np.float64)
    simulated = np.asarray(simulated, dtype=np.float64)
    both = ~np.isnan(observed) & ~np.isnan(simulated)
    return observed[both], simulated[both]


def nse(observed: np.ndarray, simulated: np.ndarray) -> float:
    """Nash-Sutcliffe efficiency, 1 - SSE / variance of the observations.

    Returns:
        NSE over the days where both series have a value; NaN when fewer than
        two such days exist or the observations are constant.
    """
    obs, sim = _paired(observed, simulated)
    if len(obs) < 2:
        return float("nan")
    spread = np.sum((obs - obs.mean()) ** 2)
    if spread == 0:
        return float("nan")
    return float(1.0 - np.sum((sim - obs) ** 2) / spread)


def kge(observed: np.ndarray, simulated: np.ndarray) -> float:
    """Kling-Gupta efficiency (Gupta et al. 2009).

    KGE = 1 - sqrt((r - 1)^2 + (alpha - 1)^2 + (beta - 1)^2) with r the
    Pearson correlation, alpha = std(sim) / std(obs) and beta = mean(sim) / mean(obs).

    Returns:
        KGE over the days where both series have a value; NaN when undefined.
    """
    obs, sim = _paired(observed, simulated)
    if len(obs) < 2 or obs.std() == 0 or obs.mean() == 0:
        return float("nan")
    r = 0.0 if sim.std() == 0 else float(np.corrcoef(obs, sim)[0, 1])
    alpha = sim.std() / obs.std()
    beta = sim.mean() / obs.mean()
    return float(1.0 - np.sqrt((r - 1.0) ** 2 + (alpha - 1.0) ** 2 + (beta - 1.0) ** 2))


def low_flow_error(observed: np.ndarray, simulated: np.ndarray, quantile: float = 0.3) -> float:
    """Median relative error, |sim - obs| / obs, on the low-flow days.

    Low-flow days are those whose observed flow is positive and at most the `quantile` of
    the positive observations. NSE and KGE hardly see them (squared errors of the peaks
    dominate), yet a forecast of zero for a river carrying water is plainly wrong there.

    Returns:
        The median over those days; NaN when fewer than ten exist.
    """
    obs, sim = _paired(observed, simulated)
    positive = obs > 0
    if positive.sum() < 10:
        return float("nan")
    low = positive & (obs <= np.quantile(obs[positive], quantile))
    if low.sum() < 10:
        return float("nan")
    return float(np.median(np.abs(sim[low] - obs[low]) / obs[low]))


def crps_by_day(observed: np.ndarray, quantiles: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Continuous ranked probability score of each day's forecast distribution.

    CRPS is twice the integral over levels of the quantile (pinball) score; on an even grid of
    levels it is approximated by twice their mean (Gneiting & Raftery 2007, eq. 21). It has the
    unit of the flow and is the MAE for a forecast without spread.

    Args:
        observed: [n] observations.
        quantiles: [n, len(levels)] forecast quantiles, the same unit.
        levels: The levels, evenly spaced in (0, 1).

    Returns:
        [n] CRPS, NaN where the observation or the forecast is missing.
    """
    observed = np.asarray(observed, dtype=np.float64)[:, None]
    above = (observed < quantiles).astype(np.float64)
    pinball = (quantiles - observed) * (above - levels[None, :])
    return 2.0 * pinball.mean(axis=1)


def cdf_at(curve: np.ndarray, values: np.ndarray | float, levels: np.ndarray) -> np.ndarray:
    """A forecast's CDF at `values`, read from its quantile curve (linear between levels, 0 below the
    lowest quantile, 1 above the highest). A tiny ramp makes tied levels (flows clipped at zero)
    strictly increasing, so a value on a tie reads the tie's highest level."""
    ramp = (np.arange(len(levels)) - (len(levels) - 1)) * 1e-9
    return np.interp(values, curve + ramp, levels, left=0.0, right=1.0)


def pit_values(observed: np.ndarray, quantiles: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Probability integral transform: the forecast CDF at each observation (uniform when calibrated).

    Returns:
        [n] values in [0, 1] (`cdf_at`), NaN where missing.
    """
    values = np.full(len(observed), np.nan)
    for day, (value, curve) in enumerate(zip(observed, quantiles, strict=True)):
        if not (np.isnan(value) or np.isnan(curve).any()):
            values[day] = cdf_at(curve, value, levels)
    return values
