"""Tests of domain/frames.py: schema checks, coercion and the DataFormatError message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from domain.errors import DataFormatError, DataSourceError
from domain.frames import FlowFrame, MeteoFrame, validate_frame

SITE = "01234567"
SOURCE = "data/flow/01234567.csv"
DAYS = ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04", "2020-01-05"]


def frame(first_line: int = 2, **columns) -> pd.DataFrame:
    """Five rows of one site; the index plays the file line numbers (line 1 is the header)."""
    data = {"site_id": [SITE] * len(DAYS), "time": list(DAYS)}
    data.update(columns)
    return pd.DataFrame(data, index=pd.RangeIndex(first_line, first_line + len(DAYS)))


def flow_frame(**columns) -> pd.DataFrame:
    return frame(**{"flow": [1.0, 2.0, 3.0, 4.0, 5.0], **columns})


def meteo_frame(**columns) -> pd.DataFrame:
    return frame(**{"precipitation": [0.0, 1.5, 0.0, 12.0, 3.0], "temperature_max": [5.0] * 5, **columns})


@pytest.mark.parametrize(
    ("model", "bad", "line", "column"),
    [
        (FlowFrame, flow_frame(flow=[1.0, 2.0, -0.5, 4.0, 5.0]), 4, "flow"),
        (MeteoFrame, meteo_frame(precipitation=[0.0, 0.0, 0.0, 0.0, -1.0]), 6, "precipitation"),
        (MeteoFrame, meteo_frame(precipitation=[0.0, 2500.0, 0.0, 0.0, 0.0]), 3, "precipitation"),
        (MeteoFrame, meteo_frame(temperature_max=[5.0, 80.0, 5.0, 5.0, 5.0]), 3, "temperature_max"),
        (MeteoFrame, meteo_frame(temperature_min=[5.0, 5.0, 5.0, -95.0, 5.0]), 5, "temperature_min"),
        (MeteoFrame, meteo_frame(evapotranspiration=[1.0, 1.0, 1.0, 1.0, -20.0]), 6, "evapotranspiration"),
        (FlowFrame, flow_frame(flow=["1.0", "2.0", "3.0", "n/a", "5.0"]), 5, "flow"),
        (FlowFrame, frame(time=[*DAYS[:3], "2020-13-45", DAYS[4]], flow=[1.0] * 5), 5, "time"),
        (FlowFrame, frame(time=["2020-01-01", "yesterday", *DAYS[2:]], flow=[1.0] * 5), 3, "time"),
    ],
    ids=[
        "negative-flow",
        "negative-precipitation",
        "precipitation-2500",
        "temperature-80",
        "temperature-minus-95",
        "evapotranspiration-minus-20",
        "non-numeric-flow",
        "bad-date",
        "text-date",
    ],
)
def test_bad_value_names_source_line_and_column(model, bad: pd.DataFrame, line: int, column: str) -> None:
    with pytest.raises(DataFormatError) as info:
        validate_frame(model, bad, SOURCE, row_name="line")

    message = str(info.value)
    assert message.startswith(SOURCE)
    assert f"line {line}," in message
    assert repr(column) in message


def test_duplicate_site_and_day_names_a_duplicated_line() -> None:
    # Lines 3 and 6 hold the same day; pandera reports every duplicated row, we name the first.
    bad = frame(time=[DAYS[0], DAYS[1], DAYS[2], DAYS[3], DAYS[1]], flow=[1.0] * 5)

    with pytest.raises(DataFormatError) as info:
        validate_frame(FlowFrame, bad, SOURCE, row_name="line")

    message = str(info.value)
    assert message.startswith(SOURCE)
    assert "line 3," in message or "line 6," in message
    assert "uniqueness" in message


def test_same_day_at_two_sites_is_not_a_duplicate() -> None:
    two_sites = pd.DataFrame({"site_id": [SITE, "07654321"], "time": [DAYS[0], DAYS[0]], "flow": [1.0, 2.0]})

    assert len(validate_frame(FlowFrame, two_sites, SOURCE)) == 2


def test_unknown_column_is_rejected_by_name() -> None:
    with pytest.raises(DataFormatError) as info:
        validate_frame(FlowFrame, flow_frame(discharge_cfs=[1.0] * 5), SOURCE, row_name="line")

    assert info.value.args[0].startswith(SOURCE)
    assert "discharge_cfs" in str(info.value)


def test_missing_required_column_is_rejected_by_name() -> None:
    with pytest.raises(DataFormatError, match="flow"):
        validate_frame(FlowFrame, frame(), SOURCE)


def test_data_format_error_is_a_data_source_error() -> None:
    # Services map DataSourceError to 502; malformed data must take the same route.
    with pytest.raises(DataSourceError):
        validate_frame(FlowFrame, flow_frame(flow=[-1.0] * 5), SOURCE)


def test_row_name_defaults_to_row() -> None:
    with pytest.raises(DataFormatError, match=r"row 4,"):
        validate_frame(FlowFrame, flow_frame(flow=[1.0, 1.0, -1.0, 1.0, 1.0]), "https://example/api")


def test_valid_frame_is_coerced_sorted_and_reindexed() -> None:
    raw = pd.DataFrame(
        {
            "site_id": [7654321, 1234567, 1234567],  # ints, as a careless CSV read gives them
            "time": ["2020-01-02", "2020-01-02", "2020-01-01"],
            "flow": ["1.5", "2", "0"],
        },
        index=[10, 11, 12],
    )

    valid = validate_frame(FlowFrame, raw, SOURCE)

    assert pd.api.types.is_datetime64_any_dtype(valid["time"])
    assert valid["flow"].dtype == np.float64
    assert all(isinstance(value, str) for value in valid["site_id"])
    assert list(valid["site_id"]) == ["1234567", "1234567", "7654321"]
    assert list(valid["time"]) == [pd.Timestamp("2020-01-01"), pd.Timestamp("2020-01-02"), pd.Timestamp("2020-01-02")]
    assert list(valid["flow"]) == [0.0, 2.0, 1.5]
    assert list(valid.index) == [0, 1, 2]


def test_leading_zeros_of_site_ids_are_kept() -> None:
    valid = validate_frame(FlowFrame, flow_frame(), SOURCE)

    assert set(valid["site_id"]) == {SITE}


def test_nan_flow_is_allowed() -> None:
    valid = validate_frame(FlowFrame, flow_frame(flow=[1.0, np.nan, np.nan, 4.0, np.nan]), SOURCE)

    assert valid["flow"].isna().sum() == 3


@pytest.mark.parametrize(
    "columns",
    [
        (),
        ("precipitation",),
        ("temperature_mean", "evapotranspiration"),
        ("precipitation", "temperature_max", "temperature_min", "temperature_mean", "evapotranspiration"),
    ],
)
def test_optional_meteo_columns_may_be_absent(columns: tuple[str, ...]) -> None:
    raw = frame(**{name: [1.0, np.nan, 2.0, 3.0, 4.0] for name in columns})

    valid = validate_frame(MeteoFrame, raw, SOURCE)

    assert list(valid.columns) == ["site_id", "time", *columns]
    assert len(valid) == len(DAYS)


def test_meteo_boundaries_are_inclusive() -> None:
    raw = frame(
        precipitation=[0.0, 2000.0, 0.0, 0.0, 0.0],
        temperature_max=[60.0, -90.0, 0.0, 0.0, 0.0],
        evapotranspiration=[-10.0, 100.0, 0.0, -0.3, 0.0],
    )

    assert len(validate_frame(MeteoFrame, raw, SOURCE)) == len(DAYS)


def test_message_names_the_first_failing_row_across_columns() -> None:
    bad = meteo_frame(precipitation=[0.0, 0.0, 0.0, 0.0, -1.0], temperature_max=[5.0, 80.0, 5.0, 5.0, 5.0])

    with pytest.raises(DataFormatError) as info:
        validate_frame(MeteoFrame, bad, SOURCE, row_name="line")

    assert "line 3," in str(info.value)


def test_infinite_flow_is_rejected() -> None:
    with pytest.raises(DataFormatError, match="line 3"):
        validate_frame(FlowFrame, flow_frame(flow=[1.0, np.inf, 1.0, 1.0, 1.0]), SOURCE, row_name="line")
