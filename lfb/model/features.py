"""Features known at dispatch time: the one allow-list, and the one function that builds them."""
from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from lfb.geo.grid import bng_to_wgs84
from lfb.data.reference import holiday_flags, station_codes_by_name, stations, travel_priors
from lfb.geo.location import cell_table, london_cells_of

# Every column the model may see, and nothing else. Each is known when the dispatcher sends the pump.
NUMERIC_FEATURES: tuple[str, ...] = (
    "distance_m",          # straight line, station to incident
    "bearing_sin", "bearing_cos",  # direction of travel from the station
    "distance_rank",       # 1 = the nearest LFB station to the incident
    "nearest_distance_m",  # distance from the incident to its nearest LFB station
    "own_ground",          # 1 if the station is the usual ground station of the incident's 1-km cell
    "home_station",        # 1 if the pump leaves from its home station, 0 if from elsewhere, NaN unknown
    "latitude", "longitude",
    "hour", "weekday", "bank_holiday", "school_holiday",
    "station_speed_prior",  # the station's usual travel speed over distance (reference table, 2020-2022)
    "hour_speed_prior",     # the hour's usual travel speed over distance (reference table, 2020-2022)
)
CATEGORICAL_FEATURES: tuple[str, ...] = (
    "station_code", "borough", "postcode_district",
    "incident_group", "stop_code", "special_service_type", "property_category", "property_type",
    "address_qualifier",
)
FEATURES: tuple[str, ...] = NUMERIC_FEATURES + CATEGORICAL_FEATURES

# Written after the event: never features. Target columns are used only as targets or for reporting.
POST_EVENT_FIELDS: frozenset[str] = frozenset({
    "delay_code_id", "delay_code_description", "pump_order", "num_pumps_attending", "num_stations_with_pumps",
    "pump_count", "pump_minutes", "pump_hours", "notional_cost", "num_calls", "turnout_seconds",
    "travel_seconds", "attendance_seconds", "mobile_at", "arrived_at", "left_at", "returned_at",
    "first_pump_seconds", "first_pump_station", "second_pump_seconds", "second_pump_station",
    "plus_code", "plus_code_description", "performance_reporting", "resource_code",
})

# What a dispatch request carries (the input of build_features).
REQUEST_COLUMNS: tuple[str, ...] = (
    "station_code", "latitude", "longitude", "when", "home_station", "borough", "postcode_district",
    "incident_group", "stop_code", "special_service_type", "property_category", "property_type",
    "address_qualifier",
)
MISSING_CATEGORY = "(none)"


@lru_cache(maxsize=1)
def _lfb_station_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return codes, latitudes and longitudes of the LFB stations (those that rank)."""
    st = stations()
    lfb = st[st.is_lfb == 1]
    return lfb.station_code.to_numpy(), lfb.latitude.to_numpy(float), lfb.longitude.to_numpy(float)


@lru_cache(maxsize=1)
def _station_positions() -> dict[str, tuple[float, float]]:
    """Return latitude and longitude of every station by code."""
    st = stations()
    return {c: (float(a), float(b)) for c, a, b in zip(st.station_code, st.latitude, st.longitude)}


_M_PER_DEG = 111_195.0
_M_PER_DEG_LON = _M_PER_DEG * np.cos(np.radians(51.5))  # London's latitude: within 0.5% across Greater London


def _plane(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return metres east and north on a flat projection of London."""
    return np.asarray(lon, float) * _M_PER_DEG_LON, np.asarray(lat, float) * _M_PER_DEG


@lru_cache(maxsize=1)
def _cell_grounds() -> np.ndarray:
    """Return the ground station code of each London cell, in the order of the cell table ('' where none)."""
    codes = station_codes_by_name()
    return np.array([codes.get(g.lower(), "") if isinstance(g, str) else "" for g in cell_table().ground], dtype=object)


def ground_station(latitude: np.ndarray, longitude: np.ndarray) -> np.ndarray:
    """Return the usual ground station code of each location's 1-km cell ('' outside London)."""
    cell = london_cells_of(latitude, longitude)
    return np.where(cell >= 0, _cell_grounds()[np.maximum(cell, 0)], "").astype(object)


def stations_by_distance(latitude: float, longitude: float) -> np.ndarray:
    """Return the LFB station codes ordered by straight-line distance from one point, nearest first."""
    codes, all_lat, all_lon = _lfb_station_arrays()
    ax, ay = _plane(all_lat, all_lon)
    x, y = _plane(latitude, longitude)
    return codes[np.argsort((ax - x) ** 2 + (ay - y) ** 2, kind="stable")]


def nearest_stations(latitude: np.ndarray, longitude: np.ndarray, k: int) -> np.ndarray:
    """Return, for each point, the codes of its `k` nearest LFB stations by straight line, nearest first (n x k)."""
    codes, all_lat, all_lon = _lfb_station_arrays()
    ax, ay = _plane(all_lat, all_lon)
    x, y = _plane(np.atleast_1d(latitude), np.atleast_1d(longitude))
    squared = (x[:, None] - ax[None, :]) ** 2 + (y[:, None] - ay[None, :]) ** 2
    return codes[np.argsort(squared, axis=1, kind="stable")[:, :k]]


def geometry(station_code: np.ndarray, latitude: np.ndarray, longitude: np.ndarray) -> dict[str, np.ndarray]:
    """Return the station-to-incident geometry features for parallel arrays of requests."""
    where = _station_positions()
    s_lat = np.array([where.get(c, (np.nan, np.nan))[0] for c in station_code], dtype=float)
    s_lon = np.array([where.get(c, (np.nan, np.nan))[1] for c in station_code], dtype=float)
    sx, sy = _plane(s_lat, s_lon)
    ix, iy = _plane(latitude, longitude)
    distance = np.hypot(ix - sx, iy - sy)
    bearing = np.arctan2(ix - sx, iy - sy)  # 0 = north, clockwise
    rank, nearest = _ranks(ix, iy, distance)
    ground = ground_station(latitude, longitude)
    return {
        "distance_m": distance,
        "bearing_sin": np.sin(bearing), "bearing_cos": np.cos(bearing),
        "distance_rank": rank,
        "nearest_distance_m": nearest,
        "own_ground": (ground == station_code).astype(float),
    }


RANK_BLOCK_ROWS = 4096  # rows x 102 stations per block: fits the CPU cache, 8x faster than one big matrix


def _ranks(ix: np.ndarray, iy: np.ndarray, distance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return each incident's rank of its station by distance among the LFB stations, and its nearest distance."""
    _codes, all_lat, all_lon = _lfb_station_arrays()
    ax, ay = _plane(all_lat, all_lon)
    rank, nearest = np.empty(len(ix)), np.empty(len(ix))
    for start in range(0, len(ix), RANK_BLOCK_ROWS):
        block = slice(start, start + RANK_BLOCK_ROWS)
        squared = (ix[block, None] - ax[None, :]) ** 2 + (iy[block, None] - ay[None, :]) ** 2
        rank[block] = (squared < (distance[block, None] - 1e-6) ** 2).sum(axis=1) + 1.0
        nearest[block] = np.sqrt(squared.min(axis=1))
    rank[~np.isfinite(distance)] = np.nan
    return rank, nearest


def _category(values: np.ndarray) -> np.ndarray:
    """Return text categories with missing values as an explicit category."""
    out = np.array(values, dtype=object)
    out[pd.isna(out)] = MISSING_CATEGORY
    return out.astype(str)


def _holidays(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return bank- and school-holiday flags for datetime64[D] values (looked up once per distinct day)."""
    unique, inverse = np.unique(days, return_inverse=True)
    valid = ~np.isnat(unique)
    bank, school = np.zeros(len(unique)), np.zeros(len(unique))
    if valid.any():
        b, sch = holiday_flags(pd.DatetimeIndex(unique[valid]))
        bank[valid], school[valid] = b, sch
    return bank[inverse], school[inverse]


def build_features(requests: pd.DataFrame) -> pd.DataFrame:
    """Return the model's feature table (columns = FEATURES) for dispatch requests (REQUEST_COLUMNS)."""
    return pd.DataFrame(feature_arrays(requests), index=requests.index)


def feature_arrays(requests: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Return the model's features (FEATURES, in order) for requests given as a table or as column arrays."""
    missing = [c for c in REQUEST_COLUMNS if c not in requests]
    if missing:
        raise KeyError(f"requests lack columns: {', '.join(missing)}")
    lat = np.asarray(requests["latitude"], dtype=float)
    lon = np.asarray(requests["longitude"], dtype=float)
    codes = np.array([str(c).upper() for c in np.asarray(requests["station_code"], dtype=object)], dtype=object)
    when = np.asarray(pd.to_datetime(np.asarray(requests["when"])), dtype="datetime64[s]")
    days = when.astype("datetime64[D]")
    hour = ((when - days).astype("timedelta64[h]").astype(float))
    hour[np.isnat(when)] = np.nan
    weekday = (days.astype("int64") + 3) % 7.0  # 1970-01-01 was a Thursday (Monday = 0)
    bank, school = _holidays(days)
    station_prior, hour_prior = travel_priors()
    out = geometry(codes, lat, lon)
    out.update({
        "home_station": np.asarray(requests["home_station"], dtype=float),
        "latitude": lat, "longitude": lon, "hour": hour, "weekday": weekday,
        "bank_holiday": bank, "school_holiday": school,
        "station_speed_prior": np.array([station_prior.get(c, 1.0) for c in codes], dtype=float),
        "hour_speed_prior": np.array([hour_prior.get(h, 1.0) for h in hour], dtype=float),
        "station_code": codes.astype(str),
    })
    for name in CATEGORICAL_FEATURES:
        if name != "station_code":
            out[name] = _category(np.asarray(requests[name], dtype=object))
    return {name: out[name] for name in FEATURES}


def incident_location(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return WGS84 latitude/longitude of incident records: published lat/lon, else exact, else rounded grid."""
    lat = frame["latitude"].to_numpy(float, na_value=np.nan).copy()
    lon = frame["longitude"].to_numpy(float, na_value=np.nan).copy()
    for e_col, n_col in (("easting_m", "northing_m"), ("easting_rounded", "northing_rounded")):
        todo = ~np.isfinite(lat) | ~np.isfinite(lon)
        if not todo.any():
            break
        e = frame[e_col].to_numpy(float, na_value=np.nan)[todo]
        n = frame[n_col].to_numpy(float, na_value=np.nan)[todo]
        new_lat, new_lon = bng_to_wgs84(e, n)
        lat[todo], lon[todo] = new_lat, new_lon
    return lat, lon
