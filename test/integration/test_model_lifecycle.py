"""The model's life in a real MLflow store (local SQLite): gate, refusal, force, operator commands,
the service following the alias, a corrupt version, a registry down at start, a killed training."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adapter.model_registry import ModelRegistry
from adapter.tracking import ExperimentTracker, mlflow_client
from config.loader import load_config
from config.settings import AppConfig
from main_service import build_services
from model.bundle import WEIGHTS_FILE
from service.model_follower import ModelFollower
from service.model_lifecycle import CANDIDATE, LIVE
from service.served_model import ServedModel
from service.training_service import train_from_config
from test.support import REPO_ROOT, write_config

pytestmark = pytest.mark.slow

GOOD = {"epochs": 20, "ensemble_size": 1, "learning_rate": 0.005}
# A learning rate this large leaves a model far worse than the good one at every lead day.
BAD = {"epochs": 3, "ensemble_size": 1, "learning_rate": 0.5}
# The gate as a test of the live model alone: persistence is out of these tiny models' reach.
GATE = {"persistence_margin": -1.0, "live_tolerance": 0.01}


def lifecycle_config(root: Path, demo_data_dir: Path, training: dict, **sections: dict) -> Path:
    overrides = {"data": {"data_dir": str(demo_data_dir)}, "training": training, "registry": GATE, **sections}
    return write_config(root, overrides)


def run_main_train(config_file: Path, *flags: str, **environment: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "main_train.py"), "--config", str(config_file), *flags],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **environment},
    )


def run_admin(config_file: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "service.model_admin", "--config", str(config_file), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, demo_data_dir: Path) -> dict:
    """Version 1 good and live; version 2 bad, refused by the gate; version 3 bad, forced live."""
    root = tmp_path_factory.mktemp("lifecycle")
    good = load_config(lifecycle_config(root, demo_data_dir, GOOD), {})
    first = train_from_config(good)
    bad_file = lifecycle_config(root, demo_data_dir, BAD)
    refused = run_main_train(bad_file)
    forced = run_main_train(bad_file, "--force")
    return {"config": good, "config_file": bad_file, "first": first, "refused": refused, "forced": forced}


def test_the_first_model_passes_the_gate_against_persistence_alone_and_goes_live(history: dict) -> None:
    first = history["first"]
    assert first.version.version == "1" and first.promoted and first.gate.passed
    assert set(first.version.aliases) == {LIVE, CANDIDATE}
    assert first.version.tags["promoted"] == "gate" and first.version.bundle_version == first.run.bundle.version
    assert "   -  " in first.gate.format()  # no live column: there was no live model


def test_a_worse_candidate_is_refused_with_its_table_and_live_stays(history: dict) -> None:
    refused = history["refused"]
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "registered as version 2" in refused.stdout and "live is unchanged" in refused.stdout
    assert "REFUSED: lead 1:" in refused.stdout and "below live" in refused.stdout
    registry = ModelRegistry(history["config"].tracking, history["config"].registry.model_name)
    version = registry.get("2")
    assert version.tags["gate"] == "refused" and "REFUSED" in version.tags["gate_table"]
    assert "promoted" not in version.tags
    client = mlflow_client(history["config"].tracking)
    run = client.get_run(client.get_model_version(registry.model_name, "2").run_id)
    assert run.info.status == "FINISHED" and "test_nse_lead1" in run.data.metrics


def test_force_promotes_a_refused_candidate_and_records_it(history: dict) -> None:
    forced = history["forced"]
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "REFUSED" in forced.stdout and "version 3 is live (forced past the gate)" in forced.stdout
    registry = ModelRegistry(history["config"].tracking, history["config"].registry.model_name)
    assert registry.by_alias(LIVE).version == "3" and registry.get("3").tags["promoted"] == "force"
    assert registry.live_history() == ["1", "3"]


def test_operator_commands_list_promote_and_roll_back(history: dict, tmp_path: Path) -> None:
    # On a copy of the store, so the other tests see the history as the fixture left it.
    config: AppConfig = history["config"]
    store = tmp_path / "mlflow"
    shutil.copytree(config.tracking.local_dir, store)
    config_file = lifecycle_config(tmp_path, config.data.data_dir, BAD, tracking={"local_dir": str(store)})

    listed = run_admin(config_file, "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["3", "2", "1"]
    assert "aliases candidate,live" in lines[0] or "aliases live,candidate" in lines[0]
    assert "gate refused  promoted by force" in lines[0] and "gate refused" in lines[1]
    assert "gate passed  promoted by gate" in lines[2]

    refused = run_admin(config_file, "promote", "2")
    assert refused.returncode == 1 and "its gate refused; --force promotes it anyway" in refused.stderr

    rolled = run_admin(config_file, "rollback")
    assert rolled.returncode == 0 and "version 1" in rolled.stdout
    registry = ModelRegistry(dataclasses.replace(config.tracking, local_dir=store), config.registry.model_name)
    assert registry.by_alias(LIVE).version == "1" and registry.get("1").tags["promoted"] == "rollback"
    assert run_admin(config_file, "rollback").returncode == 1  # nothing before version 1

    promoted = run_admin(config_file, "promote", "2", "--force")
    assert promoted.returncode == 0 and registry.by_alias(LIVE).version == "2"
    assert registry.live_history() == ["1", "2"]


def test_the_service_follows_the_alias_refuses_a_corrupt_version_and_starts_from_its_local_copy(
    tmp_path: Path, demo_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(lifecycle_config(tmp_path, demo_data_dir, GOOD), {})
    first = train_from_config(config)
    services = build_services(config)
    assert services.model.current.registry_version == "1"
    assert services.forecast.forecast("09900001", 5).registry_version == "1"

    # A version whose weights are truncated, pointed at by live: refused, version 1 keeps serving.
    broken = tmp_path / "broken"
    shutil.copytree(first.bundle_dir, broken)
    (broken / WEIGHTS_FILE).write_bytes((broken / WEIGHTS_FILE).read_bytes()[:200])
    registry = ModelRegistry(config.tracking, config.registry.model_name)
    with ExperimentTracker(config.tracking).run("broken", {}, {}) as run:
        uri = run.log_artifacts(broken, "bundle")
    corrupt = registry.register(uri, run.run_id, "20990101T000000Z-broken00", {})
    registry.set_alias(LIVE, corrupt.version)
    services.follower.check()
    assert services.model.current.registry_version == "1"
    assert services.model.refused.registry_version == corrupt.version
    assert "cannot be loaded" in services.model.refused.reason
    services.follower.check()  # refused once, not retried every poll

    # A good version: served at the next check.
    second = train_from_config(dataclasses.replace(config, training=dataclasses.replace(config.training, epochs=2)))
    services.follower.check()
    assert services.model.current.registry_version == second.version.version
    assert services.model.predictor.version == second.run.bundle.version

    # The registry down at start: the local copy of the version served last, and the service says so.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    unreachable = dataclasses.replace(config, tracking=dataclasses.replace(config.tracking, uri="http://127.0.0.1:9"))
    offline = build_services(unreachable)
    assert offline.model.current.registry_version == second.version.version
    assert offline.model.registry_problem.startswith("registry unreachable")
    assert offline.forecast.forecast("09900002", 3).model_version == second.run.bundle.version


def test_a_training_killed_midway_registers_nothing_and_moves_no_alias(tmp_path: Path, demo_data_dir: Path) -> None:
    config_file = lifecycle_config(tmp_path, demo_data_dir, {**GOOD, "epochs": 2})
    assert run_main_train(config_file).returncode == 0
    config = load_config(config_file, {})
    registry = ModelRegistry(config.tracking, config.registry.model_name)
    before = [(version.version, version.aliases) for version in registry.versions()]
    bundles = sorted(path.name for path in config.paths.model_dir.iterdir())

    (tmp_path / "long").mkdir()
    long_run = write_config(
        tmp_path / "long",
        {
            "data": {"data_dir": str(demo_data_dir)},
            "training": {**GOOD, "epochs": 2000, "patience": 2000},
            "tracking": {"local_dir": str(config.tracking.local_dir)},
            "paths": {"model_dir": str(config.paths.model_dir)},
            "registry": GATE,
        },
    )
    process = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "main_train.py"), "--config", str(long_run)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    client = mlflow_client(config.tracking)
    experiment = client.get_experiment_by_name(config.tracking.experiment).experiment_id
    while time.monotonic() < deadline and not client.search_runs([experiment], "attributes.status = 'RUNNING'"):
        time.sleep(0.2)
    time.sleep(1.0)  # well into training
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)

    assert [(version.version, version.aliases) for version in registry.versions()] == before
    assert sorted(path.name for path in config.paths.model_dir.iterdir()) == bundles
    (killed,) = client.search_runs([experiment], "attributes.status = 'RUNNING'")
    assert killed.info.end_time is None and killed.data.params["training.epochs"] == "2000"


class CountingRegistry(ModelRegistry):
    """The real registry client, counting how often the follower asks it."""

    calls = 0

    def by_alias(self, alias: str):
        self.calls += 1
        return super().by_alias(alias)


def test_polls_back_off_while_the_registry_is_down_and_sighup_checks_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    config = load_config(write_config(tmp_path, {"tracking": {"uri": "http://127.0.0.1:9"}}), {})
    registry = CountingRegistry(config.tracking, config.registry.model_name)
    now = [1000.0]
    served = ServedModel()
    follower = ModelFollower(registry, LIVE, tmp_path / "bundles", served, lambda model: None, 10.0, lambda: now[0])

    follower.check()
    assert registry.calls == 1 and served.registry_problem.startswith("registry unreachable")
    now[0] += 5
    follower.check()  # within the first backoff (poll_s): not asked
    now[0] += 6
    follower.check()  # asked again; the next backoff doubles to 20 s
    now[0] += 15
    follower.check()
    assert registry.calls == 2
    follower.check(now=True)  # SIGHUP
    assert registry.calls == 3
