"""Issued forecasts: remembered in memory, kept in the archive, listed for clients.

A forecast is answered from memory, then from the archive, before it is computed again. Writes
go through a queue and a thread of their own, in batches of what is waiting, so an archive that is slow, down or full never
fails or delays a forecast: the writer retries with backoff, a metric and one log line per
outage say so, and nothing is lost unless the queue overflows (counted as dropped).
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time

from adapter.forecast_archive import ArchivedForecast, ForecastArchive
from domain.errors import DataSourceError
from service.metrics import ServiceMetrics

LOGGER = logging.getLogger(__name__)

QUEUE_LIMIT = 10_000
WRITE_BATCH = 500  # forecasts written in one transaction, when that many are waiting
RETRY_S = (1.0, 60.0)  # first and longest wait between attempts at a failed write


class ArchiveService:
    """The memory, the archive and the writer between them."""

    def __init__(self, archive: ForecastArchive, memory_entries: int, metrics: ServiceMetrics | None = None) -> None:
        """Args:
        archive: Where forecasts are kept.
        memory_entries: Forecasts remembered in memory, the most recent ones.
        metrics: Counts sources, writes, drops and the queue.
        """
        self.archive = archive
        self._memory: collections.OrderedDict[str, ArchivedForecast] = collections.OrderedDict()
        self._memory_entries = memory_entries
        self._memory_lock = threading.Lock()
        self._queue: queue.Queue[ArchivedForecast] = queue.Queue(QUEUE_LIMIT)
        self._metrics = metrics
        self._down = False
        self._writer = threading.Thread(target=self._write_forever, daemon=True, name="archive-writer")
        self._writer.start()

    def lookup(self, forecast_id: str) -> tuple[ArchivedForecast, str] | None:
        """The forecast with this id and where it came from ("memory" or "archive"), or None."""
        with self._memory_lock:
            found = self._memory.get(forecast_id)
            if found is not None:
                self._memory.move_to_end(forecast_id)
                return found, "memory"
        try:
            stored = self.archive.get(forecast_id)
        except DataSourceError as exc:
            self._outage(exc)
            return None
        if stored is not None:
            self._remember(stored)
            return stored, "archive"
        return None

    def keep(self, forecast: ArchivedForecast) -> None:
        """Remember a new forecast and queue it for the archive (never blocks, never raises)."""
        self._remember(forecast)
        try:
            self._queue.put_nowait(forecast)
        except queue.Full:
            LOGGER.error(
                "archive queue full (%d forecasts): forecast %s not archived", QUEUE_LIMIT, forecast.forecast_id
            )
            self._count("dropped")
        self._gauge()

    def pending(self) -> int:
        """Forecasts waiting to be written."""
        return self._queue.qsize()

    def flush(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for the queue to drain (at shutdown); True when it did."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.05)
        return not self._queue.unfinished_tasks

    def _remember(self, forecast: ArchivedForecast) -> None:
        with self._memory_lock:
            self._memory[forecast.forecast_id] = forecast
            self._memory.move_to_end(forecast.forecast_id)
            while len(self._memory) > self._memory_entries:
                self._memory.popitem(last=False)

    def _write_forever(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < WRITE_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            wait = RETRY_S[0]
            while True:
                try:
                    self.archive.store(*batch)
                except DataSourceError as exc:
                    self._outage(exc)
                    self._count("failed", len(batch))
                    time.sleep(wait)
                    wait = min(2 * wait, RETRY_S[1])
                    continue
                break
            if self._down:
                LOGGER.warning("forecast archive %s is back; writing again", self.archive.where)
                self._down = False
            self._count("stored", len(batch))
            for _ in batch:
                self._queue.task_done()
            self._gauge()

    def _outage(self, exc: DataSourceError) -> None:
        if not self._down:  # once per outage
            LOGGER.error("%s; forecasts are served and their archiving retried", exc)
            self._down = True

    def _count(self, outcome: str, forecasts: int = 1) -> None:
        if self._metrics is not None:
            self._metrics.archive_writes.labels(outcome).inc(forecasts)

    def _gauge(self) -> None:
        if self._metrics is not None:
            self._metrics.archive_pending.set(self._queue.qsize())
