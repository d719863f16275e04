"""The model the service serves: the one place both services ask for it and for its query schema."""

from __future__ import annotations

from domain.errors import ModelNotLoadedError
from domain.requests import forecast_query_schema
from model.predictor import Predictor

NO_MODEL = "no model is loaded: run main_train.py, then restart the service"


class ServedModel:
    """The loaded predictor (or none), with the `/forecast` query schema built once for it."""

    def __init__(self, predictor: Predictor | None) -> None:
        """Args:
        predictor: The loaded model, or None when no bundle exists (forecasts and /info then answer 503).
        """
        self._predictor = predictor
        self._query_schema = forecast_query_schema(predictor.horizon) if predictor is not None else None

    @property
    def predictor(self) -> Predictor:
        """The loaded predictor.

        Raises:
            ModelNotLoadedError: No model bundle was loaded at start-up.
        """
        if self._predictor is None:
            raise ModelNotLoadedError(NO_MODEL)
        return self._predictor

    @property
    def forecast_query_schema(self) -> dict:
        """The JSON schema of `/forecast` query parameters for the loaded model's horizon.

        Raises:
            ModelNotLoadedError: No model bundle was loaded at start-up.
        """
        if self._query_schema is None:
            raise ModelNotLoadedError(NO_MODEL)
        return self._query_schema
