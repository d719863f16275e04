"""Choose how forecast quantiles are calibrated: score variants of `model.uncertainty.Calibration`.

Takes a bundle trained on a tuning split of the skill benchmark (`bench/skill.py --tuning late
--bundle-out DIR`, and `--tuning early`), hindcasts its training and scored periods once, then for
each variant calibrates the residuals on the training period, as a protocol run does (it has no
validation period), and scores the split's held-out years: median over sites per lead of CRPS,
CRPSS against probabilistic persistence and climatology, coverage of the 50 % and 90 % intervals
and the PIT summary (`model.probabilistic`). The test period is never touched. Every variant's
medians go to one MLflow run (the protocol's tracking store, or `--tracking-uri`).

Usage:
    .venv/bin/python bench/calibration.py --bundle DIR [--data-dir DIR] [--tracking-uri URI]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapter.local_reader import LocalFlowReader, LocalMeteoReader  # noqa: E402
from adapter.tracking import ExperimentTracker  # noqa: E402
from config.loader import load_config  # noqa: E402
from model.bundle import load_bundle  # noqa: E402
from model.ensemble import Ensemble  # noqa: E402
from model.probabilistic import PROBABILISTIC_COLUMNS, score_probabilistic_sites  # noqa: E402
from model.uncertainty import Calibration, calibrate_sites  # noqa: E402
from service.training_service import read_records, run_tags  # noqa: E402

PROTOCOL_CONFIG = Path(__file__).resolve().parent.parent / "config" / "camels30.yaml"
# Round 1: the transform and the number of size regimes, on size alone; round 2: the log transform
# with rises apart, more regimes, the offset, a little more spread (bench/RESULTS.md, 2026-12-02).
VARIANTS = (
    *(
        Calibration(power=power, regimes=regimes, by_direction=False, spread=1.0)
        for power in (0.0, 0.5, 1.0)
        for regimes in (1, 3, 5)
    ),
    Calibration(power=0.0, regimes=8, by_direction=False, spread=1.0),
    Calibration(power=0.0, regimes=8, by_direction=False, spread=1.05),
    *(
        Calibration(power=0.0, regimes=regimes, by_direction=True, spread=spread)
        for regimes in (4, 8)
        for spread in (1.0, 1.05, 1.1)
    ),
    Calibration(power=0.0, regimes=4, offset_share=0.01),
    Calibration(power=0.0, regimes=4, offset_share=0.2),
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True, help="a bundle trained on a tuning split")
    parser.add_argument("--data-dir", type=Path, help=f"local data directory (default: {PROTOCOL_CONFIG.name}'s)")
    parser.add_argument("--tracking-uri", help="MLflow store of the run (default: the protocol's)")
    return parser.parse_args(argv)


def label(calibration: Calibration) -> str:
    """A variant's short name, e.g. power0_regimes4_rises_offset0.05_spread1.05."""
    direction = "_rises" if calibration.by_direction else ""
    return (
        f"power{calibration.power:g}_regimes{calibration.regimes}{direction}_offset{calibration.offset_share:g}"
        f"_spread{calibration.spread:g}"
    )


def main(argv: list[str] | None = None) -> int:
    """Score every variant and print one line per variant and lead."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    protocol = load_config(PROTOCOL_CONFIG, environ={})
    data_dir = args.data_dir or protocol.data.data_dir
    tracking = dataclasses.replace(protocol.tracking, uri=args.tracking_uri) if args.tracking_uri else protocol.tracking
    bundle = load_bundle(args.bundle)
    periods = bundle.training
    flow_reader, meteo_reader = LocalFlowReader(data_dir), LocalMeteoReader(data_dir)
    records = read_records(flow_reader, meteo_reader, list(bundle.sites), bundle.model, periods)
    ensemble = Ensemble.from_bundle(bundle)
    forecasts = ensemble.hindcast_mm(records, periods.train_start, periods.test_end)
    training, scored = (periods.train_start, periods.train_end), (periods.test_start, periods.test_end)
    print(f"bundle {bundle.version}: calibrated on {training[0]}..{training[1]}, scored {scored[0]}..{scored[1]}")
    print(f"{'variant':<32} lead " + " ".join(f"{column:>17}" for column in PROBABILISTIC_COLUMNS))
    params = {"bundle": bundle.version, "calibrated_on": f"{training[0]}..{training[1]}"}
    params["scored"] = f"{scored[0]}..{scored[1]}"
    with ExperimentTracker(tracking).run("bench/calibration", params, run_tags()) as tracked:
        for calibration in VARIANTS:
            residuals = calibrate_sites(records, forecasts, *training, calibration)
            scores = score_probabilistic_sites(records, forecasts, residuals, scored, training)
            medians = scores.groupby("lead_days")[list(PROBABILISTIC_COLUMNS)].median()
            print_variant(label(calibration), medians)
            tracked.log_metrics(
                {
                    f"{label(calibration)}_{column}_lead{lead}": float(row[column])
                    for lead, row in medians.iterrows()
                    for column in PROBABILISTIC_COLUMNS
                }
            )
    return 0


def print_variant(name: str, medians: pd.DataFrame) -> None:
    """One line per lead day of a variant's medians."""
    for lead, row in medians.iterrows():
        figures = " ".join(f"{row[column]:17.4f}" for column in PROBABILISTIC_COLUMNS)
        print(f"{name:<32} {lead:>4} {figures}")


if __name__ == "__main__":
    sys.exit(main())
