"""Training from the configured data: read every site's record, train, track, register and gate.

One call of `train_from_config` is one MLflow run (the resolved config as parameters, the data
fingerprint, code commit and command as tags, training curves, test scores, the bundle as an
artifact). With the registry enabled the bundle becomes a new version and the `candidate`; the
gate (`model.gate`) then decides whether it becomes `live`. `main_train.py` is a command line
over it; `bench/skill.py` uses `read_records`, `TrainingProgress` and `track_scores` with the
benchmark's protocol.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from adapter.base import AbstractFlowReader, AbstractMeteoReader
from adapter.baselines import read_baselines
from adapter.factory import build_readers
from adapter.model_registry import ModelRegistry, RegistryVersion
from adapter.tracking import ExperimentTracker, TrackedRun, flatten
from config.loader import as_json
from config.settings import AppConfig, ModelConfig, TrainingConfig
from domain.errors import RegistryError
from domain.site import Site
from model.bundle import ModelBundle, save_bundle
from model.distributed import Ranks
from model.ensemble import Ensemble, train_ensemble
from model.evaluate import format_table, median_by_lead
from model.gate import GateResult, gate
from model.probabilistic import PROBABILISTIC_COLUMNS
from model.site_data import SiteSeries, build_site_series
from model.site_store import SiteStore
from model.train import SINGLE, EpochReport
from model.trainer import TrainingRun, train_bundle, training_days
from service.model_lifecycle import LIVE, ModelLifecycle

LOGGER = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class TrainingOutcome:
    """What `train_from_config` did.

    Attributes:
        run: The trained bundle, its ensemble and test scores.
        bundle_dir: Where the bundle was written.
        run_id: The MLflow run.
        version: The registry version (None with the registry disabled).
        gate: The gate's verdict (None with the registry disabled).
        promoted: Whether the bundle became live.
    """

    run: TrainingRun
    bundle_dir: Path
    run_id: str
    version: RegistryVersion | None = None
    gate: GateResult | None = None
    promoted: bool = False

    def report(self) -> dict:
        """JSON-ready summary (a retraining job's result)."""
        return {
            "bundle": self.run.bundle.version,
            "run_id": self.run_id,
            "registry_version": self.version.version if self.version else None,
            "promoted": self.promoted,
            "gate": self.gate.as_json() if self.gate else None,
        }


def read_records(
    flow_reader: AbstractFlowReader,
    meteo_reader: AbstractMeteoReader,
    sites: list[Site],
    model: ModelConfig,
    training: TrainingConfig,
    store: SiteStore | None = None,
) -> list[SiteSeries]:
    """Read every site's flow and meteorology over the days training needs, with a progress bar.

    With `store`, a site whose readers tell its data's revision is prepared once and memory-mapped
    from the store after; the others (live sources) are held in memory.

    Raises:
        DataSourceError: A reader failed.
    """
    start, end = training_days(model, training)

    def build(site: Site) -> SiteSeries:
        meteo = meteo_reader.read_history(site, start, end)
        flow = flow_reader.read_flow(site.site_id, start, end)
        return build_site_series(site, meteo, flow, model.meteo_features)

    records = []
    for site in tqdm(sites, desc="reading sites", unit="site", file=sys.stdout):
        revisions = (flow_reader.revision(site.site_id), meteo_reader.revision(site.site_id))
        if store is None or None in revisions:
            records.append(build(site))
        else:
            key = " ".join(revisions)
            records.append(store.series(site, key, model.meteo_features, (start, end), functools.partial(build, site)))
    return records


class TrainingProgress:
    """One progress bar per ensemble member; with a tracked run, its training curves too."""

    def __init__(self, training: TrainingConfig, run: TrackedRun | None = None) -> None:
        """Args:
        training: Members and epochs to expect.
        run: Where the curves go (per member: `member<k>.train_loss`, `member<k>.validation_nse`).
        """
        self._training = training
        self._run = run
        self._bar: tqdm | None = None
        self._member = -1

    def __call__(self, member: int, report: EpochReport) -> None:
        if member != self._member:
            self.close()
            self._member = member
            self._bar = tqdm(
                total=self._training.epochs,
                desc=f"member {member + 1}/{self._training.ensemble_size}",
                unit="epoch",
                file=sys.stdout,
            )
        postfix = {"loss": f"{report.train_loss:.4f}"}
        curves = {f"member{member + 1}.train_loss": report.train_loss}
        if report.validation_score is not None:
            postfix["validation NSE"] = f"{report.validation_score:.4f}"
            curves[f"member{member + 1}.validation_nse"] = report.validation_score
        self._bar.set_postfix(postfix, refresh=False)
        self._bar.update(1)
        if self._run is not None:
            self._run.log_metrics(curves, step=report.epoch)

    def close(self) -> None:
        """End the current bar (at the end of training, or when a member stopped early)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def track_scores(run: TrackedRun, scores: pd.DataFrame, prefix: str = "test") -> None:
    """Log the median NSE, KGE and probabilistic scores per lead day as metrics and the per-site table as an
    artifact."""
    medians = median_by_lead(scores)
    logged = [metric for metric in ("nse", "kge", *PROBABILISTIC_COLUMNS) if metric in medians]
    metrics = {f"{prefix}_{metric}_lead{lead}": row[metric] for lead, row in medians.iterrows() for metric in logged}
    run.log_metrics({key: value for key, value in metrics.items() if pd.notna(value)})
    run.log_text(scores.round(4).to_csv(index=False), f"scores/{prefix}_per_site.csv")


def run_tags() -> dict[str, str]:
    """The tags that make a run reproducible, but for the data fingerprint (known once the data are read)."""
    return {"code_commit": code_commit(), "command": " ".join(sys.argv)}


def code_commit() -> str:
    """The git commit of this code (or `STREAMFLOW_CODE_COMMIT` in an image without git), else "unknown"."""
    try:
        found = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True
        )
        return found.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return os.environ.get("STREAMFLOW_CODE_COMMIT", "unknown")


def train_from_config(
    config: AppConfig, today: Callable[[], dt.date] = dt.date.today, force: bool = False, ranks: Ranks = SINGLE
) -> TrainingOutcome:
    """Read the configured sites, train, score the test period, save and track the bundle; with the
    registry, register it as the candidate and promote it to live if it passes the gate (or `force`).

    Args:
        config: The configuration.
        today: The current day for the live readers (tests pin it).
        force: Promote even when the gate refuses (the version records that it was forced).
        ranks: Rank 0 of a torchrun job, whose other ranks run `train_as_worker` (default: one process).

    Raises:
        StreamflowError: A reader or the registry failed, or a site has too little data to train on.
    """
    flow_reader, meteo_reader = build_readers(config.data, config.upstream, today)
    sites = flow_reader.list_sites()
    print(f"training on {len(sites)} site(s): {', '.join(site.site_id for site in sites)}")
    store = SiteStore(config.paths.prepared_dir)
    records = read_records(flow_reader, meteo_reader, sites, config.model, config.training, store)
    lifecycle = _lifecycle(config)
    live = _live_bundle(lifecycle) if lifecycle else None
    with ExperimentTracker(config.tracking).run("main_train", flatten(as_json(config)), run_tags()) as tracked:
        progress = TrainingProgress(config.training, tracked)
        run = train_bundle(
            records, config.model, config.training, as_json(config.data), config.data.demo_dataset, progress, ranks
        )
        progress.close()
        tracked.set_tags({"data_fingerprint": run.bundle.data_fingerprint})
        track_scores(tracked, run.scores)
        bundle_dir = save_bundle(run.bundle, config.paths.model_dir)
        if lifecycle is None:
            return TrainingOutcome(run, bundle_dir, tracked.run_id)
        version = lifecycle.register_candidate(tracked, run.bundle, bundle_dir)
        readers = (flow_reader, meteo_reader)
        live_scores = None if live is None else _rescore(live, run, records, readers, store, config)
        result = gate(run.scores, live_scores, config.registry.persistence_margin, config.registry.live_tolerance)
        tracked.log_text(result.format(), "gate.txt")
        lifecycle.record_gate(version, result)
        promoted = result.passed or force
        if promoted:
            version = lifecycle.promote(version.version, "gate" if result.passed else "force")
        return TrainingOutcome(run, bundle_dir, tracked.run_id, version, result, promoted)


def train_as_worker(config: AppConfig, ranks: Ranks, today: Callable[[], dt.date] = dt.date.today) -> None:
    """A torchrun rank other than 0: read the same records and train on its shard beside rank 0, which
    alone scores, writes and registers the model.

    Raises:
        StreamflowError: A reader failed, or a site has too little data to train on.
    """
    flow_reader, meteo_reader = build_readers(config.data, config.upstream, today)
    store = SiteStore(config.paths.prepared_dir)
    records = read_records(flow_reader, meteo_reader, flow_reader.list_sites(), config.model, config.training, store)
    train_ensemble(records, config.model, config.training, ranks=ranks)


def model_exists(config: AppConfig) -> bool:
    """Whether a model is there to serve: a live version, or (registry disabled) a local bundle.

    Raises:
        RegistryError: The registry failed.
    """
    from model.bundle import has_bundle

    lifecycle = _lifecycle(config)
    if lifecycle is None:
        return has_bundle(config.paths.model_dir)
    return lifecycle.registry.by_alias(LIVE) is not None


def summary(outcome: TrainingOutcome, config: AppConfig) -> str:
    """What a training run prints at its end: members, the test table (with the data directory's
    baselines when it has them), the bundle, and the gate's table and verdict."""
    run = outcome.run
    baselines = read_baselines(config.data.data_dir) if config.data.flow_data == "local" else None
    lines = [
        f"trained {len(run.bundle.state_dicts)} member(s) in {run.train_seconds:.1f} s",
        "",
        f"test period {config.training.test_start} .. {config.training.test_end}",
        format_table(run.scores, baselines),
        f"model bundle {run.bundle.version} written to {outcome.bundle_dir}; MLflow run {outcome.run_id}",
    ]
    if outcome.version is not None:
        lines += [
            f"registered as version {outcome.version.version} of {config.registry.model_name} (candidate)",
            outcome.gate.format(),
            f"version {outcome.version.version} is live"
            + (" (forced past the gate)" if not outcome.gate.passed else "")
            if outcome.promoted
            else "live is unchanged",
        ]
    return "\n".join(lines)


def _lifecycle(config: AppConfig) -> ModelLifecycle | None:
    if not config.registry.enabled:
        return None
    return ModelLifecycle(ModelRegistry(config.tracking, config.registry.model_name), config.registry.bundle_cache)


def _live_bundle(lifecycle: ModelLifecycle) -> ModelBundle | None:
    """The live model to gate against; an unreachable registry stops training before it starts, an
    unusable live bundle is gated around (against persistence alone) with a warning."""
    version = lifecycle.registry.by_alias(LIVE)
    if version is None:
        return None
    try:
        return lifecycle.bundle(version)
    except RegistryError as exc:
        LOGGER.warning("%s; the candidate is gated against persistence alone", exc)
        return None


def _rescore(
    live: ModelBundle,
    run: TrainingRun,
    records: list[SiteSeries],
    readers: tuple[AbstractFlowReader, AbstractMeteoReader],
    store: SiteStore,
    config: AppConfig,
) -> pd.DataFrame:
    """The live model scored by the same code on the candidate's test period and the sites both serve."""
    served = {site.site_id for site in live.sites}
    common = [record for record in records if record.site.site_id in served]
    if live.model != config.model:  # other inputs or history: read its own records
        common = read_records(*readers, [record.site for record in common], live.model, config.training, store)
    training = run.bundle.training
    return Ensemble.from_bundle(live).score(common, training.test_start, training.test_end)
