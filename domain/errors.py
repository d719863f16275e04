"""Domain errors, and the one table of every error code the service can answer.

Each class carries the HTTP status, a stable machine-readable code and when it happens, so
the service's error mapping is a lookup, and the response schema, the OpenAPI document and
the README's error table are all built from `ERROR_CODES`.
"""

from __future__ import annotations

import dataclasses


class StreamflowError(Exception):
    """Base class of every expected error of this project."""

    status = 500
    code = "internal_error"
    when = "a bug: the traceback goes to the service log, never to the client"


class InvalidRequestError(StreamflowError):
    """A request parameter is missing, malformed or out of range."""

    status = 400
    code = "invalid_request"
    when = "missing, repeated, unknown, malformed or out-of-range parameter (the message names it)"


class UnknownSiteError(StreamflowError):
    """The site is not served by the loaded model."""

    status = 404
    code = "unknown_site"
    when = "the site is not forecast by the loaded model"


class UnknownForecastError(StreamflowError):
    """No issued forecast has this id."""

    status = 404
    code = "unknown_forecast"
    when = "feedback names a forecast this service never issued"


class PayloadTooLargeError(StreamflowError):
    """A request body is larger than the endpoint takes."""

    status = 413
    code = "payload_too_large"
    when = "a request body over the endpoint's limit (feedback: 4 KiB)"


class RateLimitedError(StreamflowError):
    """A client sent more requests than it may in a period."""

    status = 429
    code = "rate_limited"
    when = "a client over its rate of feedback; `Retry-After` says when to try again"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class InsufficientDataError(StreamflowError):
    """Not enough observed flow or meteorology to make the forecast, or to train on."""

    status = 422
    code = "insufficient_data"
    when = (
        "too little meteorology or observed flow around the issue date (the model reads the meteorology of "
        "every lead day, however few `forecast_days` asks for), or `issue_date` after the last observation"
    )


class DataSourceError(StreamflowError):
    """A data source (file or upstream service) failed or returned bad data."""

    status = 502
    code = "data_source_error"
    when = "a data source failed (the message names it)"


class DataFormatError(DataSourceError):
    """A data file or response is malformed; the message names file and row."""

    code = "data_format_error"
    when = "a data source holds malformed data (the message names the file and line, or the upstream)"


class UpstreamTimeoutError(DataSourceError):
    """An upstream service did not answer in time."""

    status = 504
    code = "upstream_timeout"
    when = "a live upstream (USGS, Open-Meteo) did not answer in time"


class RegistryError(StreamflowError):
    """The experiment tracker or model registry failed, or holds no usable version."""

    status = 502
    code = "registry_error"
    when = "the model registry (MLflow) failed or is unreachable (the message names it)"


class UnauthorizedError(StreamflowError):
    """An operator endpoint was called without the right bearer token."""

    status = 401
    code = "unauthorized"
    when = "an operator endpoint (`/retrain`) without the right `Authorization: Bearer` token"


class UnknownJobError(StreamflowError):
    """No retraining job has this id."""

    status = 404
    code = "unknown_job"
    when = "no retraining job has this id"


class JobConflictError(StreamflowError):
    """A retraining job is already running."""

    status = 409
    code = "job_running"
    when = "a retraining job is already running (its id is in the message)"


class ModelNotLoadedError(StreamflowError):
    """No model bundle is loaded, so nothing can be forecast."""

    status = 503
    code = "model_not_loaded"
    when = "no model is served yet: train one with main_train.py (the service follows the registry)"


@dataclasses.dataclass(frozen=True)
class ErrorCode:
    """One code of the `{"error": {"code": ..., "message": ...}}` answers."""

    status: int
    code: str
    when: str


# Answered by the HTTP layer rather than raised by domain code.
NOT_FOUND = ErrorCode(404, "not_found", "unknown path")
METHOD_NOT_ALLOWED = ErrorCode(
    405, "method_not_allowed", "a method the path does not take; the `Allow` header names those it does"
)
DOMAIN_ERRORS = (
    InvalidRequestError,
    UnauthorizedError,
    UnknownSiteError,
    UnknownJobError,
    UnknownForecastError,
    JobConflictError,
    PayloadTooLargeError,
    RateLimitedError,
    InsufficientDataError,
    DataSourceError,
    DataFormatError,
    RegistryError,
    ModelNotLoadedError,
    UpstreamTimeoutError,
    StreamflowError,
)
ERROR_CODES = tuple(
    sorted(
        [ErrorCode(error.status, error.code, error.when) for error in DOMAIN_ERRORS] + [NOT_FOUND, METHOD_NOT_ALLOWED],
        key=lambda entry: (entry.status, entry.code),
    )
)
