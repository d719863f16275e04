"""The model the service serves: the one place both services ask for it and for its query schema."""

from __future__ import annotations

from domain.errors import ModelNotLoadedError
from domain.requests import forecast_query_schema
from model.predictor import Predictor


class ServedModel:
    """The loaded predictor (or none), with the `/forecast` query schema built once for it."""

    def __init__(self, predictor: Predictor | None) -> None:
        """Args:
        predictor: The loaded model, or None when no bundle exists (forecasts and /info then answer 503).
        """
        # One reference for both, so a reader never pairs a predictor with another model's schema.
        self._loaded = (predictor, forecast_query_schema(predictor.horizon)) if predictor is not None else None

    @property
    def predictor(self) -> Predictor:
        """The loaded predictor.

        Raises:
            ModelNotLoadedError: No model bundle was loaded at start-up.
        """
        return self._current()[0]

    @property
    def forecast_query_schema(self) -> dict:
        """The JSON schema of `/forecast` query parameters for the loaded model's horizon.

        Raises:
            ModelNotLoadedError: No model bundle was loaded at start-up.
        """
        return self._current()[1]

    def _current(self) -> tuple[Predictor, dict]:
        if self._loaded is None:
            raise ModelNotLoadedError("no model is loaded: run main_train.py, then restart the service")
        return self._loaded
