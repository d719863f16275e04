"""Model-space arrays of a site and the windows cut from them.

A forecast issued on day t sees `seq_len` past days (meteorology, observed
flow and its mask) and the meteorology of days t+1..t+horizon; it predicts
flow on those days. Training and evaluation cut windows holding N
consecutive issue days at once: the LSTM runs once over
`seq_len + N - 1` past days and every one of the last N steps issues a
forecast, which is ~N times cheaper than one window per issue day and gives
every issue day at least `seq_len` days of history, as at serving time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

import numpy as np
import pandas as pd
import torch

from model.scaler import FeatureScaler
from model.site_data import SiteSeries

# Issue days per window; the LSTM runs seq_len + N - 1 steps for N forecasts.
ISSUE_DAYS_PER_WINDOW = 365
# Past-day channels after the meteorology: scaled log flow and its observed mask.
FLOW_CHANNELS = 2


def input_widths(n_features: int) -> tuple[int, int]:
    """Features per past day and per forecast day of `SiteTensors` with `n_features` meteo variables."""
    return n_features + FLOW_CHANNELS, n_features


def _carried_forward(values: np.ndarray, limit: int) -> np.ndarray:
    """Each NaN replaced by the last value before it at most `limit` days back, else 0 (float32)."""
    positions = np.arange(len(values))
    last_seen = np.maximum.accumulate(np.where(np.isnan(values), -1, positions))
    usable = (last_seen >= 0) & (positions - last_seen <= limit)
    return np.where(usable, values[np.maximum(last_seen, 0)], 0.0).astype(np.float32)


@dataclasses.dataclass
class SiteTensors:
    """One site's record in model space, every array on the same daily calendar.

    Attributes:
        site_id: The site.
        start: Day of index 0.
        past: [days, n_features + 2] scaled meteo, scaled log flow (0 where missing), observed mask.
        future: [days, n_features] scaled meteo, the input of forecast days.
        target: [days] site-standardised flow; NaN where missing.
        last_flow: [days] site-standardised last observed flow up to each day (0 if none in `seq_len`).
        static: [n_static] standardised site attributes.
    """

    site_id: str
    start: pd.Timestamp
    past: np.ndarray
    future: np.ndarray
    target: np.ndarray
    last_flow: np.ndarray
    static: np.ndarray

    def index_of(self, day: dt.date | pd.Timestamp) -> int:
        """Return the array index of a day (may fall outside the record)."""
        return int((pd.Timestamp(day) - self.start).days)


def to_site_tensors(record: SiteSeries, scaler: FeatureScaler, seq_len: int) -> SiteTensors:
    """Scale a site record into model space.

    Args:
        record: Raw aligned record of a training site.
        scaler: Fitted scaler (knows the site).
        seq_len: Past days a forecast sees; bounds how far `last_flow` carries a value forward.
    """
    site_id = record.site.site_id
    observed = ~np.isnan(record.flow_mm)
    flow_input = np.nan_to_num(scaler.scale_flow_input(record.flow_mm))
    target = scaler.standardize_flow(site_id, record.flow_mm)
    meteo = scaler.scale_meteo(record.meteo)
    last_flow = _carried_forward(target, seq_len - 1)
    return SiteTensors(
        site_id=site_id,
        start=record.start,
        past=np.concatenate([meteo, flow_input[:, None], observed[:, None].astype(np.float32)], axis=1),
        future=meteo,
        target=target,
        last_flow=last_flow,
        static=scaler.static_vector(site_id),
    )


@dataclasses.dataclass
class Batch:
    """Windows stacked for the model; shapes documented in `StreamflowLSTM.forward`."""

    past: torch.Tensor
    future: torch.Tensor
    static: torch.Tensor
    last_flow: torch.Tensor
    target: torch.Tensor

    def to(self, device: torch.device) -> Batch:
        """The batch on `device` (itself when it is there already)."""
        if self.past.device == device:
            return self
        return Batch(*(getattr(self, field.name).to(device) for field in dataclasses.fields(self)))


def cut_window(site: SiteTensors, first_issue: int, n_issue: int, seq_len: int, horizon: int) -> dict[str, np.ndarray]:
    """Cut the inputs and targets of `n_issue` consecutive issue days.

    Days outside the record are padded: inputs with zeros and mask 0, targets with NaN.

    Args:
        site: The site's arrays.
        first_issue: Array index of the first issue day.
        n_issue: Number of consecutive issue days N.
        seq_len: Past days each forecast sees.
        horizon: Lead days per forecast.

    Returns:
        past [seq_len + N - 1, n_past], future [N, horizon, n_features], target [N, horizon],
        last_flow [N], static [n_static].
    """
    past = _padded(site.past, first_issue - seq_len + 1, seq_len + n_issue - 1, 0.0)
    ahead = slice(first_issue + 1, first_issue + n_issue + horizon)
    future = _padded(site.future, ahead.start, ahead.stop - ahead.start, 0.0)
    target = _padded(site.target, ahead.start, ahead.stop - ahead.start, np.nan)
    return {
        "past": past,
        "future": _leads(future, n_issue, horizon),
        "target": _leads(target, n_issue, horizon),
        "last_flow": _padded(site.last_flow, first_issue, n_issue, 0.0),
        "static": site.static,
    }


def stack_windows(windows: list[dict[str, np.ndarray]]) -> Batch:
    """Stack windows of equal shape into one batch of tensors."""
    return Batch(**{key: torch.from_numpy(np.stack([w[key] for w in windows])) for key in windows[0]})


def first_issue_index(site: SiteTensors, start: dt.date, seq_len: int) -> int:
    """Earliest issue day whose first lead falls on or after `start` and that has a full `seq_len` of record."""
    return max(site.index_of(start) - 1, seq_len - 1)


def plan_windows(
    sites: list[SiteTensors], start: dt.date, end: dt.date, seq_len: int, rng: np.random.Generator | None
) -> list[tuple[int, int]]:
    """Plan windows covering every issue day whose first lead falls in `start`..`end`.

    Args:
        sites: Site arrays.
        start: First target day of the period.
        end: Last target day of the period.
        seq_len: Past days each forecast sees.
        rng: Shifts the tiling by a random offset and shuffles the windows (training); None
            tiles from the first issue day.

    Returns:
        (site index, first issue index of the window) pairs. Windows do not overlap; a shifted
        first window starts before the first valid issue day, whose earlier issue days
        `iter_batches` masks, so each issue day is used exactly once.
    """
    plan = []
    for number, site in enumerate(sites):
        first = first_issue_index(site, start, seq_len)
        last = min(site.index_of(end) - 1, len(site.target) - 2)
        if last < first:
            continue
        offset = int(rng.integers(ISSUE_DAYS_PER_WINDOW)) if rng is not None else 0
        plan.extend((number, begin) for begin in range(first - offset, last + 1, ISSUE_DAYS_PER_WINDOW))
    if rng is not None:
        rng.shuffle(plan)
    return plan


def iter_batches(
    sites: list[SiteTensors],
    plan: list[tuple[int, int]],
    seq_len: int,
    horizon: int,
    period: tuple[dt.date, dt.date],
    batch_size: int,
) -> Iterator[Batch]:
    """Yield batches of the planned windows, hiding (NaN) targets outside `period`'s issue days."""
    for begin in range(0, len(plan), batch_size):
        windows = []
        for number, first in plan[begin : begin + batch_size]:
            window = cut_window(sites[number], first, ISSUE_DAYS_PER_WINDOW, seq_len, horizon)
            _hide_targets_outside(window, sites[number], first, seq_len, period)
            windows.append(window)
        yield stack_windows(windows)


def _hide_targets_outside(
    window: dict[str, np.ndarray], site: SiteTensors, first: int, seq_len: int, period: tuple[dt.date, dt.date]
) -> None:
    # Targets of other periods, or of issue days without a full history, must never be trained or scored.
    issue = first + np.arange(window["target"].shape[0])
    window["target"][issue < first_issue_index(site, period[0], seq_len)] = np.nan
    lead_index = issue[:, None] + np.arange(1, window["target"].shape[1] + 1)
    window["target"][lead_index > site.index_of(period[1])] = np.nan


def _padded(values: np.ndarray, start: int, length: int, fill: float) -> np.ndarray:
    out = np.full((length,) + values.shape[1:], fill, dtype=np.float32)
    lo, hi = max(start, 0), min(start + length, len(values))
    if hi > lo:
        out[lo - start : hi - start] = values[lo:hi]
    return out


def _leads(values: np.ndarray, n_issue: int, horizon: int) -> np.ndarray:
    """[N + horizon - 1, ...] -> [N, horizon, ...]: row i holds days i+1..i+horizon of issue i."""
    index = np.arange(n_issue)[:, None] + np.arange(horizon)[None, :]
    return values[index]
