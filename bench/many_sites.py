"""Preparing many sites for training: wall time and peak memory for a synthetic directory of hundreds of sites.

Writes `--sites` synthetic sites of `--years` years of flow (`adapter.demo_data.scaled_sites`) into
`--data-dir` unless it holds them already, then prepares them as training does before its first epoch
(list the sites, read and assemble each one's record, fit the scaler, scale every site, plan an epoch),
each time in a fresh process whose peak resident memory is measured:

- `in memory`: every record held in RAM (no store);
- `store, cold`: an empty `paths.prepared_dir`, so each site is read, prepared and saved;
- `store, warm`: the same store again, so each site is memory-mapped from it.

Prints a table and judges the targets (preparation <= 2 minutes, peak RSS <= 4 GB) on the cold store,
which is what a first training run does.

Usage:
    .venv/bin/python bench/many_sites.py [--sites 600] [--years 10] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapter.demo_data import scaled_sites, write_demo_dataset  # noqa: E402
from bench.train_speed import prepared_epoch  # noqa: E402
from config.loader import load_config  # noqa: E402
from model.site_store import SiteStore  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
FIRST_FLOW_YEAR = 2000
TARGET_SECONDS = 120.0
TARGET_RSS_MB = 4096.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=600)
    parser.add_argument("--years", type=int, default=10, help="years of flow per site (at least 4)")
    parser.add_argument("--data-dir", type=Path, help="synthetic directory to write or reuse (default: temporary)")
    parser.add_argument("--prepare", type=Path, help=argparse.SUPPRESS)  # child: prepare this directory
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)  # child: with this store
    args = parser.parse_args(argv)
    if args.years < 4:
        parser.error("--years must be at least 4 (training, validation and test years)")
    return args


def periods(years: int) -> dict[str, str]:
    """Training periods over `years` years of flow from FIRST_FLOW_YEAR: the last two years validate and test."""
    last = FIRST_FLOW_YEAR + years - 1
    return {
        "train_start": f"{FIRST_FLOW_YEAR + 1}-01-01",  # the first year is input history only
        "train_end": f"{last - 2}-12-31",
        "validation_start": f"{last - 1}-01-01",
        "validation_end": f"{last - 1}-12-31",
        "test_start": f"{last}-01-01",
        "test_end": f"{last}-12-24",
    }


def write_dataset(directory: Path, sites: int, years: int) -> float:
    """Write the synthetic directory unless it has `sites` sites already; return the seconds it took."""
    listed = directory / "sites.csv"
    if listed.exists() and len(pd.read_csv(listed, dtype=str)) == sites:
        return 0.0
    if directory.exists():
        shutil.rmtree(directory)
    began = time.perf_counter()
    flow_days = (pd.Timestamp(f"{FIRST_FLOW_YEAR}-01-01"), pd.Timestamp(f"{FIRST_FLOW_YEAR + years - 1}-12-31"))
    write_demo_dataset(directory, sites=scaled_sites(sites), flow_days=flow_days)
    return time.perf_counter() - began


def prepare(data_dir: Path, years: int, store_dir: Path | None) -> dict:
    """What training does before its first epoch, timed; with the peak RSS of this process."""
    environ = {"STREAMFLOW__DATA__DATA_DIR": str(data_dir), "STREAMFLOW__DATA__DEMO_DATASET": "false"}
    environ.update({f"STREAMFLOW__TRAINING__{key.upper()}": value for key, value in periods(years).items()})
    config = load_config(REPO_ROOT / "config.yaml", environ)
    before = resident_mb()
    began = time.perf_counter()
    # The progress bar would mix with the figures this process prints.
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        sites, plan = prepared_epoch(config, SiteStore(store_dir) if store_dir else None)
    return {
        "seconds": time.perf_counter() - began,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_mb": before,
        "tensors_mb": sum(array.nbytes for site in sites for array in vars(site).values() if hasattr(array, "nbytes"))
        / 2**20,
        "sites": len(sites),
        "windows": len(plan),
    }


def resident_mb() -> float:
    """This process's resident memory now (Linux), MB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(data_dir: Path, years: int, store_dir: Path | None) -> dict:
    """`prepare` in a fresh process, so each peak is its own."""
    command = [sys.executable, __file__, "--prepare", str(data_dir), "--years", str(years)]
    if store_dir:
        command += ["--store", str(store_dir)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def verdict(met: bool) -> str:
    return "MET" if met else "MISSED"


def main(argv: list[str]) -> int:
    """Entry point; returns the exit code."""
    args = parse_args(argv)
    if args.prepare:
        print(json.dumps(prepare(args.prepare, args.years, args.store)))
        return 0
    with tempfile.TemporaryDirectory(prefix="many-sites-") as scratch:
        data_dir = args.data_dir or Path(scratch) / "data"
        written = write_dataset(data_dir, args.sites, args.years)
        print(f"{args.sites} synthetic sites, {args.years} years of flow each, in {data_dir}", end="")
        print(f" (written in {written:.0f} s)" if written else " (reused)")
        store = Path(scratch) / "prepared"
        runs = {
            "in memory": measure(data_dir, args.years, None),
            "store, cold": measure(data_dir, args.years, store),
            "store, warm": measure(data_dir, args.years, store),
        }
    first = next(iter(runs.values()))
    print(f"\npreparation of {first['sites']} sites ({first['windows']} training windows per epoch)")
    print(f"{'':<12} | {'seconds':>8} | {'peak RSS MB':>11} | {'RSS before MB':>13} | {'model arrays MB':>15}")
    for name, run in runs.items():
        print(
            f"{name:<12} | {run['seconds']:8.1f} | {run['peak_rss_mb']:11.0f} | {run['rss_before_mb']:13.0f} | "
            f"{run['tensors_mb']:15.0f}"
        )
    print("(RSS before: the process with its libraries, before reading; model arrays: every site scaled, in RAM;")
    print(" peak RSS counts the pages of memory-mapped arrays read, which the kernel may drop at will)")
    cold = runs["store, cold"]
    print(
        f"\ntarget preparation <= {TARGET_SECONDS:.0f} s: {cold['seconds']:.1f} s {verdict(cold['seconds'] <= TARGET_SECONDS)}"
    )
    print(
        f"target peak RSS <= {TARGET_RSS_MB:.0f} MB: {cold['peak_rss_mb']:.0f} MB "
        f"{verdict(cold['peak_rss_mb'] <= TARGET_RSS_MB)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
