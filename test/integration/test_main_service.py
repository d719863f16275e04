"""main_service.py as a real process: start-up, readiness, and graceful SIGTERM."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from config.settings import AppConfig
from test.support import REPO_ROOT

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_service(config: AppConfig) -> Iterator[tuple[subprocess.Popen, str]]:
    """main_service.py on a free port with the trained config, ready; always killed afterwards."""
    port = free_port()
    # conftest.write_config put the trained config file next to its (relative) artifacts.
    path = config.paths.model_dir.parent / "config.yaml"
    environ = {**os.environ, "STREAMFLOW__SERVER__PORT": str(port), "STREAMFLOW__SERVER__HOST": "127.0.0.1"}
    process = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "main_service.py"), "--config", str(path)],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process, wait_ready(process, f"http://127.0.0.1:{port}")
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def wait_ready(process: subprocess.Popen, base: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(f"{base}/healthCheck", timeout=5).status_code == 200:
                return base
        except requests.RequestException:
            time.sleep(0.2)
    process.kill()
    raise AssertionError(f"service did not become ready:\n{process.communicate()[0]}")


def test_sigterm_finishes_in_flight_request_then_exits_0(trained_config: AppConfig) -> None:
    with running_service(trained_config) as (process, base):
        answers = []
        request = threading.Thread(
            target=lambda: answers.append(requests.get(f"{base}/forecast?site_id=09900003&forecast_days=5", timeout=30))
        )
        request.start()
        time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        request.join(30)
        output = process.communicate(timeout=30)[0]
        assert process.returncode == 0, output
        assert "stopped" in output
        assert answers and answers[0].status_code == 200, output
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{base}/healthCheck", timeout=2)


def test_requests_refused_before_prepare_leave_nothing_in_flight(trained_config: AppConfig) -> None:
    # Tornado answers TRACE and unknown methods before prepare(); they must not unbalance the
    # in-flight count, or every later SIGTERM waits the whole shutdown timeout (10 s).
    with running_service(trained_config) as (process, base):
        host, port = base.removeprefix("http://").split(":")
        for method in ("TRACE", "PROPFIND", "BREW"):
            connection = http.client.HTTPConnection(host, int(port), timeout=10)
            connection.request(method, "/forecast")
            response = connection.getresponse()
            assert response.status in (400, 405), (method, response.status)
            response.read()
            connection.close()
        began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0]
        assert process.returncode == 0, output
        assert time.monotonic() - began < 2.0, output
        assert "still running" not in output


def test_bad_configuration_exits_2_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"server": {"prot": 1}}))
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "main_service.py"), "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "server.prot" in result.stderr
    assert "Traceback" not in result.stderr
