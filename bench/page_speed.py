"""How fast a site's hydrograph page renders in headless Chromium from a warm service.

Starts `main_service.py` on the demo configuration (or `--config`) on 127.0.0.1 with a fresh
archive, loads every site's page once to warm the service, then loads each site's page and a
hindcast page `--rounds` times in a fresh browser tab, timing from navigation to the page's
`data-state="ready"` (its chart drawn from /info, /forecast, /observations and /verification).
Prints the median and the slowest time and the target (<= 1 s), MET or MISSED. Needs Chromium
(`.ci/run` installs it) and a trained model in the configuration's model directory.

Usage:
    .venv/bin/python bench/page_speed.py [--config config.yaml] [--rounds 10]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.speed import archive_in, free_port, wait_until_healthy  # noqa: E402
from test.cdp_browser import ChromiumPage  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 1.0
READY = "document.body.dataset.state === 'ready'"


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO_ROOT / "config.yaml", help="service configuration")
    parser.add_argument("--rounds", type=int, default=10, help="page loads per site and kind")
    return parser.parse_args(argv)


def render_seconds(page: ChromiumPage, url: str) -> float:
    """Seconds from navigating to `url` until the page says it is ready (polled every 10 ms)."""
    began = time.perf_counter()
    page.navigate(url)
    page.wait_for(READY, timeout_s=30, poll_s=0.01)
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 1 when the service or the browser cannot start."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        print("page speed benchmark needs chromium (.ci/run installs it)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        environment = {
            **os.environ,
            "STREAMFLOW__SERVER__HOST": "127.0.0.1",
            "STREAMFLOW__SERVER__PORT": str(port),
            **archive_in(work),
        }
        log = work / "service.log"
        with log.open("w") as log_file:
            service = subprocess.Popen(
                [sys.executable, str(REPO_ROOT / "main_service.py"), "--config", str(args.config)],
                env=environment,
                stdout=log_file,
                stderr=log_file,
            )
        try:
            problem = wait_until_healthy(base_url, service, log)
            if problem is not None:
                print(f"page speed benchmark failed: {problem}", file=sys.stderr)
                return 1
            return measure(binary, base_url, work, args.rounds)
        finally:
            service.terminate()
            service.wait(timeout=30)


def measure(binary: str, base_url: str, work: Path, rounds: int) -> int:
    """Warm the service, time the pages, print the figures and the target."""
    sites = [
        site for site in requests.get(f"{base_url}/info", timeout=30).json()["sites"] if site["data_period"]["end"]
    ]
    times: dict[str, list[float]] = {"forecast": [], "hindcast": []}
    with ChromiumPage(binary, work / "profile") as page:
        for site in sites:  # warm: the first answers and the browser's cache of the scripts
            render_seconds(page, f"{base_url}/sites/{site['site_id']}")
        for _ in range(rounds):
            for site in sites:
                last = dt.date.fromisoformat(site["data_period"]["end"])
                times["forecast"].append(render_seconds(page, f"{base_url}/sites/{site['site_id']}"))
                hindcast = (last - dt.timedelta(days=60)).isoformat()
                url = f"{base_url}/sites/{site['site_id']}?issue_date={hindcast}"
                times["hindcast"].append(render_seconds(page, url))
        errors = page.console_errors
    print(f"site pages of {len(sites)} sites, {rounds} rounds, from a warm service at {base_url}")
    for kind, seconds in times.items():
        print(
            f"{kind:<9} median {statistics.median(seconds) * 1000:6.0f} ms  slowest {max(seconds) * 1000:6.0f} ms "
            f"({len(seconds)} loads)"
        )
    slowest = max(max(seconds) for seconds in times.values())
    print(f"console errors: {len(errors)}")
    print("target")
    met = slowest <= TARGET_S and not errors
    print(f"  {'MET   ' if met else 'MISSED'} a site page renders in <= {TARGET_S:.0f} s: slowest {slowest:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
