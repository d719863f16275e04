"""Service speed against a Tornado hello-world, both driven by wrk on 127.0.0.1 in the same run.

Starts `main_service.py` with the given config (local data; its bundle must exist: run
`main_train.py` first; the registry is bypassed, the archive is a fresh SQLite file, and the last
`max_forecast_days` days of flow are withheld so that there is a forecast to issue) and
`bench/hello_world.py` on free local ports, then runs wrk (Debian's `wrk` package) for
`--duration` seconds at `--connections` connections per scenario:

- hello: the hello-world's `/`, the yardstick;
- warm: every site's forecast from its last observed day, answered from memory;
- cold: hindcasts at issue days never asked before, each one computed;
- hindcasts: a fixed set of hindcasts asked again and again (after the first round, from memory);
- mix: 60 % warm, 30 % repeated hindcasts, 10 % cold.

Then tops the service up to `--total-requests` with the mix and reads its RSS; in process, times
the CPU of a cold forecast and a precompute of every site (a model swap). Prints each figure and
each target MET or MISSED; exits 1 when the service does not serve or any answer was not a 2xx.

Usage:
    .venv/bin/python bench/speed.py [--config FILE] [--duration S] [--connections N] [--total-requests N]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from config.loader import load_config  # noqa: E402
from domain.errors import InsufficientDataError, ModelNotLoadedError  # noqa: E402
from main_service import build_services  # noqa: E402
from model.predictor import Predictor  # noqa: E402
from service.forecast_service import ForecastService  # noqa: E402
from service.served_model import LoadedModel  # noqa: E402

START_TIMEOUT_S = 120
COLD_PATHS = 20_000  # more than a run asks: a cold path is never asked twice
REPEATED_HINDCASTS = 1_000
CPU_SAMPLES = 200
TARGETS = {
    "warm_share": 0.50,  # of the hello-world's requests/s
    "warm_p99_ms": 25.0,
    "cold_cpu_ms": 6.0,
    "cold_rps": 5 * 49.0,  # 5x the hindcasts/s measured before this benchmark
    "precompute_ms": 1.0,  # per site and ensemble member
    "rss_mb": 600.0,
}


@dataclasses.dataclass(frozen=True)
class WrkRun:
    """One wrk run: throughput, latency percentiles (ms) and answers that were not 2xx or failed."""

    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    bad: int
    wrapped: bool

    def line(self, name: str) -> str:
        """The run as one printed line."""
        return (
            f"{name:<10} {self.rps:9,.0f} req/s  p50 {self.p50_ms:6.2f}  p90 {self.p90_ms:6.2f}  "
            f"p99 {self.p99_ms:6.2f} ms  {self.requests:,} requests, {self.bad} not 2xx"
            + ("  (paths wrapped: some were repeats)" if self.wrapped else "")
        )


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO_ROOT / "config/camels30.yaml", help="service config")
    parser.add_argument("--duration", type=int, default=15, help="seconds of each wrk run")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--total-requests", type=int, default=100_000, help="requests before RSS is read")
    args = parser.parse_args(argv)
    if args.duration < 1 or args.connections < 1:
        parser.error("--duration and --connections must be at least 1")
    return args


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def forecastable_data(config_file: Path, work: Path) -> Path:
    """A copy of the config's data directory whose flow files end `max_forecast_days` days earlier: the
    meteorology of those days is then the forecast of the last observed day (a record such as
    camels30's ends both on the same day, leaving no forecast to issue)."""
    config = load_config(config_file, os.environ)
    source, horizon = config.data.data_dir, config.model.max_forecast_days
    copy = work / "data"
    (copy / "flow").mkdir(parents=True)
    shutil.copy(source / "sites.csv", copy / "sites.csv")
    (copy / "meteo").symlink_to((source / "meteo").resolve(), target_is_directory=True)
    for flow in sorted((source / "flow").glob("*.csv")):
        lines = flow.read_text().splitlines()
        (copy / "flow" / flow.name).write_text("\n".join(lines[:-horizon]) + "\n")
    return copy


def service_environment(port: int, work: Path) -> dict[str, str]:
    """The service's settings for the benchmark: local port, the data of `forecastable_data`, the bundle
    of `paths.model_dir`, a fresh archive."""
    return {
        **os.environ,
        "STREAMFLOW__DATA__DATA_DIR": str(work / "data"),
        "STREAMFLOW__SERVER__HOST": "127.0.0.1",
        "STREAMFLOW__SERVER__PORT": str(port),
        "STREAMFLOW__REGISTRY__ENABLED": "false",
        **archive_in(work),
    }


def archive_in(directory: Path) -> dict[str, str]:
    """Settings of a fresh SQLite archive in `directory`."""
    return {
        "STREAMFLOW__ARCHIVE__SQLITE_PATH": str(directory / "archive.sqlite"),
        "STREAMFLOW__ARCHIVE__DATABASE_URL": "",
    }


def wait_until_healthy(base_url: str, service: subprocess.Popen, log: Path) -> str | None:
    """None once /healthCheck answers 200; otherwise why the service is not serving."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if service.poll() is not None:
            return f"main_service.py exited with status {service.returncode}: {log.read_text()[-2000:]}"
        try:
            health = requests.get(f"{base_url}/healthCheck", timeout=5)
        except requests.ConnectionError:
            time.sleep(0.2)
            continue
        if health.status_code == 200:
            return None
        return f"/healthCheck answered {health.status_code}: {health.text} (run main_train.py first)"
    return f"no answer from /healthCheck within {START_TIMEOUT_S} s"


def scenario_paths(
    sites: list[dict], horizon: int, seq_len: int, answerable: Callable[[str, dt.date], bool]
) -> dict[str, list[str]]:
    """The paths each scenario asks, in order: warm, cold (never repeated), hindcasts (repeated), mix.

    Each site's issue days are split in three disjoint ranges: cold run, cold share of the mix, repeated.
    """
    ranges = []
    for site in sites:
        first = dt.date.fromisoformat(site["data_period"]["start"]) + dt.timedelta(days=seq_len)
        last = dt.date.fromisoformat(site["data_period"]["end"]) - dt.timedelta(days=1)
        third = max((last - first).days // 3, 1)
        ranges.append([last - dt.timedelta(days=part * third) for part in range(3)])

    def forecast(index: int) -> str:
        return f"/forecast?site_id={sites[index]['site_id']}&forecast_days={horizon}"

    def hindcasts(part: int, count: int) -> list[str]:
        # Issue days with too little data (gaps in a record) are left out: every path must answer 200.
        per_site = max((ranges[0][0] - ranges[0][1]).days, 1)
        paths = []
        for number in range(min(count, per_site * len(sites))):
            index = number % len(sites)
            issue = ranges[index][part] - dt.timedelta(days=number // len(sites))
            if answerable(sites[index]["site_id"], issue):
                paths.append(f"{forecast(index)}&issue_date={issue}")
        return paths

    warm = [forecast(index) for index in range(len(sites))]
    cold, mix_cold, repeated = hindcasts(0, COLD_PATHS), hindcasts(1, COLD_PATHS), hindcasts(2, REPEATED_HINDCASTS)
    mix = []
    for number in range(len(mix_cold) * 10):
        share = number % 10
        if share < 6:
            mix.append(warm[number % len(warm)])
        elif share < 9:
            mix.append(repeated[number % len(repeated)])
        else:
            mix.append(mix_cold[number // 10])
    return {"warm": warm, "cold": cold, "hindcasts": repeated, "mix": mix}


def lua_script(paths: list[str], path: Path) -> Path:
    """A wrk script asking `paths` in turn and printing its figures as one JSON line."""
    table = ",\n".join(json.dumps(each) for each in paths)
    path.write_text(
        f"local paths = {{\n{table}\n}}\n"
        + """
local n = 0
request = function()
  n = n % #paths + 1
  return wrk.format("GET", paths[n])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %d, "duration_us": %d, "bad": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "paths": %d}\\n',
    summary.requests, summary.duration, e.status + e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), #paths))
end
"""
    )
    return path


def wrk(url: str, script: Path, seconds: int, connections: int, unique: bool = False) -> WrkRun:
    """Run wrk against `url` with a script from `lua_script`; `unique`: its paths must not repeat."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    figures = json.loads(next(line for line in output.splitlines() if line.startswith("WRK "))[4:])
    return WrkRun(
        requests=figures["requests"],
        rps=figures["requests"] / (figures["duration_us"] / 1e6),
        p50_ms=figures["p50_us"] / 1000,
        p90_ms=figures["p90_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        bad=figures["bad"],
        wrapped=unique and figures["requests"] > figures["paths"],
    )


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def in_process(config_file: Path, work: Path) -> dict:
    """In process: the CPU ms of a cold forecast, and the ms per site and member of a precompute of every
    site after a model swap (the data already kept as arrays)."""
    config = load_config(config_file, {**service_environment(free_port(), work), **archive_in(work / "in_process")})
    services = build_services(config)
    forecast = services.forecast
    bundle = services.model.predictor.bundle
    site = bundle.sites[0]
    last = forecast.forecast(site.site_id, 1).issue_date
    forecast.forecast(site.site_id, 1, last - dt.timedelta(days=400))  # the site's blocks are read once
    samples = []
    for number in range(CPU_SAMPLES):
        began = time.process_time()
        forecast.forecast(site.site_id, 1, last - dt.timedelta(days=401 + number))
        samples.append((time.process_time() - began) * 1000)
    forecast.precompute()  # every site's latest blocks are read
    # A swap to another version: every site is forecast again, from the arrays kept.
    swapped = dataclasses.replace(bundle, version=f"{bundle.version}-swapped")
    services.model.serve(LoadedModel.of(Predictor(swapped)))
    began = time.perf_counter()
    computed = forecast.precompute()
    seconds = time.perf_counter() - began
    members = len(bundle.state_dicts)
    return {
        "cold_cpu_ms": statistics.median(samples),
        "precompute_ms": seconds * 1000 / max(computed * members, 1),
        "precomputed": computed,
        "members": members,
        "seq_len": bundle.model.seq_len,
        "horizon": bundle.horizon,
        "answerable": lambda site_id, day: answerable(forecast, site_id, day),
    }


def answerable(forecast: ForecastService, site_id: str, day: dt.date) -> bool:
    """Whether a hindcast of the site from that day has the data it needs."""
    try:
        forecast.check(site_id, day)
    except InsufficientDataError:
        return False
    return True


def verdict(met: bool, text: str) -> str:
    """A target's printed line."""
    return f"  {'MET   ' if met else 'MISSED'} {text}"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns 1 when the service does not serve or an answer was not a 2xx."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if shutil.which("wrk") is None:
        print("speed benchmark: wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="speed-") as scratch:
        try:
            return run(args, Path(scratch))
        except ModelNotLoadedError as exc:
            print(f"speed benchmark failed: {exc}", file=sys.stderr)
            return 1


def run(args: argparse.Namespace, work: Path) -> int:
    """The benchmark, with its files under `work`."""
    forecastable_data(args.config, work)
    measured = in_process(args.config, work)
    port, hello_port = free_port(), free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = work / "service.log"
    with log.open("w") as log_file:
        service = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "main_service.py"), "--config", str(args.config)],
            env=service_environment(port, work),
            stdout=log_file,
            stderr=log_file,
        )
    hello = subprocess.Popen([sys.executable, str(REPO_ROOT / "bench" / "hello_world.py"), str(hello_port)])
    runs: dict[str, WrkRun] = {}
    try:
        problem = wait_until_healthy(base_url, service, log)
        if problem is not None:
            print(f"speed benchmark failed: {problem}", file=sys.stderr)
            return 1
        sites = [
            site for site in requests.get(f"{base_url}/info", timeout=30).json()["sites"] if site["data_period"]["end"]
        ]
        paths = scenario_paths(sites, measured["horizon"], measured["seq_len"], measured["answerable"])
        for path in paths["warm"] + paths["hindcasts"]:  # first answers: memory from then on
            requests.get(base_url + path, timeout=60).raise_for_status()
        runs["hello"] = wrk(
            f"http://127.0.0.1:{hello_port}/", lua_script(["/"], work / "hello.lua"), args.duration, args.connections
        )
        for name in ("warm", "cold", "hindcasts", "mix"):
            script = lua_script(paths[name], work / f"{name}.lua")
            runs[name] = wrk(base_url, script, args.duration, args.connections, unique=name == "cold")
        served = sum(each.requests for name, each in runs.items() if name != "hello")
        topped_up = []
        while served < args.total_requests:
            seconds = int((args.total_requests - served) / runs["mix"].rps) + 2
            topped_up.append(
                wrk(base_url, lua_script(paths["mix"][::-1], work / "rest.lua"), seconds, args.connections)
            )
            served += topped_up[-1].requests
        memory = rss_mb(service.pid)
    finally:
        hello.send_signal(signal.SIGTERM)
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=60)
        hello.wait(timeout=30)
    with sqlite3.connect(work / "archive.sqlite") as archive:
        archive.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the write-ahead log into the file
        archived = archive.execute("SELECT count(*) FROM forecasts").fetchone()[0]
    archive_bytes = (work / "archive.sqlite").stat().st_size
    cold_cpu_ms, precompute_ms = measured["cold_cpu_ms"], measured["precompute_ms"]

    print(f"speed of {args.config.name}: {len(sites)} sites, wrk {args.duration} s at {args.connections} connections")
    for name, each in runs.items():
        print(each.line(name))
    for each in topped_up:
        print(each.line("top-up mix"))
    share = runs["warm"].rps / runs["hello"].rps
    print(f"warm/hello ratio {share:.1%}; service RSS {memory:.0f} MB after {served:,} requests")
    print(f"cold forecast in process: {cold_cpu_ms:.2f} ms CPU (median of {CPU_SAMPLES})")
    print(
        f"precompute of {measured['precomputed']} sites x {measured['members']} members: {precompute_ms:.3f} ms per site and member"
    )
    print(
        f"archive: {archived:,} forecasts in {archive_bytes / 1e6:.1f} MB, {archive_bytes / max(archived, 1):.0f} bytes each"
    )
    bad = sum(each.bad for each in [*runs.values(), *topped_up])
    print("targets")
    print(verdict(share >= TARGETS["warm_share"], f"warm {share:.1%} of hello-world req/s (>= 50 %)"))
    print(verdict(runs["warm"].p99_ms <= TARGETS["warm_p99_ms"], f"warm p99 {runs['warm'].p99_ms:.2f} ms (<= 25 ms)"))
    print(verdict(cold_cpu_ms <= TARGETS["cold_cpu_ms"], f"cold forecast {cold_cpu_ms:.2f} ms CPU (<= 6 ms)"))
    print(verdict(runs["cold"].rps >= TARGETS["cold_rps"], f"cold hindcasts {runs['cold'].rps:,.0f} req/s (>= 245)"))
    print(
        verdict(
            precompute_ms <= TARGETS["precompute_ms"],
            f"precompute {precompute_ms:.3f} ms per site and member (<= 1 ms)",
        )
    )
    print(verdict(memory <= TARGETS["rss_mb"], f"RSS {memory:.0f} MB after {served:,} requests (<= 600 MB)"))
    print(verdict(bad == 0, f"{bad} answers not 2xx (0)"))
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
