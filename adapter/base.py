"""Abstract readers: the only way flow and meteorology enter the project.

Concrete readers (local directory, USGS, Open-Meteo) implement these ABCs and
return frames already validated against `domain.frames`. Dates are local
calendar days; ranges are inclusive at both ends.
"""

from __future__ import annotations

import abc
import datetime as dt

import pandas as pd

from domain.site import Site


class AbstractFlowReader(abc.ABC):
    """Observed daily discharge and the metadata of the gauged sites."""

    @abc.abstractmethod
    def list_sites(self) -> list[Site]:
        """Return the metadata of every site this reader serves.

        Raises:
            DataSourceError: The source cannot be read.
        """

    @abc.abstractmethod
    def site(self, site_id: str) -> Site:
        """Return one site's metadata, with its observed-flow period when known.

        Raises:
            UnknownSiteError: The source has no such site.
            DataSourceError: The source cannot be read.
        """

    @abc.abstractmethod
    def last_observed(self, site_id: str) -> dt.date | None:
        """Return the last day with observed flow (the issue day of a forecast), None when there is none.

        Which sites are served is the model's answer, not the reader's: readers read what is asked.

        Raises:
            DataSourceError: The source cannot be read.
        """

    @abc.abstractmethod
    def read_flow(self, site_id: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Return observed daily flow between two days.

        Returns:
            A `FlowFrame` (m3/s) with one row per day from `start` to `end`; days
            the source does not have are NaN.

        Raises:
            DataSourceError: The source cannot be read or is malformed.
        """

    def revision(self, site_id: str) -> str | None:
        """Return a token that changes whenever the site's flow data change, so arrays prepared from them
        can be kept (`model.site_store`); None (the default) when the source cannot tell, as with live
        data that upstream revises.

        Raises:
            DataSourceError: The source cannot be read.
        """
        return None


class AbstractMeteoReader(abc.ABC):
    """Daily meteorology: the observed past and the forecast of the coming days."""

    @abc.abstractmethod
    def read_history(self, site: Site, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Return observed meteorology between two days.

        Returns:
            A `MeteoFrame` with one row per day the source has, `start` to `end`.

        Raises:
            DataSourceError: The source cannot be read or is malformed.
        """

    @abc.abstractmethod
    def read_forecast(self, site: Site, issue_date: dt.date, days: int) -> pd.DataFrame:
        """Return the meteorological forecast for the days after `issue_date`.

        Returns:
            A `MeteoFrame` with rows for `issue_date + 1` .. `issue_date + days`
            as far as the source has them.

        Raises:
            DataSourceError: The source cannot be read or is malformed.
        """

    def revision(self, site_id: str) -> str | None:
        """Return a token that changes whenever the site's meteorology changes (see
        `AbstractFlowReader.revision`); None (the default) when the source cannot tell.

        Raises:
            DataSourceError: The source cannot be read.
        """
        return None
