"""The model the service serves: the one place both services ask for it, and where it is swapped.

A swap replaces one reference (`LoadedModel`), so a request that took the model at its start
finishes on it while the next request gets the new one. The state an operator needs beside it,
the version refused last and the registry's trouble if any, is kept here too for /healthCheck.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

from domain.errors import ModelNotLoadedError
from model.predictor import Predictor


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """A loaded predictor and its version in the registry.

    Attributes:
        predictor: The model.
        registry_version: Its version in the model registry (None when served without one).
    """

    predictor: Predictor
    registry_version: str | None

    @classmethod
    def of(cls, predictor: Predictor, registry_version: str | None = None) -> LoadedModel:
        """Wrap a predictor."""
        return cls(predictor, registry_version)


@dataclasses.dataclass(frozen=True)
class Refusal:
    """A registry version that was not served, and why."""

    registry_version: str
    reason: str


class ServedModel:
    """The loaded model (or none), swapped atomically."""

    def __init__(self, loaded: LoadedModel | None = None) -> None:
        """Args:
        loaded: The model to serve at once, or None (forecasts and /info answer 503 until one is served).
        """
        self._loaded = loaded
        self._lock = threading.Lock()
        self.refused: Refusal | None = None
        self.registry_problem: str | None = None
        self._listeners: list[Callable[[LoadedModel], object]] = []

    @property
    def current(self) -> LoadedModel:
        """The model being served.

        Raises:
            ModelNotLoadedError: No model is loaded.
        """
        loaded = self._loaded
        if loaded is None:
            raise ModelNotLoadedError("no model is loaded yet: train one with main_train.py")
        return loaded

    @property
    def predictor(self) -> Predictor:
        """The served predictor.

        Raises:
            ModelNotLoadedError: No model is loaded.
        """
        return self.current.predictor

    def serve(self, loaded: LoadedModel) -> None:
        """Serve `loaded` from the next request on."""
        with self._lock:
            self._loaded = loaded
        for listener in self._listeners:
            listener(loaded)

    def on_serve(self, listener: Callable[[LoadedModel], object]) -> None:
        """Call `listener` with each model served from now on (on the thread that swaps it in)."""
        self._listeners.append(listener)

    def refuse(self, refusal: Refusal) -> None:
        """Record a version that was not served."""
        with self._lock:
            self.refused = refusal
