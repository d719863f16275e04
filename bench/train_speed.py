"""Training throughput on the CPU: one process against `torchrun` processes, at the same global batch.

Trains the demo configuration (`config.yaml`, or `--config`) with one member for `--epochs` epochs
(no early stopping, registry and tracking in a scratch directory): once as one process at batch
`--batch`, then with `torchrun --nproc_per_node N` at batch `--batch / N` per process. Prints each
run's training time, windows per second (the windows of an epoch times the epochs, over the
training time main_train.py reports) and wall time.

Usage:
    .venv/bin/python bench/train_speed.py [--config config.yaml] [--epochs 10] [--batch 8] [--processes 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapter.factory import build_readers  # noqa: E402
from config.loader import load_config  # noqa: E402
from config.settings import AppConfig  # noqa: E402
from model.dataset import SiteTensors, plan_windows, to_site_tensors  # noqa: E402
from model.scaler import FeatureScaler  # noqa: E402
from model.site_store import SiteStore  # noqa: E402
from service.training_service import read_records  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
TRAINED = re.compile(r"trained \d+ member\(s\) in ([\d.]+) s")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO_ROOT / "config.yaml")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8, help="global batch (windows per step over all processes)")
    parser.add_argument("--processes", type=int, default=2)
    return parser.parse_args(argv)


def prepared_epoch(
    config: AppConfig, store: SiteStore | None = None
) -> tuple[list[SiteTensors], list[tuple[int, int]]]:
    """What training prepares before its first epoch: every site read and scaled, the first epoch's windows."""
    flow_reader, meteo_reader = build_readers(config.data, config.upstream)
    model, training = config.model, config.training
    records = read_records(flow_reader, meteo_reader, flow_reader.list_sites(), model, training, store)
    scaler = FeatureScaler.fit(
        records, model.meteo_features, training.train_start, training.train_end, model.sqrt_features
    )
    sites = [to_site_tensors(record, scaler, model.seq_len) for record in records]
    rng = np.random.default_rng(training.seed)
    return sites, plan_windows(sites, training.train_start, training.train_end, model.seq_len, rng)


def windows_per_epoch(config_file: Path) -> int:
    """Training windows of one epoch of the configuration."""
    return len(prepared_epoch(load_config(config_file, os.environ))[1])


def scratch_config(source: Path, work: Path, epochs: int, batch: int) -> Path:
    """The configuration with one member, every epoch trained, its outputs under `work`."""
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    base = source.parent
    data = raw.setdefault("data", {})
    data["data_dir"] = str((base / data.get("data_dir", "resources/demo_data")).resolve())
    raw.setdefault("training", {}).update(epochs=epochs, patience=epochs, batch_size=batch, ensemble_size=1)
    raw["paths"] = {"model_dir": str(work / "models"), "jobs_dir": str(work / "jobs")}
    raw["tracking"] = {"local_dir": str(work / "mlflow")}
    raw["registry"] = {"enabled": False}
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@dataclasses.dataclass(frozen=True)
class SpeedRun:
    """One training run's figures."""

    label: str
    train_seconds: float
    wall_seconds: float


def run(label: str, command: list[str], work: Path) -> SpeedRun:
    """Run a training command and read its training time.

    Raises:
        RuntimeError: It failed or printed no training time.
    """
    began = time.perf_counter()
    done = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - began
    found = TRAINED.search(done.stdout)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"{label} failed ({done.returncode}): {done.stderr[-2000:]}")
    return SpeedRun(label, float(found.group(1)), wall)


def main(argv: list[str] | None = None) -> int:
    """Train both ways and print the table."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None or args.batch % args.processes:
        print("needs torchrun beside python and a batch divisible by the processes", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        (work / "one").mkdir()
        (work / "many").mkdir()
        one = scratch_config(args.config, work / "one", args.epochs, args.batch)
        many = scratch_config(args.config, work / "many", args.epochs, args.batch // args.processes)
        windows = windows_per_epoch(one) * args.epochs
        script = str(REPO_ROOT / "main_train.py")
        runs = [
            run("1 process", [sys.executable, script, "--config", str(one)], work / "one"),
            run(
                f"{args.processes} processes (torchrun, gloo)",
                [torchrun, "--nproc_per_node", str(args.processes), script, "--config", str(many)],
                work / "many",
            ),
        ]
    print(f"{windows:,} training windows ({args.epochs} epochs), global batch {args.batch}, {os.cpu_count()} CPU cores")
    for each in runs:
        print(
            f"{each.label:<30} training {each.train_seconds:6.1f} s  {windows / each.train_seconds:7.1f} windows/s  "
            f"wall {each.wall_seconds:6.1f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
