"""Train the forecasting LSTM on the configured sites and write a model bundle.

Reads flow and meteorology through the configured readers, trains an
ensemble (with early stopping when a validation period is set), scores the test period
(NSE and KGE per site and lead day, next to persistence), and writes the model
bundle and the site catalogue atomically.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import dataclasses
import datetime as dt
import json
import logging
import os
import sys
import time
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from adapter.base import AbstractFlowReader, AbstractMeteoReader
from adapter.baselines import read_baselines
from adapter.factory import build_readers
from adapter.site_catalogue import SiteCatalogue
from config.settings import AppConfig, ConfigError, ModelConfig, TrainingConfig, load_config
from domain.errors import StreamflowError
from domain.site import Site
from model.bundle import CURRENT_LINK, ModelBundle, save_bundle
from model.ensemble import TrainedEnsemble, data_fingerprint, train_ensemble
from model.evaluate import format_table, median_by_lead
from model.site_data import SiteSeries, build_site_series
from model.train import EpochReport
from utils.allocator import keep_freed_memory

LOGGER = logging.getLogger(__name__)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line flags; each overrides the matching config value."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Configuration keys can also be set with STREAMFLOW__<SECTION>__<KEY> environment variables.",
    )
    parser.add_argument("--config", type=Path, default=Path(__file__).parent / "config.yaml", help="config file")
    parser.add_argument("--sites", help="comma-separated site ids (default: data.sites, or every site)")
    parser.add_argument("--epochs", type=int, help="epochs per ensemble member, the maximum with early stopping (training.epochs)")
    parser.add_argument("--output", type=Path, help="directory for model bundles (paths.model_dir)")
    parser.add_argument(
        "--if-missing", action="store_true", help="do nothing when a current model bundle already exists"
    )
    return parser.parse_args(argv)


def apply_flags(config: AppConfig, args: argparse.Namespace) -> AppConfig:
    """Return the config with the command-line overrides applied."""
    if args.sites:
        sites = tuple(site.strip() for site in args.sites.split(",") if site.strip())
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, sites=sites))
    if args.epochs:
        config = dataclasses.replace(config, training=dataclasses.replace(config.training, epochs=args.epochs))
    if args.output:
        config = dataclasses.replace(config, paths=dataclasses.replace(config.paths, model_dir=args.output.resolve()))
    return config


def read_records(
    flow_reader: AbstractFlowReader,
    meteo_reader: AbstractMeteoReader,
    sites: list[Site],
    model: ModelConfig,
    training: TrainingConfig,
) -> list[SiteSeries]:
    """Read every site's flow and meteorology over the training, validation and test periods.

    Raises:
        DataSourceError: A reader failed.
    """
    periods = [(training.train_start, training.train_end), (training.test_start, training.test_end)]
    if training.has_validation:
        periods.append((training.validation_start, training.validation_end))
    start = min(first for first, _ in periods) - dt.timedelta(days=model.seq_len)
    end = max(last for _, last in periods)
    end += dt.timedelta(days=model.max_forecast_days)
    records = []
    for site in tqdm(sites, desc="reading sites", unit="site", file=sys.stdout):
        meteo = meteo_reader.read_history(site, start, end)
        flow = flow_reader.read_flow(site.site_id, start, end)
        records.append(build_site_series(site, meteo, flow, model.meteo_features))
    return records


def print_epoch(member: int, report: EpochReport) -> None:
    """One progress line per epoch."""
    validation = (
        "" if report.validation_score is None
        else f"  validation median NSE {report.validation_score:.4f}{' *' if report.best else ''}"
    )
    print(
        f"member {member + 1} epoch {report.epoch:3d}  train loss {report.train_loss:.4f}"
        f"{validation}  ({report.seconds:.1f} s)",
        flush=True,
    )


def evaluate(ensemble: TrainedEnsemble, records: list[SiteSeries], config: AppConfig) -> pd.DataFrame:
    """Score the test period and print the median table."""
    scores = ensemble.score(records, config.training.test_start, config.training.test_end)
    baselines = read_baselines(config.data.data_dir) if config.data.flow_data == "local" else None
    print(f"\ntest period {config.training.test_start} .. {config.training.test_end}")
    print(format_table(scores, baselines))
    return scores


def metrics_json(scores: pd.DataFrame, config: AppConfig) -> dict:
    """Test scores per site and lead, and their medians, as JSON."""
    medians = median_by_lead(scores)
    return {
        "test_period": [config.training.test_start.isoformat(), config.training.test_end.isoformat()],
        "median_by_lead": {str(lead): row.round(4).to_dict() for lead, row in medians.iterrows()},
        "per_site": scores.round(4).to_dict(orient="records"),
    }


def config_json(config: AppConfig) -> dict:
    """The config as JSON-ready data (paths and dates as strings)."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def train(config: AppConfig, today: Callable[[], dt.date] = dt.date.today) -> ModelBundle:
    """Read data, train, evaluate and write the bundle and the site catalogue.

    With live readers the sites' metadata (for the catalogue) and history come from
    USGS and Open-Meteo, or from the upstream cache when it holds them.

    Args:
        config: The configuration.
        today: The current day for the live readers (tests pin it).
    """
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    flow_reader, meteo_reader = build_readers(config.data, config.upstream, today)
    sites = flow_reader.list_sites()
    print(f"training on {len(sites)} site(s): {', '.join(site.site_id for site in sites)}")
    records = read_records(flow_reader, meteo_reader, sites, config.model, config.training)
    began = time.perf_counter()
    ensemble = train_ensemble(records, config.model, config.training, on_epoch=print_epoch)
    print(f"trained {len(ensemble.members)} member(s) in {time.perf_counter() - began:.0f} s")
    scores = evaluate(ensemble, records, config)
    fingerprint = data_fingerprint(records)
    bundle = ModelBundle(
        version=f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}-{fingerprint[:8]}",
        architecture=ensemble.architecture,
        seq_len=ensemble.seq_len,
        horizon=ensemble.horizon,
        scaler=ensemble.scaler,
        state_dicts=[member.state_dict() for member in ensemble.members],
        config=config_json(config),
        data_fingerprint=fingerprint,
        metrics=metrics_json(scores, config),
        synthetic_data=config.data.demo_dataset,
    )
    directory = save_bundle(bundle, config.paths.model_dir)
    SiteCatalogue(config.paths.site_db).write(sites, bundle.version, config.data.demo_dataset)
    print(f"model bundle {bundle.version} written to {directory}; site catalogue {config.paths.site_db}")
    return bundle


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        config = apply_flags(load_config(args.config, os.environ), args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=config.server.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if args.if_missing and (config.paths.model_dir / CURRENT_LINK).exists() and config.paths.site_db.exists():
        print(f"a model bundle exists in {config.paths.model_dir}; skipping training (--if-missing)")
        return 0
    keep_freed_memory()
    try:
        train(config)
    except StreamflowError as exc:
        print(f"training failed: {exc}", file=sys.stderr)
        return 1
    except Exception:  # the top of main_train is the one place a broad except belongs
        LOGGER.exception("training failed unexpectedly")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
