"""Model bundles: everything needed to serve a trained model, written atomically.

Layout under the model directory::

    <version>/weights.pt      state_dicts of the ensemble members (torch, weights only)
    <version>/bundle.json     architecture, features, seq_len, horizon, scaler, config,
                              data fingerprint, training metrics, provenance
    current -> <version>      symlink to the bundle the service loads

A bundle is built in a hidden temporary directory, fsynced, renamed to its
version directory, and only then is `current` switched by an atomic rename of
a new symlink. A crash at any point leaves the previous bundle untouched.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pickle
import shutil
import tempfile
from pathlib import Path

import torch

from domain.errors import ModelNotLoadedError
from model.scaler import FeatureScaler

LOGGER = logging.getLogger(__name__)

CURRENT_LINK = "current"
WEIGHTS_FILE = "weights.pt"
METADATA_FILE = "bundle.json"
BUNDLES_KEPT = 3
FORMAT_VERSION = 1


@dataclasses.dataclass
class ModelBundle:
    """A trained model with what it needs to be served and audited.

    Attributes:
        version: Unique id: UTC training time and a data fingerprint prefix.
        architecture: Keyword arguments of `StreamflowLSTM`.
        seq_len: Past days a forecast sees.
        horizon: Lead days the model predicts.
        scaler: Fitted scaling statistics (includes the meteo feature list).
        state_dicts: Weights of each ensemble member.
        config: The configuration used for training (JSON-ready).
        data_fingerprint: SHA-256 of the training data.
        metrics: Test-period scores (JSON-ready).
        synthetic_data: True when trained on the generated demo dataset.
    """

    version: str
    architecture: dict
    seq_len: int
    horizon: int
    scaler: FeatureScaler
    state_dicts: list[dict[str, torch.Tensor]]
    config: dict
    data_fingerprint: str
    metrics: dict
    synthetic_data: bool

    def metadata(self) -> dict:
        """Everything but the weights, as written to bundle.json."""
        return {
            "format_version": FORMAT_VERSION,
            "version": self.version,
            "architecture": self.architecture,
            "seq_len": self.seq_len,
            "horizon": self.horizon,
            "ensemble_size": len(self.state_dicts),
            "scaler": self.scaler.to_dict(),
            "config": self.config,
            "data_fingerprint": self.data_fingerprint,
            "metrics": self.metrics,
            "synthetic_data": self.synthetic_data,
        }


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
        for name in (WEIGHTS_FILE, METADATA_FILE):
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


def load_bundle(model_dir: Path) -> ModelBundle:
    """Load the current bundle.

    Raises:
        ModelNotLoadedError: No bundle exists, or it cannot be read.
    """
    link = model_dir / CURRENT_LINK
    if not link.exists():
        raise ModelNotLoadedError(f"no model bundle at {link}: run main_train.py first")
    directory = link.resolve()
    try:
        meta = json.loads((directory / METADATA_FILE).read_text(encoding="utf-8"))
        state_dicts = torch.load(directory / WEIGHTS_FILE, map_location="cpu", weights_only=True)
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"format_version {meta.get('format_version')} is not {FORMAT_VERSION}")
        return ModelBundle(
            version=meta["version"],
            architecture=meta["architecture"],
            seq_len=int(meta["seq_len"]),
            horizon=int(meta["horizon"]),
            scaler=FeatureScaler.from_dict(meta["scaler"]),
            state_dicts=state_dicts,
            config=meta["config"],
            data_fingerprint=meta["data_fingerprint"],
            metrics=meta["metrics"],
            synthetic_data=bool(meta["synthetic_data"]),
        )
    except (OSError, ValueError, KeyError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise ModelNotLoadedError(f"model bundle {directory} cannot be loaded: {exc}") from exc


def _point_current(model_dir: Path, version: str) -> None:
    temporary = model_dir / f".{CURRENT_LINK}.{os.getpid()}"
    temporary.unlink(missing_ok=True)
    # A relative target keeps the link valid when the tree is copied (Docker COPY).
    temporary.symlink_to(version)
    temporary.replace(model_dir / CURRENT_LINK)


def _prune(model_dir: Path, keep: str) -> None:
    bundles = sorted(
        (path for path in model_dir.iterdir() if path.is_dir() and not path.is_symlink() and not path.name.startswith(".")),
        key=lambda path: path.name,
    )
    for old in bundles[:-BUNDLES_KEPT]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
