"""main_train on the demo data: the bundle it writes, reproducibility, and its command line."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from adapter.factory import build_readers
from adapter.tracking import mlflow_client
from config.loader import load_config
from config.settings import AppConfig
from model.bundle import CALIBRATION_FILE, CURRENT_LINK, FORMAT_VERSION, METADATA_FILE, WEIGHTS_FILE, load_bundle
from model.probabilistic import PROBABILISTIC_COLUMNS
from model.site_data import SiteSeries, m3s_to_mm_per_day
from model.site_store import SiteStore
from service.training_service import read_records, train_from_config
from test.support import REPO_ROOT, shared_dir_or_skip, write_config

pytestmark = pytest.mark.slow


def test_bundle_holds_everything_needed_to_serve_and_audit(trained_config: AppConfig) -> None:
    model_dir = trained_config.paths.model_dir
    current = (model_dir / CURRENT_LINK).resolve()
    assert (current / WEIGHTS_FILE).is_file()
    meta = json.loads((current / METADATA_FILE).read_text())
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["version"] == current.name and meta["version"].endswith(meta["data_fingerprint"][:8])
    assert meta["model"]["seq_len"] == 120 and meta["model"]["max_forecast_days"] == 5
    assert meta["scaler"]["features"] == list(trained_config.model.meteo_features)
    assert meta["training"]["train_end"] == "2017-09-30"
    assert meta["data_source"]["data_dir"] == str(trained_config.data.data_dir)
    assert meta["synthetic_data"] is True
    assert len(meta["data_fingerprint"]) == 64
    medians = meta["metrics"]["median_by_lead"]
    assert set(medians) == {"1", "2", "3", "4", "5"}
    assert {"nse", "kge", "persistence_nse", "persistence_kge", *PROBABILISTIC_COLUMNS} <= set(medians["1"])
    # The test config trains 2009-01..2017-09: water years 2010-2017, just enough for a return-period fit.
    for site_id, thresholds in meta["flood_thresholds"].items():
        assert (thresholds["years"], thresholds["reason"]) == (8, None), site_id
        assert 0 < thresholds["flows"]["2"] < thresholds["flows"]["5"] < thresholds["flows"]["10"]
    calibration = json.loads((current / CALIBRATION_FILE).read_text())
    assert sorted(calibration) == sorted(meta["flood_thresholds"])
    # Calibrated on the validation period (2017-10..2018-12): every lead day has its pairs.
    assert all(min(site["pairs"]) > 400 for site in calibration.values())
    assert len(meta["metrics"]["per_site"]) == 4 * 5
    # Training statistics only: scalers are fitted on the training period and know every site.
    assert sorted(meta["scaler"]["site_flow_std"]) == ["09900001", "09900002", "09900003", "09900004"]


def test_the_bundle_holds_the_sites_it_serves_with_their_metadata(trained_config: AppConfig) -> None:
    bundle = load_bundle(trained_config.paths.model_dir)
    assert [site.site_id for site in bundle.sites] == ["09900001", "09900002", "09900003", "09900004"]
    site = bundle.site("09900001")
    assert "(demo)" in site.name and site.area_km2 > 0
    assert (site.flow_start.isoformat(), site.flow_end.isoformat()) == ("2009-01-01", "2024-12-31")


def test_the_bundle_directory_alone_loads(trained_config: AppConfig) -> None:
    current = (trained_config.paths.model_dir / CURRENT_LINK).resolve()
    assert load_bundle(current).version == current.name


def test_training_is_reproducible(trained_config: AppConfig, tmp_path: Path) -> None:
    # The second run memory-maps the arrays the first one prepared.
    prepared = trained_config.paths.prepared_dir
    assert len(list(prepared.iterdir())) == len(load_bundle(trained_config.paths.model_dir).sites)
    overrides = {"data": {"data_dir": str(trained_config.data.data_dir)}, "paths": {"prepared_dir": str(prepared)}}
    again = load_config(write_config(tmp_path, overrides), {})
    second = train_from_config(again).run.bundle
    first = load_bundle(trained_config.paths.model_dir)
    assert second.data_fingerprint == first.data_fingerprint
    for left, right in zip(first.state_dicts[0].values(), second.state_dicts[0].values(), strict=True):
        assert torch.equal(left, right)
    assert second.metrics["median_by_lead"] == first.metrics["median_by_lead"]


def test_records_from_the_store_are_the_records_read_and_follow_changed_data(
    demo_data_dir: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(demo_data_dir, data_dir)
    config = load_config(write_config(tmp_path, {"data": {"data_dir": str(data_dir)}}), {})
    store = SiteStore(config.paths.prepared_dir)

    def read(with_store: SiteStore | None) -> list[SiteSeries]:
        flow_reader, meteo_reader = build_readers(config.data, config.upstream)
        return read_records(
            flow_reader, meteo_reader, flow_reader.list_sites(), config.model, config.training, with_store
        )

    read(store)
    for direct, stored in zip(read(None), read(store), strict=True):
        assert isinstance(stored.flow_mm, np.memmap)
        assert direct.start == stored.start and direct.site == stored.site
        np.testing.assert_array_equal(direct.meteo, stored.meteo)
        np.testing.assert_array_equal(direct.flow_mm, stored.flow_mm)

    flow_file = data_dir / "flow" / "09900002.csv"
    flow = pd.read_csv(flow_file, dtype={"time": str})
    flow.loc[flow["time"] == "2010-06-01", "flow"] = 1234.5
    flow.to_csv(flow_file, index=False)
    changed = next(record for record in read(store) if record.site.site_id == "09900002")

    assert changed.flow_mm[changed.index_of(dt.date(2010, 6, 1))] == pytest.approx(
        m3s_to_mm_per_day(np.array(1234.5), changed.site.area_km2)
    )


def run_main_train(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "main_train.py"), *args], capture_output=True, text=True, timeout=600
    )


def test_help_documents_the_flags() -> None:
    result = run_main_train("--help")
    assert result.returncode == 0
    for flag in ("--config", "--sites", "--epochs", "--output", "--if-missing"):
        assert flag in result.stdout


def test_if_missing_keeps_an_existing_bundle(trained_config: AppConfig) -> None:
    config_file = trained_config.paths.model_dir.parent / "config.yaml"
    before = (trained_config.paths.model_dir / CURRENT_LINK).resolve()
    result = run_main_train("--config", str(config_file), "--if-missing")
    assert result.returncode == 0, result.stderr
    assert "skipping training" in result.stdout
    assert (trained_config.paths.model_dir / CURRENT_LINK).resolve() == before


def test_command_line_trains_chosen_sites_prints_the_table_and_bundles(demo_data_dir: Path, tmp_path: Path) -> None:
    config_file = write_config(tmp_path, {"data": {"data_dir": str(demo_data_dir)}})
    output = tmp_path / "elsewhere"
    result = run_main_train(
        "--config", str(config_file), "--sites", "09900001,09900002", "--epochs", "1", "--output", str(output)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # A progress bar per member (4, the test config's default), with the validation score.
    assert "member 4/4: 100%" in result.stdout and "validation NSE=" in result.stdout
    assert "lead |    NSE persist climat |    KGE persist climat" in result.stdout
    assert "median over 2 sites" in result.stdout
    bundle = load_bundle(output)
    assert [site.site_id for site in bundle.sites] == ["09900001", "09900002"]


def test_camels30_config_trains_real_rivers_and_prints_the_benchmark_table(tmp_path: Path) -> None:
    shared_dir_or_skip("bench", "camels30")
    environment = {
        **os.environ,
        "STREAMFLOW__TRAINING__ENSEMBLE_SIZE": "1",
        "STREAMFLOW__TRACKING__LOCAL_DIR": str(tmp_path / "mlflow"),
        "STREAMFLOW__REGISTRY__BUNDLE_CACHE": str(tmp_path / "bundles"),
    }
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "main_train.py"),
            "--config",
            str(REPO_ROOT / "config" / "camels30.yaml"),
            "--sites",
            "01054200,12040500",
            "--epochs",
            "1",
            "--output",
            str(tmp_path / "models"),
            "--force",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=environment,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # One epoch does not beat persistence: promoted only because it was forced, and it says so.
    assert "REFUSED" in result.stdout and "version 1 is live (forced past the gate)" in result.stdout
    assert (tmp_path / "mlflow" / "mlflow.db").is_file()
    assert "validation median NSE" not in result.stdout  # the real-data default: no validation period
    lead_one = next(line for line in result.stdout.splitlines() if line.strip().startswith("1 |"))
    assert "nan" not in lead_one  # the climatology columns come from the directory's baselines.csv
    bundle = load_bundle(tmp_path / "models")
    assert bundle.training.lead_loss_weights == (3.0, 1.5)
    assert [site.site_id for site in bundle.sites] == ["01054200", "12040500"]


def test_unknown_site_fails_with_a_message_not_a_traceback(demo_data_dir: Path, tmp_path: Path) -> None:
    config_file = write_config(tmp_path, {"data": {"data_dir": str(demo_data_dir)}})
    result = run_main_train("--config", str(config_file), "--sites", "01234567")
    assert result.returncode == 1
    assert "01234567" in result.stderr and "Traceback" not in result.stderr


def test_without_a_validation_period_every_epoch_is_trained_and_scored_on_test(
    demo_data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    training = {"validation_start": None, "validation_end": None, "epochs": 3, "patience": 1, "ensemble_size": 1}
    config = load_config(write_config(tmp_path, {"data": {"data_dir": str(demo_data_dir)}, "training": training}), {})

    outcome = train_from_config(config)
    bundle = outcome.run.bundle

    out = capsys.readouterr().out
    assert "member 1/1: 100%" in out and "3/3" in out and "validation NSE" not in out
    # The training curve is in the tracked run: one point per epoch, no validation curve.
    client = mlflow_client(config.tracking)
    assert [point.step for point in client.get_metric_history(outcome.run_id, "member1.train_loss")] == [1, 2, 3]
    assert client.get_metric_history(outcome.run_id, "member1.validation_nse") == []
    assert bundle.training.validation_start is None
    assert set(bundle.metrics["median_by_lead"]) == {"1", "2", "3", "4", "5"}
    assert load_bundle(config.paths.model_dir).version == bundle.version


def test_a_training_period_without_flow_fails_with_a_message_not_a_traceback(
    demo_data_dir: Path, tmp_path: Path
) -> None:
    overrides = {
        "data": {"data_dir": str(demo_data_dir)},
        "training": {"train_start": "1990-01-01", "train_end": "1995-12-31"},
    }
    result = run_main_train("--config", str(write_config(tmp_path, overrides)))
    assert result.returncode == 1
    assert "training failed: site 09900001 has no observed flow between 1990-01-01 and 1995-12-31" in result.stderr
    assert "Traceback" not in result.stderr
