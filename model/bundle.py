"""Model bundles: the one artifact of a trained model, written atomically.

A bundle holds everything needed to serve and audit a model: the weights of every member,
the scaler, the model and training settings it was built with, the sites it serves (name,
position, area, data period) with their flood thresholds and forecast calibration, test metrics
per site and lead, the data fingerprint and where the data came from. Layout under the model directory::

    <version>/weights.pt      state_dicts of the ensemble members (torch, weights only)
    <version>/calibration.json  each site's residual quantiles (`model.uncertainty`), compact JSON
    <version>/bundle.json     everything else, readable JSON
    current -> <version>      symlink to the bundle the service loads

A bundle is built in a hidden temporary directory, fsynced, renamed to its version
directory, and only then is `current` switched by an atomic rename of a new symlink. A
crash at any point leaves the previous bundle untouched.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import pickle
import shutil
import tempfile
from pathlib import Path

import torch

from config.loader import as_json, section_from_json
from config.settings import ModelConfig, TrainingConfig
from domain.errors import ModelNotLoadedError, UnknownSiteError
from domain.flood import FloodThresholds
from domain.site import Site
from model.scaler import FeatureScaler
from model.uncertainty import SiteResiduals

LOGGER = logging.getLogger(__name__)

CURRENT_LINK = "current"
WEIGHTS_FILE = "weights.pt"
METADATA_FILE = "bundle.json"
CALIBRATION_FILE = "calibration.json"
BUNDLES_KEPT = 3
FORMAT_VERSION = 4


@dataclasses.dataclass(frozen=True)
class ModelBundle:
    """A trained model with what it needs to be served and audited.

    Attributes:
        version: Unique id: UTC training time and a data fingerprint prefix.
        model: Inputs and architecture it was built with.
        training: Periods and optimisation settings it was trained with.
        scaler: Fitted scaling statistics.
        state_dicts: Weights of each ensemble member.
        sites: Every site it serves, with the metadata `/info` shows.
        metrics: Test-period scores per site and lead, and their medians (JSON-ready).
        data_fingerprint: SHA-256 of the training data.
        data_source: The data settings it was trained on (JSON-ready), for audit.
        synthetic_data: True when trained on the generated demo dataset.
        flood_thresholds: site_id -> its return-period flows (from the training period).
        residuals: site_id -> its calibrated residuals, what forecast quantiles come from.
    """

    version: str
    model: ModelConfig
    training: TrainingConfig
    scaler: FeatureScaler
    state_dicts: list[dict[str, torch.Tensor]]
    sites: tuple[Site, ...]
    metrics: dict
    data_fingerprint: str
    data_source: dict
    synthetic_data: bool
    flood_thresholds: dict[str, FloodThresholds]
    residuals: dict[str, SiteResiduals]

    @property
    def horizon(self) -> int:
        """Lead days the model predicts."""
        return self.model.max_forecast_days

    def site(self, site_id: str) -> Site:
        """The metadata of a site this model serves: the one answer to "is this site served?".

        Raises:
            UnknownSiteError: The model does not serve the site.
        """
        for site in self.sites:
            if site.site_id == site_id:
                return site
        raise UnknownSiteError(f"unknown site {site_id}: model {self.version} does not forecast it (see /info)")

    def metadata(self) -> dict:
        """Everything but the weights, as written to bundle.json."""
        return {
            "format_version": FORMAT_VERSION,
            "version": self.version,
            "model": as_json(self.model),
            "training": as_json(self.training),
            "ensemble_size": len(self.state_dicts),
            "scaler": self.scaler.to_dict(),
            "sites": [site.as_json() for site in self.sites],
            "flood_thresholds": {site_id: value.as_json() for site_id, value in self.flood_thresholds.items()},
            "metrics": self.metrics,
            "data_fingerprint": self.data_fingerprint,
            "data_source": self.data_source,
            "synthetic_data": self.synthetic_data,
        }


def new_version(fingerprint: str) -> str:
    """A version id: the UTC time now, to the microsecond (two trainings on the same data may end in
    the same second), and the data fingerprint's first 8 characters."""
    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%fZ}-{fingerprint[:8]}"


def save_bundle(bundle: ModelBundle, model_dir: Path) -> Path:
    """Write a bundle and make it the current one, atomically.

    Args:
        bundle: The bundle to write.
        model_dir: Directory holding bundles and the `current` link (created if needed).

    Returns:
        The bundle's version directory.
    """
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{bundle.version}.", dir=model_dir))
    try:
        torch.save(bundle.state_dicts, staging / WEIGHTS_FILE)
        (staging / METADATA_FILE).write_text(json.dumps(bundle.metadata(), indent=1), encoding="utf-8")
        calibration = {site_id: value.as_json() for site_id, value in bundle.residuals.items()}
        (staging / CALIBRATION_FILE).write_text(json.dumps(calibration, separators=(",", ":")), encoding="utf-8")
        for name in (WEIGHTS_FILE, METADATA_FILE, CALIBRATION_FILE):
            _fsync(staging / name)
        staging.chmod(0o755)
        target = model_dir / bundle.version
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _point_current(model_dir, bundle.version)
    _prune(model_dir, keep=bundle.version)
    LOGGER.info("model bundle %s written to %s", bundle.version, target)
    return target


def has_bundle(model_dir: Path) -> bool:
    """Whether `model_dir` holds a current bundle of this format, or is such a bundle directory itself
    (a bundle of another format cannot be served: it has to be retrained)."""
    directory = model_dir if (model_dir / METADATA_FILE).exists() else model_dir / CURRENT_LINK
    try:
        meta = json.loads((directory / METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("format_version") == FORMAT_VERSION


def load_bundle(model_dir: Path) -> ModelBundle:
    """Load the current bundle of a model directory, or the bundle directory `model_dir` itself.

    Raises:
        ModelNotLoadedError: No bundle exists, it cannot be read, or it has another format (retrain).
    """
    if (model_dir / METADATA_FILE).exists():
        directory = model_dir
    elif (model_dir / CURRENT_LINK).exists():
        directory = (model_dir / CURRENT_LINK).resolve()
    else:
        raise ModelNotLoadedError(f"no model bundle at {model_dir / CURRENT_LINK}: run main_train.py first")
    try:
        meta = json.loads((directory / METADATA_FILE).read_text(encoding="utf-8"))
        if meta.get("format_version") != FORMAT_VERSION:
            raise ModelNotLoadedError(
                f"model bundle {directory} has format {meta.get('format_version')}, this version reads format "
                f"{FORMAT_VERSION}: retrain it with main_train.py"
            )
        return ModelBundle(
            version=meta["version"],
            model=section_from_json(ModelConfig, meta["model"]),
            training=section_from_json(TrainingConfig, meta["training"]),
            scaler=FeatureScaler.from_dict(meta["scaler"]),
            state_dicts=torch.load(directory / WEIGHTS_FILE, map_location="cpu", weights_only=True),
            sites=tuple(Site.from_json(site) for site in meta["sites"]),
            flood_thresholds={
                site_id: FloodThresholds.from_json(value) for site_id, value in meta["flood_thresholds"].items()
            },
            residuals={
                site_id: SiteResiduals.from_json(value)
                for site_id, value in json.loads((directory / CALIBRATION_FILE).read_text(encoding="utf-8")).items()
            },
            metrics=meta["metrics"],
            data_fingerprint=meta["data_fingerprint"],
            data_source=meta["data_source"],
            synthetic_data=bool(meta["synthetic_data"]),
        )
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        # ConfigError is a ValueError: a malformed setting in bundle.json lands here too.
        raise ModelNotLoadedError(f"model bundle {directory} cannot be loaded: {exc}") from exc


def _point_current(model_dir: Path, version: str) -> None:
    temporary = model_dir / f".{CURRENT_LINK}.{os.getpid()}"
    temporary.unlink(missing_ok=True)
    # A relative target keeps the link valid when the tree is copied (Docker COPY).
    temporary.symlink_to(version)
    temporary.replace(model_dir / CURRENT_LINK)


def _prune(model_dir: Path, keep: str) -> None:
    bundles = sorted(
        (
            path
            for path in model_dir.iterdir()
            if path.is_dir() and not path.is_symlink() and not path.name.startswith(".")
        ),
        key=lambda path: path.name,
    )
    for old in bundles[:-BUNDLES_KEPT]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
