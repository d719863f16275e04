"""Compare two settings site by site: is a change in the median skill more than noise?

The median over 30 sites is the mean of the 15th and 16th; when a gap separates them it moves by
0.01 or more although no site changed beyond its seed-to-seed noise. So a setting is judged by the
change of each site's score, paired: its mean over the sites, with an interval from resampling the
sites (a change whose interval holds 0 is not shown to be real), and how many sites rose.

Each side is one or more per-site CSVs of `bench/skill.py` (its `--out`), e.g. runs of several
seeds; a side's score of a site is the mean over its runs.

Usage:
    .venv/bin/python bench/compare.py --baseline A.csv [A2.csv ...] --candidate B.csv [B2.csv ...] [--metric nse]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

METRICS = ("nse", "kge", "low_flow_error")
RESAMPLES = 2000
# Two-sided 90 % interval of the mean change.
INTERVAL = (5.0, 95.0)


class CompareError(Exception):
    """A per-site file cannot be compared (missing, wrong columns, no site in common)."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, nargs="+", required=True, help="per-site CSV(s) of the reference setting")
    parser.add_argument("--candidate", type=Path, nargs="+", required=True, help="per-site CSV(s) of the new setting")
    parser.add_argument("--metric", choices=METRICS, default="nse", help="score to compare (default nse)")
    return parser.parse_args(argv)


def read_side(paths: list[Path], metric: str) -> pd.DataFrame:
    """[site_id x lead_days] mean score over the runs of one side."""
    runs = []
    for path in paths:
        if not path.is_file():
            raise CompareError(f"{path}: no such file")
        run = pd.read_csv(path, dtype={"site_id": str})
        missing = {"site_id", "lead_days", metric} - set(run.columns)
        if missing:
            raise CompareError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        runs.append(run.pivot(index="site_id", columns="lead_days", values=metric))
    return sum(runs) / len(runs)


def paired_changes(baseline: pd.DataFrame, candidate: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Per lead day: both medians, the mean change per site with its interval, sites up and down.

    Only sites and lead days both sides scored are compared.
    """
    common = baseline.index.intersection(candidate.index)
    if common.empty:
        raise CompareError("the two sides have no site in common")
    change = candidate.loc[common] - baseline.loc[common]
    rng = np.random.default_rng(seed)
    rows = []
    for lead in change.columns.intersection(baseline.columns):
        values = change[lead].dropna().to_numpy()
        resampled = rng.choice(values, size=(RESAMPLES, len(values))).mean(axis=1)
        low, high = np.percentile(resampled, INTERVAL)
        rows.append(
            {
                "lead_days": lead,
                "baseline_median": baseline.loc[common, lead].median(),
                "candidate_median": candidate.loc[common, lead].median(),
                "mean_change": values.mean(),
                "interval_low": low,
                "interval_high": high,
                "sites_up": int((values > 0).sum()),
                "sites_down": int((values < 0).sum()),
            }
        )
    return pd.DataFrame(rows).set_index("lead_days")


def format_changes(changes: pd.DataFrame, metric: str) -> str:
    """The comparison as a text table."""
    lines = [
        f"lead | {metric} baseline median | candidate median | mean change per site [90 % interval] | sites up / down",
    ]
    for lead, row in changes.iterrows():
        interval = f"[{row.interval_low:+.4f}, {row.interval_high:+.4f}]"
        lines.append(
            f"{lead:>4} | {row.baseline_median:>24.4f} | {row.candidate_median:>16.4f} | "
            f"{row.mean_change:+.4f} {interval:>20} | {int(row.sites_up):>3} / {int(row.sites_down)}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the comparison; returns 2 when the files cannot be compared."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        baseline, candidate = read_side(args.baseline, args.metric), read_side(args.candidate, args.metric)
        changes = paired_changes(baseline, candidate)
    except CompareError as exc:
        print(f"cannot compare: {exc}", file=sys.stderr)
        return 2
    only = baseline.index.symmetric_difference(candidate.index)
    print(f"{len(baseline.index.intersection(candidate.index))} site(s) on both sides"
          + (f"; left out, scored on one side only: {', '.join(only)}" if len(only) else ""))
    print(format_changes(changes, args.metric))
    if args.metric == "low_flow_error":
        print("low_flow_error: lower is better, so a negative change is a gain")
    return 0


if __name__ == "__main__":
    sys.exit(main())
