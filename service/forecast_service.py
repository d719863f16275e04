"""Forecasts for one site: read what the model's input contract asks for, run it, return a `Forecast`."""

from __future__ import annotations

import datetime as dt
import logging
import math
import time

import pandas as pd

from adapter.base import AbstractFlowReader, AbstractMeteoReader
from adapter.forecast_archive import ArchivedForecast, forecast_id
from domain.errors import InsufficientDataError
from domain.forecast import Forecast, ForecastDay
from domain.provenance import oldest, stale_age
from model.predictor import ModelInputs
from service.archive_service import ArchiveService
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
        archive: ArchiveService | None = None,
    ) -> None:
        """Args:
        flow_reader: Observed flow.
        meteo_reader: Meteorology, past and forecast.
        model: The served model (every forecast fails with 503 while there is none).
        metrics: Counts forecasts, their sources and inputs, and times the model.
        archive: Where issued forecasts are remembered and kept (none: every forecast is computed).
        """
        self._flow = flow_reader
        self._meteo = meteo_reader
        self._model = model
        self._metrics = metrics
        self._archive = archive

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
        return self._forecast(self._model.current, site_id, forecast_days, issue_date, issued=True)

    def smoke_test(self, candidate: LoadedModel) -> Forecast:
        """A forecast of the first site a model serves, from its last observed day: the check a model
        passes before it is served.

        Raises:
            StreamflowError: As `forecast` (a data problem, or a model that cannot forecast).
        """
        site = candidate.predictor.bundle.sites[0]
        return self._forecast(candidate, site.site_id, candidate.predictor.horizon, None, issued=False)

    def _forecast(
        self,
        loaded: LoadedModel,
        site_id: str,
        forecast_days: int,
        issue_date: dt.date | None,
        issued: bool,
    ) -> Forecast:
        # `issued` is False for a smoke test of a model not yet served: it counts and keeps nothing.
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
        stale_age_s = oldest(stale_age(flow), stale_age(history, ahead))
        inputs = predictor.prepare(site_id, issue, flow, history, ahead)
        identity = forecast_id(site_id, issue, predictor.version, inputs.fingerprint)
        found = self._archive.lookup(identity) if self._archive is not None and issued else None
        if found is not None:
            flows, source = found[0].flows, found[1]
        else:
            began = time.perf_counter()
            flows, source = tuple(float(value) for value in predictor.run(inputs)), "computed"
            if issued:
                self._observe(inputs, stale_age_s, time.perf_counter() - began)
                self._keep(loaded, identity, issue, inputs, hindcast, stale_age_s, flows)
        if issued and self._metrics is not None:
            self._metrics.forecasts.labels(source).inc()
        observed = flow.set_index("time")["flow"]
        days = tuple(
            ForecastDay(lead, day, value, _observed_on(observed, day) if hindcast else None)
            for lead, (day, value) in enumerate(
                zip(lead_dates(issue, forecast_days), flows[:forecast_days], strict=True), start=1
            )
        )
        return Forecast(
            site_id,
            issue,
            predictor.version,
            days,
            hindcast=hindcast,
            stale_age_s=stale_age_s,
            registry_version=loaded.registry_version,
            forecast_id=identity,
        )

    def _observe(self, inputs: ModelInputs, stale_age_s: float | None, seconds: float) -> None:
        if self._metrics is None:
            return
        self._metrics.inference_seconds.observe(seconds)
        if not math.isnan(inputs.drift):
            self._metrics.drift.observe(inputs.drift)
        for kind, happened in (
            ("stale", stale_age_s is not None),
            ("filled_gaps", inputs.filled_gaps > 0),
            ("drifted", inputs.drift > 0),
        ):
            if happened:
                self._metrics.inputs.labels(kind).inc()

    def _keep(
        self,
        loaded: LoadedModel,
        identity: str,
        issue: dt.date,
        inputs: ModelInputs,
        hindcast: bool,
        stale_age_s: float | None,
        flows: tuple[float, ...],
    ) -> None:
        if self._archive is None:
            return
        self._archive.keep(
            ArchivedForecast(
                forecast_id=identity,
                site_id=inputs.record.site.site_id,
                issue_date=issue,
                model_version=loaded.predictor.version,
                registry_version=loaded.registry_version,
                inputs_fingerprint=inputs.fingerprint,
                hindcast=hindcast,
                issued_at=dt.datetime.now(dt.UTC),
                stale_age_s=stale_age_s,
                drift=None if math.isnan(inputs.drift) else inputs.drift,
                filled_gaps=inputs.filled_gaps,
                flows=flows,
            )
        )


def _observed_on(observed: pd.Series, day: dt.date) -> float | None:
    value = observed.get(pd.Timestamp(day))
    return None if value is None or pd.isna(value) else float(value)
