"""Forecasts for one site: read recent data, run the predictor, return a `Forecast`."""

from __future__ import annotations

import datetime as dt
import logging

import pandas as pd

from adapter.base import AbstractFlowReader, AbstractMeteoReader
from adapter.site_catalogue import SiteCatalogue
from domain.errors import InsufficientDataError, ModelNotLoadedError, UnknownSiteError
from domain.forecast import Forecast, ForecastDay
from domain.provenance import oldest, stale_age
from domain.site import Site
from model.predictor import Predictor
from model.site_data import build_site_series
from utils.dates import lead_dates

LOGGER = logging.getLogger(__name__)


class ForecastService:
    """Issues flow forecasts and hindcasts for catalogued sites."""

    def __init__(
        self,
        flow_reader: AbstractFlowReader,
        meteo_reader: AbstractMeteoReader,
        catalogue: SiteCatalogue,
        predictor: Predictor | None,
    ) -> None:
        """Args:
        flow_reader: Observed flow.
        meteo_reader: Meteorology, past and forecast.
        catalogue: Sites the model was trained on.
        predictor: The loaded model, or None when no bundle exists (every forecast then fails with 503).
        """
        self._flow = flow_reader
        self._meteo = meteo_reader
        self._catalogue = catalogue
        self._predictor = predictor

    @property
    def predictor(self) -> Predictor:
        """The loaded predictor.

        Raises:
            ModelNotLoadedError: No model bundle was loaded at start-up.
        """
        if self._predictor is None:
            raise ModelNotLoadedError("no model is loaded: run main_train.py, then restart the service")
        return self._predictor

    def forecast(self, site_id: str, forecast_days: int, issue_date: dt.date | None = None) -> Forecast:
        """Forecast daily flow for the days after the issue date.

        Args:
            site_id: A catalogued site.
            forecast_days: Lead days to return, 1..horizon of the model.
            issue_date: Issue a hindcast from this past day; default is the last observed flow day.

        Returns:
            The forecast; hindcasts carry the observed flow of each lead day where known. When a
            reader served a stale cached copy because its upstream failed, the forecast says so.

        Raises:
            ModelNotLoadedError: No model is loaded.
            UnknownSiteError: The site is not catalogued or not known to the model.
            InsufficientDataError: Too little data around the issue date.
            DataSourceError: A reader failed.
        """
        predictor = self.predictor
        site = self._catalogue.site(site_id)
        if not predictor.knows(site_id):
            raise UnknownSiteError(f"site {site_id} is not part of model {predictor.version}")
        last_observed = self._flow.last_observed(site_id)
        if last_observed is None:
            raise InsufficientDataError(f"site {site_id} has no observed flow")
        if issue_date is not None and issue_date > last_observed:
            raise InsufficientDataError(
                f"observed flow of site {site_id} ends on {last_observed}; issue_date must not be later"
            )
        issue = issue_date or last_observed
        flow, later_flow, flow_age = self._read_flow(site, issue, predictor, hindcast=issue_date is not None)
        meteo, meteo_age = self._read_meteo(site, issue, predictor)
        record = build_site_series(site, meteo, flow, predictor.features)
        values = predictor.predict(record, issue)[:forecast_days]
        observed = later_flow.set_index("time")["flow"] if later_flow is not None else pd.Series(dtype=float)
        days = tuple(
            ForecastDay(lead, day, float(value), _observed_on(observed, day))
            for lead, (day, value) in enumerate(zip(lead_dates(issue, forecast_days), values), start=1)
        )
        return Forecast(
            site_id, issue, predictor.version, days, hindcast=issue_date is not None, stale_age_s=oldest(flow_age, meteo_age)
        )

    def _read_flow(
        self, site: Site, issue: dt.date, predictor: Predictor, hindcast: bool
    ) -> tuple[pd.DataFrame, pd.DataFrame | None, float | None]:
        start = issue - dt.timedelta(days=predictor.seq_len - 1)
        end = issue + dt.timedelta(days=predictor.horizon) if hindcast else issue
        flow = self._flow.read_flow(site.site_id, start, end)
        # The model must never see flow after the issue day, even in a hindcast.
        known = flow["time"] <= pd.Timestamp(issue)
        return flow.loc[known], (flow.loc[~known] if hindcast else None), stale_age(flow)

    def _read_meteo(self, site: Site, issue: dt.date, predictor: Predictor) -> tuple[pd.DataFrame, float | None]:
        start = issue - dt.timedelta(days=predictor.seq_len - 1)
        history = self._meteo.read_history(site, start, issue)
        forecast = self._meteo.read_forecast(site, issue, predictor.horizon)
        meteo = pd.concat([history, forecast], ignore_index=True)
        meteo = meteo.drop_duplicates(subset="time", keep="last").sort_values("time").reset_index(drop=True)
        return meteo, stale_age(history, forecast)


def _observed_on(observed: pd.Series, day: dt.date) -> float | None:
    value = observed.get(pd.Timestamp(day))
    return None if value is None or pd.isna(value) else float(value)
