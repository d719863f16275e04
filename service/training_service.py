"""Training from the configured data: read every site's record, train the bundle, make it current.

`main_train.py` is a command line over `train_from_config`; `bench/skill.py` uses `read_records`
and `model.trainer.train_bundle` directly, with the benchmark's protocol.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable

from tqdm import tqdm

from adapter.base import AbstractFlowReader, AbstractMeteoReader
from adapter.baselines import read_baselines
from adapter.factory import build_readers
from config.loader import as_json
from config.settings import AppConfig, ModelConfig, TrainingConfig
from domain.site import Site
from model.bundle import save_bundle
from model.evaluate import format_table
from model.site_data import SiteSeries, build_site_series
from model.train import EpochReport
from model.trainer import TrainingRun, train_bundle, training_days


def read_records(
    flow_reader: AbstractFlowReader,
    meteo_reader: AbstractMeteoReader,
    sites: list[Site],
    model: ModelConfig,
    training: TrainingConfig,
) -> list[SiteSeries]:
    """Read every site's flow and meteorology over the days training needs, with a progress bar.

    Raises:
        DataSourceError: A reader failed.
    """
    start, end = training_days(model, training)
    records = []
    for site in tqdm(sites, desc="reading sites", unit="site", file=sys.stdout):
        meteo = meteo_reader.read_history(site, start, end)
        flow = flow_reader.read_flow(site.site_id, start, end)
        records.append(build_site_series(site, meteo, flow, model.meteo_features))
    return records


def print_epoch(member: int, report: EpochReport) -> None:
    """One progress line per epoch."""
    validation = (
        ""
        if report.validation_score is None
        else f"  validation median NSE {report.validation_score:.4f}{' *' if report.best else ''}"
    )
    print(
        f"member {member + 1} epoch {report.epoch:3d}  train loss {report.train_loss:.4f}{validation}  "
        f"({report.seconds:.1f} s)",
        flush=True,
    )


def train_from_config(
    config: AppConfig,
    today: Callable[[], dt.date] = dt.date.today,
    on_epoch: Callable[[int, EpochReport], None] = print_epoch,
) -> TrainingRun:
    """Read the configured sites, train, score the test period and save the bundle as the current one.

    With live readers the sites' metadata and history come from USGS and Open-Meteo, or from
    the upstream cache when it holds them.

    Args:
        config: The configuration.
        today: The current day for the live readers (tests pin it).
        on_epoch: Progress callback, given the member number (0-based) and the epoch report.

    Raises:
        StreamflowError: A reader failed, or a site has too little data to train on.
    """
    flow_reader, meteo_reader = build_readers(config.data, config.upstream, today)
    sites = flow_reader.list_sites()
    print(f"training on {len(sites)} site(s): {', '.join(site.site_id for site in sites)}")
    records = read_records(flow_reader, meteo_reader, sites, config.model, config.training)
    run = train_bundle(records, config.model, config.training, as_json(config.data), config.data.demo_dataset, on_epoch)
    save_bundle(run.bundle, config.paths.model_dir)
    return run


def summary(run: TrainingRun, config: AppConfig) -> str:
    """What a training run printed at its end: members, the test table (with the data directory's
    baselines when it has them) and where the bundle went."""
    baselines = read_baselines(config.data.data_dir) if config.data.flow_data == "local" else None
    return (
        f"trained {len(run.bundle.state_dicts)} member(s) in {run.train_seconds:.0f} s\n\n"
        f"test period {config.training.test_start} .. {config.training.test_end}\n"
        f"{format_table(run.scores, baselines)}\n"
        f"model bundle {run.bundle.version} written to {config.paths.model_dir}"
    )
