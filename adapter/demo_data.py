"""Synthetic demo dataset in the local data directory format.

The quick start must work without network access, so this module writes a small,
fully synthetic dataset (it describes no real river) deterministically from a seed:

- ``sites.csv``: ``site_id,name,latitude,longitude,area_km2``; ``site_id`` is an
  8-digit string with a leading zero.
- ``flow/<site_id>.csv``: ``time,flow``; daily mean discharge in m3/s, one row per
  day from 2009-01-01 to 2024-12-31, an empty cell marks a missing day.
- ``meteo/<site_id>.csv``: ``time,precipitation,temperature_max,temperature_min,
  temperature_mean,evapotranspiration`` in mm/day, degC, degC, degC and mm/day,
  without gaps, running 7 days past the last flow day (the meteorological forecast).

Weather comes from a seasonal stochastic generator (AR(1) temperature anomalies,
2-state Markov chain precipitation occurrence with gamma amounts, Hargreaves
evapotranspiration) and flow from an HBV-like conceptual rainfall-runoff model.
"""

import dataclasses
import logging
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

LOGGER = logging.getLogger(__name__)

FLOW_START = pd.Timestamp("2009-01-01")
FLOW_END = pd.Timestamp("2024-12-31")
FORECAST_DAYS = 7
# One simulated year before the first flow day is discarded so the model stores start warm.
SPINUP = pd.DateOffset(years=1)
# Ids of `scaled_sites` (the demo's are 099000xx).
SCALED_ID_PREFIX = "098"
# Gaps stay out of the most recent record, which the forecast needs.
GAP_FREE_TAIL_DAYS = 30

_DAYS_PER_YEAR = 365.25
_SECONDS_PER_DAY = 86400.0
_MAX_PRECIPITATION = 300.0
_MAX_EVAPOTRANSPIRATION = 20.0


@dataclass(frozen=True)
class ClimateParams:
    """Parameters of the stochastic weather generator of one site.

    Attributes:
        temp_mean: Annual mean of the daily mean temperature, degC.
        temp_amplitude: Half the seasonal temperature swing, degC.
        temp_anomaly_sd: Standard deviation of the AR(1) anomaly, degC.
        temp_ar1: Lag-1 autocorrelation of the temperature anomaly.
        diurnal_range: Annual mean of tmax - tmin, degC.
        diurnal_amplitude: Seasonal swing of the diurnal range (larger in summer), degC.
        wet_fraction: Annual mean probability that a day is wet.
        wet_amplitude: Relative seasonal swing of the wet-day probability.
        wet_peak_doy: Day of year when wet days are most frequent.
        wet_persistence: Lag-1 autocorrelation of the wet/dry occurrence.
        wet_day_mean: Mean precipitation of a wet day, mm/day.
        gamma_shape: Shape of the gamma distribution of wet-day amounts.
        storm_probability: Chance that a wet day is a storm (amount multiplied 2.5-5x).
    """

    temp_mean: float
    temp_amplitude: float
    temp_anomaly_sd: float
    temp_ar1: float
    diurnal_range: float
    diurnal_amplitude: float
    wet_fraction: float
    wet_amplitude: float
    wet_peak_doy: float
    wet_persistence: float
    wet_day_mean: float
    gamma_shape: float
    storm_probability: float


@dataclass(frozen=True)
class HbvParams:
    """Parameters of the HBV-like rainfall-runoff model (stores in mm).

    Attributes:
        threshold_temp: Below this mean temperature precipitation falls as snow, degC.
        degree_day: Snowmelt per degree above threshold_temp, mm/degC/day.
        field_capacity: Maximum soil moisture, mm.
        et_limit: Fraction of field_capacity above which ET is not water-limited.
        beta: Exponent of the nonlinear soil recharge function.
        k_quick: Outflow rate of the upper store above quick_threshold, 1/day.
        quick_threshold: Upper store level above which quick flow starts, mm.
        k_upper: Outflow rate of the upper store, 1/day.
        percolation: Maximum percolation from the upper to the groundwater store,
            mm/day.
        k_base: Outflow rate of the groundwater store (baseflow), 1/day.
        routing_days: Base length of the triangular routing function, days.
        channel_loss: Transmission loss subtracted from routed runoff, mm/day.
    """

    threshold_temp: float
    degree_day: float
    field_capacity: float
    et_limit: float
    beta: float
    k_quick: float
    quick_threshold: float
    k_upper: float
    percolation: float
    k_base: float
    routing_days: float
    channel_loss: float


@dataclass(frozen=True)
class DemoSite:
    """One synthetic site: catalogue entry, climate and catchment response.

    Attributes:
        site_id: 8-digit string with a leading zero.
        name: Display name; always says the site is synthetic.
        latitude: Degrees north.
        longitude: Degrees east.
        area_km2: Catchment area, km2 (converts mm/day to m3/s).
        climate: Weather generator parameters.
        hbv: Rainfall-runoff model parameters.
    """

    site_id: str
    name: str
    latitude: float
    longitude: float
    area_km2: float
    climate: ClimateParams
    hbv: HbvParams


DEMO_SITES = (
    DemoSite(
        site_id="09900001",
        name="Synthetic Alpine Creek (demo)",
        latitude=45.2,
        longitude=-110.6,
        area_km2=650.0,
        climate=ClimateParams(
            temp_mean=0.0,
            temp_amplitude=10.5,
            temp_anomaly_sd=3.5,
            temp_ar1=0.75,
            diurnal_range=12.0,
            diurnal_amplitude=3.0,
            wet_fraction=0.36,
            wet_amplitude=0.25,
            wet_peak_doy=20.0,
            wet_persistence=0.4,
            wet_day_mean=6.5,
            gamma_shape=0.8,
            storm_probability=0.02,
        ),
        hbv=HbvParams(
            threshold_temp=0.0,
            degree_day=2.5,
            field_capacity=180.0,
            et_limit=0.7,
            beta=2.5,
            k_quick=0.2,
            quick_threshold=25.0,
            k_upper=0.05,
            percolation=2.0,
            k_base=0.02,
            routing_days=3.0,
            channel_loss=0.0,
        ),
    ),
    DemoSite(
        site_id="09900002",
        name="Synthetic Piedmont River (demo)",
        latitude=36.0,
        longitude=-79.6,
        area_km2=150.0,
        climate=ClimateParams(
            temp_mean=15.0,
            temp_amplitude=10.0,
            temp_anomaly_sd=3.0,
            temp_ar1=0.7,
            diurnal_range=12.0,
            diurnal_amplitude=2.0,
            wet_fraction=0.3,
            wet_amplitude=0.1,
            wet_peak_doy=200.0,
            wet_persistence=0.3,
            wet_day_mean=11.0,
            gamma_shape=0.7,
            storm_probability=0.05,
        ),
        hbv=HbvParams(
            threshold_temp=0.0,
            degree_day=3.0,
            field_capacity=200.0,
            et_limit=0.6,
            beta=2.0,
            k_quick=0.3,
            quick_threshold=10.0,
            k_upper=0.15,
            percolation=1.0,
            k_base=0.03,
            routing_days=2.5,
            channel_loss=0.0,
        ),
    ),
    DemoSite(
        site_id="09900003",
        name="Synthetic Desert Wash (demo)",
        latitude=33.0,
        longitude=-111.4,
        area_km2=2000.0,
        climate=ClimateParams(
            temp_mean=21.0,
            temp_amplitude=10.0,
            temp_anomaly_sd=2.5,
            temp_ar1=0.7,
            diurnal_range=16.0,
            diurnal_amplitude=2.0,
            wet_fraction=0.09,
            wet_amplitude=0.6,
            wet_peak_doy=215.0,
            wet_persistence=0.25,
            wet_day_mean=8.0,
            gamma_shape=0.6,
            storm_probability=0.06,
        ),
        hbv=HbvParams(
            threshold_temp=0.0,
            degree_day=3.0,
            field_capacity=80.0,
            et_limit=0.5,
            beta=1.5,
            k_quick=0.4,
            quick_threshold=5.0,
            k_upper=0.1,
            percolation=0.5,
            k_base=0.02,
            routing_days=4.0,
            channel_loss=0.02,
        ),
    ),
    DemoSite(
        site_id="09900004",
        name="Synthetic Maritime River (demo)",
        latitude=47.5,
        longitude=-123.6,
        area_km2=1200.0,
        climate=ClimateParams(
            temp_mean=10.0,
            temp_amplitude=6.5,
            temp_anomaly_sd=2.0,
            temp_ar1=0.75,
            diurnal_range=8.0,
            diurnal_amplitude=2.5,
            wet_fraction=0.5,
            wet_amplitude=0.4,
            wet_peak_doy=350.0,
            wet_persistence=0.45,
            wet_day_mean=7.5,
            gamma_shape=0.9,
            storm_probability=0.02,
        ),
        hbv=HbvParams(
            threshold_temp=0.0,
            degree_day=3.0,
            field_capacity=150.0,
            et_limit=0.7,
            beta=1.5,
            k_quick=0.15,
            quick_threshold=30.0,
            k_upper=0.05,
            percolation=3.0,
            k_base=0.015,
            routing_days=4.0,
            channel_loss=0.0,
        ),
    ),
)

METEO_COLUMNS = (
    "precipitation",
    "temperature_max",
    "temperature_min",
    "temperature_mean",
    "evapotranspiration",
)


def write_demo_dataset(
    directory: Path,
    seed: int = 20240101,
    sites: tuple[DemoSite, ...] = DEMO_SITES,
    flow_days: tuple[pd.Timestamp, pd.Timestamp] = (FLOW_START, FLOW_END),
) -> None:
    """Write the synthetic demo dataset (sites.csv, flow/, meteo/) into directory.

    The dataset is built in a temporary sibling directory and renamed onto
    ``directory`` in one step, so an interrupted run never leaves a half-written
    dataset behind. The same seed always gives byte-identical files; the period is
    fixed (by default flow 2009-01-01..2024-12-31, meteo until 2025-01-07), not relative to today.

    Args:
        directory: Target directory; its parent is created if needed. It may exist
            only as an empty directory.
        seed: Seed of the random generator.
        sites: The sites to simulate (default: the demo's four; `scaled_sites` for scale tests).
        flow_days: First and last day of flow.

    Raises:
        FileExistsError: If ``directory`` exists and is not an empty directory.
    """
    directory = Path(directory)
    _check_target_free(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = directory.parent / (f".{directory.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    tmp_dir.mkdir()
    try:
        _write_dataset(tmp_dir, seed, sites, flow_days)
        _move_into_place(tmp_dir, directory)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    LOGGER.info(
        "wrote synthetic demo dataset (%d sites, seed %d) to %s",
        len(sites),
        seed,
        directory,
    )


def _check_target_free(directory: Path) -> None:
    if directory.is_dir() and not any(directory.iterdir()):
        return
    if directory.exists() or directory.is_symlink():
        raise FileExistsError(f"demo dataset target already exists: {directory}")


def _move_into_place(tmp_dir: Path, directory: Path) -> None:
    try:
        # rename(2) replaces an empty directory atomically and refuses a non-empty one.
        os.replace(tmp_dir, directory)
    except OSError as exc:
        if directory.exists():
            raise FileExistsError(f"demo dataset target appeared while writing: {directory}") from exc
        raise


def scaled_sites(count: int, seed: int = 20240101) -> tuple[DemoSite, ...]:
    """`count` synthetic sites for tests and benchmarks at scale: the demo's four climates and catchments in
    turn, each with its own area (30 to 5,000 km2), position and wetness, ids 098xxxxx."""
    rng = np.random.default_rng([seed, count])
    sites = []
    for index in range(count):
        template = DEMO_SITES[index % len(DEMO_SITES)]
        climate = dataclasses.replace(
            template.climate, wet_day_mean=template.climate.wet_day_mean * float(rng.uniform(0.7, 1.3))
        )
        sites.append(
            dataclasses.replace(
                template,
                site_id=f"{SCALED_ID_PREFIX}{index:05d}",
                name=f"Synthetic river {index + 1} (scale test)",
                latitude=round(template.latitude + float(rng.uniform(-3.0, 3.0)), 3),
                longitude=round(template.longitude + float(rng.uniform(-5.0, 5.0)), 3),
                area_km2=round(float(np.exp(rng.uniform(np.log(30.0), np.log(5000.0)))), 1),
                climate=climate,
            )
        )
    return tuple(sites)


def _write_dataset(
    root: Path, seed: int, sites: tuple[DemoSite, ...], flow_days: tuple[pd.Timestamp, pd.Timestamp]
) -> None:
    (root / "flow").mkdir()
    (root / "meteo").mkdir()
    _site_table(sites).to_csv(root / "sites.csv", index=False, lineterminator="\n")
    for index, site in enumerate(sites):
        # A generator per site keeps each site's series independent of site order.
        rng = np.random.default_rng([seed, index])
        meteo, flow = simulate_site(site, rng, flow_days)
        meteo.to_csv(
            root / "meteo" / f"{site.site_id}.csv",
            index=False,
            float_format="%.2f",
            lineterminator="\n",
        )
        flow.to_csv(
            root / "flow" / f"{site.site_id}.csv",
            index=False,
            float_format="%.4f",
            na_rep="",
            lineterminator="\n",
        )


def _site_table(sites: tuple[DemoSite, ...]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "site_id": [site.site_id for site in sites],
            "name": [site.name for site in sites],
            "latitude": [site.latitude for site in sites],
            "longitude": [site.longitude for site in sites],
            "area_km2": [site.area_km2 for site in sites],
        }
    )


def simulate_site(
    site: DemoSite,
    rng: np.random.Generator,
    flow_days: tuple[pd.Timestamp, pd.Timestamp] = (FLOW_START, FLOW_END),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate weather and flow of one site, spin-up year included then discarded.

    Args:
        site: The synthetic site.
        rng: Random generator; consumed in a fixed order.
        flow_days: First and last day of flow.

    Returns:
        ``(meteo, flow)`` frames in the file layout: ``time`` as YYYY-MM-DD strings,
        meteo rounded to 2 decimals up to 7 days past the last flow day, flow in m3/s
        rounded to 4 decimals with NaN on the seeded gap days.
    """
    flow_start, flow_end = flow_days
    forecast_end = flow_end + pd.Timedelta(days=FORECAST_DAYS)
    dates = pd.date_range(flow_start - SPINUP, forecast_end, freq="D")
    weather = generate_weather(dates, site.latitude, site.climate, rng)
    n_sim = int((dates <= flow_end).sum())
    runoff_mm = run_hbv(
        weather["precipitation"][:n_sim],
        weather["temperature_mean"][:n_sim],
        weather["evapotranspiration"][:n_sim],
        site.hbv,
    )
    noisy_mm = runoff_mm * np.exp(rng.normal(0.0, 0.03, size=n_sim))
    flow_m3s = noisy_mm * site.area_km2 * 1000.0 / _SECONDS_PER_DAY

    n_spinup = int((dates < flow_start).sum())
    meteo = pd.DataFrame({"time": dates[n_spinup:].strftime("%Y-%m-%d")})
    for column in METEO_COLUMNS:
        meteo[column] = np.round(weather[column][n_spinup:], 2)

    flow_values = np.round(flow_m3s[n_spinup:], 4)
    flow_values[_gap_mask(flow_values.size, rng)] = np.nan
    flow_days = dates[n_spinup:n_sim].strftime("%Y-%m-%d")
    return meteo, pd.DataFrame({"time": flow_days, "flow": flow_values})


def generate_weather(
    dates: pd.DatetimeIndex,
    latitude: float,
    climate: ClimateParams,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Generate daily weather with a seasonal stochastic generator.

    Args:
        dates: Consecutive days to generate.
        latitude: Site latitude in degrees north (for extraterrestrial radiation).
        climate: Generator parameters.
        rng: Random generator.

    Returns:
        Arrays keyed by the meteo column names: precipitation (mm/day, 0..300),
        temperature_max/min/mean (degC, tmin <= tmean <= tmax) and
        evapotranspiration (Hargreaves potential ET, mm/day, 0..20).
    """
    doy = dates.dayofyear.to_numpy()
    wet = _precipitation_occurrence(doy, climate, rng)
    precipitation = _precipitation_amounts(wet, climate, rng)
    tmean = _mean_temperature(doy, climate, rng)
    summer = np.cos(2.0 * np.pi * (doy - 200) / _DAYS_PER_YEAR)
    diurnal = climate.diurnal_range + climate.diurnal_amplitude * summer
    # Cloudy wet days have a smaller diurnal range.
    diurnal = np.where(wet, 0.6 * diurnal, diurnal) * rng.uniform(0.8, 1.2, doy.size)
    tmax = tmean + 0.5 * diurnal
    tmin = tmean - 0.5 * diurnal
    et = _hargreaves(doy, latitude, tmean, tmax, tmin)
    return {
        "precipitation": precipitation,
        "temperature_max": tmax,
        "temperature_min": tmin,
        "temperature_mean": tmean,
        "evapotranspiration": et,
    }


def _seasonal(doy: np.ndarray, peak_doy: float) -> np.ndarray:
    return np.cos(2.0 * np.pi * (doy - peak_doy) / _DAYS_PER_YEAR)


def _precipitation_occurrence(doy: np.ndarray, climate: ClimateParams, rng: np.random.Generator) -> np.ndarray:
    wet_fraction = climate.wet_fraction * (1.0 + climate.wet_amplitude * _seasonal(doy, climate.wet_peak_doy))
    wet_fraction = np.clip(wet_fraction, 0.01, 0.95)
    # Transition probabilities whose stationary wet fraction is wet_fraction and
    # whose lag-1 autocorrelation is wet_persistence.
    p_wet_after_wet = wet_fraction + climate.wet_persistence * (1.0 - wet_fraction)
    p_wet_after_dry = wet_fraction * (1.0 - climate.wet_persistence)
    draws = rng.random(doy.size)
    wet = np.zeros(doy.size, dtype=bool)
    previous = False
    for day in range(doy.size):
        threshold = p_wet_after_wet[day] if previous else p_wet_after_dry[day]
        previous = bool(draws[day] < threshold)
        wet[day] = previous
    return wet


def _precipitation_amounts(wet: np.ndarray, climate: ClimateParams, rng: np.random.Generator) -> np.ndarray:
    scale = climate.wet_day_mean / climate.gamma_shape
    amounts = rng.gamma(climate.gamma_shape, scale, size=wet.size)
    storms = rng.random(wet.size) < climate.storm_probability
    amounts = np.where(storms, amounts * rng.uniform(2.5, 5.0, wet.size), amounts)
    # Drizzle below 0.1 mm is recorded as a dry day by gauges.
    amounts = np.where(wet & (amounts >= 0.1), amounts, 0.0)
    return np.clip(amounts, 0.0, _MAX_PRECIPITATION)


def _mean_temperature(doy: np.ndarray, climate: ClimateParams, rng: np.random.Generator) -> np.ndarray:
    seasonal = climate.temp_mean + climate.temp_amplitude * _seasonal(doy, 200.0)
    innovation_sd = climate.temp_anomaly_sd * np.sqrt(1.0 - climate.temp_ar1**2)
    shocks = rng.normal(0.0, innovation_sd, size=doy.size)
    anomaly = np.empty(doy.size)
    previous = 0.0
    for day in range(doy.size):
        previous = climate.temp_ar1 * previous + shocks[day]
        anomaly[day] = previous
    return np.clip(seasonal + anomaly, -45.0, 45.0)


def _hargreaves(
    doy: np.ndarray,
    latitude: float,
    tmean: np.ndarray,
    tmax: np.ndarray,
    tmin: np.ndarray,
) -> np.ndarray:
    radiation_mm = 0.408 * _extraterrestrial_radiation(doy, latitude)
    et = 0.0023 * radiation_mm * (tmean + 17.8) * np.sqrt(np.maximum(tmax - tmin, 0.0))
    return np.clip(et, 0.0, _MAX_EVAPOTRANSPIRATION)


def _extraterrestrial_radiation(doy: np.ndarray, latitude: float) -> np.ndarray:
    """Daily extraterrestrial radiation in MJ/m2/day (FAO-56 eq. 21)."""
    phi = np.deg2rad(latitude)
    inverse_distance = 1.0 + 0.033 * np.cos(2.0 * np.pi * doy / 365.0)
    declination = 0.409 * np.sin(2.0 * np.pi * doy / 365.0 - 1.39)
    sunset = np.arccos(np.clip(-np.tan(phi) * np.tan(declination), -1.0, 1.0))
    return (
        24.0
        * 60.0
        / np.pi
        * 0.0820
        * inverse_distance
        * (sunset * np.sin(phi) * np.sin(declination) + np.cos(phi) * np.cos(declination) * np.sin(sunset))
    )


def run_hbv(
    precipitation: np.ndarray,
    temperature: np.ndarray,
    pet: np.ndarray,
    params: HbvParams,
) -> np.ndarray:
    """Run the HBV-like model and route its runoff.

    Args:
        precipitation: Daily precipitation, mm/day.
        temperature: Daily mean temperature, degC.
        pet: Daily potential evapotranspiration, mm/day.
        params: Model parameters.

    Returns:
        Routed runoff at the outlet, mm/day, >= 0, same length as the inputs.
    """
    generated = _run_stores(precipitation, temperature, pet, params)
    weights = _triangular_weights(params.routing_days)
    routed = np.convolve(generated, weights)[: generated.size]
    return np.maximum(routed - params.channel_loss, 0.0)


def _run_stores(
    precipitation: np.ndarray,
    temperature: np.ndarray,
    pet: np.ndarray,
    params: HbvParams,
) -> np.ndarray:
    snow, soil = 0.0, 0.5 * params.field_capacity
    upper, lower = 0.0, params.percolation / params.k_base * 0.5
    runoff = np.empty(precipitation.size)
    for day in range(precipitation.size):
        rain, temp = float(precipitation[day]), float(temperature[day])
        if temp < params.threshold_temp:
            snow += rain
            rain = 0.0
        melt = min(snow, params.degree_day * max(temp - params.threshold_temp, 0.0))
        snow -= melt
        water = rain + melt
        recharge = water * (soil / params.field_capacity) ** params.beta
        soil += water - recharge
        if soil > params.field_capacity:
            recharge += soil - params.field_capacity
            soil = params.field_capacity
        wetness = min(soil / (params.et_limit * params.field_capacity), 1.0)
        soil -= min(float(pet[day]) * wetness, soil)
        upper += recharge
        percolation = min(params.percolation, upper)
        upper -= percolation
        lower += percolation
        quick = params.k_quick * max(upper - params.quick_threshold, 0.0)
        interflow = params.k_upper * (upper - quick)
        baseflow = params.k_base * lower
        upper -= quick + interflow
        lower -= baseflow
        runoff[day] = quick + interflow + baseflow
    return runoff


def _triangular_weights(base_days: float) -> np.ndarray:
    """Weights of a triangular unit hydrograph with base_days length, summing to 1."""
    n_days = max(int(np.ceil(base_days)), 1)
    centres = np.arange(n_days) + 0.5
    weights = np.maximum(base_days / 2.0 - np.abs(centres - base_days / 2.0), 0.0)
    return weights / weights.sum()


def _gap_mask(n_days: int, rng: np.random.Generator) -> np.ndarray:
    """Flow gaps: 2-4 blocks of 3-20 days and 3-7 single days, not at the end."""
    mask = np.zeros(n_days, dtype=bool)
    last_allowed = n_days - GAP_FREE_TAIL_DAYS
    for _ in range(int(rng.integers(2, 5))):
        length = int(rng.integers(3, 21))
        start = int(rng.integers(0, last_allowed - length))
        mask[start : start + length] = True
    singles = rng.integers(0, last_allowed, size=int(rng.integers(3, 8)))
    mask[singles] = True
    return mask
