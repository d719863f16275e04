"""Forecasts for one site: read what the model's input contract asks for, run it, return a `Forecast`."""

from __future__ import annotations

import datetime as dt
import logging
import math
import time

import numpy as np
import pandas as pd

from adapter.base import AbstractFlowReader, AbstractMeteoReader
from adapter.forecast_archive import ArchivedForecast, forecast_id
from config.settings import ServerConfig
from domain.errors import InsufficientDataError, InvalidRequestError, ModelNotLoadedError, StreamflowError
from domain.flood import RETURN_PERIODS, severity, trend
from domain.forecast import Forecast, ForecastDay
from domain.provenance import oldest, stale_age
from domain.site import Site
from model.predictor import ModelInputs, Outlook, Predictor
from model.site_data import SiteSeries
from service.archive_service import ArchiveService
from service.inference_batcher import InferenceBatcher
from service.input_pages import InputPages, with_forecast
from service.metrics import ServiceMetrics
from service.recent_answers import RecentAnswers
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
        pages: InputPages,
        batcher: InferenceBatcher,
        metrics: ServiceMetrics | None = None,
        archive: ArchiveService | None = None,
        recent: RecentAnswers | None = None,
        quantile_levels: tuple[float, ...] = ServerConfig().quantiles,
    ) -> None:
        """Args:
        flow_reader: Observed flow.
        meteo_reader: Meteorology, past and forecast.
        model: The served model (every forecast fails with 503 while there is none).
        pages: The readers' observed data as arrays, kept between forecasts.
        batcher: Runs the model for concurrent forecasts together.
        metrics: Counts forecasts, their sources and inputs, and times the model.
        archive: Where issued forecasts are remembered and kept (none: every forecast is computed).
        recent: Answers to repeat for the same query (none: every query takes the full path).
        quantile_levels: The levels a forecast offers (`server.quantiles`), and the archive keeps.
        """
        self._flow = flow_reader
        self._meteo = meteo_reader
        self._model = model
        self._pages = pages
        self._batcher = batcher
        self._metrics = metrics
        self._archive = archive
        self._recent = recent
        self.quantile_levels = quantile_levels

    def forecast(
        self,
        site_id: str,
        forecast_days: int,
        issue_date: dt.date | None = None,
        quantiles: tuple[float, ...] | None = None,
    ) -> Forecast:
        """Forecast daily flow for the days after the issue date.

        Args:
            site_id: A site of the served model.
            forecast_days: Lead days to return, 1..horizon of the model.
            issue_date: Issue a hindcast from this past day; default is the last observed flow day.
            quantiles: The levels to return, some of `quantile_levels` (default: all of them).

        Returns:
            The forecast; hindcasts carry the observed flow of each lead day where known. When a
            reader served a stale cached copy because its upstream failed, the forecast says so.

        Raises:
            InvalidRequestError: A level is not offered.
            ModelNotLoadedError: No model is loaded.
            UnknownSiteError: The model does not serve the site.
            InsufficientDataError: Too little data around the issue date.
            DataSourceError: A reader failed.
        """
        offered = self.quantile_levels
        if quantiles is not None and not set(quantiles) <= set(offered):
            allowed = ", ".join(f"{level:g}" for level in offered)
            raise InvalidRequestError(f"parameter 'quantiles' must list levels among {allowed}, got {quantiles}")
        return self._forecast(
            self._model.current, site_id, forecast_days, issue_date, issued=True, levels=quantiles or offered
        )

    def repeated(self, query: str) -> tuple[Forecast, bool] | None:
        """The forecast the served model last answered to this exact query string (counted as served from
        memory), and whether it is due for renewal; None: validate the query, `forecast`, `remember`."""
        if self._recent is None:
            return None
        loaded = self._model.current
        found = self._recent.get((loaded.predictor.version, loaded.registry_version), query)
        if found is not None and self._metrics is not None:
            self._metrics.forecasts.labels("memory").inc()
        return found

    def remember(self, query: str, forecast: Forecast) -> None:
        """Keep `forecast` as the answer to repeat for `query`."""
        if self._recent is not None:
            self._recent.put(query, forecast)

    def forget(self, query: str) -> None:
        """Answer `query` afresh next time (its renewal failed)."""
        if self._recent is not None:
            self._recent.forget(query)

    def smoke_test(self, candidate: LoadedModel) -> Forecast:
        """A forecast of the first site a model serves, from its last observed day: the check a model
        passes before it is served.

        Raises:
            StreamflowError: As `forecast` (a data problem, or a model that cannot forecast).
        """
        site = candidate.predictor.bundle.sites[0]
        return self._forecast(
            candidate, site.site_id, candidate.predictor.horizon, None, issued=False, levels=self.quantile_levels
        )

    def precompute(self) -> int:
        """Forecast every site of the served model from its last observed day, in batched passes, into the
        archive; sites already forecast from the same inputs are skipped. Run after a model swap and as
        new data arrive, so that the day's forecasts are answered from memory.

        Returns:
            Forecasts computed (0 without a model or an archive).
        """
        if self._archive is None:
            return 0
        try:
            loaded = self._model.current
        except ModelNotLoadedError:
            return 0
        predictor = loaded.predictor
        began = time.perf_counter()
        pending = []
        for site in predictor.bundle.sites:
            try:
                issue, inputs, _, stale_age_s, _ = self._read(predictor, site.site_id, None)
            except StreamflowError as exc:
                LOGGER.warning("precompute: site %s left to its first request: %s", site.site_id, exc)
                continue
            identity = forecast_id(site.site_id, issue, predictor.version, inputs.fingerprint)
            if self._archive.lookup(identity) is None:
                pending.append((identity, issue, inputs, stale_age_s))
        computed = self._batcher.run_many(predictor, [inputs for _, _, inputs, _ in pending])
        for (identity, issue, inputs, stale_age_s), flows in zip(pending, computed, strict=True):
            outlook = predictor.outlook(inputs, flows, self.quantile_levels)
            self._keep(loaded, identity, issue, inputs, False, stale_age_s, tuple(map(float, flows)), outlook)
        if pending:
            seconds = time.perf_counter() - began
            LOGGER.info("precomputed %d forecasts of model %s in %.2f s", len(pending), predictor.version, seconds)
        return len(pending)

    def _forecast(
        self,
        loaded: LoadedModel,
        site_id: str,
        forecast_days: int,
        issue_date: dt.date | None,
        issued: bool,
        levels: tuple[float, ...],
    ) -> Forecast:
        # `issued` is False for a smoke test of a model not yet served: it counts and keeps nothing.
        predictor = loaded.predictor
        hindcast = issue_date is not None
        issue, inputs, observed, stale_age_s, issue_flow = self._read(predictor, site_id, issue_date)
        identity = forecast_id(site_id, issue, predictor.version, inputs.fingerprint)
        found = self._archive.lookup(identity) if self._archive is not None and issued else None
        if found is not None:
            flows, source = found[0].flows, found[1]
        else:
            began = time.perf_counter()
            flows, source = tuple(float(value) for value in self._batcher.run(predictor, inputs)), "computed"
            model_seconds = time.perf_counter() - began
        # The distribution is a function of the flows and the inputs: recomputed, not read back.
        outlook = predictor.outlook(inputs, np.array(flows), self.quantile_levels)
        if found is None and issued:
            self._observe(inputs, stale_age_s, model_seconds)
            self._keep(loaded, identity, issue, inputs, hindcast, stale_age_s, flows, outlook)
        if issued and self._metrics is not None:
            self._metrics.forecasts.labels(source).inc()
        days = self._days(issue, forecast_days, flows, outlook, levels, observed if hindcast else None)
        thresholds = predictor.bundle.flood_thresholds[site_id]
        return Forecast(
            site_id,
            issue,
            predictor.version,
            days,
            hindcast=hindcast,
            stale_age_s=stale_age_s,
            registry_version=loaded.registry_version,
            forecast_id=identity,
            thresholds=thresholds.flows,
            severity=severity(thresholds, [day.exceedance or {} for day in days]),
            trend=trend(issue_flow, float(outlook.median[forecast_days - 1])),
        )

    def _days(
        self,
        issue: dt.date,
        forecast_days: int,
        flows: tuple[float, ...],
        outlook: Outlook,
        levels: tuple[float, ...],
        observed: list[float | None] | None,
    ) -> tuple[ForecastDay, ...]:
        chosen = [self.quantile_levels.index(level) for level in levels]
        days = []
        for lead, day in enumerate(lead_dates(issue, forecast_days), start=1):
            quantiles = {
                level: float(outlook.quantiles[lead - 1, column]) for level, column in zip(levels, chosen, strict=True)
            }
            exceedance = None
            if outlook.exceedance is not None:
                exceedance = dict(zip(RETURN_PERIODS, map(float, outlook.exceedance[lead - 1]), strict=True))
            days.append(
                ForecastDay(lead, day, flows[lead - 1], quantiles, exceedance, observed[lead - 1] if observed else None)
            )
        return tuple(days)

    def check(self, site_id: str, issue_date: dt.date | None = None) -> None:
        """Read and check the inputs of a forecast without running the model.

        Raises:
            StreamflowError: As `forecast` would, for the same site and day.
        """
        self._read(self._model.predictor, site_id, issue_date)

    def _read(
        self, predictor: Predictor, site_id: str, issue_date: dt.date | None
    ) -> tuple[dt.date, ModelInputs, list[float | None], float | None, float | None]:
        site = predictor.site(site_id)
        last_observed = self._flow.last_observed(site_id)
        if last_observed is None:
            raise InsufficientDataError(f"site {site_id} has no observed flow")
        if issue_date is not None and issue_date > last_observed:
            raise InsufficientDataError(
                f"observed flow of site {site_id} ends on {last_observed}; issue_date must not be later"
            )
        issue = issue_date or last_observed
        return issue, *self._inputs(predictor, site, issue, last_observed)

    def _inputs(
        self, predictor: Predictor, site: Site, issue: dt.date, last_observed: dt.date
    ) -> tuple[ModelInputs, list[float | None], float | None, float | None]:
        """The model's window of a forecast issued on `issue`, the observed flow of its lead days, its stale age
        and the flow observed on the issue day (None: not observed)."""
        period = predictor.input_period(issue)
        features = predictor.bundle.model.meteo_features
        past = self._pages.past(site, features, (period.first_day, period.last_day), issue, last_observed)
        ahead = self._meteo.read_forecast(site, issue, predictor.horizon)
        record = SiteSeries(site, pd.Timestamp(period.first_day), past.meteo, past.flow_mm)
        with_forecast(record, ahead, features)
        issue_index = (issue - period.first_day).days
        leads = past.flow_m3s[issue_index + 1 :]
        stale_age_s = oldest(past.stale_age_s, stale_age(ahead))
        inputs = predictor.prepare_record(issue, record)
        return inputs, [_known(value) for value in leads], stale_age_s, _known(past.flow_m3s[issue_index])

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
        outlook: Outlook,
    ) -> None:
        if self._archive is None:
            return
        quantiles = {
            f"{level:g}": tuple(round(float(value), 4) for value in outlook.quantiles[:, column])
            for column, level in enumerate(self.quantile_levels)
        }
        exceedance = None
        if outlook.exceedance is not None:
            exceedance = {
                str(years): tuple(round(float(p), 4) for p in outlook.exceedance[:, column])
                for column, years in enumerate(RETURN_PERIODS)
            }
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
                quantiles=quantiles,
                exceedance=exceedance,
            )
        )


def _known(value: float) -> float | None:
    return None if math.isnan(value) else float(value)
