"""Site metadata shared by readers, the site catalogue and the services."""

from __future__ import annotations

import dataclasses
import datetime as dt


@dataclasses.dataclass(frozen=True)
class Site:
    """A gauged river site.

    Attributes:
        site_id: USGS site number as a string of 8 to 15 digits (leading zeros kept).
        name: Station name.
        latitude: Gauge latitude, degrees north (WGS84).
        longitude: Gauge longitude, degrees east (WGS84).
        area_km2: Drainage area in km2, used to convert m3/s to mm/day.
        flow_start: First day with observed flow, when known.
        flow_end: Last day with observed flow, when known.
    """

    site_id: str
    name: str
    latitude: float
    longitude: float
    area_km2: float
    flow_start: dt.date | None = None
    flow_end: dt.date | None = None

    def as_json(self) -> dict:
        """Return the site as a JSON-ready dict (dates as YYYY-MM-DD)."""
        return {
            "site_id": self.site_id,
            "name": self.name,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "area_km2": self.area_km2,
            "data_period": {
                "start": self.flow_start.isoformat() if self.flow_start else None,
                "end": self.flow_end.isoformat() if self.flow_end else None,
            },
        }
