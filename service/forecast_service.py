"""Forecasts for one site: read what the model's input contract asks for, run it, return a `Forecast`."""

from __future__ import annotations

import datetime as dt
import logging
import time

import pandas as pd

from adapter.base import AbstractFlowReader, AbstractMeteoReader
from domain.errors import InsufficientDataError
from domain.forecast import Forecast, ForecastDay
from domain.provenance import oldest, stale_age
from service.metrics import ServiceMetrics
from service.served_model import LoadedModel, ServedModel
from utils.dates import lead_dates

LOGGER = logging.getLogger(__name__)


class ForecastService:
    """Issues flow forecasts and hindcasts for the sites the served model knows."""

    def __init__(
        self,
        flow_reader: AbstractFlowReader,
        meteo_reader: AbstractMeteoReader,
        model: ServedModel,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        """Args:
        flow_reader: Observed flow.
        meteo_reader: Meteorology, past and forecast.
        model: The served model (every forecast fails with 503 while there is none).
        metrics: Counts forecasts and times the model.
        """
        self._flow = flow_reader
        self._meteo = meteo_reader
        self._model = model
        self._metrics = metrics

    def forecast(self, site_id: str, forecast_days: int, issue_date: dt.date | None = None) -> Forecast:
        """Forecast daily flow for the days after the issue date.

        Args:
            site_id: A site of the served model.
            forecast_days: Lead days to return, 1..horizon of the model.
            issue_date: Issue a hindcast from this past day; default is the last observed flow day.

        Returns:
            The forecast; hindcasts carry the observed flow of each lead day where known. When a
            reader served a stale cached copy because its upstream failed, the forecast says so.

        Raises:
            ModelNotLoadedError: No model is loaded.
            UnknownSiteError: The model does not serve the site.
            InsufficientDataError: Too little data around the issue date.
            DataSourceError: A reader failed.
        """
        return self._forecast(self._model.current, site_id, forecast_days, issue_date, self._metrics)

    def smoke_test(self, candidate: LoadedModel) -> Forecast:
        """A forecast of the first site a model serves, from its last observed day: the check a model
        passes before it is served.

        Raises:
            StreamflowError: As `forecast` (a data problem, or a model that cannot forecast).
        """
        site = candidate.predictor.bundle.sites[0]
        return self._forecast(candidate, site.site_id, candidate.predictor.horizon, None, metrics=None)

    def _forecast(
        self,
        loaded: LoadedModel,
        site_id: str,
        forecast_days: int,
        issue_date: dt.date | None,
        metrics: ServiceMetrics | None,
    ) -> Forecast:
        predictor = loaded.predictor
        site = predictor.site(site_id)
        last_observed = self._flow.last_observed(site_id)
        if last_observed is None:
            raise InsufficientDataError(f"site {site_id} has no observed flow")
        if issue_date is not None and issue_date > last_observed:
            raise InsufficientDataError(
                f"observed flow of site {site_id} ends on {last_observed}; issue_date must not be later"
            )
        hindcast = issue_date is not None
        issue = issue_date or last_observed
        period = predictor.input_period(issue)
        # A hindcast also reads the lead days' flow, to show beside the forecast; the model never sees it.
        flow = self._flow.read_flow(site_id, period.first_day, period.last_day if hindcast else issue)
        history = self._meteo.read_history(site, period.first_day, issue)
        ahead = self._meteo.read_forecast(site, issue, predictor.horizon)
        began = time.perf_counter()
        prediction = predictor.predict(site_id, issue, flow, history, ahead)
        values = prediction.flows[:forecast_days]
        if metrics is not None:  # a smoke test of a model not yet served counts nowhere
            metrics.inference_seconds.observe(time.perf_counter() - began)
            metrics.forecasts.labels("computed").inc()
        observed = flow.set_index("time")["flow"]
        days = tuple(
            ForecastDay(lead, day, float(value), _observed_on(observed, day) if hindcast else None)
            for lead, (day, value) in enumerate(zip(lead_dates(issue, forecast_days), values, strict=True), start=1)
        )
        stale_age_s = oldest(stale_age(flow), stale_age(history, ahead))
        return Forecast(
            site_id,
            issue,
            predictor.version,
            days,
            hindcast=hindcast,
            stale_age_s=stale_age_s,
            registry_version=loaded.registry_version,
        )


def _observed_on(observed: pd.Series, day: dt.date) -> float | None:
    value = observed.get(pd.Timestamp(day))
    return None if value is None or pd.isna(value) else float(value)
