"""Constraints of single settings, declared next to their field in `config.settings`.

A `Check` carries the rule the documentation shows and the function that tests a value,
so the README table and the error message come from the same place as the test itself.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Check:
    """One constraint on a setting's value.

    Attributes:
        rule: How the documentation states the constraint, e.g. "> 0" or "1..65535".
        problem: The violation's message for a value (without the key), or None when it is fine.
    """

    rule: str
    problem: Callable[[Any], str | None]


def _simple(rule: str, message: str, test: Callable[[Any], bool]) -> Check:
    return Check(rule, lambda value: None if test(value) else f"{message}, got {_shown(value)}")


def positive() -> Check:
    """Greater than zero."""
    return _simple("> 0", "must be positive", lambda value: value > 0)


def non_negative() -> Check:
    """Zero or more."""
    return _simple(">= 0", "must not be negative", lambda value: value >= 0)


def between(low: float, high: float) -> Check:
    """Inside `low`..`high`, both included."""
    return _simple(f"{low}..{high}", f"must be in {low}..{high}", lambda value: low <= value <= high)


def positive_at_most(high: float) -> Check:
    """Greater than zero and at most `high`."""
    return Check(
        f"1..{high}",
        lambda value: positive().problem(value) or (None if value <= high else f"must be at most {high}, got {value}"),
    )


def fraction() -> Check:
    """Inside [0, 1)."""
    return _simple("[0, 1)", "must be in [0, 1)", lambda value: 0.0 <= value < 1.0)


def each_positive() -> Check:
    """Every item of a list greater than zero."""
    return _simple("each > 0", "must be positive", lambda values: all(value > 0 for value in values))


def quantile_levels() -> Check:
    """Levels on the grid 0.01..0.99 (two decimals), increasing, at least one."""

    def problem(levels: tuple[float, ...]) -> str | None:
        on_grid = all(0.01 <= level <= 0.99 and round(level, 2) == level for level in levels)
        if levels and on_grid and list(levels) == sorted(set(levels)):
            return None
        return f"must be increasing levels among 0.01, 0.02, ..., 0.99, got {_shown(levels)}"

    return Check("increasing, among 0.01..0.99 (two decimals)", problem)


def each_one_of(known: Iterable[str]) -> Check:
    """Every item of a list one of `known`; the message names the first unknown one."""
    allowed = tuple(known)

    def problem(values: tuple[str, ...]) -> str | None:
        unknown = [value for value in values if value not in allowed]
        return f"unknown variable {unknown[0]} (known: {', '.join(allowed)})" if unknown else None

    return Check("any of the meteo variables", problem)


def each_matches(pattern: str, what: str) -> Check:
    """Every item of a list matches the regular expression `pattern`, which `what` describes."""

    def problem(values: tuple[str, ...]) -> str | None:
        bad = [value for value in values if not re.fullmatch(pattern, value)]
        return f"{bad[0]!r} is not {what}" if bad else None

    return Check(f"each {what}", problem)


def http_url() -> Check:
    """An http:// or https:// URL."""
    return Check(
        "http(s) URL",
        lambda value: None if re.match(r"https?://", value) else f"expected an http(s) URL, got {value!r}",
    )


def _shown(value: Any) -> str:
    return repr(list(value)) if isinstance(value, tuple) else str(value)
