"""Prepared per-site arrays on disk, memory-mapped back, so hundreds of sites never sit in RAM at once.

Reading a site means parsing and validating its files; the arrays that come out (`SiteSeries`) are
saved here once and memory-mapped on every later read, by the next training run, the other ranks of
a torchrun job (which then share one copy in the page cache) and the live-model rescoring. An entry
is keyed by the source's revision of the site's data (`revision` of the readers), the site's area and
the calendar and features asked for, so a change of any of them prepares the site again. Layout::

    <directory>/<site_id>/<revision digest>-<request digest>/{meteo,flow_mm}.npy, start.txt

A new revision of a site's data removes that site's entries of older revisions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from domain.site import Site
from model.site_data import SiteSeries

LOGGER = logging.getLogger(__name__)

# Bump when the arrays of an entry change meaning; older entries are then never read.
STORE_FORMAT = 1
ARRAYS = ("meteo", "flow_mm")
DIGEST_CHARS = 16


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:DIGEST_CHARS]


class SiteStore:
    """Per-site arrays prepared once, read back memory-mapped (read-only)."""

    def __init__(self, directory: Path) -> None:
        """Args:
        directory: Where entries live; created on first save.
        """
        self._directory = directory

    def series(
        self,
        site: Site,
        revision: str,
        features: tuple[str, ...],
        days: tuple[dt.date, dt.date],
        build: Callable[[], SiteSeries],
    ) -> SiteSeries:
        """The site's arrays from the store, or built by `build` and saved first.

        Args:
            site: The site's metadata; the returned record carries it.
            revision: The source's revision of this site's data.
            features: Meteo variables, in model input order.
            days: The calendar asked for.
            build: Reads and assembles the record when the store lacks it.
        """
        entry = self._directory / site.site_id / self._entry_name(site, revision, features, days)
        stored = self._load(entry, site)
        if stored is not None:
            return stored
        record = build()
        try:
            self._save(entry, record)
        except OSError as exc:  # a full or read-only disk costs memory, not the training run
            LOGGER.warning(
                "cannot store the prepared arrays of site %s (%s); keeping them in memory", site.site_id, exc
            )
            return record
        self._drop_other_revisions(entry)
        stored = self._load(entry, site)
        return record if stored is None else stored

    @staticmethod
    def _entry_name(site: Site, revision: str, features: tuple[str, ...], days: tuple[dt.date, dt.date]) -> str:
        request = {"format": STORE_FORMAT, "area_km2": site.area_km2, "features": features, "days": days}
        return f"{_digest(revision)}-{_digest(request)}"

    @staticmethod
    def _load(entry: Path, site: Site) -> SiteSeries | None:
        if not entry.is_dir():
            return None
        try:
            arrays = {name: np.load(entry / f"{name}.npy", mmap_mode="r") for name in ARRAYS}
            start = pd.Timestamp((entry / "start.txt").read_text(encoding="utf-8").strip())
        except (OSError, ValueError) as exc:
            LOGGER.warning("prepared arrays in %s are unreadable (%s); preparing the site again", entry, exc)
            shutil.rmtree(entry, ignore_errors=True)
            return None
        return SiteSeries(site=site, start=start, **arrays)

    @staticmethod
    def _save(entry: Path, record: SiteSeries) -> None:
        # Written beside the entry and renamed in one step: a crash leaves no half entry behind.
        entry.parent.mkdir(parents=True, exist_ok=True)
        staging = entry.parent / f".{entry.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
        staging.mkdir()
        try:
            for name in ARRAYS:
                np.save(staging / f"{name}.npy", getattr(record, name))
            (staging / "start.txt").write_text(record.start.isoformat(), encoding="utf-8")
            os.rename(staging, entry)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not entry.is_dir():  # not another process (a torchrun rank) that saved the same entry first
                raise

    @staticmethod
    def _drop_other_revisions(entry: Path) -> None:
        revision = entry.name.split("-", 1)[0]
        for other in entry.parent.iterdir():
            if not other.name.startswith((revision, ".")):
                shutil.rmtree(other, ignore_errors=True)
