"""Users' feedback on issued forecasts: validated, rate-limited per client, stored, never able to
change a forecast (it lands in its own table)."""

from __future__ import annotations

import collections
import datetime as dt
import math
import threading
import time
from collections.abc import Callable

from adapter.forecast_archive import Feedback
from domain.errors import RateLimitedError, UnknownForecastError
from service.archive_service import ArchiveService

PERIOD_S = 60.0
# Clients remembered for rate limiting before the idle ones are forgotten.
MAX_CLIENTS = 10_000


class FeedbackService:
    """Takes feedback and lists it for operators."""

    def __init__(self, archive: ArchiveService, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        """Args:
        archive: Where forecasts are looked up and feedback is kept.
        per_minute: Feedback a client may send per minute.
        clock: Seconds, monotonic (tests move it).
        """
        self._archive = archive
        self._per_minute = per_minute
        self._clock = clock
        self._sent: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def submit(self, client: str, body: dict) -> int:
        """Keep a validated feedback body (`domain.requests.FEEDBACK_SCHEMA`) from `client`; returns its id.

        Raises:
            RateLimitedError: The client sent `per_minute` already in the last minute.
            UnknownForecastError: No issued forecast has the body's forecast_id.
            DataSourceError: The archive failed.
        """
        self._admit(client)
        found = self._archive.lookup(body["forecast_id"])
        if found is None:
            raise UnknownForecastError(f"no issued forecast {body['forecast_id']}: see /forecasts")
        observation = body.get("observation") or {}
        feedback = Feedback(
            forecast_id=body["forecast_id"],
            site_id=found[0].site_id,
            rating=body["rating"],
            comment=body.get("comment", ""),
            observed_flow=observation.get("flow"),
            observed_at=observation.get("time"),
            client=client[:64],
            created_at=dt.datetime.now(dt.UTC),
        )
        return self._archive.archive.add_feedback(feedback)

    def feedback(self, site_id: str | None, limit: int) -> list[Feedback]:
        """The newest feedback, of a site or all.

        Raises:
            DataSourceError: The archive failed.
        """
        return self._archive.archive.feedback(site_id, limit)

    def _admit(self, client: str) -> None:
        now = self._clock()
        with self._lock:
            if len(self._sent) > MAX_CLIENTS:
                self._sent = {key: sent for key, sent in self._sent.items() if sent and now - sent[-1] < PERIOD_S}
            sent = self._sent.setdefault(client, collections.deque())
            while sent and now - sent[0] >= PERIOD_S:
                sent.popleft()
            if len(sent) >= self._per_minute:
                wait = max(1, math.ceil(PERIOD_S - (now - sent[0])))
                raise RateLimitedError(f"at most {self._per_minute} feedback a minute; try again in {wait} s", wait)
            sent.append(now)
