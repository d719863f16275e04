"""schemathesis against the real app: generated requests for every operation of /doc/swagger.json.

Every check schemathesis has runs: no server error, every status and body documented, the
content type declared, and for methods the spec does not list, 405 with an `Allow` header.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import AppConfig
from test.support import RunningService

pytestmark = pytest.mark.slow

MIN_CASES = 1000
# Generated cases per operation in the fuzzing phase (the examples and coverage phases add theirs).
MAX_EXAMPLES = 800
# Checks of authentication and of resources created by earlier calls: this API has neither.
NOT_APPLICABLE = "ignored_auth,use_after_free,ensure_resource_availability,object_level_authorization"
# A schema-valid request may name a site the model does not serve (404) or an issue date with
# too little data around it (422), and a well-formed cursor may not be one the service gave (400):
# documented answers, not a rejection of valid input. So are feedback on a forecast never issued
# (404), feedback past the per-client rate (429: the fuzzer sends far more than a person would) and
# GET /feedback without the operator token (401); a body over the size limit is rejected with 413.
# /observations takes a period of at most 366 days, start before end, which its schema cannot say (400).
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "404", "422"]

[[operations]]
include-path = "/forecasts"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400"]

[[operations]]
include-path = "/observations"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "404"]
[[operations]]
include-path = "/feedback"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "404", "429"]
checks.negative_data_rejection.expected-statuses = ["400", "401", "404", "413", "422", "429"]
"""


def schemathesis_command() -> list[str]:
    command = shutil.which("st", path=str(Path(sys.executable).parent))
    if command is None:
        pytest.fail("schemathesis (st) is not installed: pip install -r requirements.txt")
    return [command]


def test_generated_requests_find_no_server_error_and_no_undocumented_answer(
    trained_config: AppConfig, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG, encoding="utf-8")
    with RunningService(trained_config) as service:
        result = subprocess.run(
            [
                *schemathesis_command(),
                "--config-file",
                str(config),
                "run",
                service.url("/doc/swagger.json"),
                "--checks",
                "all",
                "--exclude-checks",
                NOT_APPLICABLE,
                "--phases",
                "examples,coverage,fuzzing",
                "--max-examples",
                str(MAX_EXAMPLES),
                "--seed",
                "20261201",
                "--generation-database",
                "none",
                "--workers",
                "1",
                "--no-color",
                "--report",
                "json",
                "--report-json-path",
                str(report),
            ],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=tmp_path,
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    summary = json.loads(report.read_text())
    assert summary["complete"] and summary["failures"] == [] and summary["errors"] == [], output[-3000:]
    # /healthCheck, /info, /forecast, /forecasts, /verification, GET and POST /feedback (/retrain
    # exists only with an operator token).
    operations = summary["operations"]["total"]
    assert summary["operations"]["tested"] == operations == 8
    cases = summary["test_cases"]
    print(
        f"schemathesis: {cases['generated']} generated cases over {operations} operations, {cases['with_failures']} failing"
    )
    assert cases["with_failures"] == 0
    assert cases["generated"] >= MIN_CASES
