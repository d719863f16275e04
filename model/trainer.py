"""A whole training run: site records in, the trained model's bundle and its test scores out."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable

import pandas as pd

from config.settings import ModelConfig, TrainingConfig
from model.bundle import ModelBundle, new_version
from model.distributed import Ranks
from model.ensemble import Ensemble, data_fingerprint, train_ensemble
from model.evaluate import metrics_json
from model.flood_frequency import fit_flood_thresholds
from model.site_data import SiteSeries
from model.train import SINGLE, EpochReport


@dataclasses.dataclass(frozen=True)
class TrainingRun:
    """What a training run produced.

    Attributes:
        bundle: The artifact to save and serve.
        ensemble: The trained members, for further scoring (e.g. each member alone).
        scores: Test-period scores per site and lead (`model.evaluate.score`).
        train_seconds: Wall time of training.
        total_seconds: Wall time of training and scoring.
    """

    bundle: ModelBundle
    ensemble: Ensemble
    scores: pd.DataFrame
    train_seconds: float
    total_seconds: float


def training_days(model: ModelConfig, training: TrainingConfig) -> tuple[dt.date, dt.date]:
    """The days of flow and meteorology `train_bundle` needs: `seq_len` days of input history before
    the earliest period, through the lead days after the latest one."""
    periods = [(training.train_start, training.train_end), (training.test_start, training.test_end)]
    if training.has_validation:
        periods.append((training.validation_start, training.validation_end))
    start = min(first for first, _ in periods) - dt.timedelta(days=model.seq_len)
    end = max(last for _, last in periods) + dt.timedelta(days=model.max_forecast_days)
    return start, end


def calibration_period(training: TrainingConfig) -> tuple[dt.date, dt.date]:
    """Where forecast quantiles are calibrated: the validation period, unseen by the weights, when there is
    one; else the training period (bench/RESULTS.md measures what that costs in coverage)."""
    if training.has_validation:
        return training.validation_start, training.validation_end
    return training.train_start, training.train_end


def train_bundle(
    records: list[SiteSeries],
    model_config: ModelConfig,
    training: TrainingConfig,
    data_source: dict,
    synthetic_data: bool = False,
    on_epoch: Callable[[int, EpochReport], None] = lambda member, report: None,
    ranks: Ranks = SINGLE,
) -> TrainingRun:
    """Train an ensemble on `records`, score its test period and bundle it.

    Args:
        records: Every site's record over the training, validation and test periods (`SiteSeries.site`
            is the metadata the bundle serves).
        model_config: Inputs and architecture.
        training: Periods and optimisation settings.
        data_source: The data settings (JSON-ready), kept in the bundle for audit.
        synthetic_data: Whether the records are the generated demo dataset.
        on_epoch: Progress callback, given the member number (0-based) and the epoch report.
        ranks: Rank 0 of a torchrun job (the other ranks call `train_ensemble` alone).

    Raises:
        InsufficientDataError: A site has no observed flow in the training period.
    """
    began = time.perf_counter()
    ensemble = train_ensemble(records, model_config, training, on_epoch, ranks)
    trained = time.perf_counter()
    residuals = ensemble.calibrate(records, *calibration_period(training))
    training_period = (training.train_start, training.train_end)
    scores = ensemble.score(records, training.test_start, training.test_end, None, residuals, training_period)
    fingerprint = data_fingerprint(records)
    bundle = ModelBundle(
        version=new_version(fingerprint),
        model=model_config,
        training=training,
        scaler=ensemble.scaler,
        state_dicts=ensemble.state_dicts(),
        sites=tuple(record.site for record in records),
        flood_thresholds={record.site.site_id: fit_flood_thresholds(record, *training_period) for record in records},
        residuals=residuals,
        metrics=metrics_json(scores, training.test_start, training.test_end),
        data_fingerprint=fingerprint,
        data_source=data_source,
        synthetic_data=synthetic_data,
    )
    return TrainingRun(bundle, ensemble, scores, trained - began, time.perf_counter() - began)
