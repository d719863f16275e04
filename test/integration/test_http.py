"""The real app over HTTP: every endpoint, every documented error, responses checked against the API schemas."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path

import jsonschema
import pytest
import referencing
import requests

from config.loader import load_config
from config.settings import AppConfig
from domain.responses import COMPONENT_SCHEMAS
from test.support import RunningService, write_config

pytestmark = pytest.mark.slow

DEMO_SITE = "09900001"
OTHER_SITE = "09900002"


def _json_schema(schema: object) -> object:
    """OpenAPI 3.0 `nullable` -> JSON Schema type lists, recursively."""
    if isinstance(schema, dict):
        converted = {key: _json_schema(value) for key, value in schema.items() if key != "nullable"}
        if schema.get("nullable"):
            converted["type"] = [schema["type"], "null"]
        return converted
    if isinstance(schema, list):
        return [_json_schema(item) for item in schema]
    return schema


def response_validator(name: str) -> jsonschema.Draft202012Validator:
    """A validator of the named component schema, resolving its $refs."""
    document = {"components": {"schemas": _json_schema(COMPONENT_SCHEMAS)}}
    resource = referencing.Resource.from_contents(document, default_specification=referencing.jsonschema.DRAFT202012)
    registry = referencing.Registry().with_resource("urn:api", resource)
    return jsonschema.Draft202012Validator(
        {"$ref": f"urn:api#/components/schemas/{name}"},
        registry=registry,
        format_checker=jsonschema.FormatChecker(),
    )


@pytest.fixture(scope="module")
def api(trained_config: AppConfig):
    """The service over the tiny trained model."""
    with RunningService(trained_config) as service:
        yield service


def get_json(service: RunningService, path: str) -> tuple[int, dict]:
    response = service.get(path)
    assert response.headers["Content-Type"].startswith("application/json")
    return response.status_code, response.json()


def assert_error(service: RunningService, path: str, status: int, code: str, *fragments: str) -> dict:
    actual, body = get_json(service, path)
    assert actual == status, body
    response_validator("Error").validate(body)
    assert body["error"]["code"] == code
    for fragment in fragments:
        assert fragment in body["error"]["message"]
    assert "Traceback" not in json.dumps(body)
    return body


def test_health_check_reports_loaded_model(api: RunningService) -> None:
    status, body = get_json(api, "/healthCheck")
    assert status == 200
    response_validator("Health").validate(body)
    assert body["model_version"]


def test_info_lists_every_demo_site_labelled_synthetic(api: RunningService) -> None:
    status, body = get_json(api, "/info")
    assert status == 200
    response_validator("Info").validate(body)
    assert body["synthetic_data"] is True
    assert body["model_version"] == get_json(api, "/healthCheck")[1]["model_version"]
    ids = [site["site_id"] for site in body["sites"]]
    assert DEMO_SITE in ids and len(ids) >= 3
    site = body["sites"][ids.index(DEMO_SITE)]
    assert site["data_period"] == {"start": "2009-01-01", "end": "2024-12-31"}
    assert "(demo)" in site["name"]


def test_info_for_one_site(api: RunningService) -> None:
    status, body = get_json(api, f"/info?site_id={OTHER_SITE}")
    assert status == 200
    assert [site["site_id"] for site in body["sites"]] == [OTHER_SITE]


def test_forecast_gives_dated_finite_non_negative_flows(api: RunningService) -> None:
    status, body = get_json(api, f"/forecast?site_id={DEMO_SITE}&forecast_days=5")
    assert status == 200
    response_validator("Forecast").validate(body)
    assert body["issue_date"] == "2024-12-31"
    assert body["unit"] == "m3/s"
    assert body["hindcast"] is False
    assert [day["date"] for day in body["forecast"]] == [f"2025-01-0{i}" for i in range(1, 6)]
    assert [day["lead_days"] for day in body["forecast"]] == [1, 2, 3, 4, 5]
    assert all(math.isfinite(day["flow"]) and day["flow"] >= 0 for day in body["forecast"])
    assert all("observed" not in day for day in body["forecast"])


def test_forecast_days_limits_the_answer(api: RunningService) -> None:
    assert len(get_json(api, f"/forecast?site_id={DEMO_SITE}&forecast_days=2")[1]["forecast"]) == 2


def test_same_request_gives_the_same_forecast(api: RunningService) -> None:
    path = f"/forecast?site_id={OTHER_SITE}&forecast_days=5"
    assert get_json(api, path) == get_json(api, path)


def test_hindcast_shows_observed_flow_beside_the_forecast(api: RunningService) -> None:
    status, body = get_json(api, f"/forecast?site_id={OTHER_SITE}&forecast_days=3&issue_date=2020-06-01")
    assert status == 200
    response_validator("Forecast").validate(body)
    assert body["hindcast"] is True and body["issue_date"] == "2020-06-01"
    assert [day["date"] for day in body["forecast"]] == ["2020-06-02", "2020-06-03", "2020-06-04"]
    assert all(day["observed"] is not None and day["observed"] >= 0 for day in body["forecast"])


def test_hindcast_does_not_see_the_flow_it_forecasts(api: RunningService) -> None:
    # Issued on the last observed day, a hindcast equals the forecast: later flow is no input.
    live = get_json(api, f"/forecast?site_id={DEMO_SITE}&forecast_days=5")[1]
    hindcast = get_json(api, f"/forecast?site_id={DEMO_SITE}&forecast_days=5&issue_date=2024-12-31")[1]
    assert [d["flow"] for d in hindcast["forecast"]] == [d["flow"] for d in live["forecast"]]
    assert all(day["observed"] is None for day in hindcast["forecast"])


def test_doc_page_and_spec_list_the_api_endpoints(api: RunningService) -> None:
    page = api.get("/doc")
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text
    assert "https://" not in page.text  # no CDN: the page must work offline
    spec = api.get("/doc/swagger.json").json()
    assert set(spec["paths"]) == {
        "/healthCheck",
        "/info",
        "/forecast",
        "/forecasts",
        "/observations",
        "/verification",
        "/feedback",
    }
    assert spec["components"]["parameters"]["ForecastDays"]["schema"]["maximum"] == 5
    assert {"Error", "Forecast", "Info", "Site", "Health", "Observations"} <= set(spec["components"]["schemas"])
    assert spec["components"]["parameters"]["Quantiles"]["schema"]["x-levels"] == ["0.05", "0.1", "0.25", "0.5"] + [
        "0.75",
        "0.9",
        "0.95",
    ]
    forecast_responses = spec["paths"]["/forecast"]["get"]["responses"]
    assert {"200", "400", "404", "422", "500", "502", "503", "504"} == set(forecast_responses)
    # Every error code is documented, each under its status.
    responses = spec["components"]["responses"]
    assert "`unknown_site`" in responses["NotFound"]["description"]
    assert "`data_format_error`" in responses["BadGateway"]["description"]


def test_every_reference_in_the_spec_resolves(api: RunningService) -> None:
    spec = api.get("/doc/swagger.json").json()

    def references(node: object):
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"]
            for value in node.values():
                yield from references(value)
        elif isinstance(node, list):
            for value in node:
                yield from references(value)

    found = list(references(spec))
    assert "#/components/responses/BadRequest" in found
    for reference in found:
        node = spec
        for part in reference.removeprefix("#/").split("/"):
            assert part in node, f"dangling {reference}"
            node = node[part]


def test_doc_assets_are_served_locally(api: RunningService) -> None:
    for asset in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"):
        response = api.get(f"/doc/static/{asset}")
        assert response.status_code == 200 and len(response.content) > 1000


@pytest.mark.parametrize(
    "query, fragment",
    [
        ("forecast_days=5", "missing required parameter 'site_id'"),
        ("site_id=abc&forecast_days=5", "'site_id'"),
        ("site_id=1234567&forecast_days=5", "8 to 15 digits"),
        (f"site_id={DEMO_SITE}", "missing required parameter 'forecast_days'"),
        (f"site_id={DEMO_SITE}&forecast_days=0", "at least 1"),
        (f"site_id={DEMO_SITE}&forecast_days=6", "at most 5"),
        (f"site_id={DEMO_SITE}&forecast_days=2.5", "must be an integer, got '2.5'"),
        (f"site_id={DEMO_SITE}&forecast_days=abc", "must be an integer, got 'abc'"),
        (f"site_id={DEMO_SITE}&forecast_days=5&issue_date=2020-13-01", "'issue_date'"),
        (f"site_id={DEMO_SITE}&forecast_days=5&issue_date=20200101", "'issue_date'"),
        (f"site_id={DEMO_SITE}&forecast_days=2&issue_date=0141-05-30", "between 1800-01-01 and 2199-12-31"),
        (f"site_id={DEMO_SITE}&forecast_days=2&issue_date=9999-12-31", "between 1800-01-01 and 2199-12-31"),
        (f"site_id={DEMO_SITE}&forecast_days=5&forecast_days=4", "given once"),
        (f"site_id={DEMO_SITE}&forecast_days=5&days=4", "unknown parameter 'days'"),
    ],
)
def test_bad_forecast_parameters_are_400(api: RunningService, query: str, fragment: str) -> None:
    assert_error(api, f"/forecast?{query}", 400, "invalid_request", fragment)


def test_bad_info_parameter_is_400(api: RunningService) -> None:
    assert_error(api, "/info?site_id=12", 400, "invalid_request", "'site_id'")


def test_unknown_site_is_404(api: RunningService) -> None:
    assert_error(api, "/forecast?site_id=01646500&forecast_days=5", 404, "unknown_site", "01646500")
    assert_error(api, "/info?site_id=01646500", 404, "unknown_site", "01646500")


def test_unknown_path_is_404(api: RunningService) -> None:
    assert_error(api, "/forecast/extra", 404, "not_found", "/forecast/extra")


@pytest.mark.parametrize("method", ["POST", "DELETE", "TRACE", "PROPFIND"])
@pytest.mark.parametrize("path", ["/forecast", "/info", "/healthCheck", "/doc/swagger.json"])
def test_other_methods_are_405_naming_the_allowed_one(api: RunningService, method: str, path: str) -> None:
    response = requests.request(method, api.url(path), data="{}", timeout=30)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"
    body = response.json()
    response_validator("Error").validate(body)
    assert body["error"]["code"] == "method_not_allowed"


def test_issue_date_without_enough_history_is_422(api: RunningService) -> None:
    assert_error(api, f"/forecast?site_id={DEMO_SITE}&forecast_days=5&issue_date=2009-01-20", 422, "insufficient_data")


def test_issue_date_after_the_observations_is_422(api: RunningService) -> None:
    path = f"/forecast?site_id={DEMO_SITE}&forecast_days=5&issue_date=2030-01-01"
    assert_error(api, path, 422, "insufficient_data", "2024-12-31")


def test_meteorology_ending_on_the_issue_day_is_422_naming_the_horizon(
    trained_config: AppConfig, tmp_path: Path
) -> None:
    # Archive-like data: the meteorology of this site stops on its last flow day.
    data_dir = tmp_path / "data"
    shutil.copytree(trained_config.data.data_dir, data_dir)
    meteo_file = data_dir / "meteo" / f"{DEMO_SITE}.csv"
    lines = meteo_file.read_text().splitlines()
    meteo_file.write_text("\n".join([lines[0]] + [line for line in lines[1:] if line[:10] <= "2024-12-31"]) + "\n")
    config = dataclasses.replace(trained_config, data=dataclasses.replace(trained_config.data, data_dir=data_dir))
    with RunningService(config) as service:
        assert_error(
            service,
            f"/forecast?site_id={DEMO_SITE}&forecast_days=3",
            422,
            "insufficient_data",
            "for the 5 days after 2024-12-31 is incomplete",
            "however few are asked for",
        )
        status, _ = get_json(service, f"/forecast?site_id={DEMO_SITE}&forecast_days=3&issue_date=2024-12-20")
        assert status == 200


@pytest.fixture(scope="module")
def untrained_api(tmp_path_factory, demo_data_dir):
    """A service started before any training."""
    config = load_config(
        write_config(tmp_path_factory.mktemp("untrained"), {"data": {"data_dir": str(demo_data_dir)}}), {}
    )
    with RunningService(config) as service:
        yield service


def test_without_a_model_health_forecast_and_info_are_503(untrained_api: RunningService) -> None:
    assert_error(untrained_api, "/healthCheck", 503, "model_not_loaded", "main_train.py")
    assert_error(untrained_api, f"/forecast?site_id={DEMO_SITE}&forecast_days=5", 503, "model_not_loaded")
    assert_error(untrained_api, "/info", 503, "model_not_loaded")
    assert untrained_api.get("/doc/swagger.json").status_code == 200


@pytest.fixture(scope="module")
def broken_data_api(trained_config: AppConfig, tmp_path_factory):
    """The trained service whose flow file of DEMO_SITE turned malformed after training."""
    data_dir = tmp_path_factory.mktemp("broken") / "data"
    shutil.copytree(trained_config.data.data_dir, data_dir)
    flow_file = data_dir / "flow" / f"{DEMO_SITE}.csv"
    lines = flow_file.read_text().splitlines()
    lines[5] = "2009-01-05,-3.0"
    flow_file.write_text("\n".join(lines) + "\n")
    config = dataclasses.replace(trained_config, data=dataclasses.replace(trained_config.data, data_dir=data_dir))
    with RunningService(config) as service:
        yield service


def test_malformed_file_is_502_naming_file_and_line(broken_data_api: RunningService) -> None:
    path = f"/forecast?site_id={DEMO_SITE}&forecast_days=5"
    assert_error(broken_data_api, path, 502, "data_format_error", f"{DEMO_SITE}.csv", "line 6")


def test_other_sites_keep_working(broken_data_api: RunningService) -> None:
    status, body = get_json(broken_data_api, f"/forecast?site_id={OTHER_SITE}&forecast_days=5")
    assert status == 200, body
