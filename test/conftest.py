"""Shared fixtures: config files, the demo dataset, and one tiny trained model per session."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapter.demo_data import write_demo_dataset
from config.loader import load_config
from config.settings import AppConfig, UpstreamConfig
from service.training_service import train_from_config
from test.replay_server import ReplayServer, upstream_settings
from test.support import shared_dir_or_skip, write_config


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., AppConfig]:
    """Factory: make_config(section={...}, environ={...}) -> AppConfig rooted in tmp_path."""

    def factory(environ: dict[str, str] | None = None, **overrides: dict) -> AppConfig:
        return load_config(write_config(tmp_path, overrides), environ or {})

    return factory


@pytest.fixture(scope="session")
def demo_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic demo dataset, generated once per session."""
    directory = tmp_path_factory.mktemp("demo") / "data"
    write_demo_dataset(directory)
    return directory


@pytest.fixture(scope="session")
def trained_config(tmp_path_factory: pytest.TempPathFactory, demo_data_dir: Path) -> AppConfig:
    """Config of a tiny model trained once on the demo dataset (its bundle written)."""
    root = tmp_path_factory.mktemp("trained")
    config = load_config(write_config(root, {"data": {"data_dir": str(demo_data_dir)}}), {})
    train_from_config(config)
    return config


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    """Fake USGS and Open-Meteo upstreams on 127.0.0.1, replaying the recorded responses in ../shared."""
    with ReplayServer(shared_dir_or_skip("fixtures", "upstream")) as server:
        yield server


@pytest.fixture
def upstream_config(replay: ReplayServer, tmp_path: Path) -> UpstreamConfig:
    """Upstream settings pointed at `replay`, with an empty cache and tiny timeouts and backoff."""
    settings = upstream_settings(replay, tmp_path / "cache")
    return UpstreamConfig(**{**settings, "cache_dir": tmp_path / "cache"})


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server on 127.0.0.1 for the session (skipped without PostgreSQL, except in CI)."""
    from test.postgres_server import postgres_binaries, postgres_server

    if postgres_binaries() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is required in CI (.ci/run installs it)")
        pytest.skip("PostgreSQL not installed")
    with postgres_server() as url:
        yield url
