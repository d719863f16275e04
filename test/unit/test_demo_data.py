"""Tests of adapter/demo_data.py: format, realism, determinism and atomicity."""

from pathlib import Path

import pandas as pd
import pytest

from adapter import demo_data
from adapter.demo_data import write_demo_dataset

ALPINE = "09900001"
RAIN_FED = "09900002"
SEMI_ARID = "09900003"
FLOW_COLUMNS = ["time", "flow"]
METEO_COLUMNS = [
    "time",
    "precipitation",
    "temperature_max",
    "temperature_min",
    "temperature_mean",
    "evapotranspiration",
]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo dataset with the default seed, shared by the read-only tests."""
    directory = tmp_path_factory.mktemp("parent") / "demo"
    write_demo_dataset(directory)
    return directory


@pytest.fixture(scope="module")
def sites(dataset: Path) -> pd.DataFrame:
    return pd.read_csv(dataset / "sites.csv", dtype={"site_id": str})


def read_flow(dataset: Path, site_id: str) -> pd.Series:
    frame = pd.read_csv(dataset / "flow" / f"{site_id}.csv", parse_dates=["time"])
    return frame.set_index("time")["flow"]


def read_meteo(dataset: Path, site_id: str) -> pd.DataFrame:
    frame = pd.read_csv(dataset / "meteo" / f"{site_id}.csv", parse_dates=["time"])
    return frame.set_index("time")


def file_bytes(directory: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(directory)): path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file()
    }


def test_files_and_columns(dataset: Path, sites: pd.DataFrame) -> None:
    assert list(sites.columns) == [
        "site_id",
        "name",
        "latitude",
        "longitude",
        "area_km2",
    ]
    expected = {"sites.csv"}
    for site_id in sites["site_id"]:
        expected |= {f"flow/{site_id}.csv", f"meteo/{site_id}.csv"}
        assert list(read_flow(dataset, site_id).reset_index().columns) == FLOW_COLUMNS
        assert list(read_meteo(dataset, site_id).reset_index().columns) == METEO_COLUMNS
    assert set(file_bytes(dataset)) == expected


def test_sites_are_synthetic_with_eight_digit_ids(dataset: Path, sites: pd.DataFrame) -> None:
    assert len(sites) >= 3
    assert sites["site_id"].str.fullmatch(r"0\d{7}").all()
    assert sites["site_id"].is_unique
    assert sites["name"].str.contains("Synthetic").all()
    assert sites["area_km2"].between(100, 3000).all()
    assert sites["area_km2"].nunique() == len(sites)
    # The raw text keeps the leading zero, so any reader sees the same id.
    assert (dataset / "sites.csv").read_text().splitlines()[1].startswith("0")


def test_flow_and_meteo_periods(dataset: Path, sites: pd.DataFrame) -> None:
    flow_days = pd.date_range("2009-01-01", "2024-12-31", freq="D")
    meteo_days = pd.date_range("2009-01-01", "2025-01-07", freq="D")
    for site_id in sites["site_id"]:
        assert read_flow(dataset, site_id).index.equals(flow_days)
        meteo = read_meteo(dataset, site_id)
        assert meteo.index.equals(meteo_days)
        assert not meteo.isna().any().any()


def test_flow_non_negative_with_gaps_outside_last_month(dataset: Path, sites: pd.DataFrame) -> None:
    for site_id in sites["site_id"]:
        flow = read_flow(dataset, site_id)
        assert (flow.dropna() >= 0).all()
        assert 3 <= flow.isna().sum() <= 100
        assert flow.iloc[-30:].notna().all()


def test_meteo_is_physically_plausible(dataset: Path, sites: pd.DataFrame) -> None:
    for site_id in sites["site_id"]:
        meteo = read_meteo(dataset, site_id)
        assert meteo["precipitation"].between(0, 300).all()
        assert meteo["evapotranspiration"].between(0, 20).all()
        temperatures = meteo[["temperature_min", "temperature_mean", "temperature_max"]]
        assert temperatures.stack().between(-50, 50).all()
        assert (meteo["temperature_min"] <= meteo["temperature_mean"]).all()
        assert (meteo["temperature_mean"] <= meteo["temperature_max"]).all()


def test_flow_is_persistent(dataset: Path, sites: pd.DataFrame) -> None:
    for site_id in sites["site_id"]:
        assert read_flow(dataset, site_id).autocorr(lag=1) > 0.7


def test_snow_site_peaks_in_melt_season(dataset: Path) -> None:
    flow = read_flow(dataset, ALPINE)
    precipitation = read_meteo(dataset, ALPINE)["precipitation"]
    winter = [11, 12, 1, 2]
    melt_season = [4, 5, 6, 7]
    assert flow[flow.index.month.isin(melt_season)].mean() > 3 * (flow[flow.index.month.isin(winter)].mean())
    # The spring peak comes from winter snow, not from spring rain.
    winter_precipitation = precipitation[precipitation.index.month.isin(winter)]
    assert winter_precipitation.mean() > 1.5


def test_semi_arid_site_dries_up(dataset: Path) -> None:
    flow = read_flow(dataset, SEMI_ARID).dropna()
    assert (flow < 0.01 * flow.mean()).mean() > 0.1


def test_rain_fed_flow_follows_precipitation(dataset: Path) -> None:
    flow = read_flow(dataset, RAIN_FED)
    precipitation = read_meteo(dataset, RAIN_FED)["precipitation"]
    three_day_sum = precipitation.rolling(3).sum().reindex(flow.index)
    assert flow.corr(three_day_sum) > 0.2


def test_runoff_ratios_are_plausible(dataset: Path, sites: pd.DataFrame) -> None:
    for site in sites.itertuples():
        flow_mm = read_flow(dataset, site.site_id) * 86400 / (site.area_km2 * 1000)
        precipitation = read_meteo(dataset, site.site_id)["precipitation"]
        assert 0.02 < flow_mm.mean() / precipitation.mean() < 0.8


def test_same_seed_same_bytes_other_seed_differs(dataset: Path, tmp_path: Path) -> None:
    write_demo_dataset(tmp_path / "same")
    write_demo_dataset(tmp_path / "other", seed=7)
    assert file_bytes(tmp_path / "same") == file_bytes(dataset)
    other = file_bytes(tmp_path / "other")
    assert other["sites.csv"] == file_bytes(dataset)["sites.csv"]
    assert other[f"flow/{RAIN_FED}.csv"] != file_bytes(dataset)[f"flow/{RAIN_FED}.csv"]


def test_non_empty_target_raises(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    target.mkdir()
    (target / "keep.txt").write_text("user data")
    with pytest.raises(FileExistsError):
        write_demo_dataset(target)
    assert [path.name for path in target.iterdir()] == ["keep.txt"]
    assert [path.name for path in tmp_path.iterdir()] == ["demo"]


def test_empty_target_is_filled_without_leftovers(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    target.mkdir()
    write_demo_dataset(target)
    assert (target / "sites.csv").is_file()
    assert [path.name for path in tmp_path.iterdir()] == ["demo"]


def test_fixture_dataset_left_no_temp_directory(dataset: Path) -> None:
    assert [path.name for path in dataset.parent.iterdir()] == ["demo"]


def test_crash_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(root: Path, *settings: object) -> None:
        (root / "sites.csv").write_text("half written")
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(demo_data, "_write_dataset", crash)
    with pytest.raises(RuntimeError):
        write_demo_dataset(tmp_path / "demo")
    assert list(tmp_path.iterdir()) == []


def test_scaled_sites_make_a_dataset_of_any_size_and_period(tmp_path: Path) -> None:
    sites = demo_data.scaled_sites(6)
    write_demo_dataset(
        tmp_path / "scaled", sites=sites, flow_days=(pd.Timestamp("2000-01-01"), pd.Timestamp("2003-12-31"))
    )

    table = pd.read_csv(tmp_path / "scaled" / "sites.csv", dtype={"site_id": str})
    assert list(table["site_id"]) == [f"09800{index:03d}" for index in range(6)]
    assert table["area_km2"].nunique() == 6 and table["area_km2"].between(30, 5000).all()
    flow = read_flow(tmp_path / "scaled", "09800005")
    assert (flow.index.min(), flow.index.max()) == (pd.Timestamp("2000-01-01"), pd.Timestamp("2003-12-31"))
    assert read_meteo(tmp_path / "scaled", "09800005").index.max() == pd.Timestamp("2004-01-07")
    assert demo_data.scaled_sites(6) == sites  # the same seed, the same sites
