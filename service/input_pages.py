"""Each site's observed flow and meteorology as arrays, read in blocks of days once per data refresh.

A forecast's input window is then a slice of arrays, not a pandas query of the readers' frames.
Blocks are aligned on the calendar, so a window of any issue day falls in a few consecutive
blocks and hindcasts of neighbouring days share them. A block is read again when the site's
last observed day moves (new data) or after `ttl_s` (revised values); blocks read from a stale
cached copy (the upstream failed) are used once and never kept.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import threading
import time

import numpy as np
import pandas as pd

from adapter.base import AbstractFlowReader, AbstractMeteoReader
from domain.provenance import oldest, stale_age
from domain.site import Site
from model.site_data import SiteSeries, build_site_series
from utils.dates import daily_index

EPOCH = dt.date(1970, 1, 1)


@dataclasses.dataclass(frozen=True)
class Block:
    """`days` days of one site from `first_day`, flow and meteorology as the readers gave them.

    Attributes:
        first_day: Day of index 0.
        flow_m3s: [days] observed flow in m3/s; NaN where missing or after `last_observed`.
        record: Meteorology in model feature order and flow in mm/day, on the same days.
        stale_age_s: Age of the oldest stale data read (None: all fresh).
        last_observed: The site's last observed day when the block was read.
        read_at: `time.monotonic()` of the read.
    """

    first_day: dt.date
    flow_m3s: np.ndarray
    record: SiteSeries
    stale_age_s: float | None
    last_observed: dt.date
    read_at: float


@dataclasses.dataclass(frozen=True)
class PastInputs:
    """The observed part of a window: `first_day` .. `last_day`, flow up to the issue day only.

    Attributes:
        meteo: [days, n_features] observed meteorology up to the issue day, NaN after it.
        flow_mm: [days] observed flow in mm/day up to the issue day, NaN after it.
        flow_m3s: [days] observed flow in m3/s on every day (what a hindcast shows beside its leads).
        stale_age_s: Age of the oldest stale data read (None: all fresh).
    """

    meteo: np.ndarray
    flow_mm: np.ndarray
    flow_m3s: np.ndarray
    stale_age_s: float | None


class InputPages:
    """Blocks of every site's data, kept for a while and re-read when the data move."""

    def __init__(
        self,
        flow_reader: AbstractFlowReader,
        meteo_reader: AbstractMeteoReader,
        block_days: int,
        ttl_s: float,
        max_blocks: int,
    ) -> None:
        """Args:
        flow_reader: Observed flow.
        meteo_reader: Observed meteorology.
        block_days: Days per block.
        ttl_s: Seconds a block is used before it is read again.
        max_blocks: Blocks kept, the most recently used.
        """
        self._flow = flow_reader
        self._meteo = meteo_reader
        self._block_days = block_days
        self._ttl_s = ttl_s
        self._max_blocks = max_blocks
        self._blocks: collections.OrderedDict[tuple, Block] = collections.OrderedDict()
        self._lock = threading.Lock()

    def kept(self) -> int:
        """Blocks kept in memory."""
        with self._lock:
            return len(self._blocks)

    def past(
        self,
        site: Site,
        features: tuple[str, ...],
        days: tuple[dt.date, dt.date],
        issue_date: dt.date,
        last_observed: dt.date,
    ) -> PastInputs:
        """The observed flow and meteorology of `days` (inclusive), cut at `issue_date` for the model.

        Raises:
            DataSourceError: A reader failed.
        """
        first, last = days
        first_block = (first - EPOCH).days // self._block_days
        last_block = (min(last, last_observed) - EPOCH).days // self._block_days
        blocks = [self._block(site, features, index, last_observed) for index in range(first_block, last_block + 1)]
        start = (first - blocks[0].first_day).days
        count = (last - first).days + 1
        meteo = _cut(np.concatenate([block.record.meteo for block in blocks]), start, count)
        flow_mm = _cut(np.concatenate([block.record.flow_mm for block in blocks]), start, count)
        flow_m3s = _cut(np.concatenate([block.flow_m3s for block in blocks]), start, count)
        known = (issue_date - first).days + 1
        meteo[known:] = np.nan
        flow_mm[known:] = np.nan
        return PastInputs(meteo, flow_mm, flow_m3s, oldest(*(block.stale_age_s for block in blocks)))

    def _block(self, site: Site, features: tuple[str, ...], index: int, last_observed: dt.date) -> Block:
        key = (site.site_id, features, index)
        with self._lock:
            block = self._blocks.get(key)
            if block is not None and self._fresh(block, last_observed):
                self._blocks.move_to_end(key)
                return block
        block = self._read(site, features, index, last_observed)
        if block.stale_age_s is None:
            with self._lock:
                self._blocks[key] = block
                self._blocks.move_to_end(key)
                while len(self._blocks) > self._max_blocks:
                    self._blocks.popitem(last=False)
        return block

    def _fresh(self, block: Block, last_observed: dt.date) -> bool:
        return block.last_observed == last_observed and time.monotonic() - block.read_at < self._ttl_s

    def _read(self, site: Site, features: tuple[str, ...], index: int, last_observed: dt.date) -> Block:
        first = EPOCH + dt.timedelta(days=index * self._block_days)
        last = first + dt.timedelta(days=self._block_days - 1)
        # Nothing is observed after `last_observed`: the readers are not asked for it.
        read_to = min(last, last_observed)
        flow = self._flow.read_flow(site.site_id, first, read_to)
        meteo = self._meteo.read_history(site, first, read_to)
        age = stale_age(flow, meteo)
        record = build_site_series(site, meteo, flow, features, (first, last))
        flow_m3s = flow.set_index("time")["flow"].reindex(daily_index(first, last)).to_numpy(dtype=np.float64)
        return Block(first, flow_m3s, record, age, last_observed, time.monotonic())


def _cut(values: np.ndarray, start: int, count: int) -> np.ndarray:
    # A window may reach past the last block read (lead days after the last observed day): NaN there.
    shape = (count, *values.shape[1:])
    out = np.full(shape, np.nan, dtype=values.dtype)
    available = values[start : start + count]
    out[: len(available)] = available
    return out


def with_forecast(record: SiteSeries, forecast: pd.DataFrame, features: tuple[str, ...]) -> None:
    """Write the meteorological forecast's rows into the record's meteorology (they win over observed days)."""
    if forecast.empty:
        return
    rows = ((forecast["time"].to_numpy() - record.start.to_datetime64()) // np.timedelta64(1, "D")).astype(np.int64)
    inside = (rows >= 0) & (rows < record.n_days)
    for column, feature in enumerate(features):
        if feature in forecast.columns:
            record.meteo[rows[inside], column] = forecast[feature].to_numpy(dtype=np.float32)[inside]
