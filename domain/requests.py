"""JSON schemas of the HTTP query parameters, and their validation.

Query parameters arrive as strings. `parse_query` casts the ones the schema
declares as integers (leaving uncastable text as is, so the schema reports
it), then validates with jsonschema and turns the first error into an
`InvalidRequestError` that names the parameter and the reason.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Mapping
from typing import Any

import jsonschema

from domain.errors import InvalidRequestError, PayloadTooLargeError
from domain.site import SITE_ID_DESCRIPTION, SITE_ID_PATTERN

# Issue dates are limited to whole centuries that can hold a gauge's record (pandas' calendar
# ends in 1677 and 2262), so the schema's pattern can state the range itself.
ISSUE_DATE_CENTURIES = (18, 21)
ISSUE_DATE_RANGE = (dt.date(ISSUE_DATE_CENTURIES[0] * 100, 1, 1), dt.date(ISSUE_DATE_CENTURIES[1] * 100 + 99, 12, 31))
_CENTURIES = "|".join(str(century) for century in range(ISSUE_DATE_CENTURIES[0], ISSUE_DATE_CENTURIES[1] + 1))

# An ISO 8601 time with its offset, in years the service can handle.
ISSUED_SINCE_PATTERN = (
    r"^(19|20|21)[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$"
)

FORECAST_FORMATS = ("json", "csv")
SITE_ID_SCHEMA = {
    "type": "string",
    "pattern": f"^{SITE_ID_PATTERN}$",
    "description": f"USGS site number: {SITE_ID_DESCRIPTION}, leading zeros kept",
    "example": "01646500",
}
ISSUE_DATE_SCHEMA = {
    "type": "string",
    "pattern": f"^({_CENTURIES})[0-9]{{2}}-[0-9]{{2}}-[0-9]{{2}}$",
    "format": "date",
    "description": "Issue a hindcast from this day (YYYY-MM-DD, {} to {}) instead of the last observed day".format(
        *ISSUE_DATE_RANGE
    ),
}

DATE_PARAMETERS = ("issue_date", "start", "end")

VERIFICATION_QUERY_SCHEMA = {
    "type": "object",
    "properties": {"site_id": SITE_ID_SCHEMA},
    "required": ["site_id"],
    "additionalProperties": False,
}

OBSERVATIONS_QUERY_SCHEMA = {
    "type": "object",
    "properties": {
        "site_id": SITE_ID_SCHEMA,
        "start": {**ISSUE_DATE_SCHEMA, "description": "First day, YYYY-MM-DD"},
        "end": {**ISSUE_DATE_SCHEMA, "description": "Last day, YYYY-MM-DD (at most 366 days after start)"},
    },
    "required": ["site_id", "start", "end"],
    "additionalProperties": False,
}

INFO_QUERY_SCHEMA = {
    "type": "object",
    "properties": {"site_id": SITE_ID_SCHEMA},
    "additionalProperties": False,
}


@functools.cache  # one schema per horizon and levels: its validator is built once (`_validator`)
def forecast_query_schema(max_forecast_days: int, quantile_levels: tuple[float, ...]) -> dict:
    """Return the schema of `/forecast` query parameters.

    Args:
        max_forecast_days: Horizon of the loaded model, the largest accepted `forecast_days`.
        quantile_levels: The levels the service offers (`server.quantiles`).
    """
    levels = [f"{level:g}" for level in quantile_levels]
    one_level = "|".join(re.escape(level) for level in levels)
    return {
        "type": "object",
        "properties": {
            "site_id": SITE_ID_SCHEMA,
            "forecast_days": {
                "type": "integer",
                "minimum": 1,
                "maximum": max_forecast_days,
                "description": f"Number of lead days, 1 to {max_forecast_days}",
            },
            "issue_date": ISSUE_DATE_SCHEMA,
            "quantiles": {
                "type": "string",
                "pattern": f"^({one_level})(,({one_level}))*$",
                "x-levels": levels,
                "description": f"Comma-separated quantile levels to return, among {', '.join(levels)} "
                "(default: all of them)",
                "example": "0.05,0.5,0.95",
            },
            "format": {
                "type": "string",
                "enum": list(FORECAST_FORMATS),
                "description": "json (default) or csv: the forecast days as a table with a header row",
            },
        },
        "required": ["site_id", "forecast_days"],
        "additionalProperties": False,
    }


@functools.cache  # one schema per page size: its validator is built once (`_validator`)
def forecasts_query_schema(page_size: int) -> dict:
    """The schema of `/forecasts` query parameters (the issued forecasts, paged)."""
    return {
        "type": "object",
        "properties": {
            "site_id": SITE_ID_SCHEMA,
            "issued_since": {
                "type": "string",
                "format": "date-time",
                "pattern": ISSUED_SINCE_PATTERN,
                "description": "Only forecasts issued at or after this time (ISO 8601, e.g. 2026-10-01T06:00:00Z)",
            },
            "cursor": {
                "type": "string",
                "pattern": "^[A-Za-z0-9_=-]{1,200}$",
                "description": "The next_cursor of the previous page",
            },
            "limit": {
                "type": "integer",
                "minimum": 1,
                "maximum": page_size,
                "description": f"Forecasts per page, 1 to {page_size} (default {page_size})",
            },
        },
        "additionalProperties": False,
    }


@functools.cache
def feedback_query_schema(page_size: int) -> dict:
    """The schema of `GET /feedback` query parameters (a site's or every site's newest feedback)."""
    listed = forecasts_query_schema(page_size)["properties"]
    return {
        "type": "object",
        "properties": {"site_id": listed["site_id"], "limit": listed["limit"]},
        "additionalProperties": False,
    }


# Endpoints that take no query parameter.
NO_QUERY_SCHEMA = {"type": "object", "properties": {}, "additionalProperties": False}


# A feedback body: small, and nothing in it can change a forecast.
MAX_FEEDBACK_BYTES = 4096
MAX_COMMENT_CHARS = 500
FEEDBACK_SCHEMA = {
    "type": "object",
    "properties": {
        "forecast_id": {"type": "string", "pattern": "^[0-9a-f]{32}$", "description": "The forecast_id of a forecast"},
        "rating": {"type": "integer", "minimum": 1, "maximum": 5, "description": "1 (useless) to 5 (spot on)"},
        "comment": {"type": "string", "maxLength": MAX_COMMENT_CHARS, "description": "Kept as plain text"},
        "observation": {
            "type": "object",
            "description": "What you saw yourself, e.g. a staff-gauge reading converted to discharge",
            "properties": {
                "flow": {"type": "number", "minimum": 0, "maximum": 1e6, "description": "m3/s"},
                "time": {
                    "type": "string",
                    "format": "date-time",
                    "pattern": ISSUED_SINCE_PATTERN,
                    "description": "When (ISO 8601 with its offset)",
                },
            },
            "required": ["flow", "time"],
            "additionalProperties": False,
        },
    },
    "required": ["forecast_id", "rating"],
    "additionalProperties": False,
}


def parse_body(schema: dict, body: bytes, limit: int) -> dict[str, Any]:
    """Validate a JSON request body.

    Raises:
        PayloadTooLargeError: The body is over `limit` bytes.
        InvalidRequestError: It is not a JSON object, or fails the schema (the message names the field).
    """
    if len(body) > limit:
        raise PayloadTooLargeError(f"the body has {len(body)} bytes; at most {limit} are taken")
    try:
        parsed = json.loads(body)
    except ValueError as exc:
        raise InvalidRequestError("the body must be a JSON object") from exc
    error = jsonschema.exceptions.best_match(_validator(schema).iter_errors(parsed))
    if error is not None:
        raise InvalidRequestError(_describe(error, "field"))
    if "observation" in parsed:
        parsed["observation"]["time"] = _moment(parsed["observation"]["time"], "observation.time")
    return parsed


def parse_query(schema: dict, arguments: Mapping[str, list[str]]) -> dict[str, Any]:
    """Validate query parameters against a schema.

    Args:
        schema: An object schema from this module.
        arguments: Query arguments as tornado gives them (name -> list of raw strings).

    Returns:
        Parameter name -> value, integers cast; `issue_date` becomes a `datetime.date`.

    Raises:
        InvalidRequestError: A parameter is missing, repeated, malformed, out of range or unknown.
    """
    query = {}
    for name, values in arguments.items():
        if len(values) != 1:
            raise InvalidRequestError(f"parameter '{name}' must be given once, got {len(values)} values")
        if not values[0].isprintable():
            # Python's `$` also matches before a trailing newline: refuse control characters outright.
            raise InvalidRequestError(f"parameter '{name}' contains control characters, got {values[0]!r}")
        query[name] = _cast(schema["properties"].get(name, {}), values[0])
    error = jsonschema.exceptions.best_match(_validator(schema).iter_errors(query))
    if error is not None:
        raise InvalidRequestError(_describe(error))
    for name in DATE_PARAMETERS:
        if name in query:
            query[name] = dt.date.fromisoformat(query[name])
    if "quantiles" in query:
        query["quantiles"] = tuple(sorted({float(level) for level in query["quantiles"].split(",")}))
    if "issued_since" in query:
        query["issued_since"] = _moment(query["issued_since"], "issued_since")
    return query


# Validators by schema, built once (a schema is built once per endpoint or loaded model); each entry keeps
# its schema alive, so an id is never reused while it is here.
_VALIDATORS: dict[int, tuple[dict, jsonschema.Draft202012Validator]] = {}
_MAX_VALIDATORS = 64


def _validator(schema: dict) -> jsonschema.Draft202012Validator:
    found = _VALIDATORS.get(id(schema))
    if found is None:
        if len(_VALIDATORS) >= _MAX_VALIDATORS:
            _VALIDATORS.clear()
        found = (schema, jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()))
        _VALIDATORS[id(schema)] = found
    return found[1]


def _moment(text: str, name: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidRequestError(f"'{name}' must be an ISO 8601 time, got {text!r}") from exc


def _cast(property_schema: dict, raw: str) -> Any:
    # ASCII digits only: str.isdigit() also accepts e.g. '²', which int() rejects.
    if property_schema.get("type") == "integer" and re.fullmatch(r"[+-]?[0-9]+", raw.strip()):
        return int(raw)
    return raw


def _describe(error: jsonschema.ValidationError, kind: str = "parameter") -> str:
    where = ".".join(str(part) for part in error.path)
    container = error.instance if isinstance(error.instance, dict) else {}
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in container]
        return f"missing required {kind} '{_joined(where, missing[0])}'"
    if error.validator == "additionalProperties":
        known = ", ".join(error.schema["properties"])
        unknown = sorted(set(container) - set(error.schema["properties"]))
        return f"unknown {kind} '{_joined(where, unknown[0])}' (accepted: {known})"
    name = where or ("query" if kind == "parameter" else "body")
    expected = error.validator_value
    reasons = {
        "type": f"must be {'an' if str(expected)[0] in 'aeiou' else 'a'} {expected}",
        "minimum": f"must be at least {expected}",
        "maximum": f"must be at most {expected}",
        "maxLength": f"must be at most {expected} characters",
        "pattern": _pattern_reason(name, error.schema),
        "enum": "must be one of " + ", ".join(map(str, expected)) if error.validator == "enum" else "",
        "format": "must be a valid calendar date YYYY-MM-DD" if name in DATE_PARAMETERS else "must be an ISO 8601 time",
    }
    reason = reasons.get(error.validator, error.message)
    return f"{kind} '{name}' {reason}, got {_shown(error.instance)}"


def _joined(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _pattern_reason(name: str, schema: dict) -> str:
    if "x-levels" in schema:
        return f"must be comma-separated levels among {', '.join(schema['x-levels'])}"
    if name == "site_id":
        return f"must be a USGS site number of {SITE_ID_DESCRIPTION}"
    if name in DATE_PARAMETERS:
        return "must be a date YYYY-MM-DD between {} and {}".format(*ISSUE_DATE_RANGE)
    if name == "cursor":
        return "is not a cursor this service gave"
    if name == "forecast_id":
        return "must be the forecast_id of a forecast (32 hexadecimal digits)"
    return "is malformed"
