"""What the live readers report for monitoring, without knowing who listens (the service's metrics do)."""

from __future__ import annotations

from typing import Protocol


class UpstreamObserver(Protocol):
    """What the live readers report for monitoring (the service's metrics implement it)."""

    def upstream_request(self, upstream: str, outcome: str, seconds: float) -> None:
        """One attempt: outcome ok, timeout, connection_error, http_429, http_4xx or http_5xx."""

    def upstream_retry(self, upstream: str) -> None:
        """A failed attempt that is retried."""

    def cache_lookup(self, outcome: str) -> None:
        """An upstream cache lookup: hit, miss (downloaded) or stale (served past its expiry)."""


class NullObserver:
    """Reports nowhere (training, benchmarks)."""

    def upstream_request(self, upstream: str, outcome: str, seconds: float) -> None:
        pass

    def upstream_retry(self, upstream: str) -> None:
        pass

    def cache_lookup(self, outcome: str) -> None:
        pass
