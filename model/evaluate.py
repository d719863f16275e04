"""Hindcast a period and score it per site and lead day against persistence.

Protocol: a forecast issued on day t uses flow observed through t and the
meteorology of t+1..t+k as given (a perfect meteorological forecast). Lead k
is scored over issue days t with both t and t+k inside the period, on target
days where observation and forecast both exist. Persistence is Q(t+k) = Q(t).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import torch

from model.dataset import SiteTensors, iter_batches, plan_windows
from model.lstm import StreamflowLSTM
from model.metrics import kge, low_flow_error, nse
from model.probabilistic import PROBABILISTIC_COLUMNS
from model.site_data import SiteSeries

# A forecaster that sees today's flow should not do worse than repeating it.
LEAD1_TOLERANCE = 0.02
SCORE_COLUMNS = (
    "nse",
    "kge",
    "persistence_nse",
    "persistence_kge",
    "low_flow_error",
    "persistence_low_flow_error",
    *PROBABILISTIC_COLUMNS,
)


@torch.inference_mode()
def hindcast(
    members: list[StreamflowLSTM],
    sites: list[SiteTensors],
    start: dt.date,
    end: dt.date,
    seq_len: int,
    horizon: int,
) -> dict[str, np.ndarray]:
    """Forecast every issue day of a period with the ensemble mean.

    Returns:
        site_id -> [days of the record, horizon] site-standardised forecasts,
        row t holding the forecast issued on day t (NaN for days not issued).
    """
    for member in members:
        member.eval()
    device = next(members[0].parameters()).device  # members trained on a GPU are scored there
    plan = plan_windows(sites, start, end, seq_len, rng=None)
    forecasts = {site.site_id: np.full((len(site.target), horizon), np.nan) for site in sites}
    batch_size = 32
    for offset, batch in zip(
        range(0, len(plan), batch_size),
        iter_batches(sites, plan, seq_len, horizon, (start, end), batch_size),
        strict=True,
    ):
        batch = batch.to(device)
        mean = torch.stack([m(batch.past, batch.future, batch.static, batch.last_flow) for m in members]).mean(0)
        for (number, first), values in zip(plan[offset : offset + batch_size], mean.cpu().numpy(), strict=True):
            rows = first + np.arange(len(values))
            keep = rows < len(sites[number].target)
            forecasts[sites[number].site_id][rows[keep]] = values[keep]
    return forecasts


def score(
    records: list[SiteSeries],
    forecasts: dict[str, np.ndarray],
    start: dt.date,
    end: dt.date,
) -> pd.DataFrame:
    """Score forecasts and persistence per site and lead day.

    Args:
        records: Raw site records (observed flow in mm/day).
        forecasts: site_id -> [days, horizon] forecasts in mm/day, row t issued on day t (`hindcast`'s rows
            mapped back to mm/day).
        start: First day of the scored period.
        end: Last day of the scored period.

    Returns:
        One row per (site_id, lead_days): nse, kge, persistence_nse, persistence_kge, low_flow_error,
        persistence_low_flow_error (`model.metrics.low_flow_error`), n_days.
    """
    rows = []
    for record in records:
        site_id = record.site.site_id
        forecast_mm = forecasts[site_id]
        first, last = max(record.index_of(start), 0), min(record.index_of(end), record.n_days - 1)
        for lead in range(1, forecast_mm.shape[1] + 1):
            issue = np.arange(first, last - lead + 1)
            observed = record.flow_mm[issue + lead]
            simulated = forecast_mm[issue, lead - 1]
            persistence = record.flow_mm[issue]
            rows.append(
                {
                    "site_id": site_id,
                    "lead_days": lead,
                    "nse": nse(observed, simulated),
                    "kge": kge(observed, simulated),
                    "persistence_nse": nse(observed, persistence),
                    "persistence_kge": kge(observed, persistence),
                    "low_flow_error": low_flow_error(observed, simulated),
                    "persistence_low_flow_error": low_flow_error(observed, persistence),
                    "n_days": int((~np.isnan(observed) & ~np.isnan(simulated)).sum()),
                }
            )
    return pd.DataFrame(rows)


def metrics_json(scores: pd.DataFrame, start: dt.date, end: dt.date) -> dict:
    """Scores per site and lead, and their medians, as JSON (a bundle's `metrics`)."""
    return {
        "test_period": [start.isoformat(), end.isoformat()],
        "median_by_lead": {str(lead): row.round(4).to_dict() for lead, row in median_by_lead(scores).iterrows()},
        "per_site": scores.round(4).to_dict(orient="records"),
    }


def median_by_lead(scores: pd.DataFrame) -> pd.DataFrame:
    """Median over sites of every score, one row per lead day."""
    columns = [column for column in SCORE_COLUMNS if column in scores]
    return scores.groupby("lead_days")[columns].median()


def baseline_medians(baselines: pd.DataFrame, site_ids: list[str]) -> pd.DataFrame:
    """Median NSE and KGE of each baseline per lead day over `site_ids`.

    Args:
        baselines: Rows of `site_id, lead_days, baseline, nse, kge` (see `adapter.baselines`).
        site_ids: The scored sites.

    Returns:
        Index lead_days; columns (metric, baseline), e.g. ("nse", "climatology_doy").
    """
    chosen = baselines[baselines["site_id"].isin(site_ids)]
    return chosen.groupby(["baseline", "lead_days"])[["nse", "kge"]].median().unstack(level=0)


def format_table(scores: pd.DataFrame, baselines: pd.DataFrame | None = None) -> str:
    """Median NSE and KGE per lead day: the model, persistence and (when given) climatology.

    Ends with the sites whose lead-1 NSE is more than `LEAD1_TOLERANCE` below persistence.
    """
    medians = median_by_lead(scores)
    climatology = _climatology(baselines, list(scores["site_id"].unique()), medians.index)
    lines = [
        f"median over {scores['site_id'].nunique()} sites",
        f"{'lead':>4} | {'NSE':>6} {'persist':>7} {'climat':>6} | {'KGE':>6} {'persist':>7} {'climat':>6}",
    ]
    for lead, row in medians.iterrows():
        lines.append(
            f"{lead:>4} | {row['nse']:6.3f} {row['persistence_nse']:7.3f} {climatology.loc[lead, 'nse']:6.3f} | "
            f"{row['kge']:6.3f} {row['persistence_kge']:7.3f} {climatology.loc[lead, 'kge']:6.3f}"
        )
    if "low_flow_error" in medians:
        last = medians.index.max()
        lines.append(
            f"low flows (lowest 30 % of observed days), median relative error at lead 1 / {last}: "
            f"{medians.loc[1, 'low_flow_error']:.3f} / {medians.loc[last, 'low_flow_error']:.3f}, persistence "
            f"{medians.loc[1, 'persistence_low_flow_error']:.3f} / {medians.loc[last, 'persistence_low_flow_error']:.3f}"
        )
    behind = sites_behind_persistence(scores)
    lines.append(f"lead 1: {len(behind)} site(s) more than {LEAD1_TOLERANCE} NSE below persistence {behind}")
    if "crps" in medians:
        lines += probabilistic_lines(medians)
    return "\n".join(lines)


def probabilistic_lines(medians: pd.DataFrame) -> list[str]:
    """The probabilistic columns of `median_by_lead` as a table (`model.probabilistic`)."""
    lines = [
        "probabilistic (quantiles; CRPS in mm/day; CRPSS against probabilistic persistence and climatology)",
        f"{'lead':>4} | {'CRPS':>6} {'CRPSS-p':>7} {'CRPSS-c':>7} | {'cov50':>5} {'cov90':>5} | {'PIT mean':>8} {'PIT KS':>6}",
    ]
    for lead, row in medians.iterrows():
        lines.append(
            f"{lead:>4} | {row['crps']:6.3f} {row['crpss_persistence']:7.3f} {row['crpss_climatology']:7.3f} | "
            f"{row['coverage_50']:5.3f} {row['coverage_90']:5.3f} | {row['pit_mean']:8.3f} {row['pit_ks']:6.3f}"
        )
    return lines


def sites_behind_persistence(scores: pd.DataFrame) -> list[str]:
    """Sites whose lead-1 NSE is more than `LEAD1_TOLERANCE` below persistence's."""
    lead1 = scores[scores["lead_days"] == 1]
    return list(lead1.loc[lead1["nse"] < lead1["persistence_nse"] - LEAD1_TOLERANCE, "site_id"])


def _climatology(baselines: pd.DataFrame | None, site_ids: list[str], leads: pd.Index) -> pd.DataFrame:
    if baselines is None or "climatology_doy" not in set(baselines["baseline"]):
        return pd.DataFrame({"nse": float("nan"), "kge": float("nan")}, index=leads)
    medians = baseline_medians(baselines, site_ids)
    return pd.DataFrame({metric: medians[(metric, "climatology_doy")] for metric in ("nse", "kge")}).reindex(leads)
