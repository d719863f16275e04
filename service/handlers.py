"""Tornado handlers: validate the query, call one service method, write JSON.

Every error leaves through `JsonErrorsMixin.write_error` as
`{"error": {"code": ..., "message": ...}}`: domain errors with their own
status, unknown paths as 404, other methods than GET as 405 with `Allow`,
anything unexpected as a generic 500 (the traceback goes to the log, never
to the client).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import uuid
from concurrent.futures import Executor
from http import HTTPStatus
from typing import Any

import tornado.web
from tornado.ioloop import IOLoop

from config.settings import Secret
from domain.errors import (
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    InvalidRequestError,
    RateLimitedError,
    StreamflowError,
    UnauthorizedError,
)
from domain.forecast import Forecast
from domain.requests import (
    FEEDBACK_SCHEMA,
    INFO_QUERY_SCHEMA,
    MAX_FEEDBACK_BYTES,
    NO_QUERY_SCHEMA,
    OBSERVATIONS_QUERY_SCHEMA,
    VERIFICATION_QUERY_SCHEMA,
    feedback_query_schema,
    forecast_query_schema,
    forecasts_query_schema,
    parse_body,
    parse_query,
)
from service.archive_service import ArchiveService
from service.feedback_service import FeedbackService
from service.forecast_service import ForecastService
from service.info_service import InfoService
from service.logs import log_request
from service.metrics import ServiceMetrics
from service.observation_service import ObservationService
from service.retrain_service import RetrainService
from service.served_model import ServedModel
from service.verification_service import VerificationService

LOGGER = logging.getLogger(__name__)


class InFlightRequests:
    """Counts requests being handled, so shutdown can wait for them to finish."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def started(self) -> None:
        """Record a request that began."""
        self.count += 1
        self._idle.clear()

    def finished(self) -> None:
        """Record a request that ended."""
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no request is in flight."""
        await self._idle.wait()


MAX_REQUEST_ID_CHARS = 128
# Codes of the errors tornado raises itself, before or instead of a handler method.
HTTP_ERROR_CODES = {400: InvalidRequestError.code, 404: NOT_FOUND.code, 405: METHOD_NOT_ALLOWED.code}


class JsonErrorsMixin:
    """In-flight accounting, request ids, the access line's fields, and every error as
    `{"error": {"code": ..., "message": ...}}`.

    Mixed into every handler of the app, the documentation's included, ahead of its tornado base class.
    """

    # The route as declared: the access log's and the metrics' label, never the raw path.
    route = "unmatched"

    @property
    def request_id(self) -> str:
        """The client's or the load balancer's request id when it sent a usable one, else a new one."""
        if not hasattr(self, "_request_id"):
            headers = self.request.headers
            given = headers.get("X-Request-Id") or headers.get("X-Amzn-Trace-Id") or ""
            usable = given.isprintable() and 0 < len(given) <= MAX_REQUEST_ID_CHARS
            self._request_id = given if usable else uuid.uuid4().hex
        return self._request_id

    @property
    def log_fields(self) -> dict[str, Any]:
        """Fields this request adds to its access line (site, model version, error)."""
        if not hasattr(self, "_log_fields"):
            self._log_fields: dict[str, Any] = {}
        return self._log_fields

    def set_default_headers(self) -> None:
        # Also after the clear() of an error answer: every answer names its request.
        self.set_header("X-Request-Id", self.request_id)

    def prepare(self) -> None:
        # on_finish also runs for requests tornado rejects before prepare (TRACE, unknown methods):
        # count only what was counted in.
        self._counted = True
        self.application.settings["in_flight"].started()

    def on_finish(self) -> None:
        if getattr(self, "_counted", False):
            self.application.settings["in_flight"].finished()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, StreamflowError):
            status_code, code, message = error.status, error.code, str(error)
        elif isinstance(error, tornado.web.HTTPError) and status_code < 500:
            code = HTTP_ERROR_CODES.get(status_code, HTTPStatus(status_code).phrase.lower().replace(" ", "_"))
            message = error.log_message % error.args if error.log_message else HTTPStatus(status_code).phrase
        else:
            status_code, code, message = 500, StreamflowError.code, "internal server error; see the service log"
        if status_code == 405:
            self.set_header("Allow", ", ".join(self.allowed_methods()))
        if status_code == 401:
            self.set_header("WWW-Authenticate", 'Bearer realm="operator"')
        if isinstance(error, RateLimitedError):
            self.set_header("Retry-After", str(error.retry_after_s))
        self.log_fields.update(error=code, error_message=message)
        self.set_status(status_code)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish({"error": {"code": code, "message": message}})

    def allowed_methods(self) -> list[str]:
        """The HTTP methods this handler implements (the `Allow` header of a 405)."""
        return [
            method
            for method in tornado.web.RequestHandler.SUPPORTED_METHODS
            if getattr(type(self), method.lower()) is not getattr(tornado.web.RequestHandler, method.lower())
        ]

    def log_exception(self, typ, value, tb) -> None:
        # Expected errors are logged once, on the access line; anything else with its traceback.
        if not isinstance(value, StreamflowError | tornado.web.HTTPError):
            LOGGER.error(
                "unexpected error in %s %s",
                self.request.method,
                self.route,
                exc_info=(typ, value, tb),
                extra={"request_id": self.request_id},
            )


def access_log(handler: tornado.web.RequestHandler) -> None:
    """The application's `log_function`: one access line and the request metrics per request."""
    method = (
        handler.request.method if handler.request.method in tornado.web.RequestHandler.SUPPORTED_METHODS else "OTHER"
    )
    route = getattr(handler, "route", "unmatched")
    status = handler.get_status()
    seconds = handler.request.request_time()
    fields = {"method": method, "route": route, "status": status, "duration_ms": round(seconds * 1000, 2)}
    if isinstance(handler, JsonErrorsMixin):
        fields.update(request_id=handler.request_id, **handler.log_fields)
    log_request(fields)
    metrics: ServiceMetrics | None = handler.application.settings.get("metrics")
    if metrics is not None:
        metrics.requests.labels(route, method, str(status)).inc()
        metrics.request_seconds.labels(route).observe(seconds)


class BaseHandler(JsonErrorsMixin, tornado.web.RequestHandler):
    """An API handler: JSON answers, validated query parameters, blocking work off the IOLoop."""

    def prepare(self) -> None:
        super().prepare()
        self.set_header("Content-Type", "application/json; charset=UTF-8")

    def compute_etag(self) -> None:
        # No ETag, hence no 304 answers: every status the API answers is in its OpenAPI document.
        return None

    def query(self, schema: dict) -> dict[str, Any]:
        """Validate and return the query parameters.

        Raises:
            InvalidRequestError: A parameter is not valid UTF-8 or fails the schema.
        """
        try:
            arguments = {
                name: [value.decode("utf-8") for value in values]
                for name, values in self.request.query_arguments.items()
            }
        except UnicodeDecodeError as exc:
            raise InvalidRequestError("query parameters must be UTF-8") from exc
        return parse_query(schema, arguments)

    async def run_blocking(self, function, *args) -> Any:
        """Run blocking work (file or upstream reads, inference) off the IOLoop."""
        executor: Executor = self.application.settings["executor"]
        return await IOLoop.current().run_in_executor(executor, function, *args)


class NotFoundHandler(BaseHandler):
    """Answers every unknown path with a JSON 404."""

    route = "unmatched"

    def prepare(self) -> None:
        super().prepare()
        raise tornado.web.HTTPError(404, "no such path %s: see /doc", self.request.path)


class HealthHandler(BaseHandler):
    """Readiness probe."""

    route = "/healthCheck"

    def initialize(self, model: ServedModel) -> None:
        self._model = model

    def get(self) -> None:
        """Report readiness and the loaded model version.
        ---
        tags: [Service]
        summary: Readiness probe
        description: >
          200 once a model is served, naming its bundle and registry version, the last version refused
          (failed to load or to forecast) and any trouble following the registry; 503 while no model is served.
        responses:
          "200":
            description: Ready
            content:
              application/json:
                schema: {$ref: "#/components/schemas/Health"}
          "400": {$ref: "#/components/responses/BadRequest"}
          "500": {$ref: "#/components/responses/InternalServerError"}
          "503": {$ref: "#/components/responses/ServiceUnavailable"}
        """
        loaded = self._model.current
        refused = self._model.refused
        self.write(
            {
                "status": "ok",
                "model_version": loaded.predictor.version,
                "registry_version": loaded.registry_version,
                "refused": None
                if refused is None
                else {"registry_version": refused.registry_version, "reason": refused.reason},
                "registry_problem": self._model.registry_problem,
            }
        )


class InfoHandler(BaseHandler):
    """Sites the service forecasts."""

    route = "/info"

    def initialize(self, info_service: InfoService) -> None:
        self._service = info_service

    def get(self) -> None:
        """List the sites, or one site.
        ---
        tags: [Sites]
        summary: Sites, their metadata and data period, and the model serving them
        parameters:
          - {$ref: "#/components/parameters/InfoSiteId"}
        responses:
          "200":
            description: Sites (all, or the one asked for)
            content:
              application/json:
                schema: {$ref: "#/components/schemas/Info"}
          "400": {$ref: "#/components/responses/BadRequest"}
          "404": {$ref: "#/components/responses/NotFound"}
          "500": {$ref: "#/components/responses/InternalServerError"}
          "503": {$ref: "#/components/responses/ServiceUnavailable"}
        """
        site_id = self.query(INFO_QUERY_SCHEMA).get("site_id")
        sites = self._service.sites(site_id)
        self.write(
            {
                "model_version": self._service.model_version(),
                "synthetic_data": self._service.synthetic_data(),
                "sites": [self._service.site_json(site) for site in sites],
            }
        )


class ForecastHandler(BaseHandler):
    """Flow forecasts."""

    route = "/forecast"

    def initialize(
        self, forecast_service: ForecastService, model: ServedModel, computing: dict[str, asyncio.Future]
    ) -> None:
        self._service = forecast_service
        self._model = model
        self._computing = computing  # query string -> its answer being computed, shared by the app's handlers

    async def get(self) -> None:
        """Forecast daily flow at a site.
        ---
        tags: [Forecast]
        summary: Daily mean flow for the coming days (or a hindcast)
        description: >
          Issued from the last day of observed flow, using the meteorological forecast for the
          lead days. With issue_date, a hindcast from that past day, with the observed flow beside
          each forecast day where known.
        parameters:
          - {$ref: "#/components/parameters/SiteId"}
          - {$ref: "#/components/parameters/ForecastDays"}
          - {$ref: "#/components/parameters/IssueDate"}
          - {$ref: "#/components/parameters/Quantiles"}
          - {$ref: "#/components/parameters/Format"}
        responses:
          "200":
            description: The forecast (format=csv; the forecast days as CSV with a header row)
            content:
              application/json:
                schema: {$ref: "#/components/schemas/Forecast"}
              text/csv:
                schema: {type: string}
          "400": {$ref: "#/components/responses/BadRequest"}
          "404": {$ref: "#/components/responses/NotFound"}
          "422": {$ref: "#/components/responses/UnprocessableEntity"}
          "500": {$ref: "#/components/responses/InternalServerError"}
          "502": {$ref: "#/components/responses/BadGateway"}
          "503": {$ref: "#/components/responses/ServiceUnavailable"}
          "504": {$ref: "#/components/responses/GatewayTimeout"}
        """
        query_string = self.request.query
        repeated = self._service.repeated(query_string)
        if repeated is None:
            forecast = await self._shared_answer(query_string)
        else:
            forecast, due = repeated
            if due:  # renewed in the background; this request is answered at once
                renewal = asyncio.ensure_future(self._shared_answer(query_string))
                renewal.add_done_callback(lambda done: self._renewed(query_string, done))
        self.log_fields["site_id"] = forecast.site_id
        self.log_fields["model_version"] = forecast.model_version
        # The query string was validated when its answer was first computed: format is json or csv.
        if self.get_query_argument("format", "json") == "csv":
            self.set_header("Content-Type", "text/csv; charset=UTF-8")
            self.set_header("Content-Disposition", f'inline; filename="forecast-{forecast.site_id}.csv"')
            self.write(forecast.as_csv())
        else:
            self.write(forecast.as_json())

    async def _shared_answer(self, query_string: str) -> Forecast:
        # The same query asked again while its answer is computed waits for that answer: when a repeated
        # answer expires, its crowd of requests costs one forecast, not one each.
        computing = self._computing.get(query_string)
        if computing is None:
            computing = asyncio.ensure_future(self._answer(query_string))
            self._computing[query_string] = computing
            computing.add_done_callback(lambda _: self._computing.pop(query_string, None))
        return await asyncio.shield(computing)

    def _renewed(self, query_string: str, renewal: asyncio.Future) -> None:
        error = renewal.exception()
        if error is not None:
            # The next request for it computes for itself, and answers the error if there still is one.
            self._service.forget(query_string)
            if not isinstance(error, StreamflowError):
                LOGGER.error("renewing the answer to /forecast?%s failed", query_string, exc_info=error)

    async def _answer(self, query_string: str) -> Forecast:
        horizon = self._model.current.predictor.horizon
        query = self.query(forecast_query_schema(horizon, self._service.quantile_levels))
        self.log_fields["site_id"] = query["site_id"]
        forecast = await self.run_blocking(
            self._service.forecast,
            query["site_id"],
            query["forecast_days"],
            query.get("issue_date"),
            query.get("quantiles"),
        )
        self._service.remember(query_string, forecast)
        return forecast


class OperatorHandler(BaseHandler):
    """An endpoint for operators: the bearer token of `server.operator_token` is required."""

    def initialize(self, retrain_service: RetrainService, token: Secret) -> None:
        self._service = retrain_service
        self._token = token

    def authorize(self) -> None:
        """Raises:
        UnauthorizedError: The `Authorization: Bearer` token is missing or wrong (no detail which).
        """
        authorize(self, self._token)


def authorize(handler: tornado.web.RequestHandler, token: Secret) -> None:
    """Let the request through only with `Authorization: Bearer <token>` (and never without a token).

    Raises:
        UnauthorizedError: The token is missing or wrong (no detail which), or none is configured.
    """
    given = handler.request.headers.get("Authorization", "")
    expected = f"Bearer {token.reveal()}"
    # Constant time: the comparison must not tell how much of a guess was right.
    if not token or not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
        raise UnauthorizedError("missing or wrong bearer token")


class RetrainHandler(OperatorHandler):
    """Start a retraining job."""

    route = "/retrain"

    async def post(self) -> None:
        """Start retraining: main_train.py in a process of its own, through the same gate.
        ---
        tags: [Operations]
        summary: Retrain the model (operators only)
        description: >
          Starts main_train.py in a separate process and answers at once; GET the Location to follow it.
          The candidate becomes live only if it passes the gate. The body is empty or {}.
        security:
          - operatorToken: []
        responses:
          "202":
            description: Started
            headers:
              Location: {description: "The job's URL", schema: {type: string}}
            content:
              application/json:
                schema: {$ref: "#/components/schemas/RetrainJob"}
          "400": {$ref: "#/components/responses/BadRequest"}
          "401": {$ref: "#/components/responses/Unauthorized"}
          "409": {$ref: "#/components/responses/Conflict"}
          "500": {$ref: "#/components/responses/InternalServerError"}
        """
        self.authorize()
        self.query(NO_QUERY_SCHEMA)
        body = self.request.body.strip()
        if body:
            try:
                parsed = json.loads(body)
            except ValueError as exc:
                raise InvalidRequestError("the body must be empty or the JSON object {}") from exc
            if parsed != {}:
                raise InvalidRequestError(f"the body must be empty or the JSON object {{}}, got {body[:80]!r}")
        job = await self.run_blocking(self._service.start)
        self.set_status(202)
        self.set_header("Location", f"/retrain/{job.job_id}")
        self.write(job.as_json())


class RetrainJobHandler(OperatorHandler):
    """A retraining job's state."""

    route = "/retrain/{job_id}"

    def get(self, job_id: str) -> None:
        """Follow a retraining job.
        ---
        tags: [Operations]
        summary: A retraining job's state, log tail and gate result (operators only)
        security:
          - operatorToken: []
        parameters:
          - {name: job_id, in: path, required: true, schema: {type: string}, description: "The id POST /retrain gave"}
        responses:
          "200":
            description: The job
            content:
              application/json:
                schema: {$ref: "#/components/schemas/RetrainJob"}
          "401": {$ref: "#/components/responses/Unauthorized"}
          "404": {$ref: "#/components/responses/NotFound"}
          "500": {$ref: "#/components/responses/InternalServerError"}
        """
        self.authorize()
        self.write(self._service.job(job_id).as_json())


class MetricsHandler(JsonErrorsMixin, tornado.web.RequestHandler):
    """Prometheus metrics, in the text exposition format."""

    route = "/metrics"

    def initialize(self, metrics: ServiceMetrics, model: ServedModel, archive: ArchiveService) -> None:
        self._metrics = metrics
        self._model = model
        self._archive = archive

    def get(self) -> None:
        try:
            loaded = self._model.current
            self._metrics.serving(loaded.predictor.version, loaded.registry_version)
        except StreamflowError:
            self._metrics.model.clear()
        with contextlib.suppress(StreamflowError):  # an archive that is down shows in the write metrics
            self._metrics.archive_forecasts.set(self._archive.archive.count())
        self.set_header("Content-Type", self._metrics.content_type)
        self.write(self._metrics.render())


class ForecastsHandler(BaseHandler):
    """The archive of issued forecasts, paged."""

    route = "/forecasts"

    def initialize(self, archive: ArchiveService, page_size: int) -> None:
        self._archive = archive
        self._schema = forecasts_query_schema(page_size)
        self._page_size = page_size

    async def get(self) -> None:
        """List issued forecasts, oldest first, a page at a time.
        ---
        tags: [Forecast]
        summary: Issued forecasts (the archive), for clients that keep in sync
        description: >
          Every forecast the service issued, in the order it was issued; follow next_cursor until it is null,
          then later ask again with the last cursor or with issued_since.
        parameters:
          - {$ref: "#/components/parameters/ListSiteId"}
          - {$ref: "#/components/parameters/IssuedSince"}
          - {$ref: "#/components/parameters/Cursor"}
          - {$ref: "#/components/parameters/Limit"}
        responses:
          "200":
            description: A page of issued forecasts
            content:
              application/json:
                schema: {$ref: "#/components/schemas/ForecastList"}
          "400": {$ref: "#/components/responses/BadRequest"}
          "500": {$ref: "#/components/responses/InternalServerError"}
          "502": {$ref: "#/components/responses/BadGateway"}
        """
        query = self.query(self._schema)
        try:
            forecasts, cursor = await self.run_blocking(
                self._archive.archive.page,
                query.get("site_id"),
                query.get("issued_since"),
                query.get("cursor"),
                query.get("limit", self._page_size),
            )
        except ValueError as exc:
            raise InvalidRequestError(f"parameter 'cursor' {exc}") from exc
        self.write({"forecasts": [forecast.as_json() for forecast in forecasts], "next_cursor": cursor})


class FeedbackHandler(BaseHandler):
    """Users' feedback on issued forecasts (POST, anyone) and its list (GET, operators)."""

    route = "/feedback"

    def initialize(self, feedback_service: FeedbackService, token: Secret, page_size: int) -> None:
        self._service = feedback_service
        self._token = token
        self._list_schema = feedback_query_schema(page_size)
        self._page_size = page_size

    async def post(self) -> None:
        """Tell how a forecast did.
        ---
        tags: [Feedback]
        summary: Feedback on an issued forecast (rating, comment, your own observation)
        description: >
          Stored beside the forecast, never changing it; at most a few a minute per client.
          Comments are kept as plain text.
        requestBody:
          required: true
          content:
            application/json:
              schema: {$ref: "#/components/schemas/FeedbackBody"}
        responses:
          "201":
            description: Kept
            content:
              application/json:
                schema: {$ref: "#/components/schemas/FeedbackReceipt"}
          "400": {$ref: "#/components/responses/BadRequest"}
          "404": {$ref: "#/components/responses/NotFound"}
          "413": {$ref: "#/components/responses/RequestEntityTooLarge"}
          "429": {$ref: "#/components/responses/TooManyRequests"}
          "500": {$ref: "#/components/responses/InternalServerError"}
          "502": {$ref: "#/components/responses/BadGateway"}
        """
        self.query(NO_QUERY_SCHEMA)
        body = parse_body(FEEDBACK_SCHEMA, self.request.body, MAX_FEEDBACK_BYTES)
        feedback_id = await self.run_blocking(self._service.submit, self.request.remote_ip or "unknown", body)
        self.set_status(201)
        self.write({"feedback_id": feedback_id, "forecast_id": body["forecast_id"]})

    async def get(self) -> None:
        """List the newest feedback (operators only).
        ---
        tags: [Feedback]
        summary: The newest feedback, of one site or all (operators only)
        security:
          - operatorToken: []
        parameters:
          - {$ref: "#/components/parameters/ListSiteId"}
          - {$ref: "#/components/parameters/Limit"}
        responses:
          "200":
            description: Feedback, newest first
            content:
              application/json:
                schema: {$ref: "#/components/schemas/FeedbackList"}
          "400": {$ref: "#/components/responses/BadRequest"}
          "401": {$ref: "#/components/responses/Unauthorized"}
          "500": {$ref: "#/components/responses/InternalServerError"}
          "502": {$ref: "#/components/responses/BadGateway"}
        """
        authorize(self, self._token)
        query = self.query(self._list_schema)
        found = await self.run_blocking(
            self._service.feedback, query.get("site_id"), query.get("limit", self._page_size)
        )
        self.write({"feedback": [entry.as_json() for entry in found]})


class ObservationsHandler(BaseHandler):
    """Observed flow."""

    route = "/observations"

    def initialize(self, observation_service: ObservationService) -> None:
        self._service = observation_service

    async def get(self) -> None:
        """Observed daily flow at a site over a period.
        ---
        tags: [Forecast]
        summary: The observed daily mean flow of each day of start..end (at most 366 days)
        parameters:
          - {$ref: "#/components/parameters/SiteId"}
          - {$ref: "#/components/parameters/Start"}
          - {$ref: "#/components/parameters/End"}
        responses:
          "200":
            description: The observations, one per day (null where not observed)
            content:
              application/json:
                schema: {$ref: "#/components/schemas/Observations"}
          "400": {$ref: "#/components/responses/BadRequest"}
          "404": {$ref: "#/components/responses/NotFound"}
          "500": {$ref: "#/components/responses/InternalServerError"}
          "502": {$ref: "#/components/responses/BadGateway"}
          "503": {$ref: "#/components/responses/ServiceUnavailable"}
          "504": {$ref: "#/components/responses/GatewayTimeout"}
        """
        query = self.query(OBSERVATIONS_QUERY_SCHEMA)
        self.log_fields["site_id"] = query["site_id"]
        result = await self.run_blocking(self._service.observed, query["site_id"], query["start"], query["end"])
        self.write(result.as_json())


class VerificationHandler(BaseHandler):
    """Issued forecasts scored against what the river did."""

    route = "/verification"

    def initialize(self, verification_service: VerificationService) -> None:
        self._service = verification_service

    async def get(self) -> None:
        """Score a site's issued forecasts against the observed flow.
        ---
        tags: [Verification]
        summary: A site's live skill per lead day, next to persistence
        parameters:
          - {$ref: "#/components/parameters/SiteId"}
        responses:
          "200":
            description: The site's verification
            content:
              application/json:
                schema: {$ref: "#/components/schemas/Verification"}
          "400": {$ref: "#/components/responses/BadRequest"}
          "404": {$ref: "#/components/responses/NotFound"}
          "500": {$ref: "#/components/responses/InternalServerError"}
          "502": {$ref: "#/components/responses/BadGateway"}
          "503": {$ref: "#/components/responses/ServiceUnavailable"}
          "504": {$ref: "#/components/responses/GatewayTimeout"}
        """
        query = self.query(VERIFICATION_QUERY_SCHEMA)
        self.log_fields["site_id"] = query["site_id"]
        result = await self.run_blocking(self._service.verify, query["site_id"])
        self.write(result.as_json())
