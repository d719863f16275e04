"""Train the forecasting LSTM on the configured sites: bundle, MLflow run, registry version, gate.

A command line over `service.training_service.train_from_config` (README, "Training"). Exit codes:
0 trained (and live when the registry is on), 1 failed, 2 bad configuration, 3 refused by the gate.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path

from config.loader import load_config
from config.settings import AppConfig, ConfigError
from domain.errors import StreamflowError
from model.distributed import leave, ranks_from_environment
from model.predictor import use_threads
from service.training_service import model_exists, summary, train_as_worker, train_from_config
from utils.allocator import keep_freed_memory
from utils.files import write_atomic

LOGGER = logging.getLogger(__name__)
GATE_REFUSED = 3


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line flags; each overrides the matching config value."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], epilog="Any config key: STREAMFLOW__<SECTION>__<KEY>."
    )
    parser.add_argument("--config", type=Path, default=Path(__file__).parent / "config.yaml", help="config file")
    parser.add_argument("--sites", help="comma-separated site ids (data.sites; default: every site)")
    parser.add_argument("--epochs", type=int, help="epochs per ensemble member (training.epochs)")
    parser.add_argument("--output", type=Path, help="directory for model bundles (paths.model_dir)")
    parser.add_argument("--if-missing", action="store_true", help="do nothing when a model to serve exists")
    parser.add_argument("--force", action="store_true", help="promote to live even if the gate refuses")
    parser.add_argument("--report", type=Path, help="write the outcome (version, gate, promotion) as JSON here")
    return parser.parse_args(argv)


def apply_flags(config: AppConfig, args: argparse.Namespace) -> AppConfig:
    """The config with the command-line overrides applied (and checked like any setting)."""
    sites = tuple(site.strip() for site in (args.sites or "").split(",") if site.strip()) or config.data.sites
    return dataclasses.replace(
        config,
        data=dataclasses.replace(config.data, sites=sites),
        training=dataclasses.replace(
            config.training, epochs=config.training.epochs if args.epochs is None else args.epochs
        ),
        paths=dataclasses.replace(config.paths, model_dir=(args.output or config.paths.model_dir).resolve()),
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        config = apply_flags(load_config(args.config, os.environ), args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=config.server.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    keep_freed_memory()
    ranks = ranks_from_environment(os.environ)
    # The processes torchrun starts on a node share its cores.
    use_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", 1))))
    try:
        if args.if_missing and model_exists(config):
            print("a model to serve exists; skipping training (--if-missing)")
            return 0
        if not ranks.is_main:
            train_as_worker(config, ranks)
            return 0
        outcome = train_from_config(config, force=args.force, ranks=ranks)
    except StreamflowError as exc:
        print(f"training failed: {exc}", file=sys.stderr)
        return 1
    except Exception:  # the top of main_train is the one place a broad except belongs
        LOGGER.exception("training failed unexpectedly")
        return 1
    finally:
        leave()
    print(summary(outcome, config))
    if args.report:  # a retraining job's result, for GET /retrain/{job}
        write_atomic(args.report, json.dumps(outcome.report(), indent=1))
    return 0 if outcome.promoted or outcome.version is None else GATE_REFUSED


if __name__ == "__main__":
    sys.exit(main())
