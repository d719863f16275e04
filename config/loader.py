"""`load_config`: the only reader of `config.yaml` and of the ``STREAMFLOW__*`` environment.

Precedence is defaults < YAML file < environment overlay < environment variables. The overlay is
`config/environments/<name>.yaml`, chosen by `STREAMFLOW_ENV` (dev, staging, prod): environments
differ only by configuration. Environment variables follow
one naming scheme, ``STREAMFLOW__<SECTION>__<KEY>`` (upper case), e.g.
``STREAMFLOW__SERVER__PORT=9000`` sets ``server.port``; list values are comma separated.
Unknown keys, missing mandatory keys and wrong types raise `ConfigError` naming the key;
each section then checks its own values (`config.settings`). Relative paths are resolved
against the directory of the config file. Fields typed `Secret` (API keys) may only come
from the environment.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

from config.settings import AppConfig, ConfigError, Secret

ENV_PREFIX = "STREAMFLOW__"
ENVIRONMENT_VARIABLE = "STREAMFLOW_ENV"
ENVIRONMENTS_DIR = Path(__file__).resolve().parent / "environments"


def load_config(path: Path, environ: Mapping[str, str]) -> AppConfig:
    """Load and validate the configuration.

    Args:
        path: YAML file; relative paths inside it are resolved against its directory.
        environ: Environment mapping (pass `os.environ`); ``STREAMFLOW__*`` keys override the file.

    Returns:
        The frozen configuration.

    Raises:
        ConfigError: Unreadable file, unknown or missing key, a value of the wrong type or out of range.
    """
    raw = _read_sections(path)
    environment = environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if environment:
        overlay = ENVIRONMENTS_DIR / f"{environment}.yaml"
        if not overlay.is_file():
            known = ", ".join(sorted(file.stem for file in ENVIRONMENTS_DIR.glob("*.yaml")))
            raise ConfigError(f"{ENVIRONMENT_VARIABLE}={environment}: no such environment (known: {known})")
        for section, values in _read_sections(overlay).items():
            raw[section] = {**(raw.get(section) or {}), **(values or {})}
    return _build(AppConfig, _apply_environment(raw, environ), prefix="", base_dir=path.resolve().parent)


def _read_sections(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections")
    for section, values in raw.items():
        if values is not None and not isinstance(values, dict):
            raise ConfigError(f"{section}: expected a mapping of keys, got {values!r}")
    return raw


def section_from_json(cls: type, data: Mapping[str, Any]) -> Any:
    """Rebuild a section (e.g. `ModelConfig`) from its `as_json` form, checked like a config file.

    Raises:
        ConfigError: A key is unknown or missing, or a value is wrong.
    """
    return _build(cls, dict(data), prefix=f"{cls.section}.", base_dir=Path.cwd())


def as_json(config: Any) -> dict:
    """A config or section as JSON-ready data (paths and dates as strings, secrets masked)."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def _apply_environment(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    merged = {section: dict(values or {}) for section, values in raw.items()}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"environment variable {name}: expected {ENV_PREFIX}<SECTION>__<KEY>")
        section, key = parts
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
            variable = f"{ENV_PREFIX}{key.replace('.', '__').upper()}"
            raise ConfigError(f"{key} may only be set in the environment ({variable})")
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
