"""Operator commands on the registered model: list versions, promote one, roll back.

    .venv/bin/python -m service.model_admin list                 # versions, skill, gate, aliases
    .venv/bin/python -m service.model_admin promote 3            # live -> 3, if 3 passed its gate
    .venv/bin/python -m service.model_admin promote 3 --force    # live -> 3 whatever its gate said
    .venv/bin/python -m service.model_admin rollback             # live -> the version live before

Services following `live` pick the change up at their next check (`registry.poll_s`, or SIGHUP).
Exit codes: 0 done, 1 the registry failed or refused, 2 bad configuration or arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from adapter.model_registry import ModelRegistry
from config.loader import load_config
from config.settings import ConfigError
from domain.errors import StreamflowError
from service.model_lifecycle import ModelLifecycle

REPO_ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(prog="python -m service.model_admin", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO_ROOT / "config.yaml", help="config file")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="every version: bundle, date, aliases, test skill, gate, promotion")
    promote = commands.add_parser("promote", help="point live at a version that passed its gate")
    promote.add_argument("version", help="registry version number")
    promote.add_argument("--force", action="store_true", help="promote even if its gate refused it")
    commands.add_parser("rollback", help="point live back at the version live before the current one")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        config = load_config(args.config, os.environ)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    registry = ModelRegistry(config.tracking, config.registry.model_name)
    lifecycle = ModelLifecycle(registry, config.registry.bundle_cache)
    try:
        if args.command == "list":
            summaries = lifecycle.summaries()
            print("\n".join(summary.format() for summary in summaries) or f"no version of {registry.model_name} yet")
        elif args.command == "promote":
            gate = registry.get(args.version).tags.get("gate")
            if gate != "passed" and not args.force:
                print(
                    f"version {args.version}: its gate {gate or 'never ran'}; --force promotes it anyway",
                    file=sys.stderr,
                )
                return 1
            version = lifecycle.promote(args.version, "force" if gate != "passed" else "operator")
            print(f"version {version.version} (bundle {version.bundle_version}) is live")
        else:
            version = lifecycle.rollback()
            print(f"rolled back: version {version.version} (bundle {version.bundle_version}) is live")
    except StreamflowError as exc:
        print(f"{args.command} failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
