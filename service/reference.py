"""The configuration reference: README's settings table, generated from `config.settings`.

.venv/bin/python -m config.reference     # prints the table (a test keeps README.md in step)
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

from config.settings import AppConfig, Secret


def settings_table() -> str:
    """One Markdown row per setting: key, default, meaning and constraint."""
    rows = ["| key | default | meaning |", "| --- | --- | --- |"]
    for section_field in dataclasses.fields(AppConfig):
        section = typing.get_type_hints(AppConfig)[section_field.name]
        for field in dataclasses.fields(section):
            meaning = field.metadata["doc"]
            check = field.metadata.get("check")
            if check is not None:
                meaning += f" ({check.rule})"
            rows.append(f"| `{section.section}.{field.name}` | {_default(field)} | {meaning} |")
    return "\n".join(rows)


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
    print(settings_table())
