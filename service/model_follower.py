"""Hot swap: the service follows a registry alias (`live`, or `candidate` in staging).

Each check resolves the alias; a version other than the served one is downloaded (once, into
`registry.bundle_cache`), loaded, and must pass a smoke forecast before it is served by one
atomic swap. A version that fails to load or to forecast is refused: the old model keeps
serving and the failure is logged once. A smoke forecast that fails for want of data (an
upstream down) refuses nothing; the next check tries again. The served version is recorded in
the cache (`served.json`), so a start with the registry unreachable serves that local copy; while
it stays unreachable, checks back off (logged once per outage). Checks run off the event loop
(the caller's executor) and never overlap.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from adapter.model_registry import ModelRegistry, RegistryVersion
from domain.errors import DataSourceError, InsufficientDataError, ModelNotLoadedError, RegistryError
from model.bundle import load_bundle
from model.predictor import Predictor
from service.served_model import LoadedModel, Refusal, ServedModel
from utils.files import write_atomic

LOGGER = logging.getLogger(__name__)

SERVED_FILE = "served.json"
# While the registry is unreachable, polls back off from poll_s, doubling up to this; SIGHUP checks at once.
MAX_BACKOFF_S = 300.0
# A smoke forecast that fails with these is a data problem, not the model's: try again later.
DATA_PROBLEMS = (DataSourceError, InsufficientDataError)


class ModelFollower:
    """Keeps `served` on the version the alias names."""

    def __init__(
        self,
        registry: ModelRegistry,
        alias: str,
        bundle_cache: Path,
        served: ServedModel,
        smoke_test: Callable[[LoadedModel], object],
        poll_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Args:
        registry: The registered model.
        alias: The alias to follow.
        bundle_cache: Local copies of bundles, and the record of the one served.
        served: The model holder the service answers from.
        smoke_test: Raises when a loaded model cannot forecast (`ForecastService.smoke_test`).
        poll_s: The polling interval, where backing off starts.
        clock: Seconds, monotonic (tests pin it).
        """
        self._registry = registry
        self._alias = alias
        self._cache = bundle_cache
        self._served = served
        self._smoke_test = smoke_test
        self._busy = threading.Lock()
        self._reported: str | None = None
        self._poll_s = poll_s
        self._clock = clock
        self._backoff_s = 0.0
        self._next_check = 0.0

    def start(self) -> None:
        """First check at start-up; with the registry unreachable, serve the local copy if there is one."""
        self.check(now=True)
        if self._served.registry_problem and self._serving() is None:
            self._serve_local_copy()

    def check(self, now: bool = False) -> None:
        """Look at the alias once and serve a new version if it loads and forecasts (never raises).

        Args:
            now: Check even while backing off from an unreachable registry (SIGHUP, start-up).
        """
        if not now and self._clock() < self._next_check:
            return
        if not self._busy.acquire(blocking=False):
            return  # a check is under way
        try:
            self._check()
        finally:
            self._busy.release()

    def _check(self) -> None:
        try:
            version = self._registry.by_alias(self._alias)
        except RegistryError as exc:
            self._trouble(f"registry unreachable: {exc}")
            self._backoff_s = min(max(2 * self._backoff_s, self._poll_s), MAX_BACKOFF_S)
            self._next_check = self._clock() + self._backoff_s
            return
        self._backoff_s, self._next_check = 0.0, 0.0
        if version is None:
            self._trouble(f"no version of {self._registry.model_name} has the alias {self._alias} yet")
            return
        self._served.registry_problem = None
        self._reported = None
        refused = self._served.refused
        if version.version == self._serving() or (refused and refused.registry_version == version.version):
            return
        self._try(version)

    def _try(self, version: RegistryVersion) -> None:
        try:
            directory = self._registry.fetch(version, self._cache)
        except RegistryError as exc:
            self._trouble(f"cannot download version {version.version}: {exc}")
            return
        try:
            loaded = LoadedModel.of(Predictor(load_bundle(directory)), version.version)
            self._smoke_test(loaded)
        except DATA_PROBLEMS as exc:
            self._trouble(f"version {version.version} not yet served: its smoke forecast lacks data: {exc}")
            return
        except Exception as exc:  # whatever a new model fails with refuses it; the old one keeps serving
            LOGGER.error("refused version %s (bundle %s): %s", version.version, version.bundle_version, exc)
            self._served.refuse(Refusal(version.version, f"{type(exc).__name__}: {exc}"))
            return
        self._served.serve(loaded)
        try:
            record = {"registry_version": version.version, "bundle": directory.name}
            write_atomic(self._cache / SERVED_FILE, json.dumps(record))
        except OSError as exc:
            LOGGER.warning(
                "cannot record the served version in %s (%s): a start without the registry finds none", self._cache, exc
            )
        LOGGER.info("serving version %s (bundle %s, alias %s)", version.version, version.bundle_version, self._alias)

    def _serve_local_copy(self) -> None:
        try:
            record = json.loads((self._cache / SERVED_FILE).read_text(encoding="utf-8"))
            loaded = LoadedModel.of(Predictor(load_bundle(self._cache / record["bundle"])), record["registry_version"])
        except (OSError, ValueError, KeyError, ModelNotLoadedError) as exc:
            LOGGER.error("no usable local copy of a served model in %s: %s", self._cache, exc)
            return
        self._served.serve(loaded)
        LOGGER.warning(
            "registry unreachable at start: serving the local copy of version %s (bundle %s)",
            loaded.registry_version,
            loaded.predictor.version,
        )

    def _serving(self) -> str | None:
        try:
            return self._served.current.registry_version
        except ModelNotLoadedError:
            return None

    def _trouble(self, problem: str) -> None:
        self._served.registry_problem = problem
        if problem != self._reported:  # once per outage, not once per poll
            LOGGER.warning("%s; still serving %s", problem, self._serving() or "nothing")
            self._reported = problem
