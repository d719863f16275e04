"""The repository's top level is fixed by the client: everything tracked lives in these entries."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from test.support import REPO_ROOT

TOP_LEVEL = {
    ".gitignore",
    "config.yaml",
    "Dockerfile",
    "LICENSE",
    "README.md",
    "requirements.txt",
    "main_service.py",
    "main_train.py",
    "adapter",
    "config",
    "domain",
    "model",
    "resources",
    "service",
    "test",
    "utils",
    ".ci",
    "bench",
    # Docker reads its ignore file only beside the Dockerfile's build context.
    ".dockerignore",
}


@pytest.mark.skipif(shutil.which("git") is None or not (REPO_ROOT / ".git").exists(), reason="needs a git checkout")
def test_every_tracked_file_sits_in_the_fixed_top_level_layout() -> None:
    listed = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    top = {path.split("/", 1)[0] for path in listed.splitlines()}
    assert top - TOP_LEVEL == set()
