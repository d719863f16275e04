"""Tests of model/bundle.py: atomic save, load round trip, the `current` link, pruning."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from config.settings import ModelConfig, TrainingConfig
from domain.errors import ModelNotLoadedError, UnknownSiteError
from domain.site import Site
from model import bundle as bundle_module
from model.bundle import (
    BUNDLES_KEPT,
    CALIBRATION_FILE,
    CURRENT_LINK,
    FORMAT_VERSION,
    METADATA_FILE,
    WEIGHTS_FILE,
    ModelBundle,
    has_bundle,
    load_bundle,
    save_bundle,
)
from model.ensemble import build_network
from model.scaler import FeatureScaler
from model.site_data import build_site_series
from test.support import no_thresholds_or_spread

FEATURES = ("precipitation", "temperature_mean")


@pytest.fixture(scope="module")
def scaler() -> FeatureScaler:
    days = pd.date_range("2020-01-01", periods=30)
    rng = np.random.default_rng(0)
    records = [
        build_site_series(
            Site(site_id, site_id, 45.0, -70.0, area),
            pd.DataFrame(
                {"site_id": site_id, "time": days, "precipitation": rng.gamma(1, 3, 30), "temperature_mean": 5.0}
            ),
            pd.DataFrame({"site_id": site_id, "time": days, "flow": rng.gamma(2, 2, 30)}),
            FEATURES,
        )
        for site_id, area in (("01234567", 80.0), ("00000042", 300.0))
    ]
    return FeatureScaler.fit(records, FEATURES, dt.date(2020, 1, 1), dt.date(2020, 1, 30))


MODEL = ModelConfig(meteo_features=FEATURES, seq_len=10, max_forecast_days=2, hidden_size=4, dropout=0.0)
TRAINING = TrainingConfig(
    train_start=dt.date(2020, 1, 1),
    train_end=dt.date(2020, 1, 20),
    test_start=dt.date(2020, 1, 21),
    test_end=dt.date(2020, 1, 30),
)
SITES = (
    Site("00000042", "Birch Creek", 45.5, -70.5, 300.0, dt.date(2020, 1, 1), dt.date(2020, 1, 30)),
    Site("01234567", "Alder Brook", 45.0, -70.0, 80.0, dt.date(2020, 1, 1), None),
)


def make_bundle(scaler: FeatureScaler, version: str, seed: int = 0, members: int = 2) -> ModelBundle:
    state_dicts = []
    for member in range(members):
        torch.manual_seed(seed * 100 + member)
        state_dicts.append(build_network(MODEL, len(scaler.static_names)).state_dict())
    return ModelBundle(
        version=version,
        model=MODEL,
        training=TRAINING,
        scaler=scaler,
        state_dicts=state_dicts,
        sites=SITES,
        metrics={"median_by_lead": {"1": {"nse": 0.71}}},
        data_fingerprint="ab" * 32,
        data_source={"data_dir": "/somewhere"},
        synthetic_data=True,
        **no_thresholds_or_spread(SITES, MODEL.max_forecast_days),
    )


def version(n: int) -> str:
    return f"20240101T00000{n}Z-abcdef12"


def entries(model_dir: Path) -> list[str]:
    return sorted(os.listdir(model_dir))


def test_round_trip(tmp_path: Path, scaler: FeatureScaler) -> None:
    original = make_bundle(scaler, version(1))

    directory = save_bundle(original, tmp_path / "models")
    loaded = load_bundle(tmp_path / "models")
    assert has_bundle(tmp_path / "models") and has_bundle(directory)

    assert directory == tmp_path / "models" / version(1)
    assert {path.name for path in directory.iterdir()} == {WEIGHTS_FILE, METADATA_FILE, CALIBRATION_FILE}
    assert loaded.version == version(1)
    assert (loaded.model, loaded.training) == (MODEL, TRAINING)
    assert loaded.horizon == 2
    assert loaded.sites == SITES
    assert loaded.data_source == original.data_source
    assert loaded.data_fingerprint == original.data_fingerprint
    assert loaded.metrics == original.metrics
    assert loaded.synthetic_data is True
    assert loaded.flood_thresholds == original.flood_thresholds
    for site in SITES:
        np.testing.assert_allclose(loaded.residuals[site.site_id].residuals, original.residuals[site.site_id].residuals)
    restored, fitted = loaded.scaler.to_dict(), scaler.to_dict()
    for key in ("meteo_mean", "meteo_std"):  # stored as float32 on load, see test_scaler.py
        np.testing.assert_allclose(restored.pop(key), fitted.pop(key), rtol=1e-6)
    assert restored == fitted
    assert len(loaded.state_dicts) == 2
    for saved, restored in zip(original.state_dicts, loaded.state_dicts, strict=True):
        assert saved.keys() == restored.keys()
        for key in saved:
            assert torch.equal(saved[key], restored[key]), key
    # The weights load into the architecture the recorded settings build.
    build_network(loaded.model, len(loaded.scaler.static_names)).load_state_dict(loaded.state_dicts[0])


def test_bundle_json_is_readable_metadata(tmp_path: Path, scaler: FeatureScaler) -> None:
    directory = save_bundle(make_bundle(scaler, version(1)), tmp_path)

    meta = json.loads((directory / METADATA_FILE).read_text(encoding="utf-8"))

    assert meta["format_version"] == bundle_module.FORMAT_VERSION
    assert meta["ensemble_size"] == 2
    assert meta["scaler"]["features"] == list(FEATURES)


def test_current_is_a_relative_link_to_the_newest(tmp_path: Path, scaler: FeatureScaler) -> None:
    model_dir = tmp_path / "models"
    save_bundle(make_bundle(scaler, version(1)), model_dir)
    save_bundle(make_bundle(scaler, version(2), seed=1), model_dir)

    link = model_dir / CURRENT_LINK

    assert link.is_symlink()
    assert os.readlink(link) == version(2)  # relative: survives copying the tree elsewhere
    assert load_bundle(model_dir).version == version(2)
    assert not [name for name in entries(model_dir) if name.startswith(".")]


def test_copied_model_dir_still_loads(tmp_path: Path, scaler: FeatureScaler) -> None:
    save_bundle(make_bundle(scaler, version(1)), tmp_path / "a")
    shutil.copytree(tmp_path / "a", tmp_path / "b", symlinks=True)
    shutil.rmtree(tmp_path / "a")

    assert load_bundle(tmp_path / "b").version == version(1)


@pytest.mark.parametrize("failing", ["torch.save", "json"])
def test_failed_save_leaves_the_previous_bundle(tmp_path: Path, scaler: FeatureScaler, monkeypatch, failing) -> None:
    model_dir = tmp_path / "models"
    save_bundle(make_bundle(scaler, version(1)), model_dir)
    before = entries(model_dir)

    def explode(*args, **kwargs):
        raise OSError("disk full")

    if failing == "torch.save":
        monkeypatch.setattr(bundle_module.torch, "save", explode)
    else:
        monkeypatch.setattr(bundle_module.json, "dumps", explode)
    with pytest.raises(OSError, match="disk full"):
        save_bundle(make_bundle(scaler, version(2), seed=1), model_dir)
    monkeypatch.undo()

    assert entries(model_dir) == before  # no staging directory, no half-written version
    assert os.readlink(model_dir / CURRENT_LINK) == version(1)
    assert load_bundle(model_dir).version == version(1)


def test_load_from_empty_or_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(ModelNotLoadedError):
        load_bundle(tmp_path)
    with pytest.raises(ModelNotLoadedError):
        load_bundle(tmp_path / "does-not-exist")


def test_dangling_current_link_is_not_loaded(tmp_path: Path) -> None:
    (tmp_path / CURRENT_LINK).symlink_to("gone")

    with pytest.raises(ModelNotLoadedError):
        load_bundle(tmp_path)


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda d: (d / METADATA_FILE).write_text("{not json", encoding="utf-8"),
        lambda d: (d / METADATA_FILE).write_text(json.dumps({"format_version": 1}), encoding="utf-8"),
        lambda d: (d / METADATA_FILE).unlink(),
        lambda d: (d / WEIGHTS_FILE).unlink(),
        lambda d: (d / WEIGHTS_FILE).write_bytes((d / WEIGHTS_FILE).read_bytes()[:100]),
        pytest.param(
            lambda d: (d / WEIGHTS_FILE).write_bytes(b"definitely not a torch file"),
        ),
    ],
    ids=["bad-json", "missing-keys", "no-json", "no-weights", "truncated-weights", "garbage-weights"],
)
def test_corrupt_bundle_is_model_not_loaded(tmp_path: Path, scaler: FeatureScaler, corrupt) -> None:
    directory = save_bundle(make_bundle(scaler, version(1)), tmp_path)
    corrupt(directory)

    with pytest.raises(ModelNotLoadedError, match=version(1)):
        load_bundle(tmp_path)


@pytest.mark.parametrize("format_version", [1, 3, 99])
def test_other_format_version_is_refused_with_a_request_to_retrain(
    tmp_path: Path, scaler: FeatureScaler, format_version: int
) -> None:
    directory = save_bundle(make_bundle(scaler, version(1)), tmp_path)
    meta = json.loads((directory / METADATA_FILE).read_text(encoding="utf-8"))
    meta["format_version"] = format_version
    (directory / METADATA_FILE).write_text(json.dumps(meta), encoding="utf-8")

    with pytest.raises(
        ModelNotLoadedError, match=f"has format {format_version}, this version reads format {FORMAT_VERSION}: retrain"
    ):
        load_bundle(tmp_path)
    # main_train.py --if-missing trains again: a bundle of another format is not a model to serve.
    assert not has_bundle(tmp_path)
    assert not has_bundle(directory)


def test_the_bundle_answers_which_sites_it_serves(scaler: FeatureScaler) -> None:
    bundle = make_bundle(scaler, version(1))
    assert bundle.site("01234567").name == "Alder Brook"
    with pytest.raises(UnknownSiteError, match="09999999"):
        bundle.site("09999999")


def test_a_bundle_directory_itself_loads(tmp_path: Path, scaler: FeatureScaler) -> None:
    directory = save_bundle(make_bundle(scaler, version(1)), tmp_path / "models")
    assert load_bundle(directory).version == version(1)


def test_a_malformed_setting_in_bundle_json_is_model_not_loaded(tmp_path: Path, scaler: FeatureScaler) -> None:
    directory = save_bundle(make_bundle(scaler, version(1)), tmp_path)
    meta = json.loads((directory / METADATA_FILE).read_text(encoding="utf-8"))
    meta["model"]["hidden_size"] = 0
    (directory / METADATA_FILE).write_text(json.dumps(meta), encoding="utf-8")

    with pytest.raises(ModelNotLoadedError, match="model.hidden_size: must be positive"):
        load_bundle(tmp_path)


def test_pruning_never_removes_the_current_bundle(tmp_path: Path, scaler: FeatureScaler) -> None:
    for n in range(1, 6):
        save_bundle(make_bundle(scaler, version(n), members=1), tmp_path)

    versions = [name for name in entries(tmp_path) if name != CURRENT_LINK]

    assert version(5) in versions
    assert version(1) not in versions and version(2) not in versions
    assert load_bundle(tmp_path).version == version(5)


def test_pruning_keeps_the_newest_three(tmp_path: Path, scaler: FeatureScaler) -> None:
    for n in range(1, 6):
        save_bundle(make_bundle(scaler, version(n), members=1), tmp_path)

    versions = [name for name in entries(tmp_path) if name != CURRENT_LINK]

    assert BUNDLES_KEPT == 3
    assert versions == [version(3), version(4), version(5)]
