"""Build the configured readers: the one place that maps config values to classes."""

from __future__ import annotations

import logging

from adapter.base import AbstractFlowReader, AbstractMeteoReader
from adapter.demo_data import write_demo_dataset
from adapter.local_reader import LocalFlowReader, LocalMeteoReader
from config.settings import DataConfig

LOGGER = logging.getLogger(__name__)


def build_readers(data: DataConfig) -> tuple[AbstractFlowReader, AbstractMeteoReader]:
    """Return the flow and meteo readers that `data` selects.

    With `data.demo_dataset` set, the synthetic demo dataset is generated into
    `data.data_dir` first when that directory does not exist yet.
    """
    if data.demo_dataset and not data.data_dir.exists():
        LOGGER.info("generating the synthetic demo dataset in %s", data.data_dir)
        write_demo_dataset(data.data_dir)
    flow_readers = {"local": lambda: LocalFlowReader(data.data_dir, data.sites)}
    meteo_readers = {"local": lambda: LocalMeteoReader(data.data_dir)}
    return flow_readers[data.flow_data](), meteo_readers[data.meteo_data]()
