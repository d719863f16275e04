"""Typed, frozen configuration: every setting declared, defaulted, documented and checked here.

Each field is made by `setting(default, doc, check)`: its default, the sentence the README's
configuration table shows (`config.reference` generates that table), and its constraint
(`config.checks`), tested whenever a section is built, from `config.yaml`, the environment or
code. Constraints between fields sit in the section's `_check_fields_together`. Reading
`config.yaml` and the environment is `config.loader`'s job.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any, ClassVar, Literal

from config import checks
from domain.site import SITE_ID_DESCRIPTION, SITE_ID_PATTERN

METEO_VARIABLES = (
    "precipitation",
    "temperature_max",
    "temperature_min",
    "temperature_mean",
    "evapotranspiration",
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """Raised when the configuration is invalid; the message names the key."""


class Secret:
    """A credential: set only from the environment, never shown by repr, str or a config dump."""

    __slots__ = ("_value",)

    def __init__(self, value: str = "") -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret value itself, for the one place that sends it (e.g. a request header)."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __str__(self) -> str:
        # json.dumps(..., default=str) of the config writes this, not the key.
        return "***" if self._value else ""

    def __repr__(self) -> str:
        return f"Secret({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def setting(default: Any = dataclasses.MISSING, *, doc: str, check: checks.Check | None = None) -> Any:
    """A configuration field: its default (none: mandatory), its documentation and its constraint."""
    return dataclasses.field(default=default, metadata={"doc": doc, "check": check})


class _Section:
    """Checks each field's constraint when a section is built, then the constraints between fields."""

    section: ClassVar[str]

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            check = field.metadata.get("check")
            value = getattr(self, field.name)
            problem = check.problem(value) if check is not None and value is not None else None
            if problem:
                raise ConfigError(f"{self.section}.{field.name}: {problem}")
        self._check_fields_together()

    def _check_fields_together(self) -> None:
        """Constraints that involve several fields of the section."""


@dataclasses.dataclass(frozen=True)
class ServerConfig(_Section):
    """HTTP server settings."""

    section: ClassVar[str] = "server"
    host: str = setting("0.0.0.0", doc="address the service listens on")
    port: int = setting(8888, doc="port the service listens on", check=checks.between(1, 65535))
    log_format: Literal["json", "text"] = setting(
        "json", doc="service logs as JSON lines (one access line per request) or as plain text"
    )
    log_level: str = setting(
        "INFO",
        doc="Python logging level",
        check=checks.Check(
            " / ".join(LOG_LEVELS),
            lambda value: (
                None if value.upper() in LOG_LEVELS else f"must be one of {', '.join(LOG_LEVELS)}, got {value!r}"
            ),
        ),
    )
    shutdown_timeout_s: float = setting(
        10.0, doc="seconds in-flight requests get to finish after SIGTERM", check=checks.non_negative()
    )
    worker_threads: int = setting(
        32,
        doc="threads for data reads and the wait for the model, off the IOLoop: as many forecasts as this "
        "share a pass of the model",
        check=checks.positive(),
    )
    torch_threads: int = setting(
        1,
        doc="threads torch may use for one pass of the model (chosen by measurement, see bench/RESULTS.md)",
        check=checks.positive(),
    )
    inference_batch: int = setting(64, doc="most forecasts' windows in one pass of the model", check=checks.positive())
    input_block_days: int = setting(
        400,
        doc="days of a site's data read at once and kept as arrays, so that a forecast's window is a slice",
        check=checks.positive(),
    )
    input_refresh_s: float = setting(
        600.0,
        doc="seconds a site's kept data are used before they are read again (at once when its last observed day moves)",
        check=checks.non_negative(),
    )
    quantiles: tuple[float, ...] = setting(
        (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95),
        doc="quantile levels `/forecast` returns for each day (a request may ask for some of them)",
        check=checks.quantile_levels(),
    )
    repeat_answer_s: float = setting(
        5.0,
        doc="at most this many seconds (at least half) the answer to a `/forecast` query is given again to "
        "the same query without reading the site's data; then the next such request renews it in the "
        "background (and gets it once more); 0: never kept",
        check=checks.non_negative(),
    )
    input_blocks_kept: int = setting(
        20_000, doc="blocks of site data kept in memory, the most recently used", check=checks.positive()
    )
    operator_token: Secret = setting(
        Secret(),
        doc="bearer token of the operator endpoints (`POST /retrain`); **environment only** "
        "(`STREAMFLOW__SERVER__OPERATOR_TOKEN`); empty turns them off",
    )


@dataclasses.dataclass(frozen=True)
class DataConfig(_Section):
    """Where observed flow and meteorology come from."""

    section: ClassVar[str] = "data"
    flow_data: Literal["local", "usgs"] = setting(
        doc="where observed flow comes from: the local data directory or the USGS Water Data API"
    )
    meteo_data: Literal["local", "open-meteo"] = setting(
        doc="where meteorology comes from: the local data directory or Open-Meteo"
    )
    data_dir: Path = setting(doc="the local data directory (see Data)")
    demo_dataset: bool = setting(
        False, doc="generate the synthetic demo dataset into `data_dir` when it is missing, and label it synthetic"
    )
    sites: tuple[str, ...] = setting(
        (),
        doc="site ids to train on; empty means every site of the data source (with `usgs`, list them)",
        check=checks.each_matches(SITE_ID_PATTERN, f"a USGS site number of {SITE_ID_DESCRIPTION} (e.g. 01646500)"),
    )

    def _check_fields_together(self) -> None:
        if self.flow_data == "usgs" and not self.sites:
            raise ConfigError("data.sites: list the USGS site numbers to serve when data.flow_data is usgs")


@dataclasses.dataclass(frozen=True)
class ModelConfig(_Section):
    """Model inputs and architecture. The defaults of this section and `TrainingConfig` are the settings
    chosen on the camels30 benchmark for real rivers (bench/RESULTS.md)."""

    section: ClassVar[str] = "model"
    meteo_features: tuple[str, ...] = setting(
        METEO_VARIABLES, doc="meteorological inputs, in model order", check=checks.each_one_of(METEO_VARIABLES)
    )
    seq_len: int = setting(365, doc="past days a forecast sees", check=checks.positive())
    max_forecast_days: int = setting(
        5, doc="lead days predicted (the largest `forecast_days`)", check=checks.positive()
    )
    hidden_size: int = setting(128, doc="LSTM state size", check=checks.positive())
    dropout: float = setting(0.1, doc="dropout on the hindcast LSTM's output", check=checks.fraction())
    # The root compresses the rare extremes of a variable that is zero on most days.
    sqrt_features: tuple[str, ...] = setting(
        ("precipitation",),
        doc="meteorological inputs standardised after a square root (those not in `meteo_features` are ignored)",
        check=checks.each_one_of(METEO_VARIABLES),
    )


@dataclasses.dataclass(frozen=True)
class TrainingConfig(_Section):
    """Periods (inclusive dates) and optimisation settings."""

    section: ClassVar[str] = "training"
    train_start: dt.date = setting(doc="first day of the training period")
    train_end: dt.date = setting(doc="last day of the training period")
    test_start: dt.date = setting(doc="first day of the test (scoring) period, never used to fit")
    test_end: dt.date = setting(doc="last day of the test period")
    validation_start: dt.date | None = setting(
        None,
        doc="optional validation period (set both or neither): training stops after `patience` epochs "
        "without a better median NSE on it and keeps the best epoch; without it every epoch is trained and the last kept",
    )
    validation_end: dt.date | None = setting(None, doc="last day of the validation period")
    epochs: int = setting(
        60, doc="epochs per ensemble member (the maximum, with a validation period)", check=checks.positive()
    )
    batch_size: int = setting(8, doc="one-year training windows per step", check=checks.positive())
    learning_rate: float = setting(
        8e-3, doc="Adam learning rate, cosine-decayed to a tenth over `epochs`", check=checks.positive()
    )
    patience: int = setting(15, doc="epochs without improvement before early stopping", check=checks.positive())
    seed: int = setting(42, doc="random seed of the first member; member k uses seed + k")
    ensemble_size: int = setting(4, doc="members trained and averaged", check=checks.positive())
    lead_loss_weights: tuple[float, ...] = setting(
        (3.0, 1.5), doc="loss weight of lead days 1, 2, ...; later lead days weigh 1", check=checks.each_positive()
    )
    # A flood year must not set the scale of the site's other years.
    year_weight_eps: float = setting(
        0.2,
        doc="each training window (a site's year) weighs 1 / (s + this)², s the standard deviation of its "
        "flow in units of the site's; larger is milder",
        check=checks.positive(),
    )
    device: Literal["auto", "cpu", "cuda"] = setting(
        "auto",
        doc="where training runs: auto takes CUDA when torch sees it (the service always runs on the CPU); "
        "under torchrun each rank takes its LOCAL_RANK's GPU",
    )

    @property
    def has_validation(self) -> bool:
        """Whether a validation period is set (early stopping)."""
        return self.validation_start is not None

    def _check_fields_together(self) -> None:
        if (self.validation_start is None) != (self.validation_end is None):
            raise ConfigError("training.validation_start and training.validation_end: set both or neither")
        for name in ("train", "validation", "test"):
            start, end = getattr(self, f"{name}_start"), getattr(self, f"{name}_end")
            if start is not None and start > end:
                raise ConfigError(f"training.{name}_start {start} is after training.{name}_end {end}")


@dataclasses.dataclass(frozen=True)
class PathsConfig(_Section):
    """Artifacts written by training and read by the service."""

    section: ClassVar[str] = "paths"
    model_dir: Path = setting(
        Path("resources/models"),
        doc="bundles written by training, and the `current` link to the newest; with `registry.enabled` "
        "false the service serves `current` (or `model_dir` itself when it is a bundle directory)",
    )
    jobs_dir: Path = setting(
        Path("resources/cache/jobs"), doc="state and log of each retraining job started by `POST /retrain`"
    )
    prepared_dir: Path = setting(
        Path("resources/cache/prepared"),
        doc="per-site arrays training prepared from local data, memory-mapped by later runs and the other "
        "torchrun ranks; safe to delete",
    )


@dataclasses.dataclass(frozen=True)
class TrackingConfig(_Section):
    """MLflow: experiment tracking and the model registry."""

    section: ClassVar[str] = "tracking"
    uri: str = setting(
        "",
        doc="MLflow tracking and registry URI: a team's server (`http://host:5000`) or database "
        "(`postgresql://...`); empty: the local SQLite store in `local_dir`, offline, no server",
    )
    local_dir: Path = setting(Path("resources/mlflow"), doc="the local store: `mlflow.db` and `artifacts/`")
    experiment: str = setting("streamflow", doc="MLflow experiment of training and benchmark runs")


@dataclasses.dataclass(frozen=True)
class RegistryConfig(_Section):
    """Which registered model version the service serves, and how a candidate becomes live."""

    section: ClassVar[str] = "registry"
    enabled: bool = setting(True, doc="register every trained bundle and serve the version `serve_alias` names")
    model_name: str = setting("streamflow", doc="registered model whose versions are the trained bundles")
    serve_alias: Literal["live", "candidate"] = setting(
        "live", doc="the alias the service follows: `live` (production) or `candidate` (the newest trained)"
    )
    bundle_cache: Path = setting(
        Path("resources/cache/bundles"),
        doc="the service's local copies of the bundles it served; the last one serves when the registry "
        "is unreachable at start",
    )
    poll_s: float = setting(
        30.0,
        doc="seconds between checks of the alias (also on SIGHUP); 0: only at start and on SIGHUP",
        check=checks.non_negative(),
    )
    persistence_margin: float = setting(
        0.02, doc="gate: a candidate's median NSE must beat persistence's by this at every lead day"
    )
    live_tolerance: float = setting(
        0.01,
        doc="gate: a candidate may be at most this much below the live model's median NSE at any lead day",
        check=checks.non_negative(),
    )


@dataclasses.dataclass(frozen=True)
class ArchiveConfig(_Section):
    """The archive of issued forecasts and user feedback."""

    section: ClassVar[str] = "archive"
    database_url: Secret = setting(
        Secret(),
        doc="a PostgreSQL URL (`postgresql+psycopg://user:password@host/db`) that replicas share; "
        "**environment only** (`STREAMFLOW__ARCHIVE__DATABASE_URL`); empty: SQLite at `sqlite_path`",
    )
    sqlite_path: Path = setting(Path("resources/cache/archive.sqlite"), doc="the SQLite archive")
    memory_entries: int = setting(
        10000, doc="recent forecasts answered from memory before the archive is asked", check=checks.positive()
    )
    page_size: int = setting(100, doc="largest page of `GET /forecasts`", check=checks.positive_at_most(1000))


@dataclasses.dataclass(frozen=True)
class VerificationConfig(_Section):
    """Issued forecasts scored against the flow the river then carried, and users' feedback on them."""

    section: ClassVar[str] = "verification"
    window_days: int = setting(90, doc="days of issued forecasts scored in the rolling window", check=checks.positive())
    interval_s: float = setting(
        3600.0,
        doc="seconds between verifications of every site (metrics, /info); 0: only on request",
        check=checks.non_negative(),
    )
    min_pairs: int = setting(
        10,
        doc="forecast-observation pairs below which a score is not reported (and no site flagged)",
        check=checks.positive(),
    )
    feedback_per_minute: int = setting(10, doc="feedback a client may send per minute", check=checks.positive())


@dataclasses.dataclass(frozen=True)
class UpstreamConfig(_Section):
    """Live upstreams (USGS Water Data OGC API, Open-Meteo): endpoints, HTTP behaviour and cache."""

    section: ClassVar[str] = "upstream"
    usgs_url: str = setting(
        "https://api.waterdata.usgs.gov/ogcapi/v1", doc="USGS Water Data OGC API base URL", check=checks.http_url()
    )
    open_meteo_archive_url: str = setting(
        "https://archive-api.open-meteo.com/v1/archive", doc="Open-Meteo history API", check=checks.http_url()
    )
    open_meteo_forecast_url: str = setting(
        "https://api.open-meteo.com/v1/forecast",
        doc="Open-Meteo forecast API (also the recent past)",
        check=checks.http_url(),
    )
    usgs_api_key: Secret = setting(
        Secret(),
        doc="optional USGS key, sent as header `X-Api-Key`; **environment only** "
        "(`STREAMFLOW__UPSTREAM__USGS_API_KEY`), refused in `config.yaml`, shown as `***` everywhere",
    )
    user_agent: str = setting(
        "streamflow-forecaster/1.0 (python-requests; daily flow forecasts)", doc="User-Agent of every upstream request"
    )
    timeout_s: float = setting(30.0, doc="seconds to wait for an upstream answer (then 504)", check=checks.positive())
    retries: int = setting(
        3,
        doc="retries after the first attempt on connection errors, timeouts, 429 and 5xx",
        check=checks.non_negative(),
    )
    backoff_s: float = setting(1.0, doc="first backoff, doubled per retry, with jitter", check=checks.non_negative())
    max_retry_wait_s: float = setting(
        60.0, doc="longest wait before a retry; a longer `Retry-After` gives up at once", check=checks.non_negative()
    )
    # Open-Meteo's free tier runs one request per IP at a time.
    usgs_concurrency: int = setting(2, doc="USGS requests in flight at once", check=checks.positive())
    open_meteo_concurrency: int = setting(1, doc="Open-Meteo requests in flight at once", check=checks.positive())
    # The API rejects larger pages ("Limit of 50000 exceeded").
    usgs_page_size: int = setting(10000, doc="rows per USGS page (`limit`)", check=checks.positive_at_most(50000))
    # An Open-Meteo call weighs more the more days it covers, so its blocks are shorter.
    usgs_chunk_years: int = setting(
        5,
        doc="USGS ranges are fetched and cached in calendar-aligned blocks of this many years",
        check=checks.positive(),
    )
    open_meteo_chunk_years: int = setting(1, doc="the same for Open-Meteo history", check=checks.positive())
    cache_dir: Path = setting(Path("resources/cache"), doc="the upstream cache (`upstream.sqlite`)")
    history_ttl_s: float = setting(
        30 * 86400.0, doc="cache lifetime of data older than `recent_days`", check=checks.non_negative()
    )
    recent_ttl_s: float = setting(
        3 * 3600.0, doc="cache lifetime of the last `recent_days` of data and of forecasts", check=checks.non_negative()
    )
    # USGS provisional values get revised and the archive lags.
    recent_days: int = setting(120, doc="days counted as recent", check=checks.non_negative())
    open_meteo_past_days: int = setting(
        7,
        doc="past days asked of the forecast API; they fill the archive's last, still empty days",
        check=checks.between(0, 92),
    )


@dataclasses.dataclass(frozen=True)
class AppConfig:
    """The whole configuration; each component receives only its section."""

    server: ServerConfig
    data: DataConfig
    model: ModelConfig
    training: TrainingConfig
    paths: PathsConfig
    tracking: TrackingConfig
    registry: RegistryConfig
    archive: ArchiveConfig
    verification: VerificationConfig
    upstream: UpstreamConfig

    def __post_init__(self) -> None:
        weights, horizon = self.training.lead_loss_weights, self.model.max_forecast_days
        if len(weights) > horizon:
            raise ConfigError(
                f"training.lead_loss_weights: {len(weights)} weights for {horizon} lead days (model.max_forecast_days)"
            )
