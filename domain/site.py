"""Site metadata shared by readers, model bundles and the services, and the facts every site obeys.

The site-id pattern and the coordinate and area ranges live here only: the request and
response schemas, the readers' checks and the configuration's check are built from them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

SITE_ID_PATTERN = "[0-9]{8,15}"
SITE_ID_DESCRIPTION = "8 to 15 digits"
LATITUDE_RANGE = (-90.0, 90.0)
LONGITUDE_RANGE = (-180.0, 180.0)


def site_id_problem(site_id: object) -> str | None:
    """Why `site_id` is not a USGS site number, or None when it is one."""
    if isinstance(site_id, str) and re.fullmatch(SITE_ID_PATTERN, site_id):
        return None
    return f"site_id {site_id!r} is not {SITE_ID_DESCRIPTION}"


def position_problem(latitude: float, longitude: float, area_km2: float) -> str | None:
    """The first of a gauge's coordinates (degrees) and drainage area (km2) that is out of range, or None."""
    for name, value, (low, high) in (("latitude", latitude, LATITUDE_RANGE), ("longitude", longitude, LONGITUDE_RANGE)):
        if not low <= value <= high:
            return f"{name} {value!r} is not a number in [{low}, {high}]"
    if not area_km2 > 0:
        return f"area_km2 {area_km2!r} is not a positive number"
    return None


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

    @classmethod
    def from_json(cls, data: dict) -> Site:
        """Rebuild a site from `as_json` output.

        Raises:
            KeyError, ValueError: A field is missing or malformed.
        """
        period = data["data_period"]
        return cls(
            site_id=str(data["site_id"]),
            name=str(data["name"]),
            latitude=float(data["latitude"]),
            longitude=float(data["longitude"]),
            area_km2=float(data["area_km2"]),
            flow_start=dt.date.fromisoformat(period["start"]) if period["start"] else None,
            flow_end=dt.date.fromisoformat(period["end"]) if period["end"] else None,
        )
