"""Tests of config/settings.py: YAML + environment loading, casting, validation, immutability."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from pathlib import Path

import pytest
import yaml

from config.loader import load_config
from config.settings import METEO_VARIABLES, ConfigError, ModelConfig, TrainingConfig
from test.support import BASE_CONFIG, REPO_ROOT, write_config


def write_raw(directory: Path, raw: dict) -> Path:
    """Write an arbitrary mapping (not merged with BASE_CONFIG) as config.yaml."""
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def without(section: str, key: str) -> dict:
    raw = copy.deepcopy(BASE_CONFIG)
    del raw[section][key]
    return raw


def test_repo_config_yaml_loads_with_documented_values() -> None:
    config = load_config(REPO_ROOT / "config.yaml", environ={})

    assert config.server.port == 8888
    assert config.server.host == "0.0.0.0"
    assert config.data.flow_data == "local"
    assert config.data.meteo_data == "local"
    assert config.data.demo_dataset is True
    assert config.data.sites == ()
    assert config.data.data_dir == REPO_ROOT / "resources" / "demo_data"
    assert config.model.meteo_features == METEO_VARIABLES
    assert config.model.sqrt_features == ()  # the synthetic demo flow follows rainfall linearly
    assert config.model.seq_len == 365
    assert config.model.max_forecast_days == 5
    assert config.training.train_start == dt.date(2009, 1, 1)
    assert config.training.test_end == dt.date(2024, 12, 31)
    assert config.training.train_end < config.training.validation_start <= config.training.validation_end
    assert config.training.validation_end < config.training.test_start
    assert config.paths.model_dir == REPO_ROOT / "resources" / "models"


def test_camels30_config_leaves_the_model_and_training_keys_at_the_real_data_defaults() -> None:
    config = load_config(REPO_ROOT / "config" / "camels30.yaml", environ={})

    assert config.data.data_dir == REPO_ROOT.parent / "shared" / "bench" / "camels30"
    assert config.data.demo_dataset is False
    assert config.model == ModelConfig(meteo_features=("precipitation", "temperature_mean", "evapotranspiration"))
    periods = {"train_start": dt.date(1981, 1, 1), "train_end": dt.date(1995, 12, 31)}
    periods |= {"test_start": dt.date(1996, 1, 1), "test_end": dt.date(2014, 12, 31)}
    assert config.training == TrainingConfig(**periods)
    assert not config.training.has_validation
    # Its artifacts stay apart from the demo's, in ignored paths.
    assert config.paths.model_dir == REPO_ROOT / "resources" / "models" / "camels30"
    assert config.upstream.cache_dir == REPO_ROOT / "resources" / "cache"


def test_env_port_is_cast_to_int(make_config) -> None:
    config = make_config(environ={"STREAMFLOW__SERVER__PORT": "9000"})

    assert config.server.port == 9000
    assert isinstance(config.server.port, int)


def test_env_overrides_yaml_and_yaml_overrides_defaults(make_config) -> None:
    config = make_config(
        server={"port": 8080, "worker_threads": 2},
        environ={"STREAMFLOW__SERVER__PORT": "9001"},
    )

    assert config.server.port == 9001  # environment beats YAML
    assert config.server.worker_threads == 2  # YAML beats the default 32


@pytest.mark.parametrize(
    ("name", "text", "read", "expected"),
    [
        ("STREAMFLOW__DATA__DEMO_DATASET", "false", lambda c: c.data.demo_dataset, False),
        ("STREAMFLOW__DATA__DEMO_DATASET", "No", lambda c: c.data.demo_dataset, False),
        ("STREAMFLOW__DATA__DEMO_DATASET", "1", lambda c: c.data.demo_dataset, True),
        ("STREAMFLOW__MODEL__DROPOUT", "0.25", lambda c: c.model.dropout, 0.25),
        ("STREAMFLOW__SERVER__SHUTDOWN_TIMEOUT_S", "3", lambda c: c.server.shutdown_timeout_s, 3.0),
        ("STREAMFLOW__TRAINING__TRAIN_START", "2010-02-03", lambda c: c.training.train_start, dt.date(2010, 2, 3)),
        ("STREAMFLOW__DATA__SITES", "01234567, 09876543 ,", lambda c: c.data.sites, ("01234567", "09876543")),
        ("STREAMFLOW__DATA__SITES", "", lambda c: c.data.sites, ()),
        (
            "STREAMFLOW__MODEL__METEO_FEATURES",
            "precipitation,temperature_mean",
            lambda c: c.model.meteo_features,
            ("precipitation", "temperature_mean"),
        ),
        ("STREAMFLOW__DATA__METEO_DATA", "open-meteo", lambda c: c.data.meteo_data, "open-meteo"),
    ],
)
def test_env_values_are_cast_to_the_field_type(make_config, name, text, read, expected) -> None:
    value = read(make_config(environ={name: text}))

    assert value == expected
    assert type(value) is type(expected)


def test_env_bool_rejects_unparseable_text(make_config) -> None:
    with pytest.raises(ConfigError, match="data.demo_dataset"):
        make_config(environ={"STREAMFLOW__DATA__DEMO_DATASET": "maybe"})


def test_unrelated_environment_variables_are_ignored(make_config) -> None:
    config = make_config(environ={"PATH": "/bin", "STREAMFLOWX": "1", "SERVER__PORT": "1"})

    assert config.server.port == 8888


def test_relative_paths_resolve_against_the_config_directory(tmp_path: Path, monkeypatch) -> None:
    config_dir = tmp_path / "conf"
    config_dir.mkdir()
    write_config(config_dir, {"paths": {"model_dir": "out/models"}, "upstream": {"cache_dir": "/abs/cache"}})
    monkeypatch.chdir(tmp_path)  # the working directory must not matter

    config = load_config(Path("conf/config.yaml"), {"STREAMFLOW__DATA__DATA_DIR": "../elsewhere"})

    assert config.paths.model_dir == config_dir.resolve() / "out" / "models"
    assert config.upstream.cache_dir == Path("/abs/cache")
    assert config.data.data_dir.resolve() == (tmp_path / "elsewhere").resolve()


def test_defaults_apply_when_keys_are_absent(tmp_path: Path) -> None:
    raw = copy.deepcopy(BASE_CONFIG)
    del raw["paths"]
    del raw["server"]["port"]
    del raw["training"]["epochs"]
    del raw["training"]["learning_rate"]
    del raw["data"]["demo_dataset"]

    config = load_config(write_raw(tmp_path, raw), {})

    assert config.server.port == 8888
    assert config.training.epochs == 60
    assert config.training.learning_rate == 0.008
    assert config.training.ensemble_size == 4
    assert config.training.lead_loss_weights == (3.0, 1.5)
    assert config.training.year_weight_eps == 0.2
    assert config.data.demo_dataset is False
    assert config.model.meteo_features == METEO_VARIABLES
    # Default paths are relative, so they too resolve against the config file's directory.
    assert config.paths.model_dir == tmp_path.resolve() / "resources" / "models"


def test_config_is_frozen(make_config) -> None:
    config = make_config()

    with pytest.raises(dataclasses.FrozenInstanceError):
        config.server.port = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.training = None  # type: ignore[misc]


def test_unknown_yaml_key_is_named(make_config) -> None:
    with pytest.raises(ConfigError, match=r"server\.prot"):
        make_config(server={"prot": 9000})


def test_unknown_yaml_section_is_named(tmp_path: Path) -> None:
    raw = copy.deepcopy(BASE_CONFIG)
    raw["sever"] = {"port": 1}

    with pytest.raises(ConfigError, match="sever"):
        load_config(write_raw(tmp_path, raw), {})


def test_unknown_env_key_is_named(make_config) -> None:
    with pytest.raises(ConfigError, match=r"server\.prot"):
        make_config(environ={"STREAMFLOW__SERVER__PROT": "9000"})


@pytest.mark.parametrize("name", ["STREAMFLOW__PORT", "STREAMFLOW__SERVER__PORT__X", "STREAMFLOW__SERVER__"])
def test_malformed_env_name_is_rejected(make_config, name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        make_config(environ={name: "9000"})


@pytest.mark.parametrize(
    ("section", "key"),
    [("data", "flow_data"), ("data", "data_dir"), ("training", "train_start"), ("training", "test_end")],
)
def test_missing_mandatory_key_is_named(tmp_path: Path, section: str, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"missing .*{section}\.{key}"):
        load_config(write_raw(tmp_path, without(section, key)), {})


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"server": {"port": "abc"}}, "server.port"),
        ({"server": {"port": "8080"}}, "server.port"),  # a YAML string is not an int
        ({"server": {"port": True}}, "server.port"),  # bool is an int subclass in Python
        ({"training": {"epochs": 2.5}}, "training.epochs"),
        ({"training": {"train_start": "2020-13-01"}}, "training.train_start"),
        ({"training": {"test_end": "yesterday"}}, "training.test_end"),
        ({"data": {"flow_data": "ftp"}}, "data.flow_data"),
        ({"data": {"meteo_data": "era5"}}, "data.meteo_data"),
        ({"data": {"demo_dataset": "yes"}}, "data.demo_dataset"),
        ({"data": {"sites": "01234567"}}, "data.sites"),
        ({"data": {"sites": [1234567]}}, r"data.sites\[0\]"),
        ({"model": {"dropout": "a lot"}}, "model.dropout"),
        ({"server": {"host": 8}}, "server.host"),
    ],
)
def test_wrong_type_in_yaml_is_named(make_config, overrides: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        make_config(**overrides)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("STREAMFLOW__SERVER__PORT", "abc"),
        ("STREAMFLOW__SERVER__PORT", "9000.5"),
        ("STREAMFLOW__TRAINING__EPOCHS", ""),
        ("STREAMFLOW__TRAINING__TRAIN_START", "2020-02-30"),
        ("STREAMFLOW__DATA__FLOW_DATA", "ftp"),
        ("STREAMFLOW__MODEL__DROPOUT", "high"),
    ],
)
def test_wrong_type_in_env_is_named(make_config, name: str, text: str) -> None:
    key = name.removeprefix("STREAMFLOW__").lower().replace("__", ".")

    with pytest.raises(ConfigError, match=key):
        make_config(environ={name: text})


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"training": {"train_start": "2017-01-01", "train_end": "2016-12-31"}}, "training.train_start"),
        ({"training": {"validation_start": "2019-01-01"}}, "training.validation_start"),
        ({"model": {"meteo_features": ["precipitation", "snow_depth"]}}, "snow_depth"),
        ({"model": {"sqrt_features": ["rainfall"]}}, "model.sqrt_features: unknown variable rainfall"),
        ({"model": {"dropout": 1.0}}, "model.dropout"),
        ({"model": {"dropout": -0.1}}, "model.dropout"),
        ({"training": {"epochs": 0}}, "training.epochs"),
        ({"training": {"epochs": -3}}, "training.epochs"),
        ({"training": {"batch_size": 0}}, "training.batch_size"),
        ({"model": {"seq_len": 0}}, "model.seq_len"),
        ({"model": {"max_forecast_days": 0}}, "model.max_forecast_days"),
        ({"server": {"port": 0}}, "server.port"),
    ],
)
def test_inconsistent_values_are_rejected(make_config, overrides: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        make_config(**overrides)


def test_sections_built_in_code_are_checked_too() -> None:
    with pytest.raises(ConfigError, match="model.hidden_size: must be positive, got 0"):
        ModelConfig(hidden_size=0)
    periods = {"train_start": dt.date(2020, 1, 1), "train_end": dt.date(2020, 12, 31)}
    with pytest.raises(ConfigError, match="training.test_start 2021-12-31 is after training.test_end"):
        TrainingConfig(**periods, test_start=dt.date(2021, 12, 31), test_end=dt.date(2021, 1, 1))


def test_env_value_goes_through_the_consistency_checks(make_config) -> None:
    with pytest.raises(ConfigError, match="training.epochs"):
        make_config(environ={"STREAMFLOW__TRAINING__EPOCHS": "0"})


@pytest.mark.parametrize("text", ["- 1\n- 2\n", "server: [\n"])
def test_unreadable_or_non_mapping_file_is_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ConfigError, match="config.yaml"):
        load_config(path, {})


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nowhere.yaml"):
        load_config(tmp_path / "nowhere.yaml", {})


@pytest.mark.parametrize("section_value", [5, "localhost"])
def test_non_mapping_section_is_a_config_error(tmp_path: Path, section_value) -> None:
    raw = copy.deepcopy(BASE_CONFIG)
    raw["server"] = section_value

    with pytest.raises(ConfigError, match="server"):
        load_config(write_raw(tmp_path, raw), {})


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"server": {"worker_threads": 0}}, "server.worker_threads"),
        ({"server": {"torch_threads": 0}}, "server.torch_threads: must be positive, got 0"),
        ({"server": {"log_level": "LOUD"}}, "server.log_level: must be one of DEBUG, INFO"),
        ({"data": {"sites": ["0123"]}}, "data.sites: '0123' is not a USGS site number"),
        ({"server": {"port": 70000}}, "server.port"),
        ({"training": {"learning_rate": 0.0}}, "training.learning_rate"),
        ({"training": {"learning_rate": -0.01}}, "training.learning_rate"),
    ],
)
def test_out_of_range_values_fail_fast(make_config, overrides: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        make_config(**overrides)


def test_validation_period_is_optional(tmp_path: Path) -> None:
    raw = copy.deepcopy(BASE_CONFIG)
    del raw["training"]["validation_start"], raw["training"]["validation_end"]

    config = load_config(write_raw(tmp_path, raw), {})

    assert config.training.validation_start is None and config.training.validation_end is None
    assert config.training.has_validation is False


def test_null_or_empty_validation_dates_mean_no_validation_period(make_config) -> None:
    from_yaml = make_config(training={"validation_start": None, "validation_end": None})
    from_env = make_config(
        environ={"STREAMFLOW__TRAINING__VALIDATION_START": "", "STREAMFLOW__TRAINING__VALIDATION_END": " "}
    )

    assert not from_yaml.training.has_validation and not from_env.training.has_validation
    assert make_config().training.has_validation


def test_half_a_validation_period_is_rejected(make_config) -> None:
    with pytest.raises(ConfigError, match="training.validation_start and training.validation_end: set both"):
        make_config(training={"validation_end": None})


def test_lead_loss_weights_from_yaml_and_environment(make_config) -> None:
    assert make_config(training={"lead_loss_weights": [2, 1.5, 1.2]}).training.lead_loss_weights == (2.0, 1.5, 1.2)
    from_env = make_config(environ={"STREAMFLOW__TRAINING__LEAD_LOSS_WEIGHTS": "4, 2"})
    assert from_env.training.lead_loss_weights == (4.0, 2.0)
    assert make_config(training={"lead_loss_weights": []}).training.lead_loss_weights == ()


@pytest.mark.parametrize(
    ("weights", "message"),
    [([1, 1, 1, 1, 1, 1], "6 weights for 5 lead days"), ([2, 0], "must be positive"), ([-1], "must be positive")],
)
def test_bad_lead_loss_weights_are_rejected(make_config, weights: list, message: str) -> None:
    with pytest.raises(ConfigError, match=f"training.lead_loss_weights: .*{message}"):
        make_config(training={"lead_loss_weights": weights})


def test_year_weight_eps_from_yaml_and_environment(make_config) -> None:
    assert make_config(training={"year_weight_eps": 0.5}).training.year_weight_eps == 0.5
    assert make_config(environ={"STREAMFLOW__TRAINING__YEAR_WEIGHT_EPS": "1"}).training.year_weight_eps == 1.0
    # Zero would give a window of constant flow an infinite weight.
    with pytest.raises(ConfigError, match="training.year_weight_eps: must be positive, got 0"):
        make_config(training={"year_weight_eps": 0})


@pytest.mark.parametrize(("environment", "alias"), [("staging", "candidate"), ("prod", "live")])
def test_an_environment_overlay_sits_between_the_file_and_the_variables(make_config, environment, alias) -> None:
    assert make_config(environ={"STREAMFLOW_ENV": environment}).registry.serve_alias == alias
    # The file's own values survive where the overlay says nothing; variables still win over it.
    config = make_config(
        server={"port": 9100},
        environ={"STREAMFLOW_ENV": environment, "STREAMFLOW__REGISTRY__SERVE_ALIAS": "live"},
    )
    assert config.server.port == 9100 and config.registry.serve_alias == "live"


def test_dev_logs_more_and_polls_sooner(make_config) -> None:
    config = make_config(environ={"STREAMFLOW_ENV": "dev"})
    assert (config.server.log_level, config.registry.poll_s) == ("DEBUG", 5.0)


def test_an_unknown_environment_is_named_with_the_known_ones(make_config) -> None:
    with pytest.raises(ConfigError, match=r"STREAMFLOW_ENV=qa: no such environment \(known: dev, prod, staging\)"):
        make_config(environ={"STREAMFLOW_ENV": "qa"})
