"""Readers of the local data directory format.

Layout of a data directory::

    sites.csv              site_id,name,latitude,longitude,area_km2   (ids are strings)
    flow/<site_id>.csv     time,flow                                  (m3/s, empty = missing)
    meteo/<site_id>.csv    time + any of the meteo variables          (mm/day, degC)

Meteo rows dated after a site's last observed flow are its meteorological
forecast. The most recently read files are kept parsed in memory and re-read when they change.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adapter.base import AbstractFlowReader, AbstractMeteoReader
from domain.errors import DataFormatError, DataSourceError, UnknownSiteError
from domain.frames import FlowFrame, MeteoFrame, validate_frame
from domain.site import Site, position_problem, site_id_problem
from utils.dates import as_date, daily_index

LOGGER = logging.getLogger(__name__)

SITE_COLUMNS = ("site_id", "name", "latitude", "longitude", "area_km2")
# Parsed files kept per reader: every file of a hundred sites, while reading hundreds for training
# holds only the last of them (a site's prepared arrays are kept by `model.site_store` instead).
PARSED_FILES_KEPT = 256


def _stamp(path: Path) -> tuple[int, int]:
    """The file's modification time and size: what changes when it is rewritten."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise DataSourceError(f"cannot read {path}: {exc.strerror}") from exc
    return stat.st_mtime_ns, stat.st_size


def _revision(path: Path) -> str:
    """The file's stamp as a reader's `revision`."""
    return "{}:{}".format(*_stamp(path))


class _ParsedFileCache:
    """The `capacity` most recently used parsed files, keyed by path, invalidated when a file's stamp changes."""

    def __init__(self, capacity: int = PARSED_FILES_KEPT) -> None:
        self._frames: OrderedDict[Path, tuple[tuple[int, int], Any]] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, path: Path, parse: Callable[[Path], Any]) -> Any:
        stamp = _stamp(path)
        with self._lock:
            cached = self._frames.get(path)
            if cached and cached[0] == stamp:
                self._frames.move_to_end(path)
                return cached[1]
        frame = parse(path)
        with self._lock:
            self._frames[path] = (stamp, frame)
            self._frames.move_to_end(path)
            while len(self._frames) > self._capacity:
                self._frames.popitem(last=False)
        return frame


def _read_csv(path: Path, dtype: dict | None = None) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=dtype, skipinitialspace=True)
    except FileNotFoundError as exc:
        raise DataSourceError(f"missing data file {path}") from exc
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataFormatError(f"{path}: cannot parse CSV: {exc}") from exc
    # Index = line number in the file (line 1 is the header), for error messages.
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    return frame


@dataclasses.dataclass(frozen=True)
class _SeriesFile:
    """A validated series file, in day order, with what every read of it needs at hand.

    Attributes:
        frame: The rows.
        days: Their `time` as datetime64, ascending (days are unique): ranges are binary searches.
        observed: First and last day with a value in column `observed_column` (None: none has).
    """

    frame: pd.DataFrame
    days: np.ndarray
    observed: tuple[dt.date, dt.date] | None

    def between(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Rows of `start`..`end`, inclusive."""
        first = self.days.searchsorted(np.datetime64(start), "left")
        last = self.days.searchsorted(np.datetime64(end), "right")
        return self.frame.iloc[first:last].reset_index(drop=True)


def _read_series_file(path: Path, site_id: str, model, observed_column: str | None = None) -> _SeriesFile:
    frame = _read_csv(path, dtype={"time": str})
    frame.insert(0, "site_id", site_id)
    frame = validate_frame(model, frame, str(path), row_name="line").sort_values("time", kind="stable")
    period = None
    if observed_column:
        observed = frame.dropna(subset=[observed_column])["time"]
        if len(observed):
            period = (as_date(observed.min()), as_date(observed.max()))
    return _SeriesFile(frame, frame["time"].to_numpy(), period)


class LocalFlowReader(AbstractFlowReader):
    """Observed flow and site metadata from a local data directory."""

    def __init__(
        self, data_dir: Path, site_ids: tuple[str, ...] = (), parsed_files_kept: int = PARSED_FILES_KEPT
    ) -> None:
        """Args:
        data_dir: The data directory.
        site_ids: Sites to serve; empty means every site in `sites.csv`.
        parsed_files_kept: How many parsed files stay in memory.
        """
        self._data_dir = data_dir
        self._site_ids = site_ids
        self._cache = _ParsedFileCache(parsed_files_kept)

    def list_sites(self) -> list[Site]:
        table = self._cache.get(self._data_dir / "sites.csv", _parse_sites)
        if self._site_ids:
            missing = sorted(set(self._site_ids) - set(table.index))
            if missing:
                raise UnknownSiteError(f"site {missing[0]} is not listed in {self._data_dir / 'sites.csv'}")
            table = table.loc[list(self._site_ids)]
        return [self._with_period(site_id, row) for site_id, row in table.iterrows()]

    def site(self, site_id: str) -> Site:
        return self._with_period(site_id, self._check_listed(site_id))

    def _check_listed(self, site_id: str) -> pd.Series:
        table = self._cache.get(self._data_dir / "sites.csv", _parse_sites)
        if site_id not in table.index or (self._site_ids and site_id not in self._site_ids):
            raise UnknownSiteError(f"unknown site {site_id}")
        return table.loc[site_id]

    def last_observed(self, site_id: str) -> dt.date | None:
        observed = self._flow_file(site_id).observed
        return observed[1] if observed else None

    def read_flow(self, site_id: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        frame = self._flow_file(site_id).frame
        days = daily_index(start, end)
        flow = frame.set_index("time")["flow"].reindex(days)
        return pd.DataFrame({"site_id": site_id, "time": days, "flow": flow.to_numpy()})

    def revision(self, site_id: str) -> str:
        return _revision(self._flow_path(site_id))

    def _flow_path(self, site_id: str) -> Path:
        return self._data_dir / "flow" / f"{site_id}.csv"

    def _flow_file(self, site_id: str) -> _SeriesFile:
        return self._cache.get(self._flow_path(site_id), lambda p: _read_series_file(p, site_id, FlowFrame, "flow"))

    def _with_period(self, site_id: str, row: pd.Series) -> Site:
        observed = self._flow_file(site_id).observed
        return Site(
            site_id=site_id,
            name=str(row["name"]),
            latitude=float(row["latitude"]),
            longitude=float(row["longitude"]),
            area_km2=float(row["area_km2"]),
            flow_start=observed[0] if observed else None,
            flow_end=observed[1] if observed else None,
        )


class LocalMeteoReader(AbstractMeteoReader):
    """Meteorology, observed and forecast, from a local data directory."""

    def __init__(self, data_dir: Path, parsed_files_kept: int = PARSED_FILES_KEPT) -> None:
        """Args:
        data_dir: The data directory.
        parsed_files_kept: How many parsed files stay in memory.
        """
        self._data_dir = data_dir
        self._cache = _ParsedFileCache(parsed_files_kept)

    def read_history(self, site: Site, start: dt.date, end: dt.date) -> pd.DataFrame:
        return self._between(site.site_id, start, end)

    def read_forecast(self, site: Site, issue_date: dt.date, days: int) -> pd.DataFrame:
        return self._between(site.site_id, issue_date + dt.timedelta(days=1), issue_date + dt.timedelta(days=days))

    def revision(self, site_id: str) -> str:
        return _revision(self._meteo_path(site_id))

    def _meteo_path(self, site_id: str) -> Path:
        return self._data_dir / "meteo" / f"{site_id}.csv"

    def _between(self, site_id: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        path = self._meteo_path(site_id)
        return self._cache.get(path, lambda p: _read_series_file(p, site_id, MeteoFrame)).between(start, end)


def _parse_sites(path: Path) -> pd.DataFrame:
    table = _read_csv(path, dtype={"site_id": str, "name": str})
    missing = [column for column in SITE_COLUMNS if column not in table.columns]
    if missing:
        raise DataFormatError(f"{path}: missing column {missing[0]!r} (expected {', '.join(SITE_COLUMNS)})")
    for line, row in table.iterrows():
        problem = _site_row_problem(row)
        if problem:
            raise DataFormatError(f"{path}: line {line}: {problem}")
    duplicated = table["site_id"][table["site_id"].duplicated()]
    if len(duplicated):
        raise DataFormatError(f"{path}: line {duplicated.index[0]}: duplicate site_id {duplicated.iloc[0]}")
    table[["latitude", "longitude", "area_km2"]] = table[["latitude", "longitude", "area_km2"]].astype(float)
    return table.set_index("site_id")[list(SITE_COLUMNS[1:])]


def _site_row_problem(row: pd.Series) -> str | None:
    problem = site_id_problem(row["site_id"])
    if problem:
        return problem
    if not isinstance(row["name"], str) or not row["name"].strip():
        return "name is empty"
    numbers = [pd.to_numeric(row[column], errors="coerce") for column in ("latitude", "longitude", "area_km2")]
    # NaN (not a number) fails every range check.
    return position_problem(*numbers)
