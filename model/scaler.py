"""Feature scaling fitted on the training period only, saved as readable JSON.

Three kinds of statistics:
- meteorology: pooled mean and standard deviation per variable (of its square root for
  the variables named in `fit`'s `sqrt_features`);
- flow: per-site standard deviation of mm/day flow (the model predicts flow divided by
  its site's standard deviation, not centred, so zero flow stays 0 and a squared error
  is an NSE-style loss), and the pooled mean/std of log flow used as the flow input;
- static site attributes: climate and flow signatures of each site computed
  from its training-period record, standardised across sites.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from domain.errors import InsufficientDataError
from model.site_data import SiteSeries

# mm/day added before the log, so zero flow stays finite.
LOG_FLOW_OFFSET = 0.01
# Guards divisions by a zero spread (constant features, dry sites, one site).
MIN_STD = 1e-3
ZERO_FLOW_MM = 0.005


@dataclasses.dataclass
class FeatureScaler:
    """Statistics that map raw daily values to model space and back."""

    features: tuple[str, ...]
    meteo_mean: np.ndarray
    meteo_std: np.ndarray
    root_scaled: tuple[str, ...]
    log_flow_mean: float
    log_flow_std: float
    site_flow_std: dict[str, float]
    static_names: tuple[str, ...]
    static_mean: np.ndarray
    static_std: np.ndarray
    site_static: dict[str, np.ndarray]
    # Per site, [2, n_features + 1]: the training period's min and max of each raw meteo variable
    # and of flow (mm/day), against which serving inputs are checked for drift.
    site_ranges: dict[str, np.ndarray]

    @classmethod
    def fit(
        cls,
        records: list[SiteSeries],
        features: tuple[str, ...],
        start: dt.date,
        end: dt.date,
        sqrt_features: tuple[str, ...] = (),
    ) -> FeatureScaler:
        """Fit every statistic on the days `start`..`end` of each record.

        Args:
            records: Site records; meteo columns in `features` order.
            features: Meteo variable names.
            start: First training day.
            end: Last training day.
            sqrt_features: Variables standardised after a square root (`model.sqrt_features`).

        Returns:
            The fitted scaler.

        Raises:
            InsufficientDataError: A site has no observed flow in the period.
        """
        root_scaled = tuple(name for name in features if name in sqrt_features)
        periods = [_slice(record, start, end) for record in records]
        meteo = _root(np.concatenate([meteo for meteo, _ in periods]), features, root_scaled)
        log_flow = np.log(np.concatenate([flow for _, flow in periods]) + LOG_FLOW_OFFSET)
        flow_std, statics, ranges = {}, {}, {}
        for record, (site_meteo, site_flow) in zip(records, periods, strict=True):
            site_id = record.site.site_id
            if np.isnan(site_flow).all():
                raise InsufficientDataError(f"site {site_id} has no observed flow between {start} and {end}")
            flow_std[site_id] = float(max(np.nanstd(site_flow), MIN_STD))
            statics[site_id] = site_signatures(record, site_meteo, site_flow, features)
            ranges[site_id] = _ranges(np.column_stack([site_meteo, site_flow]))
        names = tuple(statics[records[0].site.site_id])
        table = np.array([[statics[site][name] for name in names] for site in statics], dtype=np.float64)
        return cls(
            features=features,
            meteo_mean=np.nan_to_num(np.nanmean(meteo, axis=0)),
            meteo_std=np.maximum(np.nan_to_num(np.nanstd(meteo, axis=0)), MIN_STD),
            root_scaled=root_scaled,
            log_flow_mean=float(np.nanmean(log_flow)),
            log_flow_std=float(max(np.nanstd(log_flow), MIN_STD)),
            site_flow_std=flow_std,
            static_names=names,
            static_mean=table.mean(axis=0),
            static_std=np.maximum(table.std(axis=0), MIN_STD),
            site_static={site: np.array([values[name] for name in names]) for site, values in statics.items()},
            site_ranges=ranges,
        )

    def outside_training_range(self, site_id: str, meteo: np.ndarray, flow_mm: np.ndarray) -> float:
        """Share of the observed values of [days, n_features] meteorology and [days] flow (mm/day)
        outside the site's training-period range: the input drift of a forecast (NaN: nothing observed)."""
        values = np.column_stack([meteo, flow_mm]).astype(np.float64)
        low, high = self.site_ranges[site_id]
        observed = ~np.isnan(values)
        if not observed.any():
            return float("nan")
        with np.errstate(invalid="ignore"):
            outside = observed & ((values < low) | (values > high))
        return float(outside.sum() / observed.sum())

    def scale_meteo(self, meteo: np.ndarray) -> np.ndarray:
        """Standardise [days, n_features] meteorology; missing values become the mean (0)."""
        transformed = _root(meteo, self.features, self.root_scaled)
        return np.nan_to_num((transformed - self.meteo_mean) / self.meteo_std).astype(np.float32)

    def scale_flow_input(self, flow_mm: np.ndarray) -> np.ndarray:
        """Standardised log flow for the model input; NaN stays NaN (masked later)."""
        return ((np.log(flow_mm + LOG_FLOW_OFFSET) - self.log_flow_mean) / self.log_flow_std).astype(np.float32)

    def standardize_flow(self, site_id: str, flow_mm: np.ndarray) -> np.ndarray:
        """mm/day flow -> the target space: flow divided by the site's standard deviation."""
        return (flow_mm / self.site_flow_std[site_id]).astype(np.float32)

    def unstandardize_flow(self, site_id: str, values: np.ndarray) -> np.ndarray:
        """Model output in the target space -> mm/day flow."""
        return values * self.site_flow_std[site_id]

    def static_vector(self, site_id: str) -> np.ndarray:
        """Standardised static attributes of a training site."""
        return ((self.site_static[site_id] - self.static_mean) / self.static_std).astype(np.float32)

    def to_dict(self) -> dict:
        """Return a JSON-ready dict."""
        return {
            "features": list(self.features),
            "meteo_mean": self.meteo_mean.tolist(),
            "meteo_std": self.meteo_std.tolist(),
            "root_scaled": list(self.root_scaled),
            "log_flow_mean": self.log_flow_mean,
            "log_flow_std": self.log_flow_std,
            "site_flow_std": self.site_flow_std,
            "static_names": list(self.static_names),
            "static_mean": self.static_mean.tolist(),
            "static_std": self.static_std.tolist(),
            "site_static": {site: values.tolist() for site, values in self.site_static.items()},
            "site_ranges": {site: values.tolist() for site, values in self.site_ranges.items()},
        }

    @classmethod
    def from_dict(cls, data: dict) -> FeatureScaler:
        """Rebuild a scaler from `to_dict` output.

        Raises:
            KeyError, ValueError: A statistic is missing or malformed.
        """
        return cls(
            features=tuple(data["features"]),
            meteo_mean=np.array(data["meteo_mean"], dtype=np.float64),
            meteo_std=np.array(data["meteo_std"], dtype=np.float64),
            root_scaled=tuple(data["root_scaled"]),
            log_flow_mean=float(data["log_flow_mean"]),
            log_flow_std=float(data["log_flow_std"]),
            site_flow_std={site: float(v) for site, v in data["site_flow_std"].items()},
            static_names=tuple(data["static_names"]),
            static_mean=np.array(data["static_mean"]),
            static_std=np.array(data["static_std"]),
            site_static={site: np.array(values) for site, values in data["site_static"].items()},
            site_ranges={site: np.array(values, dtype=np.float64) for site, values in data["site_ranges"].items()},
        )


def _ranges(values: np.ndarray) -> np.ndarray:
    """[2, columns] min and max of each column over its observed values (NaN where none is)."""
    observed = ~np.isnan(values)
    low = np.where(observed, values, np.inf).min(axis=0)
    high = np.where(observed, values, -np.inf).max(axis=0)
    empty = ~observed.any(axis=0)
    return np.vstack([np.where(empty, np.nan, low), np.where(empty, np.nan, high)])


def _root(meteo: np.ndarray, features: tuple[str, ...], names: tuple[str, ...]) -> np.ndarray:
    """A copy of [days, n_features] `meteo` with the columns `names` replaced by their square root."""
    if not names:
        return meteo
    out = np.array(meteo, copy=True)
    for name in names:
        column = features.index(name)
        out[:, column] = np.sqrt(np.maximum(out[:, column], 0.0))
    return out


def _slice(record: SiteSeries, start: dt.date, end: dt.date) -> tuple[np.ndarray, np.ndarray]:
    first = max(record.index_of(start), 0)
    last = min(record.index_of(end), record.n_days - 1)
    return record.meteo[first : last + 1].astype(np.float64), record.flow_mm[first : last + 1].astype(np.float64)


def site_signatures(
    record: SiteSeries, meteo: np.ndarray, flow_mm: np.ndarray, features: tuple[str, ...]
) -> dict[str, float]:
    """Climate and flow signatures of one site over a period.

    Only signatures whose inputs exist in `features` are returned, so the set
    depends on the dataset but is the same for every site of it.
    """
    column = {name: meteo[:, i] for i, name in enumerate(features)}
    observed = flow_mm[~np.isnan(flow_mm)]
    mean_flow = float(observed.mean())
    signatures = {
        "log_area_km2": float(np.log(record.site.area_km2)),
        "log_mean_flow": float(np.log(mean_flow + LOG_FLOW_OFFSET)),
        "flow_cv": float(observed.std() / max(mean_flow, MIN_STD)),
        "zero_flow_fraction": float((observed < ZERO_FLOW_MM).mean()),
        "flashiness": _richards_baker(flow_mm),
    }
    temperature = _temperature(column)
    if temperature is not None:
        signatures["mean_temperature"] = float(np.nanmean(temperature))
    if "precipitation" in column:
        precipitation = column["precipitation"]
        mean_precipitation = max(float(np.nanmean(precipitation)), MIN_STD)
        signatures["mean_precipitation"] = mean_precipitation
        signatures["runoff_ratio"] = mean_flow / mean_precipitation
        if temperature is not None:
            cold = temperature < 0.0
            signatures["snow_fraction"] = float(np.nansum(precipitation[cold]) / max(np.nansum(precipitation), MIN_STD))
        if "evapotranspiration" in column:
            signatures["aridity"] = float(np.nanmean(column["evapotranspiration"])) / mean_precipitation
    return signatures


def _richards_baker(flow_mm: np.ndarray) -> float:
    """Richards-Baker flashiness index: sum of day-to-day changes over total flow."""
    today, yesterday = flow_mm[1:], flow_mm[:-1]
    both = ~np.isnan(today) & ~np.isnan(yesterday)
    return float(np.abs(today - yesterday)[both].sum() / max(today[both].sum(), MIN_STD))


def _temperature(column: dict[str, np.ndarray]) -> np.ndarray | None:
    if "temperature_mean" in column:
        return column["temperature_mean"]
    if "temperature_max" in column and "temperature_min" in column:
        return (column["temperature_max"] + column["temperature_min"]) / 2.0
    return None
