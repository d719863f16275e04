"""Site information from the catalogue written by training."""

from __future__ import annotations

from adapter.site_catalogue import SiteCatalogue
from domain.site import Site


class InfoService:
    """Answers which sites the service forecasts and what data they have."""

    def __init__(self, catalogue: SiteCatalogue) -> None:
        """Args:
        catalogue: The site catalogue.
        """
        self._catalogue = catalogue

    def sites(self, site_id: str | None = None) -> list[Site]:
        """Every catalogued site, or only `site_id`.

        Raises:
            UnknownSiteError: `site_id` is not catalogued.
            ModelNotLoadedError: No catalogue exists yet.
        """
        if site_id is not None:
            return [self._catalogue.site(site_id)]
        return self._catalogue.list_sites()

    def synthetic_data(self) -> bool:
        """True when the sites are the generated demo dataset."""
        return self._catalogue.synthetic_data()
