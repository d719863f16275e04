"""A model's life in the registry: registered as the candidate, gated, promoted to live, rolled back.

Promotion and rollback move the `live` alias and record it; they never touch files. Each
version carries its gate verdict (`gate`: passed / refused, `gate_table`: the printed table) and,
once live, how it got there (`promoted`: gate / force / operator / rollback, `promoted_at`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from pathlib import Path

from adapter.model_registry import ModelRegistry, RegistryVersion
from adapter.tracking import TrackedRun
from domain.errors import ModelNotLoadedError, RegistryError
from model.bundle import ModelBundle, load_bundle
from model.gate import GateResult

LOGGER = logging.getLogger(__name__)

LIVE = "live"
CANDIDATE = "candidate"


@dataclasses.dataclass(frozen=True)
class VersionSummary:
    """One line of `model_admin list`."""

    version: RegistryVersion
    test_nse: dict[str, float]
    gate: str
    promoted: str | None

    def format(self) -> str:
        """The version, its bundle, aliases, test median NSE at the first and last lead, gate and promotion."""
        leads = sorted(self.test_nse, key=int)
        skill = " / ".join(f"{self.test_nse[lead]:.3f}" for lead in (leads[0], leads[-1])) if leads else "-"
        aliases = ",".join(self.version.aliases) or "-"
        return (
            f"{self.version.version:>4}  {self.version.bundle_version}  {self.version.created:%Y-%m-%d %H:%M}  "
            f"aliases {aliases:<15}  test NSE lead 1 / {leads[-1] if leads else '-'}: {skill}  gate {self.gate}"
            + (f"  promoted by {self.promoted}" if self.promoted else "")
        )


class ModelLifecycle:
    """Registers, gates, promotes and rolls back versions of the registered model."""

    def __init__(self, registry: ModelRegistry, bundle_cache: Path) -> None:
        """Args:
        registry: The registered model.
        bundle_cache: Where local copies of bundles are kept (to re-score the live model).
        """
        self.registry = registry
        self._bundle_cache = bundle_cache

    def live(self) -> tuple[RegistryVersion, ModelBundle] | None:
        """The live version and its bundle, or None before the first promotion.

        Raises:
            RegistryError: The registry failed, or the live bundle cannot be loaded.
        """
        version = self.registry.by_alias(LIVE)
        if version is None:
            return None
        return version, self.bundle(version)

    def bundle(self, version: RegistryVersion) -> ModelBundle:
        """The bundle of a version, from the local copy (downloaded when missing).

        Raises:
            RegistryError: The download failed, or the bundle cannot be loaded.
        """
        directory = self.registry.fetch(version, self._bundle_cache)
        try:
            return load_bundle(directory)
        except ModelNotLoadedError as exc:
            raise RegistryError(f"version {version.version} holds no usable bundle: {exc}") from exc

    def register_candidate(self, run: TrackedRun, bundle: ModelBundle, bundle_dir: Path) -> RegistryVersion:
        """Store the bundle in the run, register it as a new version and point `candidate` at it.

        Raises:
            RegistryError: The registry failed.
        """
        uri = run.log_artifacts(bundle_dir, "bundle")
        medians = {lead: round(row["nse"], 4) for lead, row in bundle.metrics["median_by_lead"].items()}
        tags = {"data_fingerprint": bundle.data_fingerprint, "test_median_nse": json.dumps(medians)}
        version = self.registry.register(uri, run.run_id, bundle.version, tags)
        self.registry.set_alias(CANDIDATE, version.version)
        LOGGER.info("registered bundle %s as version %s (%s)", bundle.version, version.version, CANDIDATE)
        return version

    def record_gate(self, version: RegistryVersion, result: GateResult) -> None:
        """Store the gate's verdict and table on the version.

        Raises:
            RegistryError: The registry failed.
        """
        self.registry.set_tags(
            version.version, {"gate": "passed" if result.passed else "refused", "gate_table": result.format()}
        )

    def promote(self, version: str, how: str) -> RegistryVersion:
        """Point `live` at `version`, recording how (gate, force, operator) and when.

        Raises:
            RegistryError: The registry failed or has no such version.
        """
        target = self.registry.get(version)
        self.registry.set_alias(LIVE, target.version)
        history = [entry for entry in self.registry.live_history() if entry != target.version]
        self.registry.set_live_history([*history, target.version])
        self.registry.set_tags(target.version, {"promoted": how, "promoted_at": _now()})
        LOGGER.info("version %s (bundle %s) is live (%s)", target.version, target.bundle_version, how)
        return self.registry.get(target.version)

    def rollback(self) -> RegistryVersion:
        """Point `live` back at the version that was live before the current one.

        Raises:
            RegistryError: There is no earlier live version, or the registry failed.
        """
        history = self.registry.live_history()
        if len(history) < 2:
            raise RegistryError("no earlier live version to roll back to")
        previous = history[-2]
        self.registry.set_alias(LIVE, previous)
        self.registry.set_live_history(history[:-1])
        self.registry.set_tags(previous, {"promoted": "rollback", "promoted_at": _now()})
        LOGGER.info("rolled back: version %s is live again (was %s)", previous, history[-1])
        return self.registry.get(previous)

    def summaries(self) -> list[VersionSummary]:
        """Every version with its test skill, gate verdict and promotion, newest first.

        Raises:
            RegistryError: The registry failed.
        """
        return [
            VersionSummary(
                version,
                json.loads(version.tags.get("test_median_nse", "{}")),
                version.tags.get("gate", "-"),
                version.tags.get("promoted"),
            )
            for version in self.registry.versions()
        ]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
