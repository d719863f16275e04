"""Tests of model/gate.py: the accuracy gate's verdict and table."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from model.gate import gate


def scores(model: dict[str, list[float]], persistence: float = 0.3, leads: int = 3) -> pd.DataFrame:
    """A per-site score table: each site's model NSE per lead, persistence the same at every site."""
    return pd.DataFrame(
        [
            {"site_id": site, "lead_days": lead, "nse": values[lead - 1], "persistence_nse": persistence - 0.1 * lead}
            for site, values in model.items()
            for lead in range(1, leads + 1)
        ]
    )


def test_the_first_model_is_gated_against_persistence_alone() -> None:
    result = gate(scores({"01": [0.8, 0.6, 0.5], "02": [0.6, 0.4, 0.3]}), None, margin=0.05, tolerance=0.01)

    assert result.passed and result.reasons == ()
    assert result.table["candidate"].tolist() == pytest.approx([0.7, 0.5, 0.4])  # medians over both sites
    assert result.table["persistence"].tolist() == pytest.approx([0.2, 0.1, 0.0])
    assert all(math.isnan(value) for value in result.table["live"])
    assert "PASSED" in result.format() and "   -  " in result.format()


def test_a_candidate_that_does_not_beat_persistence_by_the_margin_is_refused() -> None:
    result = gate(scores({"01": [0.25, 0.6, 0.5]}), None, margin=0.1, tolerance=0.01)

    assert not result.passed
    assert result.reasons == ("lead 1: 0.250 does not beat persistence 0.200 by 0.1",)
    assert "REFUSED: lead 1" in result.format()


def test_a_candidate_worse_than_live_beyond_the_tolerance_is_refused_at_that_lead() -> None:
    live = scores({"01": [0.80, 0.60, 0.50]})
    candidate = scores({"01": [0.795, 0.55, 0.52]})

    result = gate(candidate, live, margin=0.0, tolerance=0.01)

    assert not result.passed
    assert result.reasons == ("lead 2: 0.550 is more than 0.01 below live 0.600",)
    assert result.table.loc[2].tolist() == pytest.approx([0.55, 0.60, 0.10])


def test_the_medians_are_over_the_sites_both_models_serve() -> None:
    live = scores({"01": [0.9, 0.9, 0.9], "02": [0.5, 0.5, 0.5]})
    candidate = scores({"02": [0.6, 0.6, 0.6], "03": [0.0, 0.0, 0.0]})

    result = gate(candidate, live, margin=0.0, tolerance=0.01)

    assert result.sites == ("02",) and result.passed
    assert result.as_json()["median_nse"]["1"] == {"candidate": 0.6, "live": 0.5, "persistence": 0.2}


def test_no_site_in_common_is_a_refusal() -> None:
    result = gate(scores({"02": [0.9, 0.9, 0.9]}), scores({"01": [0.5, 0.5, 0.5]}), margin=0.0, tolerance=0.01)

    assert not result.passed and "no site in common" in result.reasons[0]
