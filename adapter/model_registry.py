"""The model registry (MLflow's): every trained bundle is a version of one registered model.

This module is the only one that speaks to the registry; the rest of the code knows versions,
aliases and bundle directories. A version's artifact is a bundle directory (`bundle.json`,
`weights.pt`), and its tag `bundle` names the bundle's own version id. Aliases point at versions
(`live`, `candidate`); promotions and rollbacks move them, never files. The registered model's
tag `live_history` lists the versions that were live, oldest first, so a rollback knows where to
go back to.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from adapter.tracking import mlflow_client, mlflow_errors, tracking_uri
from config.settings import TrackingConfig
from domain.errors import RegistryError

LOGGER = logging.getLogger(__name__)

BUNDLE_TAG = "bundle"
HISTORY_TAG = "live_history"


@dataclasses.dataclass(frozen=True)
class RegistryVersion:
    """One registered version.

    Attributes:
        version: The registry's version number, as text ("1", "2", ...).
        bundle_version: The bundle's own version id (its directory name).
        aliases: Aliases pointing at it.
        tags: Its tags (gate result, how it was promoted, ...).
        created: When it was registered (UTC).
        source: URI of its bundle directory.
    """

    version: str
    bundle_version: str
    aliases: tuple[str, ...]
    tags: dict[str, str]
    created: dt.datetime
    source: str


class ModelRegistry:
    """Versions and aliases of one registered model."""

    def __init__(self, tracking: TrackingConfig, model_name: str) -> None:
        """Args:
        tracking: Where the store is (the registry shares it).
        model_name: The registered model.
        """
        self._tracking = tracking
        self.model_name = model_name
        self._client: Any = None

    def register(self, bundle_uri: str, run_id: str, bundle_version: str, tags: dict[str, str]) -> RegistryVersion:
        """Register a bundle directory logged by run `run_id` as a new version.

        Raises:
            RegistryError: The registry failed.
        """
        with self._errors(f"registering bundle {bundle_version}"):
            client = self._connected()
            if not client.search_registered_models(f"name = '{self.model_name}'"):
                client.create_registered_model(self.model_name)
            created = client.create_model_version(
                self.model_name, bundle_uri, run_id=run_id, tags={BUNDLE_TAG: bundle_version, **tags}
            )
        return self.get(created.version)

    def get(self, version: str) -> RegistryVersion:
        """One version.

        Raises:
            RegistryError: No such version, or the registry failed.
        """
        with self._errors(f"reading version {version}"):
            return _version(self._connected().get_model_version(self.model_name, version))

    def by_alias(self, alias: str) -> RegistryVersion | None:
        """The version `alias` points at, or None when the alias (or the model) does not exist.

        Raises:
            RegistryError: The registry failed.
        """
        from mlflow.exceptions import MlflowException

        with self._errors(f"resolving alias {alias}"):
            try:
                found = self._connected().get_model_version_by_alias(self.model_name, alias)
            except MlflowException as exc:
                if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                    return None
                raise
        return _version(found)

    def versions(self) -> list[RegistryVersion]:
        """Every version, newest first.

        Raises:
            RegistryError: The registry failed.
        """
        with self._errors("listing versions"):
            client = self._connected()
            found = client.search_model_versions(f"name = '{self.model_name}'")
            # A search leaves the aliases out; the registered model has them all.
            aliases = client.get_registered_model(self.model_name).aliases if found else {}
        versions = [
            dataclasses.replace(
                _version(entry), aliases=tuple(sorted(a for a, v in aliases.items() if v == entry.version))
            )
            for entry in found
        ]
        return sorted(versions, key=lambda entry: -int(entry.version))

    def set_alias(self, alias: str, version: str) -> None:
        """Point `alias` at `version`.

        Raises:
            RegistryError: The registry failed.
        """
        with self._errors(f"pointing {alias} at version {version}"):
            self._connected().set_registered_model_alias(self.model_name, alias, version)

    def set_tags(self, version: str, tags: dict[str, str]) -> None:
        """Set tags on a version.

        Raises:
            RegistryError: The registry failed.
        """
        with self._errors(f"tagging version {version}"):
            for key, value in tags.items():
                self._connected().set_model_version_tag(self.model_name, version, key, value)

    def live_history(self) -> list[str]:
        """The versions that were live, oldest first.

        Raises:
            RegistryError: The registry failed.
        """
        with self._errors("reading the live history"):
            tags = self._connected().get_registered_model(self.model_name).tags
        return json.loads(tags.get(HISTORY_TAG, "[]"))

    def set_live_history(self, history: list[str]) -> None:
        """Replace the list of versions that were live.

        Raises:
            RegistryError: The registry failed.
        """
        with self._errors("writing the live history"):
            self._connected().set_registered_model_tag(self.model_name, HISTORY_TAG, json.dumps(history))

    def fetch(self, version: RegistryVersion, cache_dir: Path) -> Path:
        """A local copy of the version's bundle directory: `cache_dir/<bundle version>`, downloaded once.

        The download goes to a hidden directory renamed into place, so a crash never leaves half a
        bundle where the next start would look.

        Raises:
            RegistryError: The download failed.
        """
        target = cache_dir / version.bundle_version
        if target.is_dir():
            return target
        from mlflow.artifacts import download_artifacts

        cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{version.bundle_version}.", dir=cache_dir))
        try:
            with self._errors(f"downloading version {version.version}"):
                self._connected()
                uri = tracking_uri(self._tracking)
                downloaded = Path(
                    download_artifacts(artifact_uri=version.source, dst_path=str(staging), tracking_uri=uri)
                )
                downloaded.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def _connected(self) -> Any:
        if self._client is None:
            self._client = mlflow_client(self._tracking)
        return self._client

    def _errors(self, what: str):
        return mlflow_errors(f"{what} of model {self.model_name}", self._tracking)


def _version(entry: Any) -> RegistryVersion:
    tags = dict(entry.tags or {})
    if BUNDLE_TAG not in tags:
        raise RegistryError(f"registry version {entry.version} has no '{BUNDLE_TAG}' tag: not a bundle of this service")
    return RegistryVersion(
        version=str(entry.version),
        bundle_version=tags[BUNDLE_TAG],
        aliases=tuple(entry.aliases or ()),
        tags=tags,
        created=dt.datetime.fromtimestamp(entry.creation_timestamp / 1000, dt.UTC),
        source=entry.source,
    )
