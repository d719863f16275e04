"""Tests of model/site_store.py: arrays prepared once, memory-mapped back, replaced when the data change."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from domain.site import Site
from model import site_store
from model.site_data import SiteSeries
from model.site_store import SiteStore

SITE = Site("01234567", "Alder Creek", 45.5, -70.25, 86.4)
FEATURES = ("precipitation", "temperature_mean")
DAYS = (dt.date(2020, 1, 1), dt.date(2020, 1, 10))


def record(offset: float = 0.0) -> SiteSeries:
    meteo = np.arange(20, dtype=np.float32).reshape(10, 2) + offset
    flow = np.linspace(1.0, 2.0, 10, dtype=np.float32)
    flow[3] = np.nan
    return SiteSeries(SITE, pd.Timestamp("2020-01-01"), meteo, flow)


class Builder:
    """Counts how often the store had to prepare the site."""

    def __init__(self, offset: float = 0.0) -> None:
        self.calls = 0
        self.offset = offset

    def __call__(self) -> SiteSeries:
        self.calls += 1
        return record(self.offset)


def assert_same(left: SiteSeries, right: SiteSeries) -> None:
    assert left.site == right.site and left.start == right.start
    np.testing.assert_array_equal(left.meteo, right.meteo)
    np.testing.assert_array_equal(left.flow_mm, right.flow_mm)


def entries(directory: Path) -> list[str]:
    return sorted(path.name for path in (directory / SITE.site_id).iterdir())


def test_a_site_is_prepared_once_then_memory_mapped(tmp_path: Path) -> None:
    store, build = SiteStore(tmp_path), Builder()

    first = store.series(SITE, "rev1", FEATURES, DAYS, build)
    again = SiteStore(tmp_path).series(SITE, "rev1", FEATURES, DAYS, build)

    assert build.calls == 1
    assert_same(first, record())
    assert_same(again, record())
    assert isinstance(again.meteo, np.memmap) and again.meteo.dtype == np.float32
    with pytest.raises(ValueError, match="read-only"):
        again.flow_mm[0] = 5.0


def test_new_data_are_prepared_again_and_replace_the_old_revision(tmp_path: Path) -> None:
    store = SiteStore(tmp_path)
    store.series(SITE, "rev1", FEATURES, DAYS, Builder())
    store.series(SITE, "rev1", FEATURES, (DAYS[0], dt.date(2020, 1, 9)), Builder())
    assert len(entries(tmp_path)) == 2  # two calendars of the same data

    changed = Builder(offset=100.0)
    fresh = store.series(SITE, "rev2", FEATURES, DAYS, changed)

    assert changed.calls == 1
    assert_same(fresh, record(100.0))
    assert len(entries(tmp_path)) == 1


def test_other_features_or_area_are_other_entries(tmp_path: Path) -> None:
    store = SiteStore(tmp_path)
    store.series(SITE, "rev1", FEATURES, DAYS, Builder())
    build = Builder()
    store.series(SITE, "rev1", FEATURES[:1], DAYS, build)
    store.series(Site(SITE.site_id, "Alder Creek", 45.5, -70.25, 90.0), "rev1", FEATURES, DAYS, build)

    assert build.calls == 2
    assert len(entries(tmp_path)) == 3


def test_an_unreadable_entry_is_prepared_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = SiteStore(tmp_path)
    store.series(SITE, "rev1", FEATURES, DAYS, Builder())
    (tmp_path / SITE.site_id / entries(tmp_path)[0] / "meteo.npy").write_bytes(b"\x93NUMPY truncated")
    build = Builder()

    with caplog.at_level(logging.WARNING):
        again = store.series(SITE, "rev1", FEATURES, DAYS, build)

    assert build.calls == 1
    assert_same(again, record())
    assert "unreadable" in caplog.text


def test_a_failed_save_keeps_the_site_in_memory_and_leaves_no_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def full_disk(path: Path, array: np.ndarray) -> None:
        Path(path).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(site_store.np, "save", full_disk)
    with caplog.at_level(logging.WARNING):
        kept = SiteStore(tmp_path).series(SITE, "rev1", FEATURES, DAYS, Builder())

    assert_same(kept, record())
    assert entries(tmp_path) == []
    assert "No space left" in caplog.text


def test_an_entry_saved_meanwhile_by_another_process_is_used(tmp_path: Path) -> None:
    # A torchrun rank saves the same entry between this one's miss and its save.
    other = Builder()

    def build_while_another_saves() -> SiteSeries:
        SiteStore(tmp_path).series(SITE, "rev1", FEATURES, DAYS, other)
        return record()

    got = SiteStore(tmp_path).series(SITE, "rev1", FEATURES, DAYS, build_while_another_saves)

    assert other.calls == 1
    assert_same(got, record())
    assert isinstance(got.meteo, np.memmap)
    assert len(entries(tmp_path)) == 1
