"""Shared fixtures: config files, the demo dataset, and one tiny trained model per session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from adapter.demo_data import write_demo_dataset
from config.settings import AppConfig, load_config
from test.support import write_config


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
    """Config of a tiny model trained once on the demo dataset (bundle and catalogue written)."""
    from main_train import train

    root = tmp_path_factory.mktemp("trained")
    config = load_config(write_config(root, {"data": {"data_dir": str(demo_data_dir)}}), {})
    train(config)
    return config
