"""Build the configured readers: the one place that maps config values to classes."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from adapter.base import AbstractFlowReader, AbstractMeteoReader
from adapter.demo_data import write_demo_dataset
from adapter.http_client import UpstreamClient
from adapter.local_reader import LocalFlowReader, LocalMeteoReader
from adapter.observer import UpstreamObserver
from adapter.open_meteo_reader import OpenMeteoReader
from adapter.upstream_cache import UpstreamCache
from adapter.usgs_reader import UsgsFlowReader
from config.settings import DataConfig, UpstreamConfig

LOGGER = logging.getLogger(__name__)

CACHE_FILE = "upstream.sqlite"


def build_readers(
    data: DataConfig,
    upstream: UpstreamConfig,
    today: Callable[[], dt.date] = dt.date.today,
    observer: UpstreamObserver | None = None,
) -> tuple[AbstractFlowReader, AbstractMeteoReader]:
    """Return the flow and meteo readers that `data` selects.

    With `data.demo_dataset` set, the synthetic demo dataset is generated into
    `data.data_dir` first when that directory does not exist yet.

    Args:
        data: Which sources, and the local data directory.
        upstream: Live upstream endpoints, HTTP behaviour and cache (USGS and Open-Meteo readers).
        today: The current day for the live readers (tests pin it).
        observer: Receives the live readers' upstream attempts, retries and cache lookups.
    """
    if data.demo_dataset and not data.data_dir.exists():
        LOGGER.info("generating the synthetic demo dataset in %s", data.data_dir)
        try:
            write_demo_dataset(data.data_dir)
        except FileExistsError:
            # Another process (a torchrun rank) wrote it meanwhile: the same seed, the same dataset.
            if not data.data_dir.is_dir():
                raise
    # Both live readers share one cache file; its directory appears on first use only.
    cache = UpstreamCache(upstream.cache_dir / CACHE_FILE, observer=observer)
    flow_readers = {
        "local": lambda: LocalFlowReader(data.data_dir, data.sites),
        "usgs": lambda: UsgsFlowReader(_usgs_client(upstream, observer), cache, upstream, data.sites, today),
    }
    meteo_readers = {
        "local": lambda: LocalMeteoReader(data.data_dir),
        "open-meteo": lambda: OpenMeteoReader(
            UpstreamClient("Open-Meteo", upstream, upstream.open_meteo_concurrency, observer=observer),
            cache,
            upstream,
            today,
        ),
    }
    return flow_readers[data.flow_data](), meteo_readers[data.meteo_data]()


def _usgs_client(upstream: UpstreamConfig, observer: UpstreamObserver | None) -> UpstreamClient:
    # A header rather than the api_key query parameter keeps the key out of URLs and logs.
    headers = {"X-Api-Key": upstream.usgs_api_key.reveal()} if upstream.usgs_api_key else {}
    return UpstreamClient("USGS Water Data API", upstream, upstream.usgs_concurrency, headers, observer=observer)
