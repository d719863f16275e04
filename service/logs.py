"""Structured logs: one JSON object per line, and one access line per request.

The access line carries method, route (as declared, never the raw path), status, duration,
request id, site and model version; an expected error is logged once, on that line, with its
code and message. Fields a log call passes with `extra=` land in the object beside the message.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

ACCESS_LOGGER = logging.getLogger("streamflow.access")
# The attributes every LogRecord has; anything else on a record came through `extra=`.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message and its extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({key: value for key, value in vars(record).items() if key not in _STANDARD})
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str, json_lines: bool) -> None:
    """Log to standard error at `level`, as JSON lines or as plain text."""
    handler = logging.StreamHandler()
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


def log_request(fields: dict[str, Any]) -> None:
    """The access line of a request: warning for 4xx, error for 5xx, info otherwise."""
    status = fields["status"]
    level = logging.ERROR if status >= 500 else logging.WARNING if status >= 400 else logging.INFO
    ACCESS_LOGGER.log(level, "%s %s %d", fields["method"], fields["route"], status, extra=fields)
