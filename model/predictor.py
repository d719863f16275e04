"""Inference with a loaded bundle: the model's input contract, and one forecast of one site.

The predictor says which days of flow and meteorology a forecast issued on day t needs
(`input_period`), takes the frames the readers return for them and gives flow in m3/s;
converting those frames into the model's arrays is its business, not its callers'.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging

import numpy as np
import pandas as pd
import torch

from domain.errors import InsufficientDataError
from domain.flood import RETURN_PERIODS
from domain.site import Site
from model.bundle import ModelBundle
from model.dataset import cut_window, stack_windows, to_site_tensors
from model.ensemble import Ensemble
from model.site_data import SiteSeries, build_site_series, m3s_to_mm_per_day, mm_per_day_to_m3s
from model.uncertainty import exceedance, last_observed, level_index

LOGGER = logging.getLogger(__name__)

# Share of the past window that must have meteorology.
MIN_PAST_METEO_COVERAGE = 0.9
# The last observed flow must be at most this many days before the issue day.
MAX_FLOW_STALENESS_DAYS = 30


def use_threads(count: int) -> None:
    """Let torch use `count` threads for each forward pass run on the calling thread (OpenMP keeps the
    count per thread: a new thread starts with one per core)."""
    torch.set_num_threads(count)


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One forecast and what went into it.

    Attributes:
        flows: [horizon] forecast flow in m3/s, >= 0; the ensemble mean.
        inputs_fingerprint: SHA-256 of the model's input window: the same inputs give the same forecast.
        drift: Share of the window's observed inputs outside the site's training range (NaN: none observed).
        filled_gaps: Missing values of the window the model saw as masked or filled (flow days, meteo values).
    """

    flows: np.ndarray
    inputs_fingerprint: str
    drift: float
    filled_gaps: int


@dataclasses.dataclass(frozen=True)
class Outlook:
    """The distribution around a forecast, read from one quantile curve per day.

    Attributes:
        quantiles: [horizon, len(levels)] flow quantiles at the asked levels, m3/s, non-decreasing per day.
        median: [horizon] median flow, m3/s.
        exceedance: [horizon, len(RETURN_PERIODS)] probabilities of exceeding the site's flood thresholds;
            None when the site has none.
    """

    quantiles: np.ndarray
    median: np.ndarray
    exceedance: np.ndarray | None


@dataclasses.dataclass(frozen=True)
class ModelInputs:
    """A forecast's input window, ready to run.

    Attributes:
        record: The window: `seq_len` past days and the lead days.
        fingerprint: SHA-256 of site, issue day and the window's values.
        drift: Share of the window's observed inputs outside the site's training range (NaN: none observed).
        filled_gaps: Missing values of the window (past flow days, meteo values) the model saw masked or filled.
    """

    record: SiteSeries
    fingerprint: str
    drift: float
    filled_gaps: int


@dataclasses.dataclass(frozen=True)
class InputPeriod:
    """The days a forecast issued on `issue_date` reads (inclusive).

    Attributes:
        first_day: First past day, of flow and meteorology.
        issue_date: Last day of observed flow the forecast may use.
        last_day: Last lead day, whose meteorology (the forecast) the model reads.
    """

    first_day: dt.date
    issue_date: dt.date
    last_day: dt.date


class Predictor:
    """Forecasts flow from a model bundle; weights are loaded once."""

    def __init__(self, bundle: ModelBundle) -> None:
        """Args:
        bundle: A loaded bundle.

        Raises:
            RuntimeError: The weights do not fit the bundle's architecture.
        """
        self.bundle = bundle
        self._ensemble = Ensemble.from_bundle(bundle)

    @property
    def version(self) -> str:
        """Version id of the bundle."""
        return self.bundle.version

    @property
    def horizon(self) -> int:
        """Lead days the model predicts."""
        return self.bundle.horizon

    def site(self, site_id: str) -> Site:
        """The metadata of a served site.

        Raises:
            UnknownSiteError: The model does not serve the site.
        """
        return self.bundle.site(site_id)

    def input_period(self, issue_date: dt.date) -> InputPeriod:
        """The flow (`first_day`..`issue_date`) and meteorology (`first_day`..`last_day`) a forecast needs."""
        first = issue_date - dt.timedelta(days=self.bundle.model.seq_len - 1)
        return InputPeriod(first, issue_date, issue_date + dt.timedelta(days=self.horizon))

    def prepare(
        self,
        site_id: str,
        issue_date: dt.date,
        flow: pd.DataFrame,
        meteo_history: pd.DataFrame,
        meteo_forecast: pd.DataFrame,
    ) -> ModelInputs:
        """The model's input window of a forecast for the `horizon` days after `issue_date`.

        Args:
            site_id: A served site.
            issue_date: Last day whose flow may be used; later rows of `flow` are ignored.
            flow: `FlowFrame` rows (m3/s) of `input_period(issue_date)`.
            meteo_history: `MeteoFrame` rows of the past days.
            meteo_forecast: `MeteoFrame` rows of the lead days; where both frames have a day, this one wins.

        Returns:
            The window, with its fingerprint (the same inputs give the same forecast), drift and gaps.

        Raises:
            UnknownSiteError: The model does not serve the site.
            InsufficientDataError: Meteorology or observed flow is too sparse to forecast.
        """
        site = self.site(site_id)
        period = self.input_period(issue_date)
        meteo = pd.concat([meteo_history, meteo_forecast], ignore_index=True).drop_duplicates("time", keep="last")
        known_flow = flow.loc[flow["time"] <= pd.Timestamp(issue_date)]
        record = build_site_series(
            site, meteo, known_flow, self.bundle.model.meteo_features, (period.first_day, period.last_day)
        )
        return self.prepare_record(issue_date, record)

    def prepare_record(self, issue_date: dt.date, record: SiteSeries) -> ModelInputs:
        """`prepare` of a window already on the model's calendar: `input_period(issue_date)`, meteorology in
        `meteo_features` order, flow NaN after `issue_date`.

        Raises:
            InsufficientDataError: Meteorology or observed flow is too sparse to forecast.
        """
        seq_len = self.bundle.model.seq_len
        self._check_coverage(record, issue_date)
        site_id = record.site.site_id
        return ModelInputs(
            record=record,
            fingerprint=_fingerprint(site_id, issue_date, record),
            drift=self.bundle.scaler.outside_training_range(site_id, record.meteo, record.flow_mm),
            filled_gaps=int(np.isnan(record.meteo).sum() + np.isnan(record.flow_mm[:seq_len]).sum()),
        )

    def run(self, inputs: ModelInputs) -> np.ndarray:
        """[horizon] forecast flow in m3/s, >= 0, the ensemble mean, of prepared inputs."""
        return self.run_many([inputs])[0]

    def run_many(self, inputs: list[ModelInputs]) -> list[np.ndarray]:
        """`run` of several windows in one batched pass (each site's flows, in order)."""
        seq_len = self.bundle.model.seq_len
        windows = [
            cut_window(to_site_tensors(each.record, self.bundle.scaler, seq_len), seq_len - 1, 1, seq_len, self.horizon)
            for each in inputs
        ]
        standardized = self._ensemble.mean_forecast(stack_windows(windows))[:, 0]
        flows = []
        for each, row in zip(inputs, standardized, strict=True):
            site = each.record.site
            flow_mm = np.maximum(self.bundle.scaler.unstandardize_flow(site.site_id, row), 0.0)
            flows.append(mm_per_day_to_m3s(flow_mm, site.area_km2))
        return flows

    def outlook(self, inputs: ModelInputs, flows: np.ndarray, levels: tuple[float, ...]) -> Outlook:
        """The calibrated distribution around the [horizon] forecast `flows` (m3/s, from `run`) of `inputs`.

        Raises:
            ValueError: A level is not on the grid 0.01..0.99.
        """
        site = inputs.record.site
        site_id = site.site_id
        flow_mm = m3s_to_mm_per_day(np.asarray(flows, dtype=np.float64), site.area_km2)
        last_flow = last_observed(inputs.record.flow_mm[: self.bundle.model.seq_len])[-1]
        curve = mm_per_day_to_m3s(self.bundle.residuals[site_id].quantiles(flow_mm, last_flow), site.area_km2)
        thresholds = self.bundle.flood_thresholds[site_id].flows
        exceeding = None
        if thresholds is not None:
            exceeding = exceedance(curve, np.array([thresholds[years] for years in RETURN_PERIODS]))
        median = curve[:, level_index((0.5,))[0]]
        return Outlook(curve[:, level_index(levels)], median, exceeding)

    def predict(
        self,
        site_id: str,
        issue_date: dt.date,
        flow: pd.DataFrame,
        meteo_history: pd.DataFrame,
        meteo_forecast: pd.DataFrame,
    ) -> Prediction:
        """`prepare` and `run` at once.

        Raises:
            UnknownSiteError: The model does not serve the site.
            InsufficientDataError: Meteorology or observed flow is too sparse to forecast.
        """
        inputs = self.prepare(site_id, issue_date, flow, meteo_history, meteo_forecast)
        return Prediction(self.run(inputs), inputs.fingerprint, inputs.drift, inputs.filled_gaps)

    def _check_coverage(self, record: SiteSeries, issue_date: dt.date) -> None:
        seq_len = self.bundle.model.seq_len
        past_meteo = record.meteo[:seq_len]
        coverage = (~np.isnan(past_meteo)).all(axis=1).sum() / seq_len
        if coverage < MIN_PAST_METEO_COVERAGE:
            raise InsufficientDataError(
                f"meteorology covers {coverage:.0%} of the {seq_len} days up to {issue_date}; "
                f"at least {MIN_PAST_METEO_COVERAGE:.0%} is needed"
            )
        if np.isnan(record.meteo[seq_len:]).any():
            raise InsufficientDataError(
                f"the meteorological forecast for the {self.horizon} days after {issue_date} is incomplete "
                f"(the model reads all {self.horizon} lead days, however few are asked for; "
                "an earlier issue_date gives a hindcast)"
            )
        if np.isnan(record.flow_mm[max(seq_len - 1 - MAX_FLOW_STALENESS_DAYS, 0) : seq_len]).all():
            raise InsufficientDataError(f"no observed flow in the {MAX_FLOW_STALENESS_DAYS} days up to {issue_date}")


def _fingerprint(site_id: str, issue_date: dt.date, record: SiteSeries) -> str:
    digest = hashlib.sha256(f"{site_id}|{issue_date}|".encode())
    digest.update(np.ascontiguousarray(record.meteo).tobytes())
    digest.update(np.ascontiguousarray(record.flow_mm).tobytes())
    return digest.hexdigest()
