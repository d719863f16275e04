"""Run the forecast web service.

Loads the configuration once, the model bundle once, wires readers and
services into the Tornado app, and serves until SIGTERM or SIGINT; then it
stops accepting connections, lets in-flight requests finish (bounded by
`server.shutdown_timeout_s`) and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import logging
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import tornado.web
from tornado.httpserver import HTTPServer
from tornado.ioloop import PeriodicCallback

from adapter.factory import build_readers
from adapter.forecast_archive import ForecastArchive
from adapter.model_registry import ModelRegistry
from config.loader import load_config
from config.settings import AppConfig, ConfigError, Secret
from domain.errors import ModelNotLoadedError
from model.bundle import load_bundle
from model.predictor import Predictor
from service.archive_service import ArchiveService
from service.doc_handlers import build_openapi_spec, doc_routes
from service.feedback_service import FeedbackService
from service.forecast_service import ForecastService
from service.handlers import (
    FeedbackHandler,
    ForecastHandler,
    ForecastsHandler,
    HealthHandler,
    InFlightRequests,
    InfoHandler,
    MetricsHandler,
    NotFoundHandler,
    ObservationsHandler,
    RetrainHandler,
    RetrainJobHandler,
    VerificationHandler,
    access_log,
)
from service.inference_batcher import InferenceBatcher
from service.info_service import InfoService
from service.input_pages import InputPages
from service.logs import configure_logging
from service.metrics import ServiceMetrics
from service.model_follower import ModelFollower
from service.observation_service import ObservationService
from service.page_handlers import page_routes
from service.recent_answers import RecentAnswers
from service.retrain_service import RetrainService
from service.served_model import LoadedModel, ServedModel
from service.verification_service import VerificationService

LOGGER = logging.getLogger(__name__)
API_VERSION = "1.0.0"
# At shutdown, pending archive writes get this long.
ARCHIVE_FLUSH_S = 5.0


@dataclasses.dataclass(frozen=True)
class Services:
    """What the handlers serve: the model and the two services built on it."""

    model: ServedModel
    forecast: ForecastService
    info: InfoService
    # Largest `forecast_days` the OpenAPI document shows: the model's at start, else the configured one.
    documented_horizon: int
    metrics: ServiceMetrics
    archive: ArchiveService
    page_size: int
    verification: VerificationService
    feedback: FeedbackService
    observations: ObservationService
    # Keeps the model on the registry alias (None with the registry disabled).
    follower: ModelFollower | None = None
    # Retraining over the API (None without an operator token).
    retrain: RetrainService | None = None
    operator_token: Secret = Secret()


def make_app(
    services: Services, executor: ThreadPoolExecutor, in_flight: InFlightRequests | None = None
) -> tornado.web.Application:
    """Build the Tornado application.

    Args:
        services: The served model and its services.
        executor: Threads for blocking reads and inference.
        in_flight: Request counter used by graceful shutdown.
    """
    api = [
        tornado.web.url(r"/healthCheck", HealthHandler, {"model": services.model}),
        tornado.web.url(r"/info", InfoHandler, {"info_service": services.info}),
        tornado.web.url(
            r"/forecast",
            ForecastHandler,
            {"forecast_service": services.forecast, "model": services.model, "computing": {}},
        ),
    ]
    api += [
        tornado.web.url(
            r"/forecasts", ForecastsHandler, {"archive": services.archive, "page_size": services.page_size}
        ),
        tornado.web.url(r"/verification", VerificationHandler, {"verification_service": services.verification}),
        tornado.web.url(r"/observations", ObservationsHandler, {"observation_service": services.observations}),
        tornado.web.url(
            r"/feedback",
            FeedbackHandler,
            {"feedback_service": services.feedback, "token": services.operator_token, "page_size": services.page_size},
        ),
    ]
    if services.retrain is not None:  # the operator endpoints exist only with a token
        operator = {"retrain_service": services.retrain, "token": services.operator_token}
        api += [
            tornado.web.url(r"/retrain", RetrainHandler, operator),
            tornado.web.url(r"/retrain/([^/]+)", RetrainJobHandler, operator),
        ]
    spec = build_openapi_spec(
        api, services.documented_horizon, services.forecast.quantile_levels, services.page_size, API_VERSION
    )
    monitoring = [
        tornado.web.url(
            r"/metrics",
            MetricsHandler,
            {"metrics": services.metrics, "model": services.model, "archive": services.archive},
        )
    ]
    return tornado.web.Application(
        api + doc_routes(spec) + monitoring + page_routes(),
        default_handler_class=NotFoundHandler,
        executor=executor,
        in_flight=in_flight or InFlightRequests(),
        log_function=access_log,
        metrics=services.metrics,
    )


def build_services(
    config: AppConfig, today: Callable[[], dt.date] = dt.date.today, config_file: Path | None = None
) -> Services:
    """Build readers and services, and load the model: the version the registry alias names (or the
    local copy of the last one served), or with the registry disabled the bundle in `paths.model_dir`.

    Args:
        config: The configuration.
        today: The current day for the live readers (tests pin it).
        config_file: The file `config` came from; with `server.operator_token` set, `POST /retrain`
            trains with it.
    """
    metrics = ServiceMetrics()
    flow_reader, meteo_reader = build_readers(config.data, config.upstream, today, metrics)
    model = ServedModel()
    archive_db = ForecastArchive(config.archive.database_url.reveal(), config.archive.sqlite_path)
    archive = ArchiveService(archive_db, config.archive.memory_entries, metrics)
    pages = InputPages(
        flow_reader,
        meteo_reader,
        config.server.input_block_days,
        config.server.input_refresh_s,
        config.server.input_blocks_kept,
    )
    recent = RecentAnswers(config.server.repeat_answer_s, config.archive.memory_entries)
    batcher = InferenceBatcher(config.server.inference_batch, config.server.torch_threads)
    forecast = ForecastService(
        flow_reader, meteo_reader, model, pages, batcher, metrics, archive, recent, config.server.quantiles
    )
    verification = VerificationService(flow_reader, archive, model, config.verification, metrics)
    feedback = FeedbackService(archive, config.verification.feedback_per_minute)
    follower = None
    if config.registry.enabled:
        registry = ModelRegistry(config.tracking, config.registry.model_name)
        follower = ModelFollower(
            registry,
            config.registry.serve_alias,
            config.registry.bundle_cache,
            model,
            forecast.smoke_test,
            config.registry.poll_s,
        )
        follower.start()
    else:
        try:
            model.serve(LoadedModel.of(Predictor(load_bundle(config.paths.model_dir))))
        except ModelNotLoadedError as exc:
            LOGGER.error("%s; /forecast answers 503 until a model is trained and the service restarted", exc)
    try:
        horizon = model.predictor.horizon
    except ModelNotLoadedError:
        horizon = config.model.max_forecast_days
    retrain = None
    if config.server.operator_token and config_file is not None:
        command = [sys.executable, str(Path(__file__).resolve().parent / "main_train.py"), "--config", str(config_file)]
        retrain = RetrainService(config.paths.jobs_dir, command)
    return Services(
        model,
        forecast,
        InfoService(model, verification),
        horizon,
        metrics,
        archive,
        config.archive.page_size,
        verification,
        feedback,
        ObservationService(flow_reader, model),
        follower,
        retrain,
        config.server.operator_token,
    )


def follow_registry(
    follower: ModelFollower, poll_s: float, checker: ThreadPoolExecutor, loop: asyncio.AbstractEventLoop
) -> PeriodicCallback | None:
    """Check the alias every `poll_s` seconds and on SIGHUP, on `checker`'s thread (a download must
    not hold a request's worker)."""

    def check() -> asyncio.Future:
        return loop.run_in_executor(checker, follower.check)

    loop.add_signal_handler(signal.SIGHUP, lambda: loop.run_in_executor(checker, follower.check, True))
    if poll_s <= 0:
        return None
    periodic = PeriodicCallback(check, poll_s * 1000)
    periodic.start()
    return periodic


async def serve(config: AppConfig, config_file: Path) -> None:
    """Serve until SIGTERM/SIGINT, then shut down gracefully."""
    services = build_services(config, config_file=config_file)
    in_flight = InFlightRequests()
    checker = ThreadPoolExecutor(1, thread_name_prefix="follower")
    with ThreadPoolExecutor(config.server.worker_threads, thread_name_prefix="worker") as executor:
        app = make_app(services, executor, in_flight)
        server = HTTPServer(app, xheaders=True)
        server.listen(config.server.port, config.server.host)
        LOGGER.info("listening on http://%s:%d (docs at /doc)", config.server.host, config.server.port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        follower = services.follower
        periodic = follow_registry(follower, config.registry.poll_s, checker, loop) if follower else None
        # Each model swapped in is forecast for every site at once; so is new data, as it is verified.
        services.model.on_serve(lambda _loaded: checker.submit(services.forecast.precompute))
        checker.submit(services.forecast.precompute)
        verifying = None
        if config.verification.interval_s > 0:
            verifying = PeriodicCallback(
                lambda: loop.run_in_executor(checker, keep_up, services), config.verification.interval_s * 1000
            )
            verifying.start()
            loop.run_in_executor(checker, services.verification.verify_all)
        await stop.wait()
        for callback in (periodic, verifying):
            if callback is not None:
                callback.stop()
        checker.shutdown(wait=False, cancel_futures=True)
        LOGGER.info("shutting down: %d request(s) in flight", in_flight.count)
        server.stop()
        try:
            await asyncio.wait_for(in_flight.wait_idle(), config.server.shutdown_timeout_s)
        except TimeoutError:
            LOGGER.warning(
                "%d request(s) still running after %.0f s; closing", in_flight.count, config.server.shutdown_timeout_s
            )
        await server.close_all_connections()
    if not services.archive.flush(ARCHIVE_FLUSH_S):
        LOGGER.warning("%d forecast(s) not archived at shutdown", services.archive.pending())
    LOGGER.info("stopped")


def keep_up(services: Services) -> None:
    """Forecast what new data allow, then score the archive against them."""
    services.forecast.precompute()
    services.verification.verify_all()


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path(__file__).parent / "config.yaml", help="config file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        config = load_config(args.config, os.environ)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.server.log_level, config.server.log_format == "json")
    asyncio.run(serve(config, args.config.resolve()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
