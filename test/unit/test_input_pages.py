"""Tests of service/input_pages.py: a window cut from kept blocks is the window the frames give."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adapter.local_reader import LocalFlowReader, LocalMeteoReader
from model.predictor import Predictor
from model.site_data import SiteSeries
from service.input_pages import InputPages, with_forecast
from test.unit.test_predictor import FEATURES, SITE, frames
from test.unit.test_predictor import predictor as predictor  # noqa: F401 (the module's fixture)


def write_data_dir(root: Path, meteo: pd.DataFrame, flow: pd.DataFrame) -> Path:
    (root / "flow").mkdir(parents=True)
    (root / "meteo").mkdir()
    (root / "sites.csv").write_text(
        f"site_id,name,latitude,longitude,area_km2\n{SITE.site_id},{SITE.name},{SITE.latitude},"
        f"{SITE.longitude},{SITE.area_km2}\n"
    )
    write_flow(root, flow)
    meteo.drop(columns="site_id").to_csv(root / "meteo" / f"{SITE.site_id}.csv", index=False, date_format="%Y-%m-%d")
    return root


def write_flow(root: Path, flow: pd.DataFrame) -> None:
    path = root / "flow" / f"{SITE.site_id}.csv"
    flow.drop(columns="site_id").to_csv(path, index=False, date_format="%Y-%m-%d")
    stat = path.stat()  # a rewrite within the same mtime tick must still be seen as a change
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


def paged_inputs(pages: InputPages, meteo_reader, predictor: Predictor, issue: dt.date, last_observed: dt.date):
    period = predictor.input_period(issue)
    past = pages.past(SITE, FEATURES, (period.first_day, period.last_day), issue, last_observed)
    record = SiteSeries(SITE, pd.Timestamp(period.first_day), past.meteo, past.flow_mm)
    with_forecast(record, meteo_reader.read_forecast(SITE, issue, predictor.horizon), FEATURES)
    return predictor.prepare_record(issue, record), past


def framed_inputs(flow_reader, meteo_reader, predictor: Predictor, issue: dt.date):
    period = predictor.input_period(issue)
    return predictor.prepare(
        SITE.site_id,
        issue,
        flow_reader.read_flow(SITE.site_id, period.first_day, period.last_day),
        meteo_reader.read_history(SITE, period.first_day, issue),
        meteo_reader.read_forecast(SITE, issue, predictor.horizon),
    )


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    meteo, flow = frames(seed=3)
    flow.loc[flow.index[100:104], "flow"] = np.nan  # a gap inside some windows
    flow = flow.iloc[:-10]  # meteorology runs 10 days past the last observed flow: the forecast
    return write_data_dir(tmp_path / "data", meteo, flow), meteo, flow


# Issue days across block boundaries (blocks of 7 days), inside the gap, and the last observed day.
ISSUES = [dt.date(2020, 3, 5), dt.date(2020, 4, 12), dt.date(2020, 4, 13), dt.date(2020, 4, 14), dt.date(2020, 6, 20)]


@pytest.mark.parametrize("issue", ISSUES)
def test_a_window_of_kept_blocks_equals_the_window_of_the_frames(data, predictor: Predictor, issue) -> None:  # noqa: F811
    root, _, flow = data
    flow_reader, meteo_reader = LocalFlowReader(root), LocalMeteoReader(root)
    pages = InputPages(flow_reader, meteo_reader, block_days=7, ttl_s=60.0, max_blocks=100)
    last_observed = flow_reader.last_observed(SITE.site_id)
    paged, past = paged_inputs(pages, meteo_reader, predictor, issue, last_observed)
    framed = framed_inputs(flow_reader, meteo_reader, predictor, issue)
    np.testing.assert_array_equal(paged.record.meteo, framed.record.meteo)
    np.testing.assert_array_equal(paged.record.flow_mm, framed.record.flow_mm)
    assert (paged.fingerprint, paged.filled_gaps, paged.drift) == (framed.fingerprint, framed.filled_gaps, framed.drift)
    np.testing.assert_array_equal(predictor.run(paged), predictor.run(framed))
    # What a hindcast shows beside its leads: the observed flow of the lead days, in m3/s.
    period = predictor.input_period(issue)
    leads = flow.set_index("time")["flow"].reindex(pd.date_range(issue + dt.timedelta(days=1), period.last_day))
    np.testing.assert_array_equal(past.flow_m3s[-predictor.horizon :], leads.to_numpy())


def test_new_observed_flow_is_read_at_once_and_revisions_after_the_ttl(data, predictor: Predictor) -> None:  # noqa: F811
    root, _, flow = data
    flow_reader, meteo_reader = LocalFlowReader(root), LocalMeteoReader(root)
    pages = InputPages(flow_reader, meteo_reader, block_days=30, ttl_s=3600.0, max_blocks=100)
    issue = dt.date(2020, 5, 1)
    before, _ = paged_inputs(pages, meteo_reader, predictor, issue, flow_reader.last_observed(SITE.site_id))
    revised = flow.assign(flow=flow["flow"] * 2.0)
    write_flow(root, revised)
    # Same last observed day: the kept blocks stand until the TTL.
    kept, _ = paged_inputs(pages, meteo_reader, predictor, issue, flow_reader.last_observed(SITE.site_id))
    assert kept.fingerprint == before.fingerprint
    expired = InputPages(flow_reader, meteo_reader, block_days=30, ttl_s=0.0, max_blocks=100)
    reread, _ = paged_inputs(expired, meteo_reader, predictor, issue, flow_reader.last_observed(SITE.site_id))
    assert reread.fingerprint != before.fingerprint
    # One more observed day moves the last observed day: read again at once, whatever the TTL.
    one_more = pd.DataFrame(
        {"site_id": SITE.site_id, "time": [revised["time"].max() + pd.Timedelta(days=1)], "flow": [1.0]}
    )
    write_flow(root, pd.concat([revised, one_more], ignore_index=True))
    moved, _ = paged_inputs(pages, meteo_reader, predictor, issue, flow_reader.last_observed(SITE.site_id))
    assert moved.fingerprint == reread.fingerprint


def test_only_the_most_recently_used_blocks_are_kept(data, predictor: Predictor) -> None:  # noqa: F811
    root, _, _ = data
    flow_reader, meteo_reader = LocalFlowReader(root), LocalMeteoReader(root)
    pages = InputPages(flow_reader, meteo_reader, block_days=7, ttl_s=3600.0, max_blocks=6)
    last_observed = flow_reader.last_observed(SITE.site_id)
    for issue in ISSUES[:4]:
        paged_inputs(pages, meteo_reader, predictor, issue, last_observed)
    assert pages.kept() == 6
