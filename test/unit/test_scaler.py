"""Tests of model/scaler.py (and the unit conversions of model/site_data.py)."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from domain.errors import InsufficientDataError
from domain.site import Site
from model.scaler import LOG_FLOW_OFFSET, FeatureScaler
from model.site_data import SiteSeries, build_site_series, m3s_to_mm_per_day, mm_per_day_to_m3s

FEATURES = ("precipitation", "temperature_mean", "evapotranspiration")
TRAIN_START, TRAIN_END = dt.date(2020, 1, 1), dt.date(2020, 1, 31)
N_DAYS = 60  # 2020-01-01 .. 2020-02-29: January is the training period, February is not
# 86.4 km2 makes 1 m3/s exactly 1 mm/day, so flow statistics can be checked in the units written.
AREA_ONE_TO_ONE = 86.4


def make_record(
    site_id: str,
    area_km2: float = AREA_ONE_TO_ONE,
    seed: int = 0,
    flow: np.ndarray | None = None,
    meteo: dict[str, np.ndarray] | None = None,
) -> SiteSeries:
    rng = np.random.default_rng(seed)
    days = pd.date_range("2020-01-01", periods=N_DAYS)
    columns = {
        "precipitation": rng.gamma(0.8, 4.0, N_DAYS),
        "temperature_mean": rng.normal(2.0, 6.0, N_DAYS),
        "evapotranspiration": rng.gamma(2.0, 1.0, N_DAYS),
    }
    columns.update(meteo or {})
    meteo_frame = pd.DataFrame({"site_id": site_id, "time": days, **columns})
    flow_values = rng.gamma(2.0, 1.5, N_DAYS) if flow is None else flow
    flow_frame = pd.DataFrame({"site_id": site_id, "time": days, "flow": flow_values})
    return build_site_series(Site(site_id, site_id, 45.0, -70.0, area_km2), meteo_frame, flow_frame, FEATURES)


@pytest.fixture
def records() -> list[SiteSeries]:
    return [make_record("01234567", seed=1), make_record("00000042", area_km2=250.0, seed=2)]


def fit(records: list[SiteSeries]) -> FeatureScaler:
    return FeatureScaler.fit(records, FEATURES, TRAIN_START, TRAIN_END, sqrt_features=("precipitation",))


def test_m3s_to_mm_per_day_hand_checked() -> None:
    # 1 m3/s = 86400 m3/day; over 86.4 km2 = 86.4e6 m2 that is 0.001 m = 1 mm per day.
    assert m3s_to_mm_per_day(np.array([1.0]), 86.4)[0] == pytest.approx(1.0)
    # 10 m3/s over 864 km2: 864000 m3/day / 864e6 m2 = 1 mm/day.
    assert m3s_to_mm_per_day(np.array([10.0]), 864.0)[0] == pytest.approx(1.0)
    assert mm_per_day_to_m3s(np.array([2.0]), 86.4)[0] == pytest.approx(2.0)
    flow = np.array([0.0, 0.37, 12.5, np.nan])
    np.testing.assert_allclose(mm_per_day_to_m3s(m3s_to_mm_per_day(flow, 123.4), 123.4), flow)


def test_flow_statistics_hand_checked() -> None:
    flow = np.concatenate([[1.0, 2.0, 3.0], np.full(N_DAYS - 3, np.nan)])
    scaler = FeatureScaler.fit([make_record("01234567", flow=flow)], FEATURES, TRAIN_START, TRAIN_END)

    # 1, 2, 3 m3/s over 86.4 km2 are 1, 2, 3 mm/day: population std sqrt(2/3).
    assert scaler.site_flow_std["01234567"] == pytest.approx(np.sqrt(2.0 / 3.0))
    assert scaler.log_flow_mean == pytest.approx(np.mean(np.log(np.array([1.0, 2.0, 3.0]) + LOG_FLOW_OFFSET)))


def test_meteo_statistics_pool_the_training_days_of_all_sites(records) -> None:
    scaler = fit(records)

    pooled = np.concatenate([record.meteo[:31] for record in records]).astype(np.float64)
    pooled[:, 0] = np.sqrt(pooled[:, 0])  # precipitation is standardised after a square root
    np.testing.assert_allclose(scaler.meteo_mean, pooled.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(scaler.meteo_std, pooled.std(axis=0), rtol=1e-6)
    assert scaler.features == FEATURES


def test_statistics_ignore_days_outside_the_training_period(records) -> None:
    before = fit(records).to_dict()
    for record in records:  # February: after the training period
        record.meteo[31:] = record.meteo[31:] * 10.0 + 5.0
        record.flow_mm[31:] = record.flow_mm[31:] * 7.0 + 1.0
        record.flow_mm[40:45] = np.nan

    assert fit(records).to_dict() == before


def test_statistics_do_move_when_training_days_change(records) -> None:
    # Guards the previous test: the same kind of edit inside the period is seen.
    before = fit(records).to_dict()
    records[0].meteo[5] += 10.0
    records[0].flow_mm[5] += 3.0

    after = fit(records).to_dict()

    assert after["meteo_mean"] != before["meteo_mean"]
    assert after["site_flow_std"]["01234567"] != before["site_flow_std"]["01234567"]
    assert after["site_flow_std"]["00000042"] == before["site_flow_std"]["00000042"]
    assert after["site_static"]["01234567"] != before["site_static"]["01234567"]


def test_period_starting_before_the_record_uses_what_exists(records) -> None:
    early = FeatureScaler.fit(records, FEATURES, dt.date(2019, 6, 1), TRAIN_END, sqrt_features=("precipitation",))

    assert early.to_dict() == fit(records).to_dict()


def test_round_trip_through_json_gives_the_same_transforms(records) -> None:
    scaler = fit(records)

    loaded = FeatureScaler.from_dict(json.loads(json.dumps(scaler.to_dict())))

    assert loaded.features == scaler.features and loaded.static_names == scaler.static_names
    for record in records:
        site_id = record.site.site_id
        np.testing.assert_array_equal(loaded.scale_flow_input(record.flow_mm), scaler.scale_flow_input(record.flow_mm))
        np.testing.assert_array_equal(
            loaded.standardize_flow(site_id, record.flow_mm), scaler.standardize_flow(site_id, record.flow_mm)
        )
        values = np.linspace(-2.0, 2.0, 9)
        np.testing.assert_array_equal(
            loaded.unstandardize_flow(site_id, values), scaler.unstandardize_flow(site_id, values)
        )
        np.testing.assert_array_equal(loaded.static_vector(site_id), scaler.static_vector(site_id))
        np.testing.assert_allclose(loaded.scale_meteo(record.meteo), scaler.scale_meteo(record.meteo), atol=1e-6)


def test_round_trip_scale_meteo_is_bit_identical(records) -> None:
    scaler = fit(records)
    loaded = FeatureScaler.from_dict(json.loads(json.dumps(scaler.to_dict())))

    for record in records:
        np.testing.assert_array_equal(loaded.scale_meteo(record.meteo), scaler.scale_meteo(record.meteo))


def test_flow_standardisation_round_trip(records) -> None:
    scaler = fit(records)
    flow = np.array([0.0, 0.5, 3.0, 40.0, np.nan])

    standardized = scaler.standardize_flow("00000042", flow)
    restored = scaler.unstandardize_flow("00000042", standardized)

    np.testing.assert_allclose(restored, flow, rtol=1e-5, atol=1e-6)
    assert np.isnan(standardized[-1])
    # Flow is divided by the site's spread, not centred: zero flow maps to 0.
    assert standardized[0] == 0.0
    np.testing.assert_allclose(standardized[:4], flow[:4] / scaler.site_flow_std["00000042"], rtol=1e-6)


def test_scale_meteo_maps_missing_values_to_zero(records) -> None:
    scaler = fit(records)
    # Row 2 is the training mean in model space (precipitation is rooted before standardising).
    at_mean = scaler.meteo_mean.copy()
    at_mean[0] **= 2
    meteo = np.array([[np.nan, 1.0, np.nan], at_mean], dtype=np.float32)

    scaled = scaler.scale_meteo(meteo)

    assert scaled.dtype == np.float32
    assert scaled[0, 0] == 0.0 and scaled[0, 2] == 0.0
    assert scaled[0, 1] == pytest.approx((1.0 - scaler.meteo_mean[1]) / scaler.meteo_std[1], rel=1e-5)
    np.testing.assert_allclose(scaled[1], 0.0, atol=1e-5)


def test_precipitation_is_standardised_after_a_square_root(records) -> None:
    scaler = fit(records)
    meteo = np.array([[4.0, 1.0, 1.0], [0.0, 1.0, 1.0]], dtype=np.float32)

    scaled = scaler.scale_meteo(meteo)

    assert scaler.root_scaled == ("precipitation",)
    assert scaled[0, 0] == pytest.approx((2.0 - scaler.meteo_mean[0]) / scaler.meteo_std[0], rel=1e-5)
    assert scaled[1, 0] == pytest.approx(-scaler.meteo_mean[0] / scaler.meteo_std[0], rel=1e-5)
    # Temperature is not rooted.
    assert scaled[0, 1] == pytest.approx((1.0 - scaler.meteo_mean[1]) / scaler.meteo_std[1], rel=1e-5)
    assert records[0].meteo[0, 0] != np.sqrt(records[0].meteo[0, 0])  # the record itself is not changed


def test_without_sqrt_features_precipitation_is_standardised_as_is(records) -> None:
    scaler = FeatureScaler.fit(records, FEATURES, TRAIN_START, TRAIN_END)

    pooled = np.concatenate([record.meteo[:31] for record in records]).astype(np.float64)
    assert scaler.root_scaled == ()
    np.testing.assert_allclose(scaler.meteo_mean, pooled.mean(axis=0), rtol=1e-6)


def test_scale_flow_input_keeps_missing_days_missing(records) -> None:
    scaled = fit(records).scale_flow_input(np.array([1.0, np.nan, 0.0]))

    assert np.isnan(scaled[1]) and np.isfinite(scaled[[0, 2]]).all()


def test_static_vector_has_one_finite_value_per_name(records) -> None:
    scaler = fit(records)

    assert len(scaler.static_names) == len(set(scaler.static_names)) > 0
    assert {"log_area_km2", "mean_precipitation", "aridity"} <= set(scaler.static_names)
    for record in records:
        vector = scaler.static_vector(record.site.site_id)
        assert vector.shape == (len(scaler.static_names),)
        assert np.isfinite(vector).all()
    # Standardised across sites: with two sites every attribute that differs is +-1.
    area = scaler.static_names.index("log_area_km2")
    assert scaler.static_vector("01234567")[area] == pytest.approx(-1.0, abs=1e-3)
    assert scaler.static_vector("00000042")[area] == pytest.approx(1.0, abs=1e-3)


def test_static_names_follow_the_available_features() -> None:
    days = pd.date_range("2020-01-01", periods=N_DAYS)
    record = build_site_series(
        Site("01234567", "x", 0, 0, 10.0),
        pd.DataFrame({"site_id": "01234567", "time": days, "precipitation": 1.0}),
        pd.DataFrame({"site_id": "01234567", "time": days, "flow": 1.0}),
        ("precipitation",),
    )

    scaler = FeatureScaler.fit([record], ("precipitation",), TRAIN_START, TRAIN_END)

    assert "mean_temperature" not in scaler.static_names and "aridity" not in scaler.static_names
    assert np.isfinite(scaler.static_vector("01234567")).all()  # one site: std floored, no 0/0


def test_fit_names_a_site_without_flow_in_the_period() -> None:
    flow = np.concatenate([np.full(31, np.nan), np.ones(N_DAYS - 31)])  # flow only after January
    records = [make_record("01234567", seed=1), make_record("00000042", flow=flow)]

    with pytest.raises(InsufficientDataError, match="00000042"):
        FeatureScaler.fit(records, FEATURES, TRAIN_START, TRAIN_END)


def test_build_site_series_aligns_meteo_past_the_last_flow_day() -> None:
    days = pd.date_range("2020-01-01", periods=5)
    record = build_site_series(
        Site("01234567", "x", 0, 0, AREA_ONE_TO_ONE),
        pd.DataFrame({"site_id": "01234567", "time": days, "precipitation": [0.0, 1, 2, 3, 4]}),
        pd.DataFrame({"site_id": "01234567", "time": days[1:3], "flow": [5.0, 6.0]}),
        ("precipitation", "temperature_mean"),
    )

    assert record.start == pd.Timestamp("2020-01-01") and record.n_days == 5
    np.testing.assert_array_equal(record.flow_mm, [np.nan, 5.0, 6.0, np.nan, np.nan])
    np.testing.assert_array_equal(record.meteo[:, 0], [0.0, 1, 2, 3, 4])
    assert np.isnan(record.meteo[:, 1]).all()  # a feature the frame lacks
    assert record.index_of(dt.date(2020, 1, 3)) == 2 and record.day_at(4) == pd.Timestamp("2020-01-05")


def test_the_training_range_of_each_input_is_kept_for_drift(records) -> None:
    scaler = fit(records)
    record = records[0]
    site = record.site.site_id
    inside = scaler.outside_training_range(site, record.meteo[:31], record.flow_mm[:31])
    assert inside == 0.0  # the training days themselves
    meteo = record.meteo[:10].copy()
    meteo[:, 0] = 10_000.0  # far above any training precipitation: a third of the meteo values
    share = scaler.outside_training_range(site, meteo, record.flow_mm[:10])
    assert share == pytest.approx(10 / (10 * 4))
    loaded = FeatureScaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    assert loaded.outside_training_range(site, meteo, record.flow_mm[:10]) == share
    assert np.isnan(scaler.outside_training_range(site, np.full((3, 3), np.nan), np.full(3, np.nan)))
