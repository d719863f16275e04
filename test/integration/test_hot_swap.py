"""Hot swap across processes: a real `mlflow server` on 127.0.0.1, two service processes following
its `live` alias, a training that promotes a new version and an operator's rollback, all under a
steady load that must see nothing but 200s."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from test.integration.test_http import response_validator
from test.integration.test_main_service import free_port
from test.support import REPO_ROOT, write_config

pytestmark = pytest.mark.slow

TRAINING = {"epochs": 3, "ensemble_size": 1}
# Any trained candidate passes: this test is about the swap, test_model_lifecycle about the gate.
REGISTRY = {"persistence_margin": -1.0, "live_tolerance": 1.0, "poll_s": 0.5}


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    """`mlflow server` with a SQLite store and served artifacts, on a free port of 127.0.0.1."""
    port = free_port()
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            *("--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}"),
            *("--artifacts-destination", (tmp_path / "server-artifacts").as_uri()),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: requests.get(f"{url}/health", timeout=2).ok, "mlflow server to start", 90)
        yield url
    finally:
        process.terminate()
        process.wait(30)


def wait_until(condition, what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if condition():
                return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.contextmanager
def service(config_file: Path, cache: Path, environment: dict[str, str]) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        **environment,
        "STREAMFLOW__SERVER__HOST": "127.0.0.1",
        "STREAMFLOW__SERVER__PORT": str(port),
        "STREAMFLOW__REGISTRY__BUNDLE_CACHE": str(cache),
    }
    # A file, not a pipe: under load the access log would fill a pipe nobody reads and stall the service.
    log = cache.with_suffix(".log").open("w")
    process = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "main_service.py"), "--config", str(config_file)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: requests.get(f"{base}/healthCheck", timeout=2).status_code == 200, "a service", 90)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        log.close()
        print(cache.with_suffix(".log").read_text()[-3000:])


def serving(base: str) -> str | None:
    body = requests.get(f"{base}/healthCheck", timeout=10).json()
    response_validator("Health").validate(body)
    return body["registry_version"]


class SteadyLoad:
    """Forecasts from both services, back to back on two threads, counting every answer."""

    def __init__(self, bases: list[str]) -> None:
        self.answers: Counter = Counter()
        self.versions: Counter = Counter()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send, args=(base,)) for base in bases]

    def _send(self, base: str) -> None:
        while not self._stop.is_set():
            response = requests.get(f"{base}/forecast?site_id=09900002&forecast_days=5", timeout=30)
            self.answers[response.status_code] += 1
            if response.status_code == 200:
                self.versions[response.json()["registry_version"]] += 1

    def __enter__(self) -> SteadyLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)


def run(command: list[str], environment: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, *command],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **environment},
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_two_services_follow_promotion_and_rollback_under_load_without_an_error(
    mlflow_server: str, tmp_path: Path, demo_data_dir: Path
) -> None:
    config_file = write_config(
        tmp_path, {"data": {"data_dir": str(demo_data_dir)}, "training": TRAINING, "registry": REGISTRY}
    )
    environment = {"STREAMFLOW__TRACKING__URI": mlflow_server}
    train = [str(REPO_ROOT / "main_train.py"), "--config", str(config_file)]
    run(train, environment)
    with (
        service(config_file, tmp_path / "cache-a", environment) as first,
        service(config_file, tmp_path / "cache-b", environment) as second,
    ):
        assert serving(first) == serving(second) == "1"
        with SteadyLoad([first, second]) as load:
            run([*train, "--epochs", "4"], environment)  # version 2, promoted by the gate
            wait_until(lambda: serving(first) == serving(second) == "2", "both services to serve version 2", 60)
            during_promotion = sum(load.answers.values())
            run(["-m", "service.model_admin", "--config", str(config_file), "rollback"], environment)
            wait_until(lambda: serving(first) == serving(second) == "1", "both services to roll back", 60)
            time.sleep(1.0)
        assert set(load.answers) == {200}, load.answers
        assert during_promotion > 10 and sum(load.answers.values()) > during_promotion + 5
        assert set(load.versions) == {"1", "2"}  # forecasts named each version they came from
