"""/doc rendered by a real headless Chromium with no network: Swagger UI must need no CDN."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from config.settings import AppConfig
from test.support import RunningService

pytestmark = pytest.mark.slow

# Flags that keep Chromium from reaching out to the (absent) network.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=15000",
]


def chromium_or_skip() -> str:
    """The Chromium binary; skipped outside CI when absent (`.ci/run` installs it)."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs it)")
        pytest.skip("chromium not installed")
    return binary


def test_swagger_ui_renders_every_endpoint_and_schema(trained_config: AppConfig, tmp_path: Path) -> None:
    binary = chromium_or_skip()
    with RunningService(trained_config) as service:
        result = subprocess.run(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path}", "--dump-dom", service.url("/doc")],
            capture_output=True,
            text=True,
            timeout=90,
        )
    dom = result.stdout
    # These elements exist only once Swagger UI's JavaScript has fetched and rendered the spec.
    for path in ("/healthCheck", "/info", "/forecast"):
        assert f'data-path="{path}"' in dom, f"{path} not rendered"
    for schema in ("Error", "Forecast", "Info", "Site", "Health"):
        assert f'id="model-{schema}"' in dom, f"schema {schema} not rendered"
