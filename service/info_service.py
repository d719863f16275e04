"""Site information from the served model's bundle."""

from __future__ import annotations

from domain.site import Site
from service.served_model import ServedModel


class InfoService:
    """Answers which sites the service forecasts, with what model and data."""

    def __init__(self, model: ServedModel) -> None:
        """Args:
        model: The served model.
        """
        self._model = model

    def sites(self, site_id: str | None = None) -> list[Site]:
        """Every site the model serves, ordered by id, or only `site_id`.

        Raises:
            UnknownSiteError: The model does not serve `site_id`.
            ModelNotLoadedError: No model is loaded.
        """
        bundle = self._model.predictor.bundle
        if site_id is not None:
            return [bundle.site(site_id)]
        return sorted(bundle.sites, key=lambda site: site.site_id)

    def model_version(self) -> str:
        """Version id of the served model.

        Raises:
            ModelNotLoadedError: No model is loaded.
        """
        return self._model.predictor.version

    def synthetic_data(self) -> bool:
        """True when the model was trained on the generated demo dataset.

        Raises:
            ModelNotLoadedError: No model is loaded.
        """
        return self._model.predictor.bundle.synthetic_data
