"""Site information from the served model's bundle."""

from __future__ import annotations

import math

from domain.site import Site
from service.served_model import ServedModel
from service.verification_service import VerificationService


class InfoService:
    """Answers which sites the service forecasts, with what model and data."""

    def __init__(self, model: ServedModel, verification: VerificationService | None = None) -> None:
        """Args:
        model: The served model.
        verification: Its latest verification of each site (the live skill /info summarises).
        """
        self._model = model
        self._verification = verification

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

    def site_json(self, site: Site) -> dict:
        """A site as /info shows it: its metadata, the test-period NSE per lead day from the bundle, the live
        NSE per lead day of the latest verification (None before one ran, or for another model) and its
        flood thresholds."""
        bundle = self._model.predictor.bundle
        test = {
            str(row["lead_days"]): None if math.isnan(row["nse"]) else row["nse"]
            for row in bundle.metrics.get("per_site", [])
            if row["site_id"] == site.site_id
        }
        latest = self._verification.latest.get(site.site_id) if self._verification else None
        live = None
        if latest is not None and latest.model_version == bundle.version:
            live = {str(scores.lead_days): scores.nse for scores in latest.rolling}
        thresholds = bundle.flood_thresholds[site.site_id].as_json()
        return {**site.as_json(), "test_nse": test, "live_nse": live, "flood_thresholds": thresholds}

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
