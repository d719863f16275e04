"""The site catalogue: a SQLite database that training writes and the service reads.

Training replaces the whole database atomically (a new file renamed over the
old one), so readers always see one consistent catalogue. The service opens
it read-only.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import tempfile
from pathlib import Path

from domain.errors import ModelNotLoadedError, UnknownSiteError
from domain.site import Site

SCHEMA = """
CREATE TABLE site (
    site_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    latitude REAL NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude REAL NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    area_km2 REAL NOT NULL CHECK (area_km2 > 0),
    flow_start TEXT,
    flow_end TEXT
);
CREATE TABLE catalogue (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
COLUMNS = "site_id, name, latitude, longitude, area_km2, flow_start, flow_end"


class SiteCatalogue:
    """Sites known to the service, with their metadata and observed-flow period."""

    def __init__(self, path: Path) -> None:
        """Args:
        path: The SQLite file.
        """
        self._path = path

    def write(self, sites: list[Site], model_version: str, synthetic_data: bool) -> None:
        """Replace the catalogue atomically.

        Args:
            sites: Every site of the new model.
            model_version: Version of the bundle trained on these sites.
            synthetic_data: Whether the sites are the generated demo dataset.
        """
        self._path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{self._path.name}.", dir=self._path.parent)
        os.close(handle)
        try:
            with sqlite3.connect(temporary) as connection:
                connection.executescript(SCHEMA)
                connection.executemany(
                    f"INSERT INTO site ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [_row(site) for site in sites],
                )
                connection.executemany(
                    "INSERT INTO catalogue (key, value) VALUES (?, ?)",
                    [("model_version", model_version), ("synthetic_data", str(int(synthetic_data)))],
                )
            connection.close()
            # mkstemp creates 0600; the service may run as another user than training did.
            os.chmod(temporary, 0o644)
            os.replace(temporary, self._path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def list_sites(self) -> list[Site]:
        """Every site, ordered by id.

        Raises:
            ModelNotLoadedError: No catalogue has been written yet.
        """
        with self._connect() as connection:
            rows = connection.execute(f"SELECT {COLUMNS} FROM site ORDER BY site_id").fetchall()
        return [_site(row) for row in rows]

    def site(self, site_id: str) -> Site:
        """One site.

        Raises:
            UnknownSiteError: The site is not in the catalogue.
            ModelNotLoadedError: No catalogue has been written yet.
        """
        with self._connect() as connection:
            row = connection.execute(f"SELECT {COLUMNS} FROM site WHERE site_id = ?", (site_id,)).fetchone()
        if row is None:
            raise UnknownSiteError(f"unknown site {site_id}: see /info for the sites this service forecasts")
        return _site(row)

    def synthetic_data(self) -> bool:
        """True when the catalogue holds the generated demo dataset."""
        with self._connect() as connection:
            row = connection.execute("SELECT value FROM catalogue WHERE key = 'synthetic_data'").fetchone()
        return row is not None and row[0] == "1"

    def _connect(self) -> _ClosingConnection:
        if not self._path.exists():
            raise ModelNotLoadedError(f"no site catalogue at {self._path}: run main_train.py first")
        return _ClosingConnection(sqlite3.connect(f"{self._path.as_uri()}?mode=ro", uri=True))


class _ClosingConnection:
    """sqlite3's own context manager commits but never closes; this one closes."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def __enter__(self) -> sqlite3.Connection:
        return self._connection

    def __exit__(self, *exc_info) -> None:
        self._connection.close()


def _row(site: Site) -> tuple:
    return (
        site.site_id,
        site.name,
        site.latitude,
        site.longitude,
        site.area_km2,
        site.flow_start.isoformat() if site.flow_start else None,
        site.flow_end.isoformat() if site.flow_end else None,
    )


def _site(row: tuple) -> Site:
    site_id, name, latitude, longitude, area_km2, flow_start, flow_end = row
    return Site(
        site_id=site_id,
        name=name,
        latitude=latitude,
        longitude=longitude,
        area_km2=area_km2,
        flow_start=dt.date.fromisoformat(flow_start) if flow_start else None,
        flow_end=dt.date.fromisoformat(flow_end) if flow_end else None,
    )
