"""pandera models of the frames that cross from adapters into the model and services.

Column names follow the local data directory format. Every reader returns a
frame validated against one of these models, so downstream code can rely on
dtypes, units and physical ranges.
"""

from __future__ import annotations

from typing import Optional

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from domain.errors import DataFormatError

# Physical limits, generous enough for any river basin on Earth.
MAX_DAILY_PRECIPITATION_MM = 2000.0
TEMPERATURE_RANGE_DEGC = (-90.0, 60.0)
# ERA5-Land potential evaporation has small negative values (condensation).
EVAPOTRANSPIRATION_RANGE_MM = (-10.0, 100.0)
# Several times the Amazon's record discharge; also rejects inf.
MAX_FLOW_M3S = 1.0e6


def _temperature_field() -> pa.Field:
    low, high = TEMPERATURE_RANGE_DEGC
    return pa.Field(in_range={"min_value": low, "max_value": high}, nullable=True, description="degC")


class MeteoFrame(pa.DataFrameModel):
    """Daily meteorology of one or more sites; every variable is optional per dataset."""

    site_id: Series[str]
    time: Series[pd.Timestamp] = pa.Field(description="local calendar day")
    precipitation: Optional[Series[float]] = pa.Field(
        ge=0.0, le=MAX_DAILY_PRECIPITATION_MM, nullable=True, description="mm/day"
    )
    temperature_max: Optional[Series[float]] = _temperature_field()
    temperature_min: Optional[Series[float]] = _temperature_field()
    temperature_mean: Optional[Series[float]] = _temperature_field()
    evapotranspiration: Optional[Series[float]] = pa.Field(
        in_range={"min_value": EVAPOTRANSPIRATION_RANGE_MM[0], "max_value": EVAPOTRANSPIRATION_RANGE_MM[1]},
        nullable=True,
        description="mm/day",
    )

    class Config:
        strict = True
        coerce = True
        unique = ["site_id", "time"]


class FlowFrame(pa.DataFrameModel):
    """Daily mean discharge of one or more sites; missing days are NaN."""

    site_id: Series[str]
    time: Series[pd.Timestamp] = pa.Field(description="local calendar day")
    flow: Series[float] = pa.Field(ge=0.0, le=MAX_FLOW_M3S, nullable=True, description="m3/s")
    # USGS readers keep the upstream's data quality flags beside each value.
    approval_status: Optional[Series[str]] = pa.Field(
        nullable=True, description="'Approved' or 'Provisional' (revised later); null where no value"
    )
    qualifiers: Optional[Series[str]] = pa.Field(
        nullable=True, description="comma-separated upstream qualifiers, e.g. 'ICE,ESTIMATED'; null when none"
    )

    class Config:
        strict = True
        coerce = True
        unique = ["site_id", "time"]


def validate_frame(
    model: type[pa.DataFrameModel], frame: pd.DataFrame, source: str, row_name: str = "row"
) -> pd.DataFrame:
    """Validate a frame and translate pandera's error into a domain error.

    Args:
        model: `MeteoFrame` or `FlowFrame`.
        frame: The raw frame; its index locates each row in `source` (e.g. the file line).
        source: What the frame was read from (a file path or an upstream URL), for the message.
        row_name: What the index counts ("line" for a CSV file), for the message.

    Returns:
        The validated, coerced frame, sorted by site and day, with a fresh index.

    Raises:
        DataFormatError: Naming the source, the first failing row and the problem.
    """
    _check_dates(frame, source, row_name)
    try:
        valid = model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        raise DataFormatError(f"{source}: {_describe_failure(exc.failure_cases, row_name)}") from exc
    return valid.sort_values(["site_id", "time"]).reset_index(drop=True)


def _check_dates(frame: pd.DataFrame, source: str, row_name: str) -> None:
    # pandera coerces a whole column at once and cannot say which row broke it.
    if "time" not in frame.columns or pd.api.types.is_datetime64_any_dtype(frame["time"]):
        return
    parsed = pd.to_datetime(frame["time"], format="%Y-%m-%d", errors="coerce")
    bad = parsed.isna() & frame["time"].notna()
    if bad.any():
        line = bad.idxmax()
        raise DataFormatError(
            f"{source}: {row_name} {line}, column 'time': value {frame['time'][line]!r} is not a date YYYY-MM-DD"
        )


def _describe_failure(cases: pd.DataFrame, row_name: str) -> str:
    # Report the earliest row; pandera orders failure cases by column and check, not by row.
    cases = cases.assign(_row=pd.to_numeric(cases["index"], errors="coerce")).sort_values("_row", na_position="last")
    first = cases.iloc[0]
    column = first.get("column")
    check = first.get("check")
    value = first.get("failure_case")
    where = f"{row_name} {first['index']}" if pd.notna(first.get("index")) else "columns"
    what = f"column {column!r}" if isinstance(column, str) else "frame"
    more = f" (and {len(cases) - 1} more problems)" if len(cases) > 1 else ""
    return f"{where}, {what}: value {value!r} fails {check}{more}"
