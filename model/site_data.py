"""Per-site daily arrays assembled from validated frames (no scaling yet)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd

from domain.site import Site
from utils.dates import daily_index

SECONDS_PER_DAY = 86400.0


def m3s_to_mm_per_day(flow_m3s: np.ndarray, area_km2: float) -> np.ndarray:
    """Convert discharge in m3/s to depth over the drainage area in mm/day."""
    return flow_m3s * SECONDS_PER_DAY / (area_km2 * 1000.0)


def mm_per_day_to_m3s(flow_mm: np.ndarray, area_km2: float) -> np.ndarray:
    """Convert depth over the drainage area in mm/day to discharge in m3/s."""
    return flow_mm * area_km2 * 1000.0 / SECONDS_PER_DAY


@dataclasses.dataclass
class SiteSeries:
    """One site's daily record on a gap-free calendar.

    Attributes:
        site: The site's metadata.
        start: Day of index 0.
        meteo: [days, n_features] raw meteorology in `features` order; NaN where missing.
        flow_mm: [days] observed flow in mm/day; NaN where missing.
    """

    site: Site
    start: pd.Timestamp
    meteo: np.ndarray
    flow_mm: np.ndarray

    @property
    def n_days(self) -> int:
        """Number of days in the record."""
        return len(self.flow_mm)

    def index_of(self, day: dt.date | pd.Timestamp) -> int:
        """Return the array index of a day (may fall outside the record)."""
        return int((pd.Timestamp(day) - self.start).days)

    def day_at(self, index: int) -> pd.Timestamp:
        """Return the day of an array index."""
        return self.start + pd.Timedelta(days=index)


def build_site_series(
    site: Site,
    meteo: pd.DataFrame,
    flow: pd.DataFrame,
    features: tuple[str, ...],
    days: tuple[dt.date, dt.date] | None = None,
) -> SiteSeries:
    """Align a site's meteorology and flow on one daily calendar.

    Without `days` the calendar spans the union of both frames, so meteo rows after the
    last flow day (the meteorological forecast) are kept with NaN flow.

    Args:
        site: Metadata; `area_km2` converts flow to mm/day.
        meteo: `MeteoFrame` rows of this site; features it lacks are NaN.
        flow: `FlowFrame` rows of this site (m3/s).
        features: Meteo variables, in model input order.
        days: First and last day of the calendar; rows outside it are dropped, days without a row are NaN.

    Returns:
        The aligned record.
    """
    if days is None:
        dates = pd.concat([meteo["time"], flow["time"]])
        if dates.empty:
            return SiteSeries(site, pd.Timestamp("1970-01-01"), np.zeros((0, len(features)), np.float32), np.zeros(0))
        days = (dates.min(), dates.max())
    calendar = daily_index(*days)
    meteo_values = meteo.set_index("time").reindex(calendar).reindex(columns=list(features))
    flow_values = flow.set_index("time")["flow"].reindex(calendar).to_numpy(dtype=np.float64)
    return SiteSeries(
        site=site,
        start=calendar[0],
        meteo=meteo_values.to_numpy(dtype=np.float32),
        flow_mm=m3s_to_mm_per_day(flow_values, site.area_km2).astype(np.float32),
    )
