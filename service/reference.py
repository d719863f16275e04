"""The configuration reference: README's settings table, generated from `config.settings`.

.venv/bin/python -m config.reference     # prints the table (a test keeps README.md in step)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing
from pathlib import Path
from typing import Any

from config.settings import AppConfig, Secret
from domain.errors import ERROR_CODES


def settings_table() -> str:
    """One Markdown row per setting: key, default, allowed values and meaning."""
    rows = ["| key | default | allowed | meaning |", "| --- | --- | --- | --- |"]
    for section_field in dataclasses.fields(AppConfig):
        section = typing.get_type_hints(AppConfig)[section_field.name]
        hints = typing.get_type_hints(section)
        for field in dataclasses.fields(section):
            key = f"`{section.section}.{field.name}`"
            rows.append(
                f"| {key} | {_default(field)} | {_allowed(field, hints[field.name])} | {field.metadata['doc']} |"
            )
    return "\n".join(rows)


def errors_table() -> str:
    """One Markdown row per error code: status, code and when it is answered."""
    rows = ["| status | code | when |", "| --- | --- | --- |"]
    rows += [f"| {entry.status} | `{entry.code}` | {entry.when} |" for entry in ERROR_CODES]
    return "\n".join(rows)


def _allowed(field: dataclasses.Field, hint: Any) -> str:
    check = field.metadata.get("check")
    if check is not None:
        return check.rule
    if typing.get_origin(hint) is typing.Literal:
        return " / ".join(f"`{value}`" for value in typing.get_args(hint))
    if hint is bool:
        return "`true` / `false`"
    if dt.date in (hint, *typing.get_args(hint)):
        return "YYYY-MM-DD"
    return ""


def _default(field: dataclasses.Field) -> str:
    value: Any = field.default
    if value is dataclasses.MISSING:
        return "mandatory"
    if value is None or (isinstance(value, Secret) and not value):
        return "none"
    if isinstance(value, tuple):
        return f"`[{', '.join(str(item) for item in value)}]`"
    if isinstance(value, Path):
        return f"`{value.as_posix()}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    return f"`{str(value).lower() if isinstance(value, bool) else value}`"


if __name__ == "__main__":
    print(errors_table(), settings_table(), sep="\n\n")
