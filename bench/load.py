"""Service latency under concurrent /forecast load, on 127.0.0.1 only.

Starts `main_service.py` as a process on a free local port with the given config (its model
bundle must exist: run `main_train.py` first), waits for /healthCheck, sends `--requests`
GET /forecast requests from `--concurrency` client threads over the sites /info lists
(forecasts from the last observed day and hindcasts from earlier days, alternating), then stops
the service with SIGTERM. Prints latency percentiles, throughput and every answer that was not a 200.

Usage:
    .venv/bin/python bench/load.py [--config FILE] [--requests N] [--concurrency C]
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 120
REQUEST_TIMEOUT_S = 60
# Hindcasts are issued this many days before the end of a site's record, in turn.
HINDCAST_OFFSETS_DAYS = (30, 90, 200, 365)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO_ROOT / "config.yaml", help="config of the service")
    parser.add_argument("--requests", type=int, default=400, help="timed /forecast requests")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads sending them")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.concurrency < 1:
        parser.error("--requests and --concurrency must be at least 1")
    return args


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_service(config: Path, port: int) -> subprocess.Popen:
    """Run main_service.py on 127.0.0.1:port; its log is discarded."""
    environment = {**os.environ, "STREAMFLOW__SERVER__HOST": "127.0.0.1", "STREAMFLOW__SERVER__PORT": str(port)}
    return subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "main_service.py"), "--config", str(config)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_until_healthy(base_url: str, service: subprocess.Popen) -> str | None:
    """None once /healthCheck answers 200; otherwise why the service is not serving."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if service.poll() is not None:
            return f"main_service.py exited with status {service.returncode}"
        try:
            health = requests.get(f"{base_url}/healthCheck", timeout=5)
        except requests.ConnectionError:
            time.sleep(0.2)
            continue
        if health.status_code == 200:
            return None
        return f"/healthCheck answered {health.status_code}: {health.text} (run main_train.py first)"
    return f"no answer from /healthCheck within {START_TIMEOUT_S} s"


def request_paths(sites: list[dict], count: int) -> list[str]:
    """`count` /forecast paths cycling over the sites, forecasts and hindcasts alternating."""
    paths = []
    for number in range(count):
        site = sites[number % len(sites)]
        path = f"/forecast?site_id={site['site_id']}&forecast_days=5"
        if number % 2:
            end = dt.date.fromisoformat(site["data_period"]["end"])
            offset = HINDCAST_OFFSETS_DAYS[(number // 2) % len(HINDCAST_OFFSETS_DAYS)]
            path += f"&issue_date={end - dt.timedelta(days=offset)}"
        paths.append(path)
    return paths


def timed_get(session: requests.Session, url: str) -> tuple[float, int]:
    """(seconds, status) of one GET."""
    began = time.perf_counter()
    response = session.get(url, timeout=REQUEST_TIMEOUT_S)
    return time.perf_counter() - began, response.status_code


def run_load(base_url: str, paths: list[str], concurrency: int) -> tuple[np.ndarray, collections.Counter, float]:
    """Send every path from `concurrency` threads (one keep-alive session each).

    Returns:
        Latencies in seconds, a count of answers per status, and the wall time of the whole run.
    """
    sessions = [requests.Session() for _ in range(concurrency)]
    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        results = list(
            pool.map(lambda job: timed_get(sessions[job[0] % concurrency], base_url + job[1]), enumerate(paths))
        )
    wall = time.perf_counter() - began
    return np.array([seconds for seconds, _ in results]), collections.Counter(status for _, status in results), wall


def main(argv: list[str] | None = None) -> int:
    """Run the load test; returns 1 when the service does not serve or any answer is not a 200."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    service = start_service(args.config, port)
    try:
        problem = wait_until_healthy(base_url, service)
        if problem is not None:
            print(f"load test failed: {problem}", file=sys.stderr)
            return 1
        sites = [
            site for site in requests.get(f"{base_url}/info", timeout=30).json()["sites"] if site["data_period"]["end"]
        ]
        if not sites:
            print("load test failed: /info lists no site with observed flow", file=sys.stderr)
            return 1
        paths = request_paths(sites, args.requests)
        run_load(base_url, request_paths(sites, len(sites) * 2), 1)  # warm-up: first reads of every site
        latencies, statuses, wall = run_load(base_url, paths, args.concurrency)
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=60)
    milliseconds = latencies * 1000
    print(
        f"{args.requests} GET /forecast requests ({len(sites)} sites, forecasts and hindcasts alternating) "
        f"from {args.concurrency} client threads against {args.config}"
    )
    print(
        f"latency ms: p50 {np.percentile(milliseconds, 50):.1f}, p90 {np.percentile(milliseconds, 90):.1f}, "
        f"p99 {np.percentile(milliseconds, 99):.1f}, max {milliseconds.max():.1f}"
    )
    print(
        f"throughput {args.requests / wall:.1f} requests/s over {wall:.1f} s; answers {dict(sorted(statuses.items()))}"
    )
    return 0 if set(statuses) == {200} else 1


if __name__ == "__main__":
    sys.exit(main())
