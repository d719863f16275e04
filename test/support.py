"""Test helpers: config files, ../shared lookup, and the real app served on 127.0.0.1."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime as dt
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests
import yaml
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from config.settings import AppConfig, Secret
from domain.flood import FloodThresholds
from domain.site import Site
from model.uncertainty import fit_site_residuals

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = REPO_ROOT.parent / "shared"

# A complete config; tests override sections. Periods fit the demo dataset (flow 2009-2024).
BASE_CONFIG = {
    "server": {"host": "127.0.0.1", "port": 8888},
    "data": {"flow_data": "local", "meteo_data": "local", "data_dir": "data", "demo_dataset": True},
    "model": {"seq_len": 120, "max_forecast_days": 5, "hidden_size": 16, "dropout": 0.0},
    "training": {
        "train_start": "2009-01-01",
        "train_end": "2017-09-30",  # water years 2010-2017: enough for flood thresholds (8)
        "validation_start": "2017-10-01",
        "validation_end": "2018-12-31",
        "test_start": "2019-01-01",
        "test_end": "2024-12-31",
        "epochs": 3,
        "batch_size": 16,
        "learning_rate": 0.005,
        "patience": 3,
        "seed": 7,
    },
    "paths": {"model_dir": "models"},
    # The tiny test models (3 epochs) are not meant to beat persistence; the gate's tests set real margins.
    "registry": {"persistence_margin": -1.0, "live_tolerance": 1.0},
}


def write_config(directory: Path, overrides: dict | None = None) -> Path:
    """Write BASE_CONFIG, with per-section overrides merged in, to directory/config.yaml."""
    raw = copy.deepcopy(BASE_CONFIG)
    for section, values in (overrides or {}).items():
        raw.setdefault(section, {}).update(values)
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def with_archive(config: AppConfig, directory: Path, url: str = "") -> AppConfig:
    """`config` with a forecast archive of its own in `directory` (or at the database `url`)."""
    archive = dataclasses.replace(config.archive, sqlite_path=directory / "archive.sqlite", database_url=Secret(url))
    return dataclasses.replace(config, archive=archive)


def shared_dir_or_skip(*parts: str) -> Path:
    """A path under ../shared; skips the test when it is absent outside CI (fails in CI)."""
    path = SHARED_DIR.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is required in CI")
        pytest.skip(f"{path} not present")
    return path


class RunningService:
    """The real app served on 127.0.0.1 by a background thread; `url(path)` builds request URLs."""

    def __init__(self, config: AppConfig, today: Callable[[], dt.date] = dt.date.today) -> None:
        self._config = config
        self._today = today
        self._ready = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self.port = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str) -> requests.Response:
        return requests.get(self.url(path), timeout=30)

    def __enter__(self) -> RunningService:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("test service did not start")
        return self

    def __exit__(self, *exc_info) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    async def _serve(self) -> None:
        from main_service import build_services, make_app

        services = build_services(self._config, self._today)
        self.services = services
        with ThreadPoolExecutor(2) as executor:
            server = HTTPServer(make_app(services, executor))
            sockets = bind_sockets(0, "127.0.0.1")
            server.add_sockets(sockets)
            self.port = sockets[0].getsockname()[1]
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            self._ready.set()
            await self._stop.wait()
            server.stop()
            await server.close_all_connections()


def no_thresholds_or_spread(sites: tuple[Site, ...], horizon: int) -> dict:
    """A hand-built bundle's `flood_thresholds` and `residuals`: no thresholds, and quantiles that all equal
    the forecast (residuals calibrated on a perfect forecast)."""
    perfect = fit_site_residuals(np.ones(60), np.ones((60, horizon)))
    return {
        "flood_thresholds": {
            site.site_id: FloodThresholds("none", 0, None, "a hand-built test bundle") for site in sites
        },
        "residuals": {site.site_id: perfect for site in sites},
    }
