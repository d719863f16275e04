"""Verification: the forecasts the service issued, scored against the flow the river then carried.

Per site and lead day, over the issue days of a rolling window (`verification.window_days`)
and over every forecast of the model being served ("since the model went live"): NSE, KGE,
mean absolute error and bias (mean error, m3/s) of the forecast and of persistence on the same
days, with the number of pairs. Hindcasts are left out, and of several forecasts of one issue
day the last issued counts. A site whose lead-1 NSE over the window is below persistence's is
flagged: what an alarm or a retraining would key on.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math

import numpy as np
import pandas as pd

from adapter.base import AbstractFlowReader
from adapter.forecast_archive import ArchivedForecast
from config.settings import VerificationConfig
from domain.flood import SEVERITY_PROBABILITY
from model.metrics import kge, nse
from service.archive_service import ArchiveService
from service.metrics import ServiceMetrics
from service.served_model import ServedModel

LOGGER = logging.getLogger(__name__)

EARLIEST = dt.date(1800, 1, 1)


@dataclasses.dataclass(frozen=True)
class LeadScores:
    """Scores of one lead day over a set of issue days; None where fewer pairs than `min_pairs`."""

    lead_days: int
    pairs: int
    nse: float | None
    kge: float | None
    mae: float | None
    bias: float | None
    persistence_nse: float | None
    persistence_kge: float | None
    persistence_mae: float | None
    persistence_bias: float | None
    coverage_90: float | None = None
    exceedances: dict[str, dict[str, int]] | None = None


@dataclasses.dataclass(frozen=True)
class SiteVerification:
    """A site's verification."""

    site_id: str
    model_version: str
    window: tuple[dt.date, dt.date]
    rolling: tuple[LeadScores, ...]
    since_live: tuple[LeadScores, ...]
    flagged: bool
    mean_drift: float | None
    feedback: int

    def as_json(self) -> dict:
        """JSON-ready form (`GET /verification`)."""
        return {
            "site_id": self.site_id,
            "model_version": self.model_version,
            "window": {"first_issue": self.window[0].isoformat(), "last_issue": self.window[1].isoformat()},
            "rolling": [dataclasses.asdict(scores) for scores in self.rolling],
            "since_live": [dataclasses.asdict(scores) for scores in self.since_live],
            "flagged": self.flagged,
            "mean_drift": self.mean_drift,
            "feedback": self.feedback,
        }


class VerificationService:
    """Scores the archive of one site, or of every site (periodically, for metrics and /info)."""

    def __init__(
        self,
        flow_reader: AbstractFlowReader,
        archive: ArchiveService,
        model: ServedModel,
        config: VerificationConfig,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        """Args:
        flow_reader: The observed flow the forecasts are scored against.
        archive: The issued forecasts.
        model: The served model (its sites; "since live" means its forecasts).
        config: Window, minimum pairs.
        metrics: Receives live skill per lead and the flagged sites.
        """
        self._flow = flow_reader
        self._archive = archive
        self._model = model
        self._config = config
        self._metrics = metrics
        self.latest: dict[str, SiteVerification] = {}

    def verify(self, site_id: str) -> SiteVerification:
        """Score one site's issued forecasts.

        Raises:
            ModelNotLoadedError: No model is served.
            UnknownSiteError: The served model does not serve the site.
            DataSourceError: The flow reader or the archive failed.
        """
        predictor = self._model.predictor
        predictor.site(site_id)
        last = self._flow.last_observed(site_id) or dt.date.today()
        first = last - dt.timedelta(days=self._config.window_days)
        every = self._archive.archive.issued(site_id, EARLIEST, last)
        in_window = [forecast for forecast in every if first <= forecast.issue_date <= last]
        of_live = [forecast for forecast in every if forecast.model_version == predictor.version]
        issue_days = [forecast.issue_date for forecast in in_window + of_live]
        horizon = max([len(forecast.flows) for forecast in every] or [predictor.horizon])
        observed = self._observed(site_id, min(issue_days, default=first), last + dt.timedelta(days=horizon))
        thresholds = predictor.bundle.flood_thresholds[site_id].flows
        rolling = self._scores(in_window, observed, horizon, thresholds)
        lead1 = rolling[0]
        flagged = lead1.nse is not None and lead1.persistence_nse is not None and lead1.nse < lead1.persistence_nse
        drifts = [forecast.drift for forecast in in_window if forecast.drift is not None]
        result = SiteVerification(
            site_id=site_id,
            model_version=predictor.version,
            window=(first, last),
            rolling=rolling,
            since_live=self._scores(of_live, observed, horizon, thresholds),
            flagged=flagged,
            mean_drift=float(np.mean(drifts)) if drifts else None,
            feedback=self._archive.archive.feedback_counts().get(site_id, 0),
        )
        previous = self.latest.get(site_id)
        if flagged and not (previous and previous.flagged):
            LOGGER.warning(
                "site %s flagged: lead-1 NSE %.3f below persistence %.3f over the issues of %s..%s",
                site_id,
                lead1.nse,
                lead1.persistence_nse,
                first,
                last,
                extra={"site_id": site_id, "model_version": predictor.version},
            )
        self.latest[site_id] = result
        return result

    def verify_all(self) -> None:
        """Score every site of the served model and update the metrics (never raises: a site that
        fails is logged and skipped)."""
        from domain.errors import StreamflowError

        try:
            sites = [site.site_id for site in self._model.predictor.bundle.sites]
        except StreamflowError:
            return
        for site_id in sites:
            try:
                self.verify(site_id)
            except StreamflowError as exc:
                LOGGER.warning("verification of site %s failed: %s", site_id, exc)
        if self._metrics is not None:
            self._metrics.verified(list(self.latest.values()))

    def _observed(self, site_id: str, first: dt.date, last: dt.date) -> pd.Series:
        flow = self._flow.read_flow(site_id, first, last)
        return flow.set_index("time")["flow"]

    def _scores(
        self,
        forecasts: list[ArchivedForecast],
        observed: pd.Series,
        horizon: int,
        thresholds: dict[int, float] | None,
    ) -> tuple[LeadScores, ...]:
        latest: dict[dt.date, ArchivedForecast] = {}
        for forecast in forecasts:  # oldest issued first: the last one of an issue day wins
            latest[forecast.issue_date] = forecast
        return tuple(self._lead(list(latest.values()), observed, lead, thresholds) for lead in range(1, horizon + 1))

    def _lead(
        self, forecasts: list[ArchivedForecast], observed: pd.Series, lead: int, thresholds: dict[int, float] | None
    ) -> LeadScores:
        simulated, actual, persisted, paired = [], [], [], []
        for forecast in forecasts:
            if len(forecast.flows) < lead:
                continue
            now = observed.get(pd.Timestamp(forecast.issue_date))
            later = observed.get(pd.Timestamp(forecast.issue_date + dt.timedelta(days=lead)))
            if later is None or pd.isna(later) or now is None or pd.isna(now):
                continue
            simulated.append(forecast.flows[lead - 1])
            actual.append(float(later))
            persisted.append(float(now))
            paired.append(forecast)
        pairs = len(actual)
        if pairs < self._config.min_pairs:
            return LeadScores(lead, pairs, None, None, None, None, None, None, None, None)
        obs = np.array(actual)
        model, persistence = _skill(obs, np.array(simulated)), _skill(obs, np.array(persisted))
        coverage = _coverage(paired, actual, lead)
        return LeadScores(lead, pairs, *model, *persistence, coverage, _exceedances(paired, actual, lead, thresholds))


def _coverage(forecasts: list[ArchivedForecast], observed: list[float], lead: int) -> float | None:
    inside = [
        forecast.quantiles["0.05"][lead - 1] <= value <= forecast.quantiles["0.95"][lead - 1]
        for forecast, value in zip(forecasts, observed, strict=True)
        if forecast.quantiles and {"0.05", "0.95"} <= set(forecast.quantiles)
    ]
    return round(float(np.mean(inside)), 4) if inside else None


def _exceedances(
    forecasts: list[ArchivedForecast], observed: list[float], lead: int, thresholds: dict[int, float] | None
) -> dict[str, dict[str, int]] | None:
    if thresholds is None:
        return None
    table = {}
    for years, flow in thresholds.items():
        counts = {"hits": 0, "misses": 0, "false_alarms": 0, "correct_negatives": 0}
        for forecast, value in zip(forecasts, observed, strict=True):
            if not forecast.exceedance or str(years) not in forecast.exceedance:
                continue
            warned = forecast.exceedance[str(years)][lead - 1] >= SEVERITY_PROBABILITY
            happened = value > flow
            key = (
                ("hits" if happened else "false_alarms") if warned else ("misses" if happened else "correct_negatives")
            )
            counts[key] += 1
        table[str(years)] = counts
    return table


def _skill(observed: np.ndarray, simulated: np.ndarray) -> tuple[float | None, ...]:
    errors = simulated - observed
    return tuple(
        None if value is None or math.isnan(value) else round(float(value), 4)
        for value in (nse(observed, simulated), kge(observed, simulated), np.abs(errors).mean(), errors.mean())
    )
