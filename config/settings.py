"""Typed, frozen application configuration.

`load_config` is the only reader of `config.yaml`. Precedence is
dataclass defaults < YAML file < environment variables. Environment variables
follow one naming scheme, ``STREAMFLOW__<SECTION>__<KEY>`` (upper case), e.g.
``STREAMFLOW__SERVER__PORT=9000`` sets ``server.port``; list values are comma
separated. Unknown keys, missing mandatory keys and wrong types raise
`ConfigError` naming the key. Relative paths are resolved against the
directory of the config file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

ENV_PREFIX = "STREAMFLOW__"
METEO_VARIABLES = (
    "precipitation",
    "temperature_max",
    "temperature_min",
    "temperature_mean",
    "evapotranspiration",
)


class ConfigError(ValueError):
    """Raised when the configuration is invalid; the message names the key."""


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    """HTTP server settings."""

    host: str = "0.0.0.0"
    port: int = 8888
    log_level: str = "INFO"
    # Seconds in-flight requests get to finish after SIGTERM.
    shutdown_timeout_s: float = 10.0
    # Threads that run inference and reads off the IOLoop.
    worker_threads: int = 4


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where observed flow and meteorology come from."""

    flow_data: Literal["local", "usgs"]
    meteo_data: Literal["local", "open-meteo"]
    data_dir: Path
    # Generate the synthetic demo dataset into data_dir when it is missing.
    demo_dataset: bool = False
    # Empty means every site listed in the data source.
    sites: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Model inputs and architecture."""

    meteo_features: tuple[str, ...] = METEO_VARIABLES
    seq_len: int = 365
    max_forecast_days: int = 5
    hidden_size: int = 64
    dropout: float = 0.1


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Periods (inclusive dates) and optimisation settings."""

    train_start: dt.date
    train_end: dt.date
    validation_start: dt.date
    validation_end: dt.date
    test_start: dt.date
    test_end: dt.date
    epochs: int = 30
    batch_size: int = 16
    learning_rate: float = 2e-3
    patience: int = 5
    seed: int = 42
    ensemble_size: int = 1


@dataclasses.dataclass(frozen=True)
class PathsConfig:
    """Artifacts written by training and read by the service."""

    model_dir: Path = Path("resources/models")
    site_db: Path = Path("resources/sites.sqlite")


@dataclasses.dataclass(frozen=True)
class AppConfig:
    """The whole configuration; each component receives only its section."""

    server: ServerConfig
    data: DataConfig
    model: ModelConfig
    training: TrainingConfig
    paths: PathsConfig


def load_config(path: Path, environ: Mapping[str, str]) -> AppConfig:
    """Load and validate the configuration.

    Args:
        path: YAML file; relative paths inside it are resolved against its directory.
        environ: Environment mapping (pass `os.environ`); ``STREAMFLOW__*`` keys override the file.

    Returns:
        The frozen configuration.

    Raises:
        ConfigError: Unreadable file, unknown or missing key, or a value of the wrong type.
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections")
    merged = _apply_environment(raw, environ)
    config = _build(AppConfig, merged, prefix="", base_dir=path.resolve().parent)
    _check_consistency(config)
    return config


def _apply_environment(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    merged = {}
    for section, values in raw.items():
        if values is not None and not isinstance(values, dict):
            raise ConfigError(f"{section}: expected a mapping of keys, got {values!r}")
        merged[section] = dict(values or {})
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"environment variable {name}: expected {ENV_PREFIX}<SECTION>__<KEY>")
        section, key = parts
        if not isinstance(merged.get(section, {}), dict):
            raise ConfigError(f"{section}: expected a mapping")
        # Strings from the environment are cast to the field's type in _convert.
        merged.setdefault(section, {})[key] = _EnvValue(value)
    return merged


class _EnvValue(str):
    """A raw string from the environment, to be parsed rather than type-checked."""


def _build(cls: type, raw: Any, prefix: str, base_dir: Path) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {raw!r}")
    fields = {field.name: field for field in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"unknown config key {prefix}{unknown[0]} (known: {', '.join(fields)})")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, field in fields.items():
        key = f"{prefix}{name}"
        if name in raw:
            values[name] = _convert(hints[name], raw[name], key, base_dir)
        elif dataclasses.is_dataclass(hints[name]):
            values[name] = _build(hints[name], {}, f"{key}.", base_dir)
        elif field.default is dataclasses.MISSING:
            raise ConfigError(f"missing mandatory config key {key}")
        elif isinstance(field.default, Path):
            values[name] = _resolve(field.default, base_dir)
    return cls(**values)


def _convert(hint: Any, value: Any, key: str, base_dir: Path) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, f"{key}.", base_dir)
    origin = typing.get_origin(hint)
    if origin is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(str, allowed))}")
        return str(value)
    if origin is tuple:
        return _convert_tuple(typing.get_args(hint)[0], value, key, base_dir)
    if origin in (typing.Union, types.UnionType):
        raise ConfigError(f"{key}: optional fields are not supported")
    scalar = _convert_scalar(hint, value, key)
    return _resolve(scalar, base_dir) if hint is Path else scalar


def _convert_tuple(item_hint: Any, value: Any, key: str, base_dir: Path) -> tuple:
    if isinstance(value, _EnvValue):
        items = [item.strip() for item in value.split(",") if item.strip()]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    elif value is None:
        items = []
    else:
        raise ConfigError(f"{key}: expected a list, got {value!r}")
    return tuple(_convert(item_hint, item, f"{key}[{i}]", base_dir) for i, item in enumerate(items))


def _convert_scalar(hint: type, value: Any, key: str) -> Any:
    from_env = isinstance(value, _EnvValue)
    try:
        if hint is bool:
            return _parse_bool(value) if from_env else _expect(value, bool)
        if hint is int:
            return int(value) if from_env else _expect(value, int)
        if hint is float:
            return float(value) if from_env else float(_expect(value, (int, float)))
        if hint is dt.date:
            if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
                return value
            return dt.date.fromisoformat(str(value))
        if hint in (str, Path):
            return hint(str(value) if from_env else _expect(value, str))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key}: expected {hint.__name__}, got {value!r}") from exc
    raise ConfigError(f"{key}: unsupported type {hint}")


def _expect(value: Any, kind: type | tuple[type, ...]) -> Any:
    # bool is a subclass of int: reject `port: true` explicitly.
    if isinstance(value, bool) and kind is not bool:
        raise TypeError(value)
    if not isinstance(value, kind):
        raise TypeError(value)
    return value


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


def _resolve(path: Path, base_dir: Path) -> Path:
    return path if path.is_absolute() else base_dir / path


def _check_consistency(config: AppConfig) -> None:
    unknown = sorted(set(config.model.meteo_features) - set(METEO_VARIABLES))
    if unknown:
        raise ConfigError(
            f"model.meteo_features: unknown variable {unknown[0]} (known: {', '.join(METEO_VARIABLES)})"
        )
    if not 1 <= config.server.port <= 65535:
        raise ConfigError(f"server.port: must be in 1..65535, got {config.server.port}")
    positive = {
        "server.worker_threads": config.server.worker_threads,
        "training.learning_rate": config.training.learning_rate,
        "training.patience": config.training.patience,
        "model.seq_len": config.model.seq_len,
        "model.max_forecast_days": config.model.max_forecast_days,
        "model.hidden_size": config.model.hidden_size,
        "training.epochs": config.training.epochs,
        "training.batch_size": config.training.batch_size,
        "training.ensemble_size": config.training.ensemble_size,
    }
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{key}: must be positive, got {value}")
    if config.server.shutdown_timeout_s < 0:
        raise ConfigError(f"server.shutdown_timeout_s: must not be negative, got {config.server.shutdown_timeout_s}")
    if not 0.0 <= config.model.dropout < 1.0:
        raise ConfigError(f"model.dropout: must be in [0, 1), got {config.model.dropout}")
    training = config.training
    for name in ("train", "validation", "test"):
        start, end = getattr(training, f"{name}_start"), getattr(training, f"{name}_end")
        if start > end:
            raise ConfigError(f"training.{name}_start {start} is after training.{name}_end {end}")
