"""Verification of issued forecasts on a small replayed period whose scores are worked out by hand,
and feedback over HTTP: validation, size limit, rate limit, operators' list."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
import torch

from adapter.forecast_archive import ArchivedForecast, ForecastArchive, forecast_id
from adapter.local_reader import LocalFlowReader
from config.settings import AppConfig, ModelConfig, Secret, TrainingConfig, VerificationConfig
from domain.flood import FloodThresholds
from domain.site import Site
from model.bundle import ModelBundle
from model.ensemble import build_network
from model.predictor import Predictor
from model.scaler import FeatureScaler
from model.site_data import build_site_series
from service.archive_service import ArchiveService
from service.served_model import LoadedModel, ServedModel
from service.verification_service import VerificationService
from test.integration.test_http import assert_error, get_json, response_validator
from test.support import RunningService, no_thresholds_or_spread, with_archive

pytestmark = pytest.mark.slow

SITE = Site("01234567", "Linear Brook", 45.0, -70.0, 86.4)
DAY0 = dt.date(2024, 3, 1)
# Observed flow rises by 2 m3/s a day from 10 (days 0..5), then the record ends.
OBSERVED = [10.0, 12.0, 14.0, 16.0, 18.0, 20.0]


def day(n: int) -> dt.date:
    return DAY0 + dt.timedelta(days=n)


@pytest.fixture
def verification(tmp_path: Path) -> tuple[VerificationService, ForecastArchive]:
    return verification_of(tmp_path)


def verification_of(
    tmp_path: Path, thresholds: FloodThresholds | None = None
) -> tuple[VerificationService, ForecastArchive]:
    data = tmp_path / "data"
    (data / "flow").mkdir(parents=True)
    (data / "sites.csv").write_text("site_id,name,latitude,longitude,area_km2\n01234567,Linear Brook,45,-70,86.4\n")
    (data / "flow" / "01234567.csv").write_text(
        "time,flow\n" + "".join(f"{day(n)},{flow}\n" for n, flow in enumerate(OBSERVED))
    )
    days = [day(n) for n in range(len(OBSERVED))]
    record = build_site_series(
        SITE,
        pd.DataFrame({"site_id": SITE.site_id, "time": days, "precipitation": 1.0}),
        pd.DataFrame({"site_id": SITE.site_id, "time": days, "flow": OBSERVED}),
        ("precipitation",),
    )
    scaler = FeatureScaler.fit([record], ("precipitation",), day(0), day(5))
    model = ModelConfig(meteo_features=("precipitation",), seq_len=3, max_forecast_days=2, hidden_size=2, dropout=0.0)
    torch.manual_seed(0)
    weights = [build_network(model, len(scaler.static_names)).state_dict()]
    training = TrainingConfig(train_start=day(0), train_end=day(3), test_start=day(4), test_end=day(5))
    bundle = ModelBundle(
        "v1", model, training, scaler, weights, (SITE,), {}, "ab" * 32, {}, False, **no_thresholds_or_spread((SITE,), 2)
    )
    if thresholds is not None:
        bundle = dataclasses.replace(bundle, flood_thresholds={SITE.site_id: thresholds})
    archive = ForecastArchive("", tmp_path / "archive.sqlite")
    service = VerificationService(
        LocalFlowReader(data),
        ArchiveService(archive, 100),
        ServedModel(LoadedModel.of(Predictor(bundle))),
        VerificationConfig(window_days=90, min_pairs=3),
    )
    return service, archive


def keep(
    archive: ForecastArchive,
    issue: int,
    flows: tuple[float, float],
    minute: int = 0,
    hindcast: bool = False,
    quantiles: dict[str, tuple[float, ...]] | None = None,
    exceedance: dict[str, tuple[float, ...]] | None = None,
) -> None:
    fingerprint = f"{issue}-{minute}".ljust(64, "0")
    archive.store(
        ArchivedForecast(
            forecast_id(SITE.site_id, day(issue), "v1", fingerprint),
            SITE.site_id,
            day(issue),
            "v1",
            "1",
            fingerprint,
            hindcast,
            dt.datetime(2024, 3, 1, 6, tzinfo=dt.UTC) + dt.timedelta(days=issue, minutes=minute),
            None,
            0.02 * issue,
            0,
            flows,
            quantiles,
            exceedance,
        )
    )


def test_scores_per_lead_and_persistence_match_the_hand_worked_figures(verification) -> None:
    service, archive = verification
    # Issued on days 0..3: lead 1 misses day 3 by 1 m3/s, lead 2 is exact.
    for issue, lead1 in enumerate([12.0, 14.0, 17.0, 18.0]):
        keep(archive, issue, (lead1, 14.0 + 2 * issue))
    keep(archive, 1, (99.0, 99.0), minute=-30)  # issued earlier the same day: the later one counts
    keep(archive, 2, (0.0, 0.0), minute=30, hindcast=True)  # hindcasts are not verified

    result = service.verify(SITE.site_id)

    lead1, lead2 = result.rolling
    # Lead 1: observed 12, 14, 16, 18 (mean 15, spread 20); errors 0, 0, 1, 0 -> NSE 1 - 1/20.
    assert (lead1.pairs, lead1.nse, lead1.mae, lead1.bias) == (4, 0.95, 0.25, 0.25)
    # Persistence repeats 10, 12, 14, 16: errors -2 each -> NSE 1 - 16/20.
    assert (lead1.persistence_nse, lead1.persistence_mae, lead1.persistence_bias) == (0.2, 2.0, -2.0)
    # Lead 2: exact; persistence misses by 4 every day -> NSE 1 - 64/20.
    assert (lead2.pairs, lead2.nse, lead2.mae, lead2.bias) == (4, 1.0, 0.0, 0.0)
    assert (lead2.persistence_nse, lead2.persistence_mae) == (-2.2, 4.0)
    assert result.since_live == result.rolling  # every forecast is the served model's
    assert result.window == (day(5) - dt.timedelta(days=90), day(5)) and not result.flagged
    assert result.mean_drift == pytest.approx(np.mean([0.0, 0.02, 0.02, 0.04, 0.06]))
    response_validator("Verification").validate(json.loads(json.dumps(result.as_json())))


def test_warnings_of_exceedance_are_counted_against_what_the_river_did(tmp_path: Path) -> None:
    service, archive = verification_of(tmp_path, FloodThresholds("test", 10, {2: 15.0, 5: 17.0, 10: 19.0}))
    # Lead 1 targets are 12, 14, 16, 18: above the 2-year flow (15) for the issues of days 2 and 3.
    warnings = [0.1, 0.6, 0.7, 0.2]  # probability of exceeding it at lead 1
    intervals = [(11.0, 13.0), (15.0, 16.0), (15.0, 18.0), (10.0, 17.0)]  # q0.05..q0.95 at lead 1
    for issue, lead1 in enumerate([12.0, 14.0, 17.0, 18.0]):
        (low, high), p = intervals[issue], warnings[issue]
        quantiles = {"0.05": (low, low), "0.5": (lead1, lead1), "0.95": (high, high)}
        keep(archive, issue, (lead1, lead1), quantiles=quantiles, exceedance={"2": (p, p), "5": (0.0, 0.0)})

    lead1 = service.verify(SITE.site_id).rolling[0]

    # Issue 0: no warning, no flood; 1: warned, 14 stayed below (false alarm); 2: warned, 16 (hit);
    # 3: not warned, 18 (miss).
    assert lead1.exceedances["2"] == {"hits": 1, "misses": 1, "false_alarms": 1, "correct_negatives": 1}
    # The 5-year flow (17) was passed once (18), never warned; the 10-year has no probabilities archived.
    assert lead1.exceedances["5"] == {"hits": 0, "misses": 1, "false_alarms": 0, "correct_negatives": 3}
    assert lead1.exceedances["10"] == {"hits": 0, "misses": 0, "false_alarms": 0, "correct_negatives": 0}
    assert lead1.coverage_90 == 0.5  # 12 and 16 inside their intervals, 14 and 18 outside
    response_validator("Verification").validate(json.loads(json.dumps(service.verify(SITE.site_id).as_json())))


def test_a_site_worse_than_persistence_at_lead_1_is_flagged_once(verification, caplog) -> None:
    service, archive = verification
    for issue in range(4):
        keep(archive, issue, (20.0, 20.0))  # flat: errors 8, 6, 4, 2 at lead 1 -> NSE 1 - 120/20 = -5

    first = service.verify(SITE.site_id)
    service.verify(SITE.site_id)

    assert first.rolling[0].nse == -5.0 and first.flagged
    flags = [record for record in caplog.records if "flagged" in record.getMessage()]
    assert len(flags) == 1 and "01234567" in flags[0].getMessage()


def test_too_few_pairs_report_no_score(verification) -> None:
    service, archive = verification
    keep(archive, 0, (12.0, 14.0))
    (lead1, _) = service.verify(SITE.site_id).rolling
    assert lead1.pairs == 1 and lead1.nse is None and lead1.persistence_nse is None
    assert lead1.coverage_90 is None and lead1.exceedances is None


TOKEN = "operator-token-for-tests"


@pytest.fixture
def api(trained_config: AppConfig, tmp_path: Path):
    config = with_archive(trained_config, tmp_path)
    config = dataclasses.replace(config, server=dataclasses.replace(config.server, operator_token=Secret(TOKEN)))
    with RunningService(config) as service:
        yield service


def post(service: RunningService, body: object, raw: bytes | None = None) -> requests.Response:
    data = raw if raw is not None else json.dumps(body).encode()
    return requests.post(service.url("/feedback"), data=data, timeout=30)


def test_feedback_is_validated_kept_rate_limited_and_listed_for_operators(api: RunningService) -> None:
    forecast = get_json(api, "/forecast?site_id=09900004&forecast_days=3")[1]
    body = {
        "forecast_id": forecast["forecast_id"],
        "rating": 4,
        "comment": "<script>alert(1)</script> close to the staff gauge",
        "observation": {"flow": 51.5, "time": "2025-01-01T08:30:00-07:00"},
    }
    kept = post(api, body)
    assert kept.status_code == 201, kept.text
    response_validator("FeedbackReceipt").validate(kept.json())

    refused = {
        "unknown forecast": (post(api, {**body, "forecast_id": "0" * 32}), 404, "unknown_forecast"),
        "not JSON": (post(api, None, b"{rating: 5"), 400, "invalid_request"),
        "bad rating": (post(api, {**body, "rating": 9}), 400, "invalid_request"),
        "long comment": (post(api, {**body, "comment": "x" * 501}), 400, "invalid_request"),
        "extra field": (post(api, {**body, "forecast": "replace me"}), 400, "invalid_request"),
        "oversized": (post(api, None, b" " * 5000), 413, "payload_too_large"),
    }
    for what, (response, status, code) in refused.items():
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), what
    assert "field 'rating' must be at most 5" in refused["bad rating"][0].json()["error"]["message"]

    answers = [post(api, body) for _ in range(12)]
    limited = [answer for answer in answers if answer.status_code == 429]
    assert limited and int(limited[0].headers["Retry-After"]) >= 1
    assert limited[0].json()["error"]["code"] == "rate_limited"

    assert_error(api, "/feedback", 401, "unauthorized")
    listed = requests.get(
        api.url("/feedback?site_id=09900004"), headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    )
    assert listed.status_code == 200 and listed.headers["Content-Type"].startswith("application/json")
    response_validator("FeedbackList").validate(listed.json())
    newest = listed.json()["feedback"][0]
    assert newest["comment"] == body["comment"] and newest["rating"] == 4 and newest["observed_flow"] == 51.5
    assert newest["observed_at"] == "2025-01-01T15:30:00+00:00"
    # Feedback never changes the forecast it is about.
    assert get_json(api, "/forecast?site_id=09900004&forecast_days=3")[1] == forecast
    verified = get_json(api, "/verification?site_id=09900004")[1]
    response_validator("Verification").validate(verified)
    assert verified["feedback"] >= 1
