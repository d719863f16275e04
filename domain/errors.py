"""Domain errors: raised by adapters and services, mapped to HTTP in one place.

Each class carries the HTTP status and a stable machine-readable code, so the
service's error mapping is a lookup rather than a chain of isinstance checks.
"""


class StreamflowError(Exception):
    """Base class of every expected error of this project."""

    status = 500
    code = "internal_error"


class InvalidRequestError(StreamflowError):
    """A request parameter is missing, malformed or out of range."""

    status = 400
    code = "invalid_request"


class UnknownSiteError(StreamflowError):
    """The site is not in the catalogue of the loaded model."""

    status = 404
    code = "unknown_site"


class InsufficientDataError(StreamflowError):
    """Not enough observed flow or meteorology to make the forecast, or to train on."""

    status = 422
    code = "insufficient_data"


class DataSourceError(StreamflowError):
    """A data source (file or upstream service) failed or returned bad data."""

    status = 502
    code = "data_source_error"


class DataFormatError(DataSourceError):
    """A data file or response is malformed; the message names file and row."""

    code = "data_format_error"


class UpstreamTimeoutError(DataSourceError):
    """An upstream service did not answer in time."""

    status = 504
    code = "upstream_timeout"


class ModelNotLoadedError(StreamflowError):
    """No model bundle is loaded, so nothing can be forecast."""

    status = 503
    code = "model_not_loaded"
