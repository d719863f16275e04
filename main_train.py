"""Train the forecasting LSTM on the configured sites and write a model bundle.

A command line over `service.training_service.train_from_config` (README, "Training").
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from pathlib import Path

from config.loader import load_config
from config.settings import AppConfig, ConfigError
from domain.errors import StreamflowError
from model.bundle import has_bundle
from model.predictor import use_threads
from service.training_service import summary, train_from_config
from utils.allocator import keep_freed_memory

LOGGER = logging.getLogger(__name__)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line flags; each overrides the matching config value."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Configuration keys can also be set with STREAMFLOW__<SECTION>__<KEY> environment variables.",
    )
    parser.add_argument("--config", type=Path, default=Path(__file__).parent / "config.yaml", help="config file")
    parser.add_argument("--sites", help="comma-separated site ids (data.sites; default: every site)")
    parser.add_argument("--epochs", type=int, help="epochs per ensemble member (training.epochs)")
    parser.add_argument("--output", type=Path, help="directory for model bundles (paths.model_dir)")
    parser.add_argument("--if-missing", action="store_true", help="do nothing when a current model bundle exists")
    return parser.parse_args(argv)


def apply_flags(config: AppConfig, args: argparse.Namespace) -> AppConfig:
    """The config with the command-line overrides applied (and checked like any setting)."""
    data, training, paths = config.data, config.training, config.paths
    if args.sites:
        data = dataclasses.replace(data, sites=tuple(site.strip() for site in args.sites.split(",") if site.strip()))
    if args.epochs is not None:
        training = dataclasses.replace(training, epochs=args.epochs)
    if args.output:
        paths = dataclasses.replace(paths, model_dir=args.output.resolve())
    return dataclasses.replace(config, data=data, training=training, paths=paths)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        config = apply_flags(load_config(args.config, os.environ), args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=config.server.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if args.if_missing and has_bundle(config.paths.model_dir):
        print(f"a model bundle exists in {config.paths.model_dir}; skipping training (--if-missing)")
        return 0
    keep_freed_memory()
    use_threads(max(1, os.cpu_count() or 1))
    try:
        run = train_from_config(config)
    except StreamflowError as exc:
        print(f"training failed: {exc}", file=sys.stderr)
        return 1
    except Exception:  # the top of main_train is the one place a broad except belongs
        LOGGER.exception("training failed unexpectedly")
        return 1
    print(summary(run, config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
