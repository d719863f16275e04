"""Flood thresholds of a site and the severity and trend of a forecast: plain data and rules."""

from __future__ import annotations

import dataclasses

RETURN_PERIODS = (2, 5, 10)
SEVERITIES = ("unknown", "none", *(f"{years}-year" for years in RETURN_PERIODS))
TRENDS = ("rising", "falling", "steady")
# A threshold counts as forecast to be exceeded when its probability on some day reaches this.
SEVERITY_PROBABILITY = 0.5
# Median at the last lead day against the issue day's flow: a change within this share is steady.
STEADY_SHARE = 0.1


@dataclasses.dataclass(frozen=True)
class FloodThresholds:
    """A site's return-period daily flows from its training-period annual maxima.

    Attributes:
        method: How they were fitted (e.g. "Gumbel by L-moments, water-year maxima").
        years: Annual maxima the fit used.
        flows: Return period in years -> daily mean flow, m3/s; None when the record is too short.
        reason: Why `flows` is None.
    """

    method: str
    years: int
    flows: dict[int, float] | None
    reason: str | None = None

    def as_json(self) -> dict:
        """JSON-ready form (return periods as string keys)."""
        flows = None if self.flows is None else {str(years): round(flow, 4) for years, flow in self.flows.items()}
        return {"method": self.method, "years": self.years, "flows": flows, "reason": self.reason}

    @classmethod
    def from_json(cls, raw: dict) -> FloodThresholds:
        """Inverse of `as_json`.

        Raises:
            KeyError, ValueError, TypeError: A field is missing or malformed.
        """
        flows = raw["flows"]
        return cls(
            method=str(raw["method"]),
            years=int(raw["years"]),
            flows=None if flows is None else {int(years): float(flow) for years, flow in flows.items()},
            reason=raw.get("reason"),
        )


def severity(thresholds: FloodThresholds, exceedance: list[dict[int, float]]) -> str:
    """The highest return period some forecast day exceeds with probability >= `SEVERITY_PROBABILITY`.

    Args:
        thresholds: The site's thresholds.
        exceedance: Per forecast day, return period -> probability of exceeding its flow.

    Returns:
        "unknown" without thresholds, "none" when no threshold is likely exceeded, else e.g. "5-year".
    """
    if thresholds.flows is None:
        return "unknown"
    likely = [years for day in exceedance for years, p in day.items() if p >= SEVERITY_PROBABILITY]
    return f"{max(likely)}-year" if likely else "none"


def trend(issue_flow: float | None, last_median: float) -> str:
    """Rising, falling or steady: the last lead day's median against the flow observed on the issue day
    (steady when that flow is unknown or zero and the median too)."""
    if issue_flow is None:
        return "steady"
    if last_median > issue_flow * (1 + STEADY_SHARE):
        return "rising"
    if last_median < issue_flow * (1 - STEADY_SHARE):
        return "falling"
    return "steady"
