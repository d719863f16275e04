"""Training loop: windows of many issue days, NSE-style loss, early stopping."""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from collections.abc import Callable

import numpy as np
import torch

from config.settings import ModelConfig, TrainingConfig
from model.dataset import ISSUE_DAYS_PER_WINDOW, SiteTensors, iter_batches, plan_windows
from model.distributed import Ranks, parallel, shard
from model.lstm import StreamflowLSTM

LOGGER = logging.getLogger(__name__)

CPU = torch.device("cpu")
SINGLE = Ranks()
# Issue days per window whose forecasts are trained on in each step (of ISSUE_DAYS_PER_WINDOW).
ISSUE_DAYS_SAMPLED = 96


def lead_weight_vector(lead_loss_weights: tuple[float, ...], horizon: int) -> torch.Tensor:
    """[horizon] loss weight of each lead day: `training.lead_loss_weights`, later lead days 1."""
    weights = torch.ones(horizon)
    weights[: len(lead_loss_weights)] = torch.tensor(lead_loss_weights, dtype=torch.float32)
    return weights


@dataclasses.dataclass(frozen=True)
class EpochReport:
    """What one epoch achieved, for progress output.

    `validation_score` is None when training runs without a validation period; every epoch
    is then `best`, since the last one is kept.
    """

    epoch: int
    train_loss: float
    validation_score: float | None
    seconds: float
    best: bool


def masked_mse(
    prediction: torch.Tensor,
    target: torch.Tensor,
    lead_weights: torch.Tensor,
    window_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Weighted mean squared error over the targets that are not NaN.

    On site-standardised flow this is the NSE loss: each site's squared errors
    are divided by its flow variance. Each error is weighted by its lead day's weight
    (last dimension): short leads, where the last observation tells most, weigh more.
    `window_weights` ([B], first dimension) scale each window's errors on top, without
    changing the normaliser, so they set how much a window counts against the others.
    """
    observed = ~torch.isnan(target)
    weights = lead_weights.expand_as(target) * observed
    if not observed.any():
        return prediction.sum() * 0.0
    squared = torch.where(observed, prediction - torch.nan_to_num(target), 0.0) ** 2
    if window_weights is not None:
        squared = squared * window_weights.reshape(-1, *([1] * (target.dim() - 1)))
    return (squared * weights).sum() / weights.sum()


def window_weights(flow: torch.Tensor, eps: float) -> torch.Tensor:
    """[B, days] site-standardised flow of each window (NaN missing) -> [B] 1 / (its standard deviation + eps)^2.

    The NSE of a year of low flow is as much worth having as that of a flood year, but in units of
    the site's whole-record deviation its errors are tiny: without this weight, a river whose
    training years hold one great flood learns little of its ordinary events (bench/RESULTS.md,
    "Per-year loss weights"). Windows without an observation get 0.
    """
    observed = ~torch.isnan(flow)
    count = observed.sum(dim=1).clamp(min=1)
    values = torch.nan_to_num(flow)
    mean = values.sum(dim=1) / count
    variance = (torch.where(observed, values - mean[:, None], 0.0) ** 2).sum(dim=1) / count
    return torch.where(observed.any(dim=1), 1.0 / (variance.sqrt() + eps) ** 2, 0.0)


def train_one_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    sites: list[SiteTensors],
    plan: list[tuple[int, int]],
    model_config: ModelConfig,
    training: TrainingConfig,
    rng: np.random.Generator,
    device: torch.device = CPU,
) -> float:
    """Run one pass over the planned windows and return the mean loss.

    The hindcast LSTM runs over every day of each window, but the forecast branch, which
    costs most, runs for `ISSUE_DAYS_SAMPLED` random issue days of it: neighbouring issue
    days carry nearly the same information. `model` may be a `DistributedDataParallel` wrapper and
    `plan` this rank's shard: every rank draws the same issue days (the same seed).
    """
    model.train()
    seq_len, horizon = model_config.seq_len, model_config.max_forecast_days
    lead_weights = lead_weight_vector(training.lead_loss_weights, horizon).to(device)
    period = (training.train_start, training.train_end)
    losses = []
    for batch in iter_batches(sites, plan, seq_len, horizon, period, training.batch_size):
        batch = batch.to(device)
        chosen = torch.from_numpy(np.sort(rng.choice(ISSUE_DAYS_PER_WINDOW, ISSUE_DAYS_SAMPLED, replace=False)))
        chosen = chosen.to(device)
        optimizer.zero_grad()
        prediction = model(
            batch.past,
            batch.future[:, chosen],
            batch.static,
            batch.last_flow[:, chosen],
            issue_steps=chosen + seq_len - 1,
        )
        # Every issue day's lead-1 target: the window's year of flow.
        year_weights = window_weights(batch.target[:, :, 0], training.year_weight_eps)
        loss = masked_mse(prediction, batch.target[:, chosen], lead_weights, year_weights)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
        losses.append(loss.item())
    return float(np.mean(losses)) if losses else float("nan")


def fit(
    model: StreamflowLSTM,
    sites: list[SiteTensors],
    model_config: ModelConfig,
    training: TrainingConfig,
    validate: Callable[[StreamflowLSTM], float] | None,
    seed: int,
    on_epoch: Callable[[EpochReport], None] = lambda report: None,
    ranks: Ranks = SINGLE,
    device: torch.device = CPU,
) -> StreamflowLSTM:
    """Train with Adam and a cosine learning-rate schedule over `training.train_start`..`train_end`.

    With `validate`, keeps the state of the best validation epoch and stops after
    `training.patience` epochs without a better score; without it, runs every epoch and
    keeps the last state (the schedule has then decayed the learning rate to a tenth).

    Args:
        model: Freshly initialised network.
        sites: Site arrays of every training site.
        model_config: Input length and horizon.
        training: Period and optimisation settings.
        validate: Scores the model on the validation period, higher is better; None: no early stopping.
        seed: Seeds window sampling.
        on_epoch: Called after every epoch (progress output).
        ranks: This process's place in a torchrun job: it trains on its shard of each epoch's windows,
            and every rank validates the same weights, so all stop at the same epoch.
        device: Where to train.

    Returns:
        The model holding the weights of its best validation epoch, or of its last epoch, on the CPU.
    """
    rng = np.random.default_rng(seed)
    trained = parallel(model, ranks, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=training.learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda epoch: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * epoch / training.epochs))
    )
    best_score, best_state, stale = -float("inf"), copy.deepcopy(model.state_dict()), 0
    for epoch in range(1, training.epochs + 1):
        began = time.perf_counter()
        plan = plan_windows(sites, training.train_start, training.train_end, model_config.seq_len, rng)
        train_loss = train_one_epoch(trained, optimizer, sites, shard(plan, ranks), model_config, training, rng, device)
        schedule.step()
        if validate is None:
            on_epoch(EpochReport(epoch, train_loss, None, time.perf_counter() - began, best=True))
            continue
        score = validate(model)
        improved = score > best_score
        if improved:
            best_score, best_state, stale = score, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
        on_epoch(EpochReport(epoch, train_loss, score, time.perf_counter() - began, improved))
        if stale >= training.patience:
            LOGGER.info("early stop after epoch %d: no improvement for %d epochs", epoch, stale)
            break
    if validate is not None:
        model.load_state_dict(best_state)
    return model.cpu()
