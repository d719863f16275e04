"""Tests of adapter/local_reader.py on tiny hand-written data directories."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adapter.local_reader import LocalFlowReader, LocalMeteoReader
from domain.errors import DataFormatError, DataSourceError, UnknownSiteError
from domain.frames import FlowFrame, validate_frame
from domain.site import Site
from test.support import shared_dir_or_skip

SITE_A = "01234567"  # leading zero: must never become the int 1234567
SITE_B = "00000042"
SITES_CSV = (
    "site_id,name,latitude,longitude,area_km2\n"
    f'{SITE_A},"Alder Creek, near Somewhere",45.5,-70.25,86.4\n'
    f"{SITE_B},Birch River,10.0,20.0,1000\n"
)
# Observed 2020-01-02..2020-01-04 with a gap on 01-03; empty cells at both ends are missing days.
FLOW_A = "time,flow\n2020-01-01,\n2020-01-02,1.5\n2020-01-04,2.5\n2020-01-05,\n2020-01-06,\n"
FLOW_B = "time,flow\n2020-01-01,10\n2020-01-02,11\n2020-01-03,12\n"
# Meteo runs past the last flow day: those rows are the meteorological forecast.
METEO_A = "time,precipitation,temperature_mean\n" + "".join(
    f"2020-01-{day:02d},{day}.0,{-day}.5\n" for day in range(1, 11)
)
METEO_B = "time,precipitation\n2020-01-01,0\n2020-01-02,0\n"


def write_dir(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return write_dir(
        tmp_path / "data",
        {
            "sites.csv": SITES_CSV,
            f"flow/{SITE_A}.csv": FLOW_A,
            f"flow/{SITE_B}.csv": FLOW_B,
            f"meteo/{SITE_A}.csv": METEO_A,
            f"meteo/{SITE_B}.csv": METEO_B,
        },
    )


def site_a() -> Site:
    return Site(SITE_A, "Alder", 45.5, -70.25, 86.4)


def test_list_sites_keeps_string_ids_and_metadata(data_dir: Path) -> None:
    sites = {site.site_id: site for site in LocalFlowReader(data_dir).list_sites()}

    assert set(sites) == {SITE_A, SITE_B}
    alder = sites[SITE_A]
    assert alder.name == "Alder Creek, near Somewhere"
    assert (alder.latitude, alder.longitude, alder.area_km2) == (45.5, -70.25, 86.4)
    assert isinstance(alder.area_km2, float)


def test_period_is_the_observed_flow_not_the_file_rows(data_dir: Path) -> None:
    alder = LocalFlowReader(data_dir).site(SITE_A)

    # The file runs 01-01..01-06, but 01-01, 01-05 and 01-06 are empty cells.
    assert alder.flow_start == dt.date(2020, 1, 2)
    assert alder.flow_end == dt.date(2020, 1, 4)
    assert isinstance(alder.flow_start, dt.date) and not isinstance(alder.flow_start, dt.datetime)


def test_site_with_no_observed_flow_has_no_period(data_dir: Path) -> None:
    write_dir(data_dir, {f"flow/{SITE_B}.csv": "time,flow\n2020-01-01,\n2020-01-02,\n"})

    birch = LocalFlowReader(data_dir).site(SITE_B)

    assert birch.flow_start is None and birch.flow_end is None


def test_read_flow_has_every_day_of_the_range(data_dir: Path) -> None:
    flow = LocalFlowReader(data_dir).read_flow(SITE_A, dt.date(2019, 12, 30), dt.date(2020, 1, 8))

    assert list(flow["time"]) == list(pd.date_range("2019-12-30", "2020-01-08"))
    assert set(flow["site_id"]) == {SITE_A}
    expected = [np.nan, np.nan, np.nan, 1.5, np.nan, 2.5, np.nan, np.nan, np.nan, np.nan]
    np.testing.assert_array_equal(flow["flow"].to_numpy(), expected)
    # The reader's output is itself a valid FlowFrame.
    validate_frame(FlowFrame, flow, "read_flow")


def test_read_flow_of_a_sub_range(data_dir: Path) -> None:
    flow = LocalFlowReader(data_dir).read_flow(SITE_B, dt.date(2020, 1, 2), dt.date(2020, 1, 2))

    assert list(flow["flow"]) == [11.0]


def test_read_history_slices_inclusive_days(data_dir: Path) -> None:
    meteo = LocalMeteoReader(data_dir).read_history(site_a(), dt.date(2020, 1, 3), dt.date(2020, 1, 5))

    assert list(meteo.columns) == ["site_id", "time", "precipitation", "temperature_mean"]
    assert list(meteo["time"]) == list(pd.date_range("2020-01-03", "2020-01-05"))
    assert list(meteo["precipitation"]) == [3.0, 4.0, 5.0]
    assert list(meteo["temperature_mean"]) == [-3.5, -4.5, -5.5]
    assert list(meteo.index) == [0, 1, 2]


def test_read_forecast_gives_the_days_after_the_issue_date(data_dir: Path) -> None:
    forecast = LocalMeteoReader(data_dir).read_forecast(site_a(), dt.date(2020, 1, 4), 3)

    assert list(forecast["time"]) == list(pd.date_range("2020-01-05", "2020-01-07"))
    assert list(forecast["precipitation"]) == [5.0, 6.0, 7.0]


def test_read_forecast_stops_where_the_file_ends(data_dir: Path) -> None:
    forecast = LocalMeteoReader(data_dir).read_forecast(site_a(), dt.date(2020, 1, 8), 5)

    assert list(forecast["time"]) == [pd.Timestamp("2020-01-09"), pd.Timestamp("2020-01-10")]


def test_sites_filter_restricts_list_and_site(data_dir: Path) -> None:
    reader = LocalFlowReader(data_dir, site_ids=(SITE_B,))

    assert [site.site_id for site in reader.list_sites()] == [SITE_B]
    assert reader.site(SITE_B).site_id == SITE_B
    with pytest.raises(UnknownSiteError, match=SITE_A):
        reader.site(SITE_A)


def test_configured_site_missing_from_sites_csv_is_unknown(data_dir: Path) -> None:
    with pytest.raises(UnknownSiteError, match="09999999"):
        LocalFlowReader(data_dir, site_ids=(SITE_A, "09999999")).list_sites()


def test_unlisted_site_is_unknown(data_dir: Path) -> None:
    with pytest.raises(UnknownSiteError, match="09999999"):
        LocalFlowReader(data_dir).site("09999999")
    with pytest.raises(UnknownSiteError):
        LocalFlowReader(data_dir).site("1234567")  # the id without its leading zero


def test_missing_flow_file_is_a_data_source_error(data_dir: Path) -> None:
    (data_dir / "flow" / f"{SITE_B}.csv").unlink()

    with pytest.raises(DataSourceError, match=SITE_B):
        LocalFlowReader(data_dir).read_flow(SITE_B, dt.date(2020, 1, 1), dt.date(2020, 1, 2))
    with pytest.raises(DataSourceError, match=SITE_B):
        LocalFlowReader(data_dir).list_sites()


def test_missing_sites_csv_is_a_data_source_error(data_dir: Path) -> None:
    (data_dir / "sites.csv").unlink()

    with pytest.raises(DataSourceError, match="sites.csv"):
        LocalFlowReader(data_dir).list_sites()


def test_missing_meteo_file_is_a_data_source_error(data_dir: Path) -> None:
    (data_dir / "meteo" / f"{SITE_A}.csv").unlink()

    with pytest.raises(DataSourceError, match=SITE_A):
        LocalMeteoReader(data_dir).read_history(site_a(), dt.date(2020, 1, 1), dt.date(2020, 1, 2))


FLOW_ROWS = ["2020-01-01,1.0", "2020-01-02,2.0", "2020-01-03,3.0", "2020-01-04,4.0"]


def flow_with_third_row(row: str) -> str:
    rows = list(FLOW_ROWS)
    rows[2] = row
    return "time,flow\n" + "\n".join(rows) + "\n"


@pytest.mark.parametrize(
    "third_row",
    [
        pytest.param("2020-01-03,-0.1", id="negative-flow"),
        pytest.param("2020-01-03,abc", id="text-flow"),
        pytest.param("2020-02-30,3.0", id="impossible-date"),
        pytest.param(
            "2020/01/03,3.0",
            id="other-date-format",
        ),
    ],
)
def test_malformed_flow_file_names_file_and_line(data_dir: Path, third_row: str) -> None:
    path = data_dir / "flow" / f"{SITE_A}.csv"
    path.write_text(flow_with_third_row(third_row), encoding="utf-8")

    with pytest.raises(DataFormatError) as info:
        LocalFlowReader(data_dir).read_flow(SITE_A, dt.date(2020, 1, 1), dt.date(2020, 1, 4))

    message = str(info.value)
    assert str(path) in message
    assert re.search(r"\bline 4\b", message), message  # line 1 is the header


def test_duplicate_date_names_file_and_a_duplicated_line(data_dir: Path) -> None:
    path = data_dir / "flow" / f"{SITE_A}.csv"
    path.write_text(flow_with_third_row("2020-01-01,3.0"), encoding="utf-8")  # same day as line 2

    with pytest.raises(DataFormatError) as info:
        LocalFlowReader(data_dir).site(SITE_A)

    message = str(info.value)
    assert str(path) in message
    assert re.search(r"\bline [24]\b", message), message


def test_malformed_meteo_file_names_file_and_line(data_dir: Path) -> None:
    path = data_dir / "meteo" / f"{SITE_A}.csv"
    path.write_text(METEO_A.replace("2020-01-03,3.0,", "2020-01-03,-3.0,"), encoding="utf-8")

    with pytest.raises(DataFormatError) as info:
        LocalMeteoReader(data_dir).read_history(site_a(), dt.date(2020, 1, 1), dt.date(2020, 1, 2))

    assert str(path) in str(info.value)
    assert re.search(r"\bline 4\b", str(info.value))


def test_unknown_meteo_column_is_rejected(data_dir: Path) -> None:
    path = data_dir / "meteo" / f"{SITE_B}.csv"
    path.write_text("time,precipitation,snow_depth\n2020-01-01,0,5\n", encoding="utf-8")

    with pytest.raises(DataFormatError, match="snow_depth"):
        LocalMeteoReader(data_dir).read_history(Site(SITE_B, "B", 0, 0, 1), dt.date(2020, 1, 1), dt.date(2020, 1, 1))


def sites_with_third_row(row: str) -> str:
    return SITES_CSV + row + "\n"


@pytest.mark.parametrize(
    ("third_row", "problem"),
    [
        ("0765432,Short id,10,10,10", "site_id"),
        ("07654321,Bad latitude,95,10,10", "latitude"),
        ("07654321,Bad longitude,10,-181,10", "longitude"),
        ("07654321,No area,10,10,0", "area_km2"),
        ("07654321,Text area,10,10,big", "area_km2"),
        ("07654321,,10,10,10", "name"),
        (f"{SITE_A},Twice,10,10,10", "duplicate"),
    ],
)
def test_malformed_sites_csv_names_file_and_line(data_dir: Path, third_row: str, problem: str) -> None:
    path = data_dir / "sites.csv"
    path.write_text(sites_with_third_row(third_row), encoding="utf-8")

    with pytest.raises(DataFormatError) as info:
        LocalFlowReader(data_dir).list_sites()

    message = str(info.value)
    assert str(path) in message
    assert re.search(r"\bline 4\b", message), message
    assert problem in message


def test_sites_csv_missing_column_is_named(data_dir: Path) -> None:
    (data_dir / "sites.csv").write_text("site_id,name,latitude,longitude\n01234567,A,1,1\n", encoding="utf-8")

    with pytest.raises(DataFormatError) as info:
        LocalFlowReader(data_dir).list_sites()

    assert "sites.csv" in str(info.value)
    assert "area_km2" in str(info.value)


def rewrite(path: Path, text: str, keep_mtime: bool = False) -> None:
    before = path.stat()
    path.write_text(text, encoding="utf-8")
    # keep_mtime plays a filesystem with coarse mtimes, where only the size tells the change;
    # otherwise move mtime on by a second so the change is unmistakable on any filesystem.
    mtime = before.st_mtime_ns if keep_mtime else before.st_mtime_ns + 1_000_000_000
    os.utime(path, ns=(before.st_atime_ns, mtime))


def test_changed_flow_file_is_reread(data_dir: Path) -> None:
    reader = LocalFlowReader(data_dir)
    path = data_dir / "flow" / f"{SITE_B}.csv"
    assert reader.site(SITE_B).flow_end == dt.date(2020, 1, 3)

    rewrite(path, FLOW_B + "2020-01-04,13.25\n2020-01-05,14\n")

    assert reader.site(SITE_B).flow_end == dt.date(2020, 1, 5)
    assert list(reader.read_flow(SITE_B, dt.date(2020, 1, 4), dt.date(2020, 1, 4))["flow"]) == [13.25]


def test_change_with_the_same_mtime_is_seen_by_size(data_dir: Path) -> None:
    reader = LocalFlowReader(data_dir)
    path = data_dir / "flow" / f"{SITE_B}.csv"
    assert reader.read_flow(SITE_B, dt.date(2020, 1, 1), dt.date(2020, 1, 1))["flow"].iloc[0] == 10.0

    rewrite(path, FLOW_B.replace("2020-01-01,10", "2020-01-01,10.5"), keep_mtime=True)

    assert reader.read_flow(SITE_B, dt.date(2020, 1, 1), dt.date(2020, 1, 1))["flow"].iloc[0] == 10.5


def test_change_with_the_same_size_is_seen_by_mtime(data_dir: Path) -> None:
    reader = LocalFlowReader(data_dir)
    path = data_dir / "flow" / f"{SITE_B}.csv"
    assert reader.read_flow(SITE_B, dt.date(2020, 1, 1), dt.date(2020, 1, 1))["flow"].iloc[0] == 10.0

    rewrite(path, FLOW_B.replace("2020-01-01,10", "2020-01-01,19"))

    assert reader.read_flow(SITE_B, dt.date(2020, 1, 1), dt.date(2020, 1, 1))["flow"].iloc[0] == 19.0


def test_unchanged_file_is_served_from_the_cache(data_dir: Path) -> None:
    reader = LocalFlowReader(data_dir)
    first = reader.read_flow(SITE_B, dt.date(2020, 1, 1), dt.date(2020, 1, 3))
    # Same size and mtime: the cache cannot tell, so the old content must still be served.
    rewrite(data_dir / "flow" / f"{SITE_B}.csv", FLOW_B.replace("10", "99"), keep_mtime=True)

    second = reader.read_flow(SITE_B, dt.date(2020, 1, 1), dt.date(2020, 1, 3))

    pd.testing.assert_frame_equal(first, second)


def test_changed_meteo_and_sites_files_are_reread(data_dir: Path) -> None:
    flow_reader, meteo_reader = LocalFlowReader(data_dir), LocalMeteoReader(data_dir)
    birch = Site(SITE_B, "B", 0, 0, 1)
    assert len(flow_reader.list_sites()) == 2
    assert list(meteo_reader.read_history(birch, dt.date(2020, 1, 1), dt.date(2020, 1, 9))["precipitation"]) == [0, 0]

    rewrite(data_dir / "sites.csv", "site_id,name,latitude,longitude,area_km2\n00000042,Birch River renamed,1,2,3\n")
    rewrite(data_dir / "meteo" / f"{SITE_B}.csv", "time,precipitation\n2020-01-01,7.5\n")

    assert [(s.site_id, s.name) for s in flow_reader.list_sites()] == [(SITE_B, "Birch River renamed")]
    assert list(meteo_reader.read_history(birch, dt.date(2020, 1, 1), dt.date(2020, 1, 9))["precipitation"]) == [7.5]


def test_bad_file_fixed_on_disk_is_read_again(data_dir: Path) -> None:
    path = data_dir / "flow" / f"{SITE_A}.csv"
    path.write_text(flow_with_third_row("2020-01-03,-1"), encoding="utf-8")
    reader = LocalFlowReader(data_dir)
    with pytest.raises(DataFormatError):
        reader.site(SITE_A)

    rewrite(path, flow_with_third_row("2020-01-03,3.5"))

    assert reader.site(SITE_A).flow_end == dt.date(2020, 1, 4)


def test_read_flow_of_a_site_without_a_file_names_the_missing_file(data_dir: Path) -> None:
    # Which sites are served is the model bundle's answer; the reader reads what it is asked.
    with pytest.raises(DataSourceError, match="09999999.csv"):
        LocalFlowReader(data_dir).read_flow("09999999", dt.date(2020, 1, 1), dt.date(2020, 1, 2))
    with pytest.raises(DataSourceError, match="09999999.csv"):
        LocalFlowReader(data_dir).last_observed("09999999")


def test_last_observed_is_the_last_day_with_a_value(data_dir: Path) -> None:
    assert LocalFlowReader(data_dir).last_observed(SITE_A) == LocalFlowReader(data_dir).site(SITE_A).flow_end


@pytest.mark.slow
def test_camels30_directory_reads_and_validates() -> None:
    directory = shared_dir_or_skip("bench", "camels30")
    flow_reader, meteo_reader = LocalFlowReader(directory), LocalMeteoReader(directory)
    first, last = dt.date(1981, 1, 1), dt.date(2014, 12, 31)
    period = pd.date_range(first, last).to_numpy()

    sites = flow_reader.list_sites()

    assert len(sites) == 30
    assert len({site.site_id for site in sites}) == 30
    assert all(isinstance(site.site_id, str) and re.fullmatch(r"[0-9]{8}", site.site_id) for site in sites)
    assert any(site.site_id.startswith("0") for site in sites)
    for site in sites:
        assert site.area_km2 > 0
        assert site.flow_start == first
        assert first < site.flow_end <= last
        # Every file has one row per day of the period (trailing rows may be empty cells).
        days = pd.read_csv(directory / "flow" / f"{site.site_id}.csv", usecols=["time"], dtype=str)["time"]
        assert (days.iloc[0], days.iloc[-1], len(days)) == ("1981-01-01", "2014-12-31", 12418)
        flow = flow_reader.read_flow(site.site_id, first, last)
        assert len(flow) == 12418 and flow["flow"].notna().mean() > 0.95
        # The reader validated the file (MeteoFrame) on the way in; check what came out.
        meteo = meteo_reader.read_history(site, first, last)
        assert list(meteo.columns) == ["site_id", "time", "precipitation", "temperature_mean", "evapotranspiration"]
        assert len(meteo) == len(period) and (meteo["time"].to_numpy() == period).all()
    validate_frame(FlowFrame, flow, "read_flow")


def test_only_the_most_recently_used_files_stay_parsed(data_dir: Path) -> None:
    # With the same size and mtime a kept file serves its old content: a fresh value shows it was let go.
    for kept, expected in ((2, 10.0), (1, 99.0)):
        reader = LocalFlowReader(data_dir, parsed_files_kept=kept)
        reader.read_flow(SITE_B, dt.date(2020, 1, 1), dt.date(2020, 1, 1))
        reader.read_flow(SITE_A, dt.date(2020, 1, 1), dt.date(2020, 1, 1))
        path = data_dir / "flow" / f"{SITE_B}.csv"
        original = path.read_text(encoding="utf-8")
        rewrite(path, FLOW_B.replace("10", "99"), keep_mtime=True)

        assert reader.read_flow(SITE_B, dt.date(2020, 1, 1), dt.date(2020, 1, 1))["flow"].iloc[0] == expected
        rewrite(path, original)


def test_revision_changes_when_a_file_is_rewritten(data_dir: Path) -> None:
    flow_reader, meteo_reader = LocalFlowReader(data_dir), LocalMeteoReader(data_dir)
    flow_before, meteo_before = flow_reader.revision(SITE_B), meteo_reader.revision(SITE_B)
    assert flow_reader.revision(SITE_B) == flow_before != flow_reader.revision(SITE_A)

    rewrite(data_dir / "flow" / f"{SITE_B}.csv", FLOW_B.replace("10", "19"))

    assert flow_reader.revision(SITE_B) != flow_before
    assert meteo_reader.revision(SITE_B) == meteo_before
    with pytest.raises(DataSourceError, match="cannot read"):
        meteo_reader.revision("99999999")
