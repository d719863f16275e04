"""Forecast skill on real rivers: the camels30 benchmark (or any local data directory).

Protocol (fixed so results compare; the data directory and periods are `config/camels30.yaml`'s):
- one model for all sites, trained on 1981-01-01..1995-12-31 (every day of it, for the fixed
  number of epochs: no validation period is carved out); tested on 1996-01-01..2014-12-31;
- a forecast issued on day t sees flow observed through t; meteorology through t+k is taken as
  known (a perfect meteorological forecast, as in hindcast studies);
- NSE and KGE (2009) per site and lead k = 1..5 over test days where observation and forecast
  both exist; medians over sites per lead, next to persistence (our own scoring, checked against
  `baselines.csv`) and day-of-year climatology (read from `baselines.csv`).

Model and training settings are the built-in defaults of `config/settings.py` (the defaults
for real data, chosen with this benchmark); the features are the meteo variables the data
directory has. `--tuning` scores years before the test period instead, for choosing settings
without ever looking at it: `--tuning late` (the default) trains on 1981-1992 and scores 1993-1995,
`--tuning early` trains on 1985-1995 and scores 1982-1984 (1981 serves only as the first forecasts'
input history; the training windows of early 1985 read the 1984 flows as input, never as targets).
Three years of 30 rivers are a noisy guide, so a setting should win on both splits.

Forecast quantiles come from residuals calibrated on the training period (`model.uncertainty`);
they are scored by CRPS, CRPSS against probabilistic persistence and day-of-year climatology,
interval coverage and the PIT (`model.probabilistic`), in a second table.

A full (non-tuning) run ends with the skill targets, each MET or MISSED, with the figure to four
decimals (the table rounds to three).

Every run is an MLflow run (config/camels30.yaml's `tracking` store, or `--tracking-uri`): the
settings as parameters, training curves, median NSE and KGE per lead, the per-site tables, the
targets and the bundle as artifacts.

Usage:
    .venv/bin/python bench/skill.py [--data-dir DIR] [--out DIR] [--tuning [late|early]] [--seed N] [--members]
                                    [--quick] [--tracking-uri URI] [--bundle-out DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import resource
import sys
import tempfile
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapter.baselines import read_baselines  # noqa: E402
from adapter.local_reader import LocalFlowReader, LocalMeteoReader  # noqa: E402
from adapter.tracking import ExperimentTracker, TrackedRun, flatten  # noqa: E402
from config.loader import as_json, load_config  # noqa: E402
from config.settings import METEO_VARIABLES, ModelConfig, TrainingConfig  # noqa: E402
from domain.errors import InsufficientDataError, StreamflowError  # noqa: E402
from model.bundle import save_bundle  # noqa: E402
from model.evaluate import (  # noqa: E402
    LEAD1_TOLERANCE,
    baseline_medians,
    format_table,
    median_by_lead,
    sites_behind_persistence,
)
from model.site_data import SiteSeries  # noqa: E402
from model.trainer import TrainingRun, train_bundle  # noqa: E402
from service.training_service import TrainingProgress, read_records, run_tags, track_scores  # noqa: E402
from utils.allocator import keep_freed_memory  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
# The protocol: camels30's data directory, features and periods; model and training settings
# at their built-in defaults.
PROTOCOL_CONFIG = REPO_ROOT / "config" / "camels30.yaml"
# Tuning never sees the test period: two splits of the protocol's training years, each scoring
# three held-out years (the early split's first forecasts read 1981 as input history only).
TUNING_SPLITS = {
    "late": {"train_end": dt.date(1992, 12, 31), "test_start": dt.date(1993, 1, 1), "test_end": dt.date(1995, 12, 31)},
    "early": {"train_start": dt.date(1985, 1, 1), "test_start": dt.date(1982, 1, 1), "test_end": dt.date(1984, 12, 31)},
}
# Targets of a full run: (label, threshold); the figures are computed in `target_lines`.
TARGETS = (
    ("median NSE at lead 1 >= 0.80", 0.80),
    ("median NSE at lead 5 >= 0.60", 0.60),
    ("median NSE above persistence by >= 0.3 at leads 2-5 (smallest margin)", 0.30),
    ("median KGE at lead 1 >= 0.80", 0.80),
)
# Probabilistic targets: intervals within these coverages at every lead (median over sites) ...
COVERAGE_TARGETS = {"coverage_90": (0.87, 0.93), "coverage_50": (0.45, 0.55)}
# ... CRPSS against probabilistic persistence at lead 1 and 5, and against climatology at every lead.
CRPSS_PERSISTENCE_TARGETS = {1: 0.3, 5: 0.5}
CRPSS_CLIMATOLOGY_TARGET = 0.5
# The point forecast must keep its skill: median NSE per lead with the default seeds before the quantiles
# were added (issue 24), less this tolerance.
REFERENCE_NSE = (0.811, 0.664, 0.631, 0.617, 0.594)
NSE_TOLERANCE = 0.005
MAX_MINUTES = 30.0
MAX_PEAK_MB = 4096.0
# Our persistence medians must match baselines.csv to this tolerance (it has 4 decimals).
PERSISTENCE_TOLERANCE = 0.001
QUICK_SITES = 3


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help=f"local data directory (default: {PROTOCOL_CONFIG.name}'s)")
    parser.add_argument(
        "--out", type=Path, default=REPO_ROOT / "bench" / "results", help="directory for the per-site CSV"
    )
    parser.add_argument(
        "--tuning",
        nargs="?",
        const="late",
        choices=sorted(TUNING_SPLITS),
        help="score years before the test period: late (default) trains on 1981-1992 and scores 1993-1995, "
        "early trains on 1985-1995 and scores 1982-1984",
    )
    parser.add_argument(
        "--seed",
        type=int,
        help="seed of the first member (default: the built-in one); another seed is another draw of the same "
        "settings, to measure how far a figure moves with the training noise",
    )
    parser.add_argument(
        "--members",
        action="store_true",
        help="also score each member alone and write its per-site CSV: runs of one setting for bench/compare.py",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"CI variant: {QUICK_SITES} sites, 2 epochs, 1 member, small LSTM"
    )
    parser.add_argument(
        "--tracking-uri", help=f"MLflow store of the run (default: {PROTOCOL_CONFIG.name}'s tracking section)"
    )
    parser.add_argument(
        "--bundle-out", type=Path, help="also write the trained bundle here (e.g. for bench/calibration.py)"
    )
    return parser.parse_args(argv)


def benchmark_settings(args: argparse.Namespace, data_dir: Path) -> tuple[ModelConfig, TrainingConfig]:
    """The protocol's model and training settings, on the meteo variables `data_dir` has."""
    protocol = load_config(PROTOCOL_CONFIG, environ={})
    with next((data_dir / "meteo").glob("*.csv")).open() as meteo_file:
        header = meteo_file.readline().strip().split(",")
    model = dataclasses.replace(
        protocol.model, meteo_features=tuple(name for name in METEO_VARIABLES if name in header)
    )
    training = dataclasses.replace(protocol.training, **TUNING_SPLITS.get(args.tuning, {}))
    if args.seed is not None:
        training = dataclasses.replace(training, seed=args.seed)
    if args.quick:
        training = dataclasses.replace(training, epochs=2, ensemble_size=1)
        model = dataclasses.replace(model, hidden_size=16)
    return model, training


def check_persistence(scores: pd.DataFrame, baselines: pd.DataFrame) -> float:
    """Largest difference between our persistence medians and baselines.csv's, over leads and metrics."""
    ours = median_by_lead(scores)[["persistence_nse", "persistence_kge"]].to_numpy()
    theirs = baseline_medians(baselines, list(scores["site_id"].unique()))
    return float(abs(ours - theirs[[("nse", "persistence"), ("kge", "persistence")]].to_numpy()).max())


def target_lines(scores: pd.DataFrame, minutes: float, peak_mb: float) -> list[str]:
    """One line per skill target of a full run: MET or MISSED, with the measured figure."""
    medians = median_by_lead(scores)
    margin = (medians["nse"] - medians["persistence_nse"]).loc[2:5].min()
    figures = (medians.loc[1, "nse"], medians.loc[5, "nse"], margin, medians.loc[1, "kge"])
    lines = [
        _verdict(label, figure >= threshold, f"{figure:.4f}")
        for (label, threshold), figure in zip(TARGETS, figures, strict=True)
    ]
    behind = len(sites_behind_persistence(scores))
    lines.append(
        _verdict(
            f"no site more than {LEAD1_TOLERANCE} NSE below persistence at lead 1", behind == 0, f"{behind} site(s)"
        )
    )
    lines += probabilistic_target_lines(medians)
    lines.append(
        _verdict(f"training + evaluation <= {MAX_MINUTES:.0f} min", minutes <= MAX_MINUTES, f"{minutes:.1f} min")
    )
    lines.append(_verdict(f"peak memory <= {MAX_PEAK_MB / 1024:.0f} GB", peak_mb <= MAX_PEAK_MB, f"{peak_mb:.0f} MB"))
    return lines


def probabilistic_target_lines(medians: pd.DataFrame) -> list[str]:
    """MET or MISSED for the coverage, CRPSS and point-NSE targets of the quantiles (`median_by_lead` rows)."""
    lines = []
    for column, (low, high) in COVERAGE_TARGETS.items():
        worst = medians[column].sub((low + high) / 2).abs().idxmax()
        figures = " / ".join(f"{value:.4f}" for value in medians[column])
        met = bool(medians[column].between(low, high).all())
        lines.append(_verdict(f"{column} within {low}-{high} at every lead (worst lead {worst})", met, figures))
    for lead, threshold in CRPSS_PERSISTENCE_TARGETS.items():
        figure = medians.loc[lead, "crpss_persistence"]
        lines.append(
            _verdict(f"CRPSS vs persistence at lead {lead} >= {threshold}", figure >= threshold, f"{figure:.4f}")
        )
    lowest = medians["crpss_climatology"].min()
    lines.append(
        _verdict(
            f"CRPSS vs climatology >= {CRPSS_CLIMATOLOGY_TARGET} at every lead (lowest)",
            lowest >= CRPSS_CLIMATOLOGY_TARGET,
            f"{lowest:.4f}",
        )
    )
    shortfall = max(reference - medians.loc[lead, "nse"] for lead, reference in enumerate(REFERENCE_NSE, start=1))
    lines.append(
        _verdict(
            f"point NSE per lead not below {list(REFERENCE_NSE)} by more than {NSE_TOLERANCE} (largest shortfall)",
            shortfall <= NSE_TOLERANCE,
            f"{shortfall:.4f}",
        )
    )
    return lines


def write_member_scores(run: TrainingRun, records: list[SiteSeries], per_site: Path, tracked: TrackedRun) -> None:
    """Score each member alone and write `<per-site stem>_member<k>.csv` next to the ensemble's CSV
    (and into the run's artifacts).

    A member is one draw of the setting's training noise; `bench/compare.py` takes the members of
    two settings as their runs. Its quantiles come from the ensemble's calibration.
    """
    ensemble, periods = run.ensemble, run.bundle.training
    training_period = (periods.train_start, periods.train_end)
    for number, member in enumerate(ensemble.members, start=1):
        scores = ensemble.score(
            records, periods.test_start, periods.test_end, [member], run.bundle.residuals, training_period
        )
        path = per_site.with_name(f"{per_site.stem}_member{number}.csv")
        scores.round(4).to_csv(path, index=False)
        tracked.log_text(path.read_text(encoding="utf-8"), f"scores/{path.name}")
        medians = " / ".join(f"{value:.3f}" for value in median_by_lead(scores)["nse"])
        print(f"member {number} alone: median NSE {medians} -> {path}")


def _verdict(label: str, met: bool, figure: str) -> str:
    return f"  {'MET   ' if met else 'MISSED'} {label}: {figure}"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns 1 when the data do not cover the protocol or the persistence check fails."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    keep_freed_memory()
    protocol = load_config(PROTOCOL_CONFIG, environ={})
    data_dir = args.data_dir or protocol.data.data_dir
    tracking = dataclasses.replace(protocol.tracking, uri=args.tracking_uri) if args.tracking_uri else protocol.tracking
    model, periods = benchmark_settings(args, data_dir)
    flow_reader, meteo_reader = LocalFlowReader(data_dir), LocalMeteoReader(data_dir)
    sites = flow_reader.list_sites()[: QUICK_SITES if args.quick else None]
    print_header(args, data_dir, len(sites), model, periods)
    split = f"tuning_{args.tuning}" if args.tuning else "test"
    params = flatten({"model": as_json(model), "training": as_json(periods), "data_dir": str(data_dir)})
    try:
        records = read_records(flow_reader, meteo_reader, sites, model, periods)
        with ExperimentTracker(tracking).run(f"bench/skill {split}", params, run_tags()) as tracked:
            progress = TrainingProgress(periods, tracked)
            run = train_bundle(records, model, periods, {"data_dir": str(data_dir)}, on_epoch=progress)
            progress.close()
            tracked.set_tags({"data_fingerprint": run.bundle.data_fingerprint, "split": split})
            return report(args, run, records, data_dir, tracked)
    except StreamflowError as exc:
        hint = f" (the protocol needs records over {periods.train_start}..{periods.test_end})"
        print(f"benchmark failed: {exc}{hint if isinstance(exc, InsufficientDataError) else ''}", file=sys.stderr)
        return 1


def print_header(
    args: argparse.Namespace, data_dir: Path, n_sites: int, model: ModelConfig, periods: TrainingConfig
) -> None:
    """What is trained on what, before training starts."""
    print(f"{n_sites} sites from {data_dir}; features {', '.join(model.meteo_features)}")
    print(
        f"train {periods.train_start}..{periods.train_end} ({periods.epochs} epochs, no early stopping), "
        f"scored {periods.test_start}..{periods.test_end}"
        + (f" (TUNING, {args.tuning} split: years before the test period)" if args.tuning else "")
    )
    print(
        f"settings: hidden {model.hidden_size}, dropout {model.dropout}, {model.seq_len}-day input, batch "
        f"{periods.batch_size}, learning rate {periods.learning_rate}, lead loss weights "
        f"{list(periods.lead_loss_weights)}, year weight eps {periods.year_weight_eps}, "
        f"{periods.ensemble_size} member(s) from seed {periods.seed}"
    )
    print("meteorology over the lead days is the observed record: a perfect meteorological forecast")


def report(
    args: argparse.Namespace, run: TrainingRun, records: list[SiteSeries], data_dir: Path, tracked: TrackedRun
) -> int:
    """Print and store the scores, the targets and the persistence check; returns the exit code."""
    scores = run.scores
    baselines = None if args.tuning else read_baselines(data_dir)
    print()
    print(format_table(scores, baselines))
    args.out.mkdir(parents=True, exist_ok=True)
    per_site = args.out / (f"skill_tuning_{args.tuning}_per_site.csv" if args.tuning else "skill_per_site.csv")
    scores.round(4).to_csv(per_site, index=False)
    print(f"per-site results: {per_site}")
    track_scores(tracked, scores, "test" if not args.tuning else f"tuning_{args.tuning}")
    if args.members:
        write_member_scores(run, records, per_site, tracked)
    with tempfile.TemporaryDirectory() as models:
        tracked.log_artifacts(save_bundle(run.bundle, Path(models)), "bundle")
    if args.bundle_out:
        print(f"bundle written to {save_bundle(run.bundle, args.bundle_out)}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"training {run.train_seconds / 60:.1f} min, training + evaluation {run.total_seconds / 60:.1f} min, "
        f"peak memory {peak_mb:.0f} MB, {len(run.ensemble.members)} member(s), torch threads {torch.get_num_threads()}"
    )
    tracked.log_metrics({"minutes": run.total_seconds / 60, "peak_memory_mb": peak_mb})
    if not args.tuning:
        lines = target_lines(scores, run.total_seconds / 60, peak_mb)
        print("targets" + (" (quick run: a smoke test, not a measurement)" if args.quick else ""))
        print("\n".join(lines))
        tracked.log_text("\n".join(lines) + "\n", "targets.txt")
    if baselines is not None:
        difference = check_persistence(scores, baselines)
        verdict = "OK" if difference <= PERSISTENCE_TOLERANCE else "FAILED"
        print(f"persistence check against baselines.csv: {verdict} (largest median difference {difference:.4f})")
        if verdict == "FAILED":
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
