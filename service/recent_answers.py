"""Forecasts answered in the last seconds, by their exact query: a repeat is answered from here.

Most requests repeat: every client asks for the same few sites, and a forecast changes only when
new data arrive. The same query string to the same served model gets the same forecast back on the
event loop, without a worker thread, a data read or an archive lookup. An answer older than
`max_age_s` (less a random part of it, so that answers given together fall due apart) is due: it
is given once more while the caller renews it (which sees any new data).
"""

from __future__ import annotations

import collections
import random
import threading
import time

from domain.forecast import Forecast


class RecentAnswers:
    """The most recent answers, each due for renewal half to all of `max_age_s` seconds after it was given."""

    def __init__(self, max_age_s: float, max_entries: int) -> None:
        """Args:
        max_age_s: Seconds an answer stands for its repeats before it is renewed (0: never kept).
        max_entries: Answers kept, the most recent ones.
        """
        self._max_age_s = max_age_s
        self._max_entries = max_entries
        self._answers: collections.OrderedDict[tuple, tuple[float, Forecast]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, model: tuple[str, str | None], query: str) -> tuple[Forecast, bool] | None:
        """The forecast of `model` (bundle and registry version) last answered to `query`, and whether it is
        due for renewal; None when there is none."""
        key = (*model, query)
        with self._lock:
            found = self._answers.get(key)
        if found is None:
            return None
        return found[1], time.monotonic() >= found[0]

    def forget(self, query: str) -> None:
        """Drop every answer to `query` (its renewal failed: the next request asks for itself)."""
        with self._lock:
            for key in [key for key in self._answers if key[2] == query]:
                del self._answers[key]

    def put(self, query: str, forecast: Forecast) -> None:
        """Remember the answer to `query` (under the model that made it)."""
        if self._max_age_s <= 0:
            return
        key = (forecast.model_version, forecast.registry_version, query)
        # Due between half and all of max_age_s from now: answers given together are not all renewed together.
        due = time.monotonic() + self._max_age_s * random.uniform(0.5, 1.0)
        with self._lock:
            self._answers[key] = (due, forecast)
            self._answers.move_to_end(key)
            while len(self._answers) > self._max_entries:
                self._answers.popitem(last=False)
