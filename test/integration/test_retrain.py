"""POST /retrain end to end: a real service process, a training in a process of its own, the gate,
the new version live; 401, 409, 404 and 400 where they belong."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from test.integration.test_http import response_validator
from test.integration.test_main_service import free_port, wait_ready
from test.support import REPO_ROOT, write_config

pytestmark = pytest.mark.slow

TOKEN = "s3cr3t-operator-token"
TRAINING = {"epochs": 3, "ensemble_size": 1}
REGISTRY = {"persistence_margin": -1.0, "live_tolerance": 1.0, "poll_s": 0.5}


def test_retraining_runs_in_its_own_process_and_its_model_goes_live(tmp_path: Path, demo_data_dir: Path) -> None:
    config_file = write_config(
        tmp_path, {"data": {"data_dir": str(demo_data_dir)}, "training": TRAINING, "registry": REGISTRY}
    )
    first = subprocess.run(
        [sys.executable, str(REPO_ROOT / "main_train.py"), "--config", str(config_file)],
        capture_output=True,
        timeout=600,
    )
    assert first.returncode == 0, first.stderr
    port = free_port()
    environment = {
        **os.environ,
        "STREAMFLOW__SERVER__HOST": "127.0.0.1",
        "STREAMFLOW__SERVER__PORT": str(port),
        "STREAMFLOW__SERVER__OPERATOR_TOKEN": TOKEN,
    }
    log = (tmp_path / "service.log").open("w")
    process = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "main_service.py"), "--config", str(config_file)],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = wait_ready(process, f"http://127.0.0.1:{port}")
        exercise_retraining(base)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        log.close()


def exercise_retraining(base: str) -> None:
    operator = {"Authorization": f"Bearer {TOKEN}"}
    assert requests.get(f"{base}/healthCheck", timeout=10).json()["registry_version"] == "1"
    spec = requests.get(f"{base}/doc/swagger.json", timeout=10).json()
    assert spec["components"]["securitySchemes"]["operatorToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "STREAMFLOW__SERVER__OPERATOR_TOKEN",
    }
    assert spec["paths"]["/retrain"]["post"]["security"] == [{"operatorToken": []}]

    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        refused = requests.post(f"{base}/retrain", headers=headers, timeout=10)
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert refused.json() == {"error": {"code": "unauthorized", "message": "missing or wrong bearer token"}}
    malformed = requests.post(f"{base}/retrain", headers=operator, data="{not json", timeout=10)
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "invalid_request"
    assert requests.get(f"{base}/retrain/20260101T000000Z-00000000", headers=operator, timeout=10).status_code == 404

    started = requests.post(f"{base}/retrain", headers=operator, data="{}", timeout=10)
    assert started.status_code == 202, started.text
    job = started.json()
    response_validator("RetrainJob").validate(job)
    assert job["state"] == "running" and started.headers["Location"] == f"/retrain/{job['job_id']}"
    second = requests.post(f"{base}/retrain", headers=operator, timeout=10)
    assert second.status_code == 409 and job["job_id"] in second.json()["error"]["message"]

    deadline = time.monotonic() + 300
    while job["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
        job = requests.get(f"{base}{started.headers['Location']}", headers=operator, timeout=10).json()
    response_validator("RetrainJob").validate(job)
    assert job["state"] == "succeeded", json.dumps(job, indent=1)
    assert job["exit_code"] == 0 and job["report"]["registry_version"] == "2" and job["report"]["promoted"]
    assert job["report"]["gate"]["passed"] and "version 2 is live" in job["log_tail"]

    deadline = time.monotonic() + 30
    while requests.get(f"{base}/healthCheck", timeout=10).json()["registry_version"] != "2":
        assert time.monotonic() < deadline, "the service did not pick up the retrained version"
        time.sleep(0.2)
    forecast = requests.get(f"{base}/forecast?site_id=09900001&forecast_days=2", timeout=10).json()
    assert forecast["registry_version"] == "2" and forecast["model_version"] == job["report"]["bundle"]
