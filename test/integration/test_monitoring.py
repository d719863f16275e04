"""Metrics and logs of the real service: /metrics parsed by prometheus_client's own parser, the
JSON access lines parsed line by line, request ids echoed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from config.settings import AppConfig
from test.integration.test_main_service import free_port, wait_ready
from test.support import REPO_ROOT, RunningService, with_archive

pytestmark = pytest.mark.slow


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a Prometheus text page: (name, labels) -> value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def route(path: str, status: str) -> tuple[str, frozenset]:
    return "streamflow_requests_total", frozenset({"route": path, "method": "GET", "status": status}.items())


def test_metrics_count_requests_by_route_and_status_forecasts_and_the_model(
    trained_config: AppConfig, tmp_path: Path
) -> None:
    with RunningService(with_archive(trained_config, tmp_path)) as service:
        assert service.get("/forecast?site_id=09900001&forecast_days=5").status_code == 200
        assert service.get("/forecast?site_id=09900001&forecast_days=9").status_code == 400
        assert service.get("/no/such/path/12345").status_code == 404
        health = service.get("/healthCheck").json()
        page = service.get("/metrics")

    assert page.headers["Content-Type"].startswith("text/plain; version=")
    found = samples(page.text)
    assert found[route("/forecast", "200")] == 1 and found[route("/forecast", "400")] == 1
    # Unknown paths share one label value: raw URLs never become series.
    assert found[route("unmatched", "404")] == 1
    assert not any("no/such/path" in str(labels) for _, labels in found)
    assert found[("streamflow_forecasts_total", frozenset({"source": "computed"}.items()))] == 1
    assert found[("streamflow_inference_seconds_count", frozenset())] == 1
    model = {"bundle": health["model_version"], "registry_version": health["registry_version"]}
    assert found[("streamflow_model_info", frozenset(model.items()))] == 1
    assert found[("streamflow_request_duration_seconds_count", frozenset({"route": "/forecast"}.items()))] == 2


def test_logs_are_json_lines_with_one_access_line_per_request_and_the_request_id(
    trained_config: AppConfig, tmp_path: Path
) -> None:
    port = free_port()
    environment = {**os.environ, "STREAMFLOW__SERVER__HOST": "127.0.0.1", "STREAMFLOW__SERVER__PORT": str(port)}
    log_file = tmp_path / "service.log"
    with log_file.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                str(REPO_ROOT / "main_service.py"),
                "--config",
                str(trained_config.paths.model_dir.parent / "config.yaml"),
            ],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            base = wait_ready(process, f"http://127.0.0.1:{port}")
            ok = requests.get(
                f"{base}/forecast?site_id=09900002&forecast_days=3", headers={"X-Request-Id": "abc-123"}, timeout=30
            )
            bad = requests.get(f"{base}/forecast?site_id=09900002&forecast_days=0", timeout=30)
            traced = requests.get(
                f"{base}/info", headers={"X-Amzn-Trace-Id": "Root=1-67891233-abcdef012345678912345678"}, timeout=30
            )
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)

    assert ok.headers["X-Request-Id"] == "abc-123"
    assert len(bad.headers["X-Request-Id"]) == 32  # generated
    assert traced.headers["X-Request-Id"] == "Root=1-67891233-abcdef012345678912345678"
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]  # every line is JSON
    access = [line for line in lines if line["logger"] == "streamflow.access"]
    (forecast,) = [line for line in access if line.get("request_id") == "abc-123"]
    assert forecast["method"] == "GET" and forecast["route"] == "/forecast" and forecast["status"] == 200
    assert forecast["site_id"] == "09900002" and forecast["model_version"] and forecast["duration_ms"] > 0
    # The expected error is logged once: on its access line, with its code and message.
    mentions = [
        line
        for line in lines
        if line.get("request_id") == bad.headers["X-Request-Id"] or "forecast_days" in line["message"]
    ]
    assert len(mentions) == 1 and mentions[0]["level"] == "WARNING"
    assert mentions[0]["error"] == "invalid_request" and "at least 1" in mentions[0]["error_message"]
    assert {line["level"] for line in lines} <= {"INFO", "WARNING"}
