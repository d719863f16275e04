"""The `upstream` config section: defaults, environment overrides, the environment-only API key, checks."""

from __future__ import annotations

import dataclasses
import json

import pytest

from config.settings import ConfigError, Secret

KEY_VARIABLE = "STREAMFLOW__UPSTREAM__USGS_API_KEY"


def test_defaults_point_at_the_real_upstreams(make_config) -> None:
    upstream = make_config().upstream
    assert upstream.usgs_url == "https://api.waterdata.usgs.gov/ogcapi/v1"
    assert upstream.open_meteo_archive_url == "https://archive-api.open-meteo.com/v1/archive"
    assert upstream.open_meteo_forecast_url == "https://api.open-meteo.com/v1/forecast"
    assert upstream.open_meteo_concurrency == 1
    assert not upstream.usgs_api_key
    assert upstream.cache_dir.is_absolute() and upstream.cache_dir.parts[-2:] == ("resources", "cache")


def test_environment_overrides_upstream_keys(make_config) -> None:
    upstream = make_config(
        environ={"STREAMFLOW__UPSTREAM__USGS_URL": "http://127.0.0.1:9/usgs", "STREAMFLOW__UPSTREAM__RETRIES": "0"}
    ).upstream
    assert upstream.usgs_url == "http://127.0.0.1:9/usgs" and upstream.retries == 0


def test_the_api_key_comes_from_the_environment_and_never_shows(make_config) -> None:
    config = make_config(environ={KEY_VARIABLE: "s3cr3t-key"})
    assert config.upstream.usgs_api_key.reveal() == "s3cr3t-key"
    # Model bundles store the config as JSON; logs show reprs.
    dumped = json.dumps(dataclasses.asdict(config), default=str)
    assert "s3cr3t-key" not in dumped + repr(config) + str(config)
    assert '"usgs_api_key": "***"' in dumped


def test_an_api_key_in_the_config_file_is_refused(make_config) -> None:
    with pytest.raises(
        ConfigError, match=f"upstream.usgs_api_key may only be set in the environment \\({KEY_VARIABLE}\\)"
    ):
        make_config(upstream={"usgs_api_key": "committed-by-mistake"})


def test_secrets_compare_by_value() -> None:
    assert Secret("a") == Secret("a") != Secret("b")
    assert repr(Secret("a")) == "Secret('***')" and str(Secret()) == ""


def test_usgs_flow_needs_the_sites_listed(make_config) -> None:
    with pytest.raises(ConfigError, match="data.sites: list the USGS site numbers"):
        make_config(data={"flow_data": "usgs"})
    with pytest.raises(ConfigError, match="'USGS-01646500' is not a USGS site number"):
        make_config(data={"flow_data": "usgs", "sites": ["USGS-01646500"]})
    assert make_config(data={"flow_data": "usgs", "sites": ["01646500"]}).data.sites == ("01646500",)


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"usgs_url": "api.waterdata.usgs.gov"}, "upstream.usgs_url: expected an http\\(s\\) URL"),
        ({"timeout_s": 0}, "upstream.timeout_s: must be positive"),
        ({"open_meteo_concurrency": 0}, "upstream.open_meteo_concurrency: must be positive"),
        ({"retries": -1}, "upstream.retries: must not be negative"),
        ({"recent_ttl_s": -5}, "upstream.recent_ttl_s: must not be negative"),
        ({"open_meteo_past_days": 93}, "upstream.open_meteo_past_days: must be in 0..92"),
        ({"usgs_page_size": 100000}, "upstream.usgs_page_size: must be at most 50000"),
        ({"retry": 3}, "unknown config key upstream.retry"),
    ],
)
def test_bad_upstream_values_name_the_key(make_config, overrides, fragment) -> None:
    with pytest.raises(ConfigError, match=fragment):
        make_config(upstream=overrides)
