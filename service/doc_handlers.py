"""Swagger UI at /doc, served entirely from local assets (no CDN, works offline).

tornado-swagger builds the OpenAPI paths from the handlers' docstrings; the
component schemas come from `domain.responses` and `domain.requests`, the same
schemas that validate requests and that the tests check responses against.
"""

from __future__ import annotations

from http import HTTPStatus
from itertools import groupby
from pathlib import Path

import tornado.web
from swagger_ui_bundle import swagger_ui_path
from tornado_swagger.const import API_OPENAPI_3
from tornado_swagger.setup import export_swagger

from domain.errors import ERROR_CODES
from domain.requests import (
    FEEDBACK_SCHEMA,
    ISSUE_DATE_SCHEMA,
    OBSERVATIONS_QUERY_SCHEMA,
    SITE_ID_SCHEMA,
    forecast_query_schema,
    forecasts_query_schema,
)
from domain.responses import COMPONENT_SCHEMAS
from service.handlers import JsonErrorsMixin

SWAGGER_ASSETS = Path(str(swagger_ui_path))
UI_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <title>Streamflow forecast API</title>
  <link rel="stylesheet" href="/doc/static/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/doc/static/swagger-ui-bundle.js"></script>
<script src="/doc/static/swagger-ui-standalone-preset.js"></script>
<script>
  window.addEventListener("load", function () {
    window.ui = SwaggerUIBundle({
      url: "/doc/swagger.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: "StandaloneLayout",
      validatorUrl: null
    });
  });
</script>
</body>
</html>
"""


def build_openapi_spec(
    routes: list[tornado.web.URLSpec],
    max_forecast_days: int,
    quantile_levels: tuple[float, ...],
    page_size: int,
    version: str,
) -> dict:
    """The OpenAPI 3 document of the API.

    Args:
        routes: The application's API routes (their handlers' docstrings hold the paths).
        max_forecast_days: Horizon of the loaded model, the documented `forecast_days` maximum.
        quantile_levels: The quantile levels `/forecast` offers.
        page_size: The largest page of `/forecasts`.
        version: API version shown in the document.
    """
    spec = export_swagger(
        routes,
        title="Streamflow forecast API",
        description="Daily river flow forecasts at USGS gauges from an LSTM fed observed flow and weather.",
        api_version=version,
        api_definition_version=API_OPENAPI_3,
    )
    forecast_parameters = forecast_query_schema(max_forecast_days, quantile_levels)["properties"]
    list_schema = forecasts_query_schema(page_size)
    spec["components"] = {
        "securitySchemes": {
            "operatorToken": {"type": "http", "scheme": "bearer", "description": "STREAMFLOW__SERVER__OPERATOR_TOKEN"}
        },
        "schemas": {**COMPONENT_SCHEMAS, "FeedbackBody": FEEDBACK_SCHEMA},
        "responses": error_responses(),
        "parameters": {
            "SiteId": _query_parameter("site_id", SITE_ID_SCHEMA, required=True),
            "InfoSiteId": _query_parameter("site_id", SITE_ID_SCHEMA, required=False),
            "ForecastDays": _query_parameter("forecast_days", forecast_parameters["forecast_days"], required=True),
            "Quantiles": _query_parameter("quantiles", forecast_parameters["quantiles"], required=False),
            "Format": _query_parameter("format", forecast_parameters["format"], required=False),
            "IssueDate": _query_parameter("issue_date", ISSUE_DATE_SCHEMA, required=False),
            **{
                name: _query_parameter(key, OBSERVATIONS_QUERY_SCHEMA["properties"][key], required=True)
                for name, key in (("Start", "start"), ("End", "end"))
            },
            **{
                name: _query_parameter(key, list_schema["properties"][key], required=False)
                for name, key in (
                    ("ListSiteId", "site_id"),
                    ("IssuedSince", "issued_since"),
                    ("Cursor", "cursor"),
                    ("Limit", "limit"),
                )
            },
        },
    }
    return spec


def error_responses() -> dict[str, dict]:
    """One response per error status, named by its phrase (`#/components/responses/BadRequest`),
    describing each code it carries."""
    responses = {}
    for status, entries in groupby(ERROR_CODES, key=lambda entry: entry.status):
        name = HTTPStatus(status).phrase.replace(" ", "").replace("-", "")
        responses[name] = {
            "description": "; ".join(f"`{entry.code}`: {entry.when}" for entry in entries),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    return responses


def _query_parameter(name: str, schema: dict, required: bool) -> dict:
    body = {key: value for key, value in schema.items() if key not in ("description", "example")}
    parameter = {
        "name": name,
        "in": "query",
        "required": required,
        "description": schema["description"],
        "schema": body,
    }
    if "example" in schema:
        parameter["example"] = schema["example"]
    return parameter


class SwaggerPageHandler(JsonErrorsMixin, tornado.web.RequestHandler):
    """The Swagger UI page."""

    route = "/doc"

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.write(UI_PAGE)


class OpenApiSpecHandler(JsonErrorsMixin, tornado.web.RequestHandler):
    """The OpenAPI document as JSON."""

    route = "/doc/swagger.json"

    def initialize(self, spec: dict) -> None:
        self._spec = spec

    def get(self) -> None:
        self.write(self._spec)


class SwaggerAssetHandler(JsonErrorsMixin, tornado.web.StaticFileHandler):
    """Swagger UI's scripts and styles, from the installed swagger-ui-bundle."""

    route = "/doc/static"


def doc_routes(spec: dict) -> list[tornado.web.URLSpec]:
    """Routes of the Swagger UI page, its assets and the OpenAPI document."""
    return [
        tornado.web.url(r"/doc/?", SwaggerPageHandler),
        tornado.web.url(r"/doc/swagger.json", OpenApiSpecHandler, {"spec": spec}),
        tornado.web.url(r"/doc/static/(.*)", SwaggerAssetHandler, {"path": str(SWAGGER_ASSETS)}),
    ]
