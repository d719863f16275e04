"""Typed, frozen application configuration.

`load_config` is the only reader of `config.yaml`. Precedence is
dataclass defaults < YAML file < environment variables. Environment variables
follow one naming scheme, ``STREAMFLOW__<SECTION>__<KEY>`` (upper case), e.g.
``STREAMFLOW__SERVER__PORT=9000`` sets ``server.port``; list values are comma
separated. Unknown keys, missing mandatory keys and wrong types raise
`ConfigError` naming the key. Relative paths are resolved against the
directory of the config file. Fields typed `Secret` (API keys) may only come
from the environment.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
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


class Secret:
    """A credential: set only from the environment, never shown by repr, str or a config dump."""

    __slots__ = ("_value",)

    def __init__(self, value: str = "") -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret value itself, for the one place that sends it (e.g. a request header)."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __str__(self) -> str:
        # json.dumps(..., default=str) of the config (model bundles) writes this, not the key.
        return "***" if self._value else ""

    def __repr__(self) -> str:
        return f"Secret({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


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
    # Defaults below and in TrainingConfig are the settings chosen on the camels30 benchmark.
    hidden_size: int = 128
    dropout: float = 0.1
    # Meteo features standardised after a square root (those not in meteo_features are ignored).
    # Daily precipitation is zero on many days with rare extremes far out in its tail; the root
    # compresses them. On the camels30 tuning split it raised the lead-1 median NSE (+0.006 over
    # three single members, +0.013 for their ensemble), later leads within seed noise.
    sqrt_features: tuple[str, ...] = ("precipitation",)


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Periods (inclusive dates) and optimisation settings."""

    train_start: dt.date
    train_end: dt.date
    test_start: dt.date
    test_end: dt.date
    # With a validation period, training stops early once its score stops improving and keeps
    # the best epoch; without one it runs `epochs` epochs and keeps the last, so every day up
    # to train_end is trained on (the real-data default).
    validation_start: dt.date | None = None
    validation_end: dt.date | None = None
    epochs: int = 60
    batch_size: int = 8
    learning_rate: float = 8e-3
    patience: int = 15
    seed: int = 42
    ensemble_size: int = 4
    # Loss weight of lead days 1, 2, ...; later lead days weigh 1.
    lead_loss_weights: tuple[float, ...] = (3.0, 1.5)
    # Each training window (a site's year) weighs 1 / (s + this)^2, s the standard deviation of its
    # observed flow in units of the site's: a flood year must not set the scale of the site's other
    # years. Larger is milder. 0.2 won over 0.3, 0.5 and 1.0 on both camels30 tuning splits.
    year_weight_eps: float = 0.2

    @property
    def has_validation(self) -> bool:
        """Whether a validation period is set (early stopping)."""
        return self.validation_start is not None


@dataclasses.dataclass(frozen=True)
class PathsConfig:
    """Artifacts written by training and read by the service."""

    model_dir: Path = Path("resources/models")
    site_db: Path = Path("resources/sites.sqlite")


@dataclasses.dataclass(frozen=True)
class UpstreamConfig:
    """Live upstreams (USGS Water Data OGC API, Open-Meteo): endpoints, HTTP behaviour and cache."""

    usgs_url: str = "https://api.waterdata.usgs.gov/ogcapi/v1"
    open_meteo_archive_url: str = "https://archive-api.open-meteo.com/v1/archive"
    open_meteo_forecast_url: str = "https://api.open-meteo.com/v1/forecast"
    # Raises the anonymous hourly quota; environment only (STREAMFLOW__UPSTREAM__USGS_API_KEY).
    usgs_api_key: Secret = Secret()
    user_agent: str = "streamflow-forecaster/1.0 (python-requests; daily flow forecasts)"
    timeout_s: float = 30.0
    # Retries after the first attempt, on connection errors, timeouts, 429 and 5xx.
    retries: int = 3
    # First backoff wait; doubles per retry, with jitter.
    backoff_s: float = 1.0
    # Longest wait before a retry; a longer Retry-After gives up at once instead.
    max_retry_wait_s: float = 60.0
    # Concurrent requests per upstream; Open-Meteo's free tier runs 1 per IP at a time.
    usgs_concurrency: int = 2
    open_meteo_concurrency: int = 1
    usgs_page_size: int = 10000
    # Long ranges are fetched and cached in calendar-aligned blocks of this many years; an
    # Open-Meteo call weighs more the more days it covers, so its blocks are shorter.
    usgs_chunk_years: int = 5
    open_meteo_chunk_years: int = 1
    cache_dir: Path = Path("resources/cache")
    # Cache lifetime of data older than recent_days, and of recent data and forecasts.
    history_ttl_s: float = 30 * 86400.0
    recent_ttl_s: float = 3 * 3600.0
    # USGS provisional values are revised and the archive lags: these days count as recent.
    recent_days: int = 120
    # Days before today asked of the forecast API; they fill the archive's null tail.
    open_meteo_past_days: int = 7


@dataclasses.dataclass(frozen=True)
class AppConfig:
    """The whole configuration; each component receives only its section."""

    server: ServerConfig
    data: DataConfig
    model: ModelConfig
    training: TrainingConfig
    paths: PathsConfig
    upstream: UpstreamConfig


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
        # `X | None`: YAML null, or an empty environment variable, means not set.
        if value is None or (isinstance(value, _EnvValue) and not value.strip()):
            return None
        (inner,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _convert(inner, value, key, base_dir)
    scalar = _convert_scalar(hint, value, key)
    return _resolve(scalar, base_dir) if hint is Path else scalar


def _convert_tuple(item_hint: Any, value: Any, key: str, base_dir: Path) -> tuple:
    if isinstance(value, _EnvValue):
        items = [_EnvValue(item.strip()) for item in value.split(",") if item.strip()]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    elif value is None:
        items = []
    else:
        raise ConfigError(f"{key}: expected a list, got {value!r}")
    return tuple(_convert(item_hint, item, f"{key}[{i}]", base_dir) for i, item in enumerate(items))


def _convert_scalar(hint: type, value: Any, key: str) -> Any:
    from_env = isinstance(value, _EnvValue)
    if hint is Secret:
        if not from_env:
            # A key written in config.yaml ends up in git and in model bundles.
            raise ConfigError(f"{key} may only be set in the environment ({ENV_PREFIX}{key.replace('.', '__').upper()})")
        return Secret(str(value))
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
    # normpath folds "a/../b", so messages and logs show the real place (symlinks are kept).
    return path if path.is_absolute() else Path(os.path.normpath(base_dir / path))


def _check_consistency(config: AppConfig) -> None:
    for key in ("meteo_features", "sqrt_features"):
        unknown = sorted(set(getattr(config.model, key)) - set(METEO_VARIABLES))
        if unknown:
            raise ConfigError(f"model.{key}: unknown variable {unknown[0]} (known: {', '.join(METEO_VARIABLES)})")
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
        "training.year_weight_eps": config.training.year_weight_eps,
    }
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{key}: must be positive, got {value}")
    if config.server.shutdown_timeout_s < 0:
        raise ConfigError(f"server.shutdown_timeout_s: must not be negative, got {config.server.shutdown_timeout_s}")
    _check_upstream(config)
    if not 0.0 <= config.model.dropout < 1.0:
        raise ConfigError(f"model.dropout: must be in [0, 1), got {config.model.dropout}")
    _check_training(config.training, config.model)


def _check_training(training: TrainingConfig, model: ModelConfig) -> None:
    if (training.validation_start is None) != (training.validation_end is None):
        raise ConfigError("training.validation_start and training.validation_end: set both or neither")
    for name in ("train", "validation", "test"):
        start, end = getattr(training, f"{name}_start"), getattr(training, f"{name}_end")
        if start is not None and start > end:
            raise ConfigError(f"training.{name}_start {start} is after training.{name}_end {end}")
    if len(training.lead_loss_weights) > model.max_forecast_days:
        raise ConfigError(
            f"training.lead_loss_weights: {len(training.lead_loss_weights)} weights for "
            f"{model.max_forecast_days} lead days (model.max_forecast_days)"
        )
    if any(weight <= 0 for weight in training.lead_loss_weights):
        raise ConfigError(f"training.lead_loss_weights: must be positive, got {list(training.lead_loss_weights)}")


def _check_upstream(config: AppConfig) -> None:
    upstream = config.upstream
    if config.data.flow_data == "usgs":
        if not config.data.sites:
            raise ConfigError("data.sites: list the USGS site numbers to serve when data.flow_data is usgs")
        bad = [site for site in config.data.sites if not re.fullmatch(r"[0-9]{8,15}", site)]
        if bad:
            raise ConfigError(f"data.sites: {bad[0]!r} is not a USGS site number of 8 to 15 digits (e.g. 01646500)")
    for name in ("usgs_url", "open_meteo_archive_url", "open_meteo_forecast_url"):
        if not re.match(r"https?://", getattr(upstream, name)):
            raise ConfigError(f"upstream.{name}: expected an http(s) URL, got {getattr(upstream, name)!r}")
    positive = (
        "timeout_s",
        "usgs_concurrency",
        "open_meteo_concurrency",
        "usgs_page_size",
        "usgs_chunk_years",
        "open_meteo_chunk_years",
    )
    non_negative = ("retries", "backoff_s", "max_retry_wait_s", "history_ttl_s", "recent_ttl_s", "recent_days")
    for name in positive:
        if getattr(upstream, name) <= 0:
            raise ConfigError(f"upstream.{name}: must be positive, got {getattr(upstream, name)}")
    for name in non_negative:
        if getattr(upstream, name) < 0:
            raise ConfigError(f"upstream.{name}: must not be negative, got {getattr(upstream, name)}")
    if upstream.usgs_page_size > 50000:
        # The API rejects larger pages (InvalidParameterValue "Limit of 50000 exceeded").
        raise ConfigError(f"upstream.usgs_page_size: must be at most 50000, got {upstream.usgs_page_size}")
    if not 0 <= upstream.open_meteo_past_days <= 92:
        raise ConfigError(f"upstream.open_meteo_past_days: must be in 0..92, got {upstream.open_meteo_past_days}")
