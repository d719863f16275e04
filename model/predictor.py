"""Inference with a loaded bundle: one issue day of one site, all ensemble members."""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import torch

from domain.errors import InsufficientDataError
from model.bundle import ModelBundle
from model.dataset import cut_window, stack_windows, to_site_tensors
from model.lstm import StreamflowLSTM
from model.site_data import SiteSeries, mm_per_day_to_m3s

LOGGER = logging.getLogger(__name__)

# Share of the past window that must have meteorology.
MIN_PAST_METEO_COVERAGE = 0.9
# The last observed flow must be at most this many days before the issue day.
MAX_FLOW_STALENESS_DAYS = 30


class Predictor:
    """Forecasts flow from a model bundle; weights are loaded once."""

    def __init__(self, bundle: ModelBundle) -> None:
        """Args:
        bundle: A loaded bundle.
        """
        self.bundle = bundle
        self._members = []
        for state_dict in bundle.state_dicts:
            member = StreamflowLSTM(**bundle.architecture)
            member.load_state_dict(state_dict)
            member.eval()
            self._members.append(member)

    @property
    def version(self) -> str:
        """Version id of the bundle."""
        return self.bundle.version

    @property
    def horizon(self) -> int:
        """Lead days the model predicts."""
        return self.bundle.horizon

    @property
    def seq_len(self) -> int:
        """Past days a forecast needs."""
        return self.bundle.seq_len

    @property
    def features(self) -> tuple[str, ...]:
        """Meteo variables the model reads."""
        return self.bundle.scaler.features

    def knows(self, site_id: str) -> bool:
        """True when the site was part of the training data."""
        return self.bundle.scaler.knows(site_id)

    def predict(self, record: SiteSeries, issue_date: dt.date) -> np.ndarray:
        """Forecast flow for the `horizon` days after `issue_date`.

        Args:
            record: The site's record covering at least `issue_date - seq_len + 1`
                .. `issue_date + horizon`, with the meteorological forecast after the issue day.
            issue_date: Last day whose flow may be used.

        Returns:
            [horizon] forecast flow in m3/s, >= 0; the ensemble mean.

        Raises:
            InsufficientDataError: Meteorology or observed flow is too sparse to forecast.
        """
        issue = record.index_of(issue_date)
        self._check_coverage(record, issue, issue_date)
        tensors = to_site_tensors(record, self.bundle.scaler, self.seq_len)
        window = cut_window(tensors, issue, 1, self.seq_len, self.horizon)
        batch = stack_windows([window])
        with torch.inference_mode():
            outputs = [member(batch.past, batch.future, batch.static, batch.last_flow) for member in self._members]
        standardized = torch.stack(outputs).mean(dim=0)[0, 0].numpy().astype(np.float64)
        flow_mm = np.maximum(self.bundle.scaler.unstandardize_flow(record.site.site_id, standardized), 0.0)
        return mm_per_day_to_m3s(flow_mm, record.site.area_km2)

    def _check_coverage(self, record: SiteSeries, issue: int, issue_date: dt.date) -> None:
        if not 0 <= issue < record.n_days:
            raise InsufficientDataError(f"the record of site {record.site.site_id} does not reach {issue_date}")
        past = slice(max(issue - self.seq_len + 1, 0), issue + 1)
        past_meteo = record.meteo[past]
        coverage = (~np.isnan(past_meteo)).all(axis=1).sum() / self.seq_len
        if coverage < MIN_PAST_METEO_COVERAGE:
            raise InsufficientDataError(
                f"meteorology covers {coverage:.0%} of the {self.seq_len} days up to {issue_date}; "
                f"at least {MIN_PAST_METEO_COVERAGE:.0%} is needed"
            )
        ahead = record.meteo[issue + 1 : issue + 1 + self.horizon]
        if len(ahead) < self.horizon or np.isnan(ahead).any():
            raise InsufficientDataError(
                f"the meteorological forecast for the {self.horizon} days after {issue_date} is incomplete "
                f"(the model reads all {self.horizon} lead days, however few are asked for; "
                "an earlier issue_date gives a hindcast)"
            )
        recent = record.flow_mm[max(issue - MAX_FLOW_STALENESS_DAYS, 0) : issue + 1]
        if np.isnan(recent).all():
            raise InsufficientDataError(
                f"no observed flow in the {MAX_FLOW_STALENESS_DAYS} days up to {issue_date}"
            )
