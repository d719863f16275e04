"""HTTP behaviour shared by the live readers: timeouts, retries, a concurrency cap, domain errors.

One `UpstreamClient` per upstream (USGS, Open-Meteo). It retries connection
errors, timeouts, 429 and 5xx with exponential backoff and jitter, honours
`Retry-After`, caps concurrent requests, and turns every failure into a domain
error that names the source and quotes the upstream's own error text:
`UpstreamTimeoutError` (504) for timeouts, `DataFormatError` (502) for a body
that is not JSON, `DataSourceError` (502) for the rest.
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from adapter.observer import NullObserver, UpstreamObserver
from config.settings import UpstreamConfig
from domain.errors import DataFormatError, DataSourceError, UpstreamTimeoutError

LOGGER = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_DETAIL_CHARS = 300


class UpstreamClient:
    """GETs JSON from one upstream service, politely and fault-tolerantly."""

    def __init__(
        self,
        source: str,
        config: UpstreamConfig,
        concurrency: int,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        observer: UpstreamObserver | None = None,
    ) -> None:
        """Args:
        source: Name of the upstream in error messages, e.g. "USGS Water Data API".
        config: Timeout, retry, backoff and User-Agent settings.
        concurrency: Most requests in flight at once from this process.
        headers: Extra headers on every request (e.g. an API key); never logged.
        sleep: Waits between attempts (tests record the waits instead).
        observer: Receives every attempt's outcome and latency, and the retries.
        """
        self.source = source
        self._config = config
        self._slots = threading.BoundedSemaphore(concurrency)
        self._sleep = sleep
        self._jitter = random.Random()
        self._session = requests.Session()
        self._session.headers.update({"User-Agent": config.user_agent, "Accept": "application/json"})
        self._session.headers.update(headers or {})
        self._observer = observer or NullObserver()

    def get_json(self, url: str, params: Mapping[str, str] | None = None) -> Any:
        """GET `url` and return the decoded JSON body.

        Args:
            url: Absolute URL; a paging link is passed as it came, without `params`.
            params: Query parameters.

        Raises:
            UpstreamTimeoutError: No answer within the timeout, on every attempt.
            DataFormatError: The answer is not valid JSON (truncated, HTML error page, ...).
            DataSourceError: Any other failure (unreachable, HTTP error), after the retries it deserves.
        """
        where = url.split("?", 1)[0]
        attempt = 0
        while True:
            retry_after = None
            began = time.perf_counter()
            try:
                response = self._send(url, params)
            except requests.Timeout as exc:
                self._observe("timeout", began)
                failure: DataSourceError = UpstreamTimeoutError(
                    f"{self.source}: no answer from {where} within {self._config.timeout_s:g} s"
                )
                failure.__cause__ = exc
            except requests.RequestException as exc:
                self._observe("connection_error", began)
                failure = DataSourceError(f"{self.source}: cannot read {where}: {_detail(str(exc))}")
                failure.__cause__ = exc
            else:
                self._observe(_outcome(response.status_code), began)
                if response.status_code < 300:
                    return self._decode(response, where)
                failure = DataSourceError(
                    f"{self.source}: HTTP {response.status_code} from {where}: {_upstream_reason(response)}"
                )
                if response.status_code not in RETRY_STATUSES:
                    raise failure
                retry_after = _retry_after_s(response)
            self._wait_before_retry(failure, attempt, retry_after)
            attempt += 1

    def _observe(self, outcome: str, began: float) -> None:
        self._observer.upstream_request(self.source, outcome, time.perf_counter() - began)

    def _send(self, url: str, params: Mapping[str, str] | None) -> requests.Response:
        with self._slots:
            # No redirects: requests would forward custom headers (the API key) to another host.
            return self._session.get(url, params=params, timeout=self._config.timeout_s, allow_redirects=False)

    def _wait_before_retry(self, failure: DataSourceError, attempt: int, retry_after: float | None) -> None:
        """Sleep before the next attempt, or raise `failure` when no retry is left or allowed."""
        if attempt >= self._config.retries:
            raise failure
        cap = self._config.max_retry_wait_s
        if retry_after is not None and retry_after > cap:
            # Retrying before the upstream allows it only earns another 429.
            raise type(failure)(f"{failure} (asked to retry after {retry_after:.0f} s)") from failure
        if retry_after is None:
            # Full exponential step, minus up to half of it, so clients that failed together spread out.
            step = self._config.backoff_s * 2**attempt
            retry_after = min(cap, step * (1.0 - 0.5 * self._jitter.random()))
        LOGGER.warning("%s; retry %d of %d in %.2f s", failure, attempt + 1, self._config.retries, retry_after)
        self._observer.upstream_retry(self.source)
        self._sleep(retry_after)

    def _decode(self, response: requests.Response, where: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            kind = response.headers.get("Content-Type", "no Content-Type")
            raise DataFormatError(
                f"{self.source}: {where} answered with a body that is not valid JSON ({kind}): "
                f"{_detail(response.text)!r}"
            ) from exc


def _outcome(status: int) -> str:
    if status < 300:
        return "ok"
    if status == 429:
        return "http_429"
    return "http_5xx" if status >= 500 else "http_4xx"


def _upstream_reason(response: requests.Response) -> str:
    """The upstream's own explanation, from whichever error envelope it used."""
    try:
        body = response.json()
    except ValueError:
        return _detail(response.text) or response.reason
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):  # api.data.gov gateway (USGS keys and quotas)
            return f"{error.get('code')}: {error.get('message')}"
        if body.get("reason"):  # Open-Meteo: {"error": true, "reason": ...}
            return str(body["reason"])
        if body.get("description"):  # OGC API: {"code", "type", "description"}
            return f"{body.get('code')}: {body['description']}"
    return _detail(response.text) or response.reason


def _retry_after_s(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _detail(text: str) -> str:
    # HTML error pages: keep their words, not their markup.
    words = re.sub(r"\s+", " ", re.sub(r"<[^>]*>", " ", text)).strip()
    return words if len(words) <= MAX_DETAIL_CHARS else words[:MAX_DETAIL_CHARS] + "..."
