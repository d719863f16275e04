"""The benchmarks run end to end: skill (CI variant: 3 sites, 2 epochs, checking its own scoring) and service speed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from config.settings import AppConfig
from test.support import REPO_ROOT, shared_dir_or_skip, write_config

pytestmark = pytest.mark.slow


def run_quick_bench(out: Path, *flags: str, data_dir: Path | None = None) -> subprocess.CompletedProcess:
    data_dir = data_dir or shared_dir_or_skip("bench", "camels30")
    return subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "bench" / "skill.py"),
            "--quick",
            *flags,
            "--data-dir",
            str(data_dir),
            "--out",
            str(out),
            "--tracking-uri",
            f"sqlite:///{out / 'mlflow.db'}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_quick_benchmark_reproduces_persistence_baselines(tmp_path: Path) -> None:
    result = run_quick_bench(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "persistence check against baselines.csv: OK" in result.stdout
    assert "perfect meteorological forecast" in result.stdout
    assert "settings: hidden 16, dropout 0.1, 365-day input, batch 8" in result.stdout
    # Leads 1 and 5 of the point table and of the probabilistic one.
    table = [line for line in result.stdout.splitlines() if line.strip().startswith(("1 |", "5 |"))]
    assert len(table) == 4
    assert "probabilistic (quantiles; CRPS in mm/day" in result.stdout
    per_site = pd.read_csv(tmp_path / "skill_per_site.csv", dtype={"site_id": str})
    assert set(per_site["lead_days"]) == {1, 2, 3, 4, 5}
    assert per_site["site_id"].nunique() == 3
    assert per_site[["nse", "kge", "persistence_nse", "crps", "coverage_90", "crpss_climatology"]].notna().all().all()
    assert "targets (quick run: a smoke test, not a measurement)" in result.stdout
    assert len(re.findall(r"^  (?:MET   |MISSED) ", result.stdout, flags=re.MULTILINE)) == 13
    # The run is tracked: settings, curves, medians, the per-site table, the targets and the bundle.
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("streamflow").experiment_id])
    assert run.data.params["model.hidden_size"] == "16" and run.data.params["training.test_end"] == "2014-12-31"
    assert {"test_nse_lead1", "test_kge_lead5", "test_crps_lead1", "test_coverage_90_lead5", "minutes"} <= set(
        run.data.metrics
    )
    assert "peak_memory_mb" in run.data.metrics
    assert len(client.get_metric_history(run.info.run_id, "member1.train_loss")) == 2
    assert run.data.tags["split"] == "test" and len(run.data.tags["data_fingerprint"]) == 64
    assert run.data.tags["code_commit"] and "bench/skill.py" in run.data.tags["command"]
    artifacts = {entry.path for entry in client.list_artifacts(run.info.run_id)}
    assert {"bundle", "scores", "targets.txt"} <= artifacts
    bundle_files = {Path(entry.path).name for entry in client.list_artifacts(run.info.run_id, "bundle")}
    assert bundle_files == {"bundle.json", "calibration.json", "weights.pt"}


@pytest.mark.parametrize(
    ("flags", "split", "trained", "scored"),
    [
        (["--tuning"], "late", "1981-01-01..1992-12-31", "1993-01-01..1995-12-31"),
        (["--tuning", "early", "--seed", "7"], "early", "1985-01-01..1995-12-31", "1982-01-01..1984-12-31"),
    ],
)
def test_tuning_splits_score_years_before_the_test_period(
    tmp_path: Path, flags: list[str], split: str, trained: str, scored: str
) -> None:
    result = run_quick_bench(tmp_path, *flags)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"train {trained}" in result.stdout
    assert f"scored {scored} (TUNING, {split} split" in result.stdout
    seed = flags[flags.index("--seed") + 1] if "--seed" in flags else "42"
    assert f"1 member(s) from seed {seed}" in result.stdout
    assert "persistence check" not in result.stdout  # baselines.csv holds test-period scores only
    assert "targets" not in result.stdout  # the targets are about the test period
    per_site = pd.read_csv(tmp_path / f"skill_tuning_{split}_per_site.csv", dtype={"site_id": str})
    assert per_site["site_id"].nunique() == 3 and per_site["nse"].notna().all()


def test_a_directory_that_misses_the_protocol_years_fails_with_a_message(demo_data_dir: Path, tmp_path: Path) -> None:
    result = run_quick_bench(tmp_path, data_dir=demo_data_dir)  # the demo record starts in 2009
    assert result.returncode == 1
    assert "benchmark failed: site 09900001 has no observed flow between 1981-01-01 and 1995-12-31" in result.stderr
    assert "Traceback" not in result.stderr


def run_speed_bench(config_file: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "speed.py"), "--config", str(config_file), *flags],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_speed_benchmark_drives_service_and_hello_world_and_judges_every_target(trained_config: AppConfig) -> None:
    result = run_speed_bench(
        trained_config.paths.model_dir.parent / "config.yaml",
        *("--duration", "1", "--connections", "4", "--total-requests", "0"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for scenario in ("hello", "warm", "cold", "hindcasts", "mix"):
        assert re.search(rf"^{scenario} +[\d,]+ req/s  p50 .* 0 not 2xx$", result.stdout, flags=re.MULTILINE), (
            result.stdout
        )
    assert re.search(r"^cold forecast in process: [\d.]+ ms CPU", result.stdout, flags=re.MULTILINE)
    assert re.search(r"^precompute of 4 sites x \d+ members", result.stdout, flags=re.MULTILINE)
    assert re.search(r"^archive: [\d,]+ forecasts", result.stdout, flags=re.MULTILINE)
    assert len(re.findall(r"^  (?:MET   |MISSED) ", result.stdout, flags=re.MULTILINE)) == 7
    assert "  MET    0 answers not 2xx (0)" in result.stdout


def test_speed_benchmark_without_a_model_says_to_train_first(demo_data_dir: Path, tmp_path: Path) -> None:
    result = run_speed_bench(write_config(tmp_path, {"data": {"data_dir": str(demo_data_dir)}}), "--duration", "1")
    assert result.returncode == 1
    assert "speed benchmark failed:" in result.stderr and "main_train.py" in result.stderr
    assert "Traceback" not in result.stderr


def test_members_scored_alone_are_runs_for_compare(tmp_path: Path) -> None:
    result = run_quick_bench(tmp_path, "--tuning", "--members")
    assert result.returncode == 0, result.stdout + result.stderr
    ensemble_csv = tmp_path / "skill_tuning_late_per_site.csv"
    member_csv = tmp_path / "skill_tuning_late_per_site_member1.csv"
    assert "member 1 alone: median NSE " in result.stdout
    # The quick run has one member: alone it is the ensemble.
    assert member_csv.read_text() == ensemble_csv.read_text()
    compared = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "bench" / "compare.py"),
            *("--baseline", str(ensemble_csv), "--candidate", str(member_csv)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert compared.returncode == 0, compared.stderr
    assert "3 site(s) in every run, 1 run(s) baseline, 1 candidate" in compared.stdout
    assert compared.stdout.count("+0.0000 [+0.0000, +0.0000]") == 10


def test_many_sites_benchmark_prepares_a_synthetic_directory_three_ways(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "many_sites.py"), "--sites", "6", "--years", "4"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 synthetic sites, 4 years of flow each" in result.stdout
    rows = {line.split("|")[0].strip() for line in result.stdout.splitlines() if "|" in line}
    assert {"in memory", "store, cold", "store, warm"} <= rows
    assert re.search(r"preparation of 6 sites \(\d+ training windows per epoch\)", result.stdout)
    assert re.search(r"target peak RSS <= 4096 MB: \d+ MB (MET|MISSED)", result.stdout)
