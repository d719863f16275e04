"""The accuracy gate: may a candidate model replace the live one?

A candidate passes when, on the scored period and the sites both models serve, its median NSE
(a) beats persistence's by `margin` at every lead day and (b) is at most `tolerance` below the
live model's at every lead day, the live model re-scored by the same code on the same days. The
first model has no live one and is gated against persistence alone.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from model.evaluate import median_by_lead


@dataclasses.dataclass(frozen=True)
class GateResult:
    """The gate's verdict and its table.

    Attributes:
        passed: Whether the candidate may become live.
        reasons: Each failed condition, in words (empty when it passed).
        table: Index lead_days; columns candidate, live (NaN without a live model), persistence:
            median NSE over `sites`.
        sites: The sites both models serve, which the medians are over.
        margin: The required lead over persistence.
        tolerance: The allowed shortfall against the live model.
    """

    passed: bool
    reasons: tuple[str, ...]
    table: pd.DataFrame
    sites: tuple[str, ...]
    margin: float
    tolerance: float

    def format(self) -> str:
        """The table and the verdict, as printed and stored on the registry version."""
        lines = [f"gate over {len(self.sites)} site(s): median NSE per lead day", "lead | candidate   live persist"]
        for lead, row in self.table.iterrows():
            live = "   -  " if np.isnan(row["live"]) else f"{row['live']:6.3f}"
            lines.append(f"{lead:>4} | {row['candidate']:9.3f} {live} {row['persistence']:7.3f}")
        verdict = "PASSED" if self.passed else "REFUSED: " + "; ".join(self.reasons)
        lines.append(f"{verdict} (margin over persistence {self.margin}, tolerance against live {self.tolerance})")
        return "\n".join(lines)

    def as_json(self) -> dict:
        """JSON-ready form, for the registry version's tag and the retraining job's report."""
        return {
            "passed": self.passed,
            "reasons": list(self.reasons),
            "sites": list(self.sites),
            "margin": self.margin,
            "tolerance": self.tolerance,
            "median_nse": {
                str(lead): {key: None if np.isnan(value) else round(float(value), 4) for key, value in row.items()}
                for lead, row in self.table.iterrows()
            },
        }


def gate(candidate: pd.DataFrame, live: pd.DataFrame | None, margin: float, tolerance: float) -> GateResult:
    """Judge a candidate on its per-site scores against persistence and the live model's.

    Args:
        candidate: The candidate's `model.evaluate.score` table (with persistence columns).
        live: The live model's table on the same period, or None for the first model.
        margin: Required lead of the candidate's median NSE over persistence's, every lead day.
        tolerance: Largest allowed shortfall of the candidate's median NSE below the live model's.

    Returns:
        The verdict with its table, over the sites both tables hold.
    """
    sites = set(candidate["site_id"]) & (set(live["site_id"]) if live is not None else set(candidate["site_id"]))
    ours = median_by_lead(candidate[candidate["site_id"].isin(sites)])
    table = pd.DataFrame({"candidate": ours["nse"], "persistence": ours["persistence_nse"]})
    table["live"] = median_by_lead(live[live["site_id"].isin(sites)])["nse"] if live is not None else np.nan
    table = table[["candidate", "live", "persistence"]]
    reasons = []
    if not sites:
        reasons.append("the candidate and the live model serve no site in common")
    for lead, row in table.iterrows():
        if not row["candidate"] >= row["persistence"] + margin:
            reasons.append(
                f"lead {lead}: {row['candidate']:.3f} does not beat persistence {row['persistence']:.3f} by {margin}"
            )
        if live is not None and not row["candidate"] >= row["live"] - tolerance:
            reasons.append(f"lead {lead}: {row['candidate']:.3f} is more than {tolerance} below live {row['live']:.3f}")
    return GateResult(not reasons, tuple(reasons), table, tuple(sorted(sites)), margin, tolerance)
