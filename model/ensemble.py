"""Train an ensemble of seeded LSTMs on site records and score it on a period."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from config.settings import ModelConfig, TrainingConfig
from model.dataset import to_site_tensors
from model.evaluate import hindcast, median_by_lead, score
from model.lstm import StreamflowLSTM
from model.scaler import FeatureScaler
from model.site_data import SiteSeries
from model.train import EpochReport, FitSettings, fit

LOGGER = logging.getLogger(__name__)


@dataclasses.dataclass
class TrainedEnsemble:
    """Fitted scaler and ensemble members, ready to bundle or evaluate."""

    scaler: FeatureScaler
    members: list[StreamflowLSTM]
    architecture: dict
    seq_len: int
    horizon: int

    def score(
        self, records: list[SiteSeries], start, end, members: list[StreamflowLSTM] | None = None
    ) -> pd.DataFrame:
        """Per-site, per-lead scores of the mean of `members` (default: all) on `start`..`end` (see `model.evaluate`)."""
        sites = [to_site_tensors(record, self.scaler, self.seq_len) for record in records]
        forecasts = hindcast(members or self.members, sites, start, end, self.seq_len, self.horizon)
        return score(records, forecasts, self.scaler, start, end)


def train_ensemble(
    records: list[SiteSeries],
    model_config: ModelConfig,
    training: TrainingConfig,
    on_epoch: Callable[[int, EpochReport], None] = lambda member, report: None,
) -> TrainedEnsemble:
    """Fit the scaler on the training period, then train `ensemble_size` seeded members.

    Args:
        records: Site records spanning the training and validation periods.
        model_config: Features and architecture.
        training: Periods and optimisation settings.
        on_epoch: Progress callback, given the member number (0-based) and the epoch report.

    Returns:
        The trained ensemble.
    """
    scaler = FeatureScaler.fit(
        records, model_config.meteo_features, training.train_start, training.train_end, model_config.sqrt_features
    )
    sites = [to_site_tensors(record, scaler, model_config.seq_len) for record in records]
    n_features = len(model_config.meteo_features)
    architecture = {
        "n_past": n_features + 2,
        "n_future": n_features,
        "n_static": len(scaler.static_names),
        "hidden_size": model_config.hidden_size,
        "horizon": model_config.max_forecast_days,
        "dropout": model_config.dropout,
    }
    settings = FitSettings(
        epochs=training.epochs,
        batch_size=training.batch_size,
        learning_rate=training.learning_rate,
        patience=training.patience,
        seq_len=model_config.seq_len,
        horizon=model_config.max_forecast_days,
        lead_weights=training.lead_loss_weights,
        year_weight_eps=training.year_weight_eps,
    )
    validation = (training.validation_start, training.validation_end)

    def validate(model: StreamflowLSTM) -> float:
        scores = score(records, hindcast([model], sites, *validation, settings.seq_len, settings.horizon), scaler, *validation)
        return validation_score(scores)

    members = []
    for number in range(training.ensemble_size):
        seed = training.seed + number
        torch.manual_seed(seed)
        model = StreamflowLSTM(**architecture)
        members.append(
            fit(
                model,
                sites,
                (training.train_start, training.train_end),
                validate if training.has_validation else None,
                settings,
                seed,
                on_epoch=lambda report, number=number: on_epoch(number, report),
            )
        )
    return TrainedEnsemble(scaler, members, architecture, model_config.seq_len, model_config.max_forecast_days)


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
