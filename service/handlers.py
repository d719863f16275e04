"""Tornado handlers: validate the query, call one service method, write JSON.

Every error leaves through `BaseHandler.write_error` as
`{"error": {"code": ..., "message": ...}}`: domain errors with their own
status, unknown paths as 404, anything unexpected as a generic 500 (the
traceback goes to the log, never to the client).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from http import HTTPStatus
from typing import Any

import tornado.web
from tornado.ioloop import IOLoop

from domain.errors import InvalidRequestError, StreamflowError
from domain.requests import INFO_QUERY_SCHEMA, forecast_query_schema, parse_query
from service.forecast_service import ForecastService
from service.info_service import InfoService

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


class BaseHandler(tornado.web.RequestHandler):
    """JSON responses, the one error mapping, and in-flight accounting."""

    def prepare(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.application.settings["in_flight"].started()

    def on_finish(self) -> None:
        self.application.settings["in_flight"].finished()

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

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, StreamflowError):
            status_code, code, message = error.status, error.code, str(error)
        elif isinstance(error, tornado.web.HTTPError) and status_code < 500:
            code = "not_found" if status_code == 404 else HTTPStatus(status_code).phrase.lower().replace(" ", "_")
            message = error.log_message % error.args if error.log_message else HTTPStatus(status_code).phrase
        else:
            status_code, code, message = 500, "internal_error", "internal server error; see the service log"
        self.set_status(status_code)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish({"error": {"code": code, "message": message}})

    def log_exception(self, typ, value, tb) -> None:
        if isinstance(value, StreamflowError):
            # Expected errors: one line, no traceback.
            LOGGER.warning("%s %s -> %d %s", self.request.method, self.request.uri, value.status, value)
        else:
            super().log_exception(typ, value, tb)

    async def run_blocking(self, function, *args) -> Any:
        """Run blocking work (file or upstream reads, inference) off the IOLoop."""
        executor: Executor = self.application.settings["executor"]
        return await IOLoop.current().run_in_executor(executor, function, *args)


class NotFoundHandler(BaseHandler):
    """Answers every unknown path with a JSON 404."""

    def prepare(self) -> None:
        super().prepare()
        raise tornado.web.HTTPError(404, "no such path %s: see /doc", self.request.path)


class HealthHandler(BaseHandler):
    """Readiness probe."""

    def initialize(self, forecast_service: ForecastService) -> None:
        self._service = forecast_service

    def get(self) -> None:
        """Report readiness and the loaded model version.
        ---
        tags: [Service]
        summary: Readiness probe
        description: 200 once a model bundle is loaded and forecasts can be served; 503 otherwise.
        responses:
          "200":
            description: Ready
            content:
              application/json:
                schema: {$ref: "#/components/schemas/Health"}
          "503": {$ref: "#/components/responses/ModelNotLoaded"}
        """
        self.write({"status": "ok", "model_version": self._service.predictor.version})


class InfoHandler(BaseHandler):
    """Sites the service forecasts."""

    def initialize(self, info_service: InfoService) -> None:
        self._service = info_service

    async def get(self) -> None:
        """List the sites, or one site.
        ---
        tags: [Sites]
        summary: Sites, their metadata and data period
        parameters:
          - {$ref: "#/components/parameters/InfoSiteId"}
        responses:
          "200":
            description: Sites (all, or the one asked for)
            content:
              application/json:
                schema: {$ref: "#/components/schemas/Info"}
          "400": {$ref: "#/components/responses/InvalidRequest"}
          "404": {$ref: "#/components/responses/UnknownSite"}
          "503": {$ref: "#/components/responses/ModelNotLoaded"}
        """
        site_id = self.query(INFO_QUERY_SCHEMA).get("site_id")
        sites = await self.run_blocking(self._service.sites, site_id)
        synthetic = await self.run_blocking(self._service.synthetic_data)
        self.write({"synthetic_data": synthetic, "sites": [site.as_json() for site in sites]})


class ForecastHandler(BaseHandler):
    """Flow forecasts."""

    def initialize(self, forecast_service: ForecastService) -> None:
        self._service = forecast_service

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
        responses:
          "200":
            description: The forecast
            content:
              application/json:
                schema: {$ref: "#/components/schemas/Forecast"}
          "400": {$ref: "#/components/responses/InvalidRequest"}
          "404": {$ref: "#/components/responses/UnknownSite"}
          "422": {$ref: "#/components/responses/InsufficientData"}
          "502": {$ref: "#/components/responses/DataSourceFailed"}
          "503": {$ref: "#/components/responses/ModelNotLoaded"}
          "504": {$ref: "#/components/responses/UpstreamTimeout"}
        """
        horizon = self._service.predictor.horizon
        query = self.query(forecast_query_schema(horizon))
        forecast = await self.run_blocking(
            self._service.forecast, query["site_id"], query["forecast_days"], query.get("issue_date")
        )
        self.write(forecast.as_json())
