"""An ensemble of seeded LSTMs with its scaler: trained here, scored on a period, run by the predictor."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from config.settings import ModelConfig, TrainingConfig
from model.bundle import ModelBundle
from model.dataset import Batch, input_widths, to_site_tensors
from model.distributed import Ranks, join, training_device
from model.evaluate import hindcast, median_by_lead, score
from model.lstm import StreamflowLSTM
from model.probabilistic import score_probabilistic_sites
from model.scaler import FeatureScaler
from model.site_data import SiteSeries
from model.train import SINGLE, EpochReport, fit
from model.uncertainty import DEFAULT_CALIBRATION, Calibration, SiteResiduals, calibrate_sites

LOGGER = logging.getLogger(__name__)


def build_network(model_config: ModelConfig, n_static: int) -> StreamflowLSTM:
    """A freshly initialised network for `model_config`'s inputs and `n_static` site attributes."""
    n_past, n_future = input_widths(len(model_config.meteo_features))
    return StreamflowLSTM(
        n_past=n_past,
        n_future=n_future,
        n_static=n_static,
        hidden_size=model_config.hidden_size,
        horizon=model_config.max_forecast_days,
        dropout=model_config.dropout,
    )


@dataclasses.dataclass
class Ensemble:
    """The fitted scaler and the members of one model, in evaluation mode once trained."""

    model_config: ModelConfig
    scaler: FeatureScaler
    members: list[StreamflowLSTM]

    @classmethod
    def from_state_dicts(
        cls, model_config: ModelConfig, scaler: FeatureScaler, state_dicts: list[dict[str, torch.Tensor]]
    ) -> Ensemble:
        """Rebuild a trained ensemble from its members' weights.

        Raises:
            RuntimeError: The weights do not fit the architecture.
        """
        members = []
        for state_dict in state_dicts:
            member = build_network(model_config, len(scaler.static_names))
            member.load_state_dict(state_dict)
            member.eval()
            members.append(member)
        return cls(model_config, scaler, members)

    @classmethod
    def from_bundle(cls, bundle: ModelBundle) -> Ensemble:
        """The trained ensemble a bundle holds.

        Raises:
            RuntimeError: The weights do not fit the bundle's architecture.
        """
        return cls.from_state_dicts(bundle.model, bundle.scaler, bundle.state_dicts)

    def state_dicts(self) -> list[dict[str, torch.Tensor]]:
        """The members' weights."""
        return [member.state_dict() for member in self.members]

    def mean_forecast(self, batch: Batch) -> np.ndarray:
        """[B, N, horizon] ensemble-mean forecasts of a batch, in the scaler's target space."""
        with torch.inference_mode():
            outputs = [member(batch.past, batch.future, batch.static, batch.last_flow) for member in self.members]
        return torch.stack(outputs).mean(dim=0).numpy().astype(np.float64)

    def hindcast_mm(
        self, records: list[SiteSeries], start: dt.date, end: dt.date, members: list[StreamflowLSTM] | None = None
    ) -> dict[str, np.ndarray]:
        """site_id -> [days of the record, horizon] forecasts in mm/day (>= 0) of the mean of `members`
        (default: all), issued on every day of `start`..`end` (see `model.evaluate.hindcast`)."""
        seq_len, horizon = self.model_config.seq_len, self.model_config.max_forecast_days
        sites = [to_site_tensors(record, self.scaler, seq_len) for record in records]
        forecasts = hindcast(members or self.members, sites, start, end, seq_len, horizon)
        return {site_id: to_mm(self.scaler, site_id, values) for site_id, values in forecasts.items()}

    def calibrate(
        self, records: list[SiteSeries], start: dt.date, end: dt.date, calibration: Calibration = DEFAULT_CALIBRATION
    ) -> dict[str, SiteResiduals]:
        """Each site's forecast residuals on `start`..`end` (`model.uncertainty`): what its quantiles come from."""
        return calibrate_sites(records, self.hindcast_mm(records, start, end), start, end, calibration)

    def score(
        self,
        records: list[SiteSeries],
        start: dt.date,
        end: dt.date,
        members: list[StreamflowLSTM] | None = None,
        residuals: dict[str, SiteResiduals] | None = None,
        reference_period: tuple[dt.date, dt.date] | None = None,
    ) -> pd.DataFrame:
        """Per-site, per-lead scores of the mean of `members` (default: all) on `start`..`end` (see
        `model.evaluate`); with `residuals` and the references' `reference_period` (the training period),
        the probabilistic scores of `model.probabilistic` too."""
        forecasts = self.hindcast_mm(records, start, end, members)
        scores = score(records, forecasts, start, end)
        if residuals is None or reference_period is None:
            return scores
        probabilistic = score_probabilistic_sites(records, forecasts, residuals, (start, end), reference_period)
        return scores.merge(probabilistic, on=["site_id", "lead_days"], how="left")


def to_mm(scaler: FeatureScaler, site_id: str, standardized: np.ndarray) -> np.ndarray:
    """Site-standardised forecasts back to mm/day, clipped at zero."""
    return np.maximum(scaler.unstandardize_flow(site_id, standardized), 0.0)


def train_ensemble(
    records: list[SiteSeries],
    model_config: ModelConfig,
    training: TrainingConfig,
    on_epoch: Callable[[int, EpochReport], None] = lambda member, report: None,
    ranks: Ranks = SINGLE,
) -> Ensemble:
    """Fit the scaler on the training period, then train `ensemble_size` seeded members.

    Args:
        records: Site records spanning the training and validation periods.
        model_config: Features and architecture.
        training: Periods and optimisation settings (`device`: where to train).
        on_epoch: Progress callback, given the member number (0-based) and the epoch report.
        ranks: This process's place in a torchrun job; every rank trains every member on its shard.

    Returns:
        The trained ensemble.

    Raises:
        InsufficientDataError: A site has no observed flow in the training period.
    """
    scaler = FeatureScaler.fit(
        records, model_config.meteo_features, training.train_start, training.train_end, model_config.sqrt_features
    )
    seq_len, horizon = model_config.seq_len, model_config.max_forecast_days
    sites = [to_site_tensors(record, scaler, seq_len) for record in records]
    validation = (training.validation_start, training.validation_end)

    def validate(model: StreamflowLSTM) -> float:
        standardized = hindcast([model], sites, *validation, seq_len, horizon)
        forecasts = {site_id: to_mm(scaler, site_id, values) for site_id, values in standardized.items()}
        scores = score(records, forecasts, *validation)
        return validation_score(scores)

    device = training_device(training.device, ranks)
    join(ranks, device)
    members = []
    for number in range(training.ensemble_size):
        seed = training.seed + number
        torch.manual_seed(seed)
        model = build_network(model_config, len(scaler.static_names))
        members.append(
            fit(
                model,
                sites,
                model_config,
                training,
                validate if training.has_validation else None,
                seed,
                on_epoch=lambda report, number=number: on_epoch(number, report),
                ranks=ranks,
                device=device,
            )
        )
    for member in members:
        member.eval()
    return Ensemble(model_config, scaler, members)


def validation_score(scores: pd.DataFrame) -> float:
    """Early-stopping criterion: median NSE over sites, averaged over lead days."""
    return float(median_by_lead(scores)["nse"].mean())


def data_fingerprint(records: list[SiteSeries]) -> str:
    """SHA-256 over every site's id, area, calendar start, meteorology and flow."""
    digest = hashlib.sha256()
    for record in sorted(records, key=lambda r: r.site.site_id):
        digest.update(f"{record.site.site_id}|{record.site.area_km2!r}|{record.start.date()}|".encode())
        digest.update(np.ascontiguousarray(record.meteo, dtype=np.float32).tobytes())
        digest.update(np.ascontiguousarray(record.flow_mm, dtype=np.float32).tobytes())
    return digest.hexdigest()
