"""Observed daily flow of a served site over a period: what the hydrograph page draws."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

from adapter.base import AbstractFlowReader
from domain.errors import InvalidRequestError
from domain.forecast import FLOW_UNIT
from service.served_model import ServedModel
from utils.dates import daily_index

MAX_DAYS = 366


@dataclasses.dataclass(frozen=True)
class Observations:
    """A site's observed daily mean flow, m3/s, one entry per day of the period (None: not observed)."""

    site_id: str
    days: tuple[tuple[dt.date, float | None], ...]

    def as_json(self) -> dict:
        """JSON-ready form (`GET /observations`)."""
        return {
            "site_id": self.site_id,
            "unit": FLOW_UNIT,
            "observations": [
                {"date": day.isoformat(), "flow": None if flow is None else round(flow, 4)} for day, flow in self.days
            ],
        }


class ObservationService:
    """Reads observed flow for the sites the served model knows."""

    def __init__(self, flow_reader: AbstractFlowReader, model: ServedModel) -> None:
        """Args:
        flow_reader: Observed flow.
        model: The served model (which sites are served).
        """
        self._flow = flow_reader
        self._model = model

    def observed(self, site_id: str, start: dt.date, end: dt.date) -> Observations:
        """Observed flow of `site_id` on every day of `start`..`end` (at most `MAX_DAYS` days).

        Raises:
            InvalidRequestError: The period is reversed or longer than `MAX_DAYS`.
            ModelNotLoadedError: No model is served.
            UnknownSiteError: The model does not serve the site.
            DataSourceError: The flow reader failed.
        """
        if end < start:
            raise InvalidRequestError(f"parameter 'end' ({end}) must not be before 'start' ({start})")
        if (end - start).days + 1 > MAX_DAYS:
            raise InvalidRequestError(f"at most {MAX_DAYS} days at once, got {start}..{end}")
        self._model.predictor.site(site_id)
        frame = self._flow.read_flow(site_id, start, end)
        flows = frame.set_index("time")["flow"].reindex(daily_index(start, end))
        return Observations(
            site_id,
            tuple((stamp.date(), None if math.isnan(value) else float(value)) for stamp, value in flows.items()),
        )
