"""bench/compare.py: settings are compared site by site, not by a median that a gap can move."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bench.compare import main, paired_changes, read_runs


def write_per_site(path: Path, nse_by_site: dict[str, float], leads: tuple[int, ...] = (1, 5)) -> Path:
    """A per-site CSV as bench/skill.py writes it (the columns compare.py reads, and one it ignores)."""
    rows = [
        {"site_id": site, "lead_days": lead, "nse": value - 0.1 * (lead - 1), "kge": value, "n_days": 100}
        for site, value in nse_by_site.items()
        for lead in leads
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


# Four sites; the median is the mean of the middle two. One site rises by 0.15 past the other,
# which falls by as much: the median moves by 0.025, the mean change per site is 0.
BASELINE = {"01000001": 0.45, "01000002": 0.55, "01000003": 0.70, "01000004": 0.90}
SWAPPED = {"01000001": 0.60, "01000002": 0.40, "01000003": 0.70, "01000004": 0.90}


def shifted(scores: dict[str, float], by: float) -> dict[str, float]:
    return {site: value + by for site, value in scores.items()}


def test_a_median_moved_by_a_gap_shows_no_mean_change(tmp_path: Path) -> None:
    baseline = read_runs([write_per_site(tmp_path / "a.csv", BASELINE)], "nse")
    candidate = read_runs([write_per_site(tmp_path / "b.csv", SWAPPED)], "nse")
    changes = paired_changes(baseline, candidate)
    lead1 = changes.loc[1]
    assert lead1.baseline_median == pytest.approx(0.625)
    assert lead1.candidate_median == pytest.approx(0.65)
    assert lead1.mean_change == pytest.approx(0.0)
    assert (lead1.sites_up, lead1.sites_down) == (1, 1)
    assert lead1.interval_low <= lead1.mean_change <= lead1.interval_high
    assert lead1.interval_low < 0 < lead1.interval_high
    # The middle half holds the sites between the quartiles (0.55 and 0.70): one of them fell.
    assert lead1.middle_change == pytest.approx(-0.075)
    assert lead1.middle_low <= lead1.middle_change <= lead1.middle_high
    assert list(changes.index) == [1, 5]


def test_a_change_at_every_site_has_an_interval_clear_of_zero(tmp_path: Path) -> None:
    baseline = read_runs([write_per_site(tmp_path / "a.csv", BASELINE)], "nse")
    candidate = read_runs([write_per_site(tmp_path / "b.csv", shifted(BASELINE, 0.02))], "nse")
    lead5 = paired_changes(baseline, candidate).loc[5]
    assert lead5.mean_change == pytest.approx(0.02)
    assert lead5.interval_low == pytest.approx(0.02)
    assert lead5.middle_change == pytest.approx(0.02)
    assert lead5.middle_low == pytest.approx(0.02)
    assert lead5.sites_up == 4


def test_a_side_of_several_runs_is_their_mean_per_site(tmp_path: Path) -> None:
    draws = [write_per_site(tmp_path / "s1.csv", BASELINE), write_per_site(tmp_path / "s2.csv", shifted(BASELINE, 0.1))]
    baseline = read_runs(draws, "nse")
    candidate = read_runs([write_per_site(tmp_path / "c.csv", shifted(BASELINE, 0.05))], "nse")
    lead1 = paired_changes(baseline, candidate).loc[1]
    assert lead1.baseline_median == pytest.approx(0.675)
    assert lead1.mean_change == pytest.approx(0.0)


def test_the_interval_holds_the_noise_a_run_shares_over_its_sites(tmp_path: Path) -> None:
    # The baseline's two draws differ by 0.02 at every site: training noise of a whole run.
    draws = [write_per_site(tmp_path / "a1.csv", BASELINE)]
    draws.append(write_per_site(tmp_path / "a2.csv", shifted(BASELINE, 0.02)))
    candidate = [write_per_site(tmp_path / f"b{n}.csv", shifted(BASELINE, 0.01)) for n in (1, 2)]
    lead1 = paired_changes(read_runs(draws, "nse"), read_runs(candidate, "nse")).loc[1]
    assert lead1.mean_change == pytest.approx(0.0)
    assert lead1.interval_low == pytest.approx(-0.01)
    assert lead1.interval_high == pytest.approx(0.01)
    assert (lead1.middle_low, lead1.middle_high) == (pytest.approx(-0.01), pytest.approx(0.01))
    # With one draw a side the same comparison looks certain: the interval covers the sites only.
    single = paired_changes(read_runs(draws[:1], "nse"), read_runs(candidate[:1], "nse")).loc[1]
    assert single.interval_low == pytest.approx(0.01)


def test_the_command_prints_one_row_per_lead_and_names_sites_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    baseline = write_per_site(tmp_path / "a.csv", {**BASELINE, "09999999": 0.1})
    candidate = write_per_site(tmp_path / "b.csv", SWAPPED)
    assert main(["--baseline", str(baseline), "--candidate", str(candidate), "--metric", "kge"]) == 0
    out = capsys.readouterr().out
    assert "4 site(s) in every run, 1 run(s) baseline, 1 candidate; left out, not scored in every run: 09999999" in (
        out
    )
    assert "one run on a side: the interval leaves out the training noise" in out
    assert "mean kge change per site" in out
    rows = [line for line in out.splitlines() if line.strip().startswith(("1 |", "5 |"))]
    assert len(rows) == 2
    assert rows[0].rstrip().endswith("1 / 1")


def test_unreadable_input_is_refused_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    good = write_per_site(tmp_path / "a.csv", BASELINE)
    assert main(["--baseline", str(good), "--candidate", str(tmp_path / "missing.csv")]) == 2
    assert f"cannot compare: {tmp_path / 'missing.csv'}: no such file" in capsys.readouterr().err
    assert main(["--baseline", str(good), "--candidate", str(good), "--metric", "low_flow_error"]) == 2
    assert "missing column(s) low_flow_error" in capsys.readouterr().err
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert main(["--baseline", str(good), "--candidate", str(empty)]) == 2
    assert f"cannot compare: {empty}: not a per-site CSV of bench/skill.py" in capsys.readouterr().err
    twice = tmp_path / "twice.csv"
    twice.write_text(good.read_text() + good.read_text().split("\n", 1)[1])
    assert main(["--baseline", str(good), "--candidate", str(twice)]) == 2
    assert f"cannot compare: {twice}: not a per-site CSV of bench/skill.py" in capsys.readouterr().err
    other = write_per_site(tmp_path / "other.csv", {"02000001": 0.5})
    assert main(["--baseline", str(good), "--candidate", str(other)]) == 2
    assert "no site in common" in capsys.readouterr().err
