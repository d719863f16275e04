"""Compare two settings site by site: is a change in the median skill more than noise?

The median over 30 sites is the mean of the 15th and 16th; when a gap separates them it moves by
0.01 or more although no site changed beyond its seed-to-seed noise. So a setting is judged by the
change of each site's score, paired: its mean over the middle half of the sites (those that decide
the median) and over all, each with a 90 % interval, and how many sites rose.

Each side is one or more per-site CSVs of `bench/skill.py` (its `--out`; with `--members`, one per
member): runs of one setting. A side's score of a site is the mean over its runs. The intervals
resample the sites and, within each side, the runs: a run's training noise is shared by all its
sites (bench/RESULTS.md shows two draws of one setting apart by more than a sites-only interval),
so with one run a side the intervals cover the sites only and are too narrow.

Usage:
    .venv/bin/python bench/compare.py --baseline A.csv [A2.csv ...] --candidate B.csv [B2.csv ...] [--metric nse]
"""

from __future__ import annotations

import argparse
import functools
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
    parser.add_argument(
        "--baseline", type=Path, nargs="+", required=True, help="per-site CSV(s) of the reference setting"
    )
    parser.add_argument("--candidate", type=Path, nargs="+", required=True, help="per-site CSV(s) of the new setting")
    parser.add_argument("--metric", choices=METRICS, default="nse", help="score to compare (default nse)")
    return parser.parse_args(argv)


def read_runs(paths: list[Path], metric: str) -> list[pd.DataFrame]:
    """One [site_id x lead_days] table of the score per run."""
    runs = []
    for path in paths:
        if not path.is_file():
            raise CompareError(f"{path}: no such file")
        try:
            run = pd.read_csv(path, dtype={"site_id": str})
            missing = {"site_id", "lead_days", metric} - set(run.columns)
            if missing:
                raise CompareError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
            runs.append(run.pivot(index="site_id", columns="lead_days", values=metric))
        except ValueError as exc:  # pandas: empty or unparsable file, a site and lead day twice
            raise CompareError(f"{path}: not a per-site CSV of bench/skill.py ({exc})") from exc
    return runs


def common_sites(baseline: list[pd.DataFrame], candidate: list[pd.DataFrame]) -> pd.Index:
    """Sites every run of both sides scored."""
    sites = functools.reduce(pd.Index.intersection, [run.index for run in baseline + candidate])
    if sites.empty:
        raise CompareError("the two sides have no site in common")
    return sites


def middle_half(scores: np.ndarray) -> np.ndarray:
    """[sites, leads] scores -> mask of the sites between the 25th and 75th percentile of each lead."""
    low, high = np.nanpercentile(scores, [25.0, 75.0], axis=0)
    return (scores >= low) & (scores <= high)


def paired_changes(baseline: list[pd.DataFrame], candidate: list[pd.DataFrame], seed: int = 0) -> pd.DataFrame:
    """Per lead day: both medians, the mean change per site with its interval, sites up and down.

    Each side's runs are averaged per site; only sites every run scored and lead days every run
    has are compared. The mean change is given over all sites and over the middle half (the sites
    between the baseline's quartiles, those that decide the median): the weakest sites swing by
    0.1-0.3 between runs and can carry the mean of all. The intervals resample sites and each
    side's runs (`RESAMPLES` times).
    """
    sites = common_sites(baseline, candidate)
    leads = functools.reduce(pd.Index.intersection, [run.columns for run in baseline + candidate])
    base = np.stack([run.loc[sites, leads].to_numpy(float) for run in baseline])  # [runs, sites, leads]
    cand = np.stack([run.loc[sites, leads].to_numpy(float) for run in candidate])
    change = cand.mean(axis=0) - base.mean(axis=0)
    middle = [np.flatnonzero(column) for column in middle_half(base.mean(axis=0)).T]
    rng = np.random.default_rng(seed)
    resampled_all = np.empty((RESAMPLES, len(leads)))
    resampled_middle = np.empty((RESAMPLES, len(leads)))
    for number in range(RESAMPLES):
        base_runs = base[rng.integers(len(base), size=len(base))].mean(axis=0)
        cand_runs = cand[rng.integers(len(cand), size=len(cand))].mean(axis=0)
        drawn = cand_runs - base_runs
        resampled_all[number] = np.nanmean(drawn[rng.integers(len(sites), size=len(sites))], axis=0)
        for lead, rows in enumerate(middle):
            resampled_middle[number, lead] = np.nanmean(drawn[rng.choice(rows, size=len(rows)), lead])
    low, high = np.percentile(resampled_all, INTERVAL, axis=0)
    middle_low, middle_high = np.percentile(resampled_middle, INTERVAL, axis=0)
    return pd.DataFrame(
        {
            "baseline_median": np.nanmedian(base.mean(axis=0), axis=0),
            "candidate_median": np.nanmedian(cand.mean(axis=0), axis=0),
            "middle_change": [np.nanmean(change[rows, lead]) for lead, rows in enumerate(middle)],
            "middle_low": middle_low,
            "middle_high": middle_high,
            "mean_change": np.nanmean(change, axis=0),
            "interval_low": low,
            "interval_high": high,
            "sites_up": (change > 0).sum(axis=0),
            "sites_down": (change < 0).sum(axis=0),
        },
        index=pd.Index(leads, name="lead_days"),
    )


def format_changes(changes: pd.DataFrame, metric: str) -> str:
    """The comparison as a text table."""
    lines = [
        f"mean {metric} change per site [90 % interval]; middle half: the sites between the baseline's quartiles",
        "lead | baseline median | candidate median |        middle half change |          all sites change | up / down",
    ]
    for lead, row in changes.iterrows():
        middle = f"{row.middle_change:+.4f} [{row.middle_low:+.4f}, {row.middle_high:+.4f}]"
        every = f"{row.mean_change:+.4f} [{row.interval_low:+.4f}, {row.interval_high:+.4f}]"
        lines.append(
            f"{lead:>4} | {row.baseline_median:>15.4f} | {row.candidate_median:>16.4f} | {middle:>25} | {every:>25} | "
            f"{int(row.sites_up):>2} / {int(row.sites_down)}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the comparison; returns 2 when the files cannot be compared."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        baseline, candidate = read_runs(args.baseline, args.metric), read_runs(args.candidate, args.metric)
        changes = paired_changes(baseline, candidate)
        sites = common_sites(baseline, candidate)
    except CompareError as exc:
        print(f"cannot compare: {exc}", file=sys.stderr)
        return 2
    left_out = functools.reduce(pd.Index.union, [run.index for run in baseline + candidate]).difference(sites)
    print(
        f"{len(sites)} site(s) in every run, {len(baseline)} run(s) baseline, {len(candidate)} candidate"
        + (f"; left out, not scored in every run: {', '.join(left_out)}" if len(left_out) else "")
    )
    print(format_changes(changes, args.metric))
    if min(len(baseline), len(candidate)) == 1:
        print(
            "one run on a side: the interval leaves out the training noise a run shares over its sites; "
            "compare runs of several seeds a side"
        )
    if args.metric == "low_flow_error":
        print("low_flow_error: lower is better, so a negative change is a gain")
    return 0


if __name__ == "__main__":
    sys.exit(main())
