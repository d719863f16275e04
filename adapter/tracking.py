"""Experiment tracking on MLflow: one run per training or benchmark, with its parameters, curves,
metrics and artifacts.

With `tracking.uri` empty the store is local and needs no server: SQLite at
`<local_dir>/mlflow.db`, artifacts under `<local_dir>/artifacts`
(`mlflow ui --backend-store-uri sqlite:///<local_dir>/mlflow.db` shows the runs). Every MLflow
failure leaves this module as a `RegistryError` naming the store.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from config.settings import TrackingConfig
from domain.errors import RegistryError

LOGGER = logging.getLogger(__name__)

# MLflow retries an unreachable server for minutes by default; a service poll must not hang that long.
HTTP_RETRIES = "2"
HTTP_TIMEOUT_S = "15"


def tracking_uri(tracking: TrackingConfig) -> str:
    """The MLflow URI of the configured store (the local SQLite file when `tracking.uri` is empty)."""
    return tracking.uri or f"sqlite:///{tracking.local_dir / 'mlflow.db'}"


def mlflow_client(tracking: TrackingConfig) -> Any:
    """An `mlflow.MlflowClient` on the configured store (tracking and registry alike).

    Raises:
        RegistryError: The local store's directory cannot be created.
    """
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", HTTP_RETRIES)
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", HTTP_TIMEOUT_S)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from mlflow import MlflowClient  # a second of import time, paid only where MLflow is used

    if not tracking.uri:
        try:
            tracking.local_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RegistryError(f"cannot create the local MLflow store {tracking.local_dir}: {exc}") from exc
    uri = tracking_uri(tracking)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@contextlib.contextmanager
def mlflow_errors(what: str, tracking: TrackingConfig) -> Iterator[None]:
    """Translate any MLflow or store failure inside the block into a `RegistryError` naming `what`."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except (MlflowException, OSError) as exc:
        raise RegistryError(f"MLflow at {tracking_uri(tracking)}: {what} failed: {_first_line(exc)}") from exc


@dataclasses.dataclass
class TrackedRun:
    """An open MLflow run: log to it while training."""

    client: Any
    tracking: TrackingConfig
    run_id: str
    artifact_uri: str

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log several metrics at once (`step`: the epoch of a training curve)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(key, float(value), now, step or 0) for key, value in metrics.items()]
        with mlflow_errors(f"logging metrics to run {self.run_id}", self.tracking):
            self.client.log_batch(self.run_id, metrics=batch)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Tag the run (e.g. with what is known only after training)."""
        with mlflow_errors(f"tagging run {self.run_id}", self.tracking):
            for key, value in tags.items():
                self.client.set_tag(self.run_id, key, value)

    def log_artifacts(self, local_dir: Path, artifact_path: str) -> str:
        """Copy a directory into the run's artifacts; returns the artifact's URI."""
        with mlflow_errors(f"storing {artifact_path} in run {self.run_id}", self.tracking):
            self.client.log_artifacts(self.run_id, str(local_dir), artifact_path)
        return f"{self.artifact_uri}/{artifact_path}"

    def log_text(self, text: str, artifact_file: str) -> None:
        """Store a text file in the run's artifacts."""
        with mlflow_errors(f"storing {artifact_file} in run {self.run_id}", self.tracking):
            self.client.log_text(self.run_id, text, artifact_file)


class ExperimentTracker:
    """Opens runs in the configured experiment."""

    def __init__(self, tracking: TrackingConfig) -> None:
        """Args:
        tracking: Where the store is and which experiment to log to.
        """
        self._tracking = tracking

    @contextlib.contextmanager
    def run(self, name: str, params: Mapping[str, Any], tags: Mapping[str, str]) -> Iterator[TrackedRun]:
        """An MLflow run for the block: FINISHED when it ends, FAILED when it raises.

        Args:
            name: The run's name.
            params: Parameters (e.g. the flattened resolved config); values are stored as text.
            tags: Tags (data fingerprint, code commit, command).

        Raises:
            RegistryError: The store cannot be reached or written.
        """
        from mlflow.entities import Param, RunStatus

        client = mlflow_client(self._tracking)
        with mlflow_errors("opening a run", self._tracking):
            run = client.create_run(self._experiment_id(client), tags=dict(tags), run_name=name)
            items = [Param(key, str(value)[:6000]) for key, value in params.items()]
            for start in range(0, len(items), 100):  # MLflow takes at most 100 parameters per call
                client.log_batch(run.info.run_id, params=items[start : start + 100])
        tracked = TrackedRun(client, self._tracking, run.info.run_id, run.info.artifact_uri)
        status = RunStatus.to_string(RunStatus.FAILED)
        try:
            yield tracked
            status = RunStatus.to_string(RunStatus.FINISHED)
        finally:
            with mlflow_errors(f"closing run {run.info.run_id}", self._tracking):
                client.set_terminated(run.info.run_id, status)

    def _experiment_id(self, client: Any) -> str:
        from mlflow.exceptions import MlflowException

        experiment = client.get_experiment_by_name(self._tracking.experiment)
        if experiment is not None:
            return experiment.experiment_id
        try:
            return client.create_experiment(self._tracking.experiment, artifact_location=self._artifact_location())
        except MlflowException:  # another process created it first
            experiment = client.get_experiment_by_name(self._tracking.experiment)
            if experiment is None:
                raise
            return experiment.experiment_id

    def _artifact_location(self) -> str | None:
        """Beside the database for a SQLite store (MLflow's default is ./mlruns, wherever the process
        runs); a server or another database decides for itself."""
        uri = tracking_uri(self._tracking)
        if not uri.startswith("sqlite:///"):
            return None
        return (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").resolve().as_uri()


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested JSON-ready config -> {"section.key": value} parameters."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
