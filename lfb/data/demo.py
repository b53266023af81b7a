"""Synthetic DEMO data in the exact published LFB formats, calibrated on the real 2023 sample.

One incident file and one mobilisation file per calendar year, written month by month with
vectorised numpy (London scale, 36 months, in seconds and bounded memory). Every incident number
ends in `-DEMO`, so the store marks the rows as demo data. The distributions come from the
project's reference tables `lfb/data/tables/demo_*.{csv,json}` (built by tools/build_reference.py);
the real data is never read here.

How an incident comes about: a day (month and weekday rates), a type (joint mix of incident group,
stop code, property and address qualifier; seasonal by stop code), an hour (profile of its stop
code, weekday or weekend), a place (1-km cells weighted by smoothed real incident counts, uniform
inside the cell) and so a station ground, borough, ward and postcode district. Pumps: a number by
type; the nearest available pumps by expected travel time are sent (each pump busy elsewhere with a
probability that grows with its station's workload and the hour; about one in ten stands by at
another station and is deployed from there); each gets a turnout (longer at night) and a travel time
from the real curve of travel time against straight-line distance, with its spread by distance band,
its hour-of-day and year effects, the station's own effect and a small effect of the incident type.
Attendance never exceeds 1200 s.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

from lfb.geo.grid import bng_to_wgs84
from lfb.data.records import DEMO_SUFFIX
from lfb.data.reference import REFERENCE_DIR, london_cells, stations

INCIDENT_HEADER = (
    "IncidentNumber", "DateOfCall", "CalYear", "TimeOfCall", "HourOfCall", "IncidentGroup", "StopCodeDescription",
    "SpecialServiceType", "PropertyCategory", "PropertyType", "AddressQualifier", "Postcode_full",
    "Postcode_district", "UPRN", "USRN", "IncGeo_BoroughCode", "IncGeo_BoroughName", "ProperCase",
    "IncGeo_WardCode", "IncGeo_WardName", "IncGeo_WardNameNew", "Easting_m", "Northing_m", "Easting_rounded",
    "Northing_rounded", "Latitude", "Longitude", "FRS", "IncidentStationGround", "FirstPumpArriving_AttendanceTime",
    "FirstPumpArriving_DeployedFromStation", "SecondPumpArriving_AttendanceTime",
    "SecondPumpArriving_DeployedFromStation", "NumStationsWithPumpsAttending", "NumPumpsAttending", "PumpCount",
    "PumpMinutesRounded", "Notional Cost (£)", "NumCalls",
)
MOBILISATION_HEADER = (
    "IncidentNumber", "CalYear", "HourOfCall", "ResourceMobilisationId", "Resource_Code", "PerformanceReporting",
    "DateAndTimeMobilised", "DateAndTimeMobile", "DateAndTimeArrived", "TurnoutTimeSeconds", "TravelTimeSeconds",
    "AttendanceTimeSeconds", "DateAndTimeLeft", "DateAndTimeReturned", "DeployedFromStation_Code",
    "DeployedFromStation_Name", "DeployedFromLocation", "PumpOrder", "PlusCode_Code", "PlusCode_Description",
    "DelayCodeId", "DelayCode_Description",
)
INCIDENT_FILE, MOBILISATION_FILE = "lfb-demo-incidents-{year}.csv", "lfb-demo-mobilisations-{year}.csv"
DEMO_FILE_RE = re.compile(r"lfb-demo-(incidents|mobilisations)-(\d{4})\.csv")
README_NAME = "README-DEMO.txt"
FIRST_MOBILISATION_ID = 90_000_000  # far above the real ids (about 5-7 million in 2020-2025)
MAX_ATTENDANCE_S = 1200  # the published files hold no attendance above 20 minutes
MAX_TURNOUT_S = 600
Progress = Callable[[int, int], None]  # (months done, months in all)

# Tuning of the simulated dispatch (chosen so the generated figures match the real ones; see lfb/calibration.py).
CANDIDATE_STATIONS = 10  # nearest stations considered for each incident
GROUND_PREFERENCE = 0.80  # the ground's own pump is sent first unless another is clearly nearer
BUSY_BASE = 0.18  # chance a pump is busy elsewhere, for an average station at an average hour
AWAY_FROM_HOME = 0.15  # chance a pump stands by at another station, deployed from there (~10% of rows)
ON_THE_SPOT = 0.018  # first pump already at or next to the scene (running calls, calls at the station)
SECOND_SAME_TIME = 0.85  # further pumps mobilised with the first (else later, as a make-up)
TRAVEL_SPREAD = 1.00  # scale of the real residual spread
HOUR_EFFECT = 1.3  # the real hour-of-day travel factors, strengthened (they are estimated net of distance only)
TURNOUT_NIGHT = np.array([1.45] * 7 + [1.2] + [1.0] * 14 + [1.05, 1.2])  # relative turnout by hour of call
STATION_TURNOUT_SD = 0.08  # station-to-station turnout differences (log scale)
MOBILE_MISSING, LEFT_MISSING = 0.005, 0.001  # shares of mobilisation rows without these times
INWARD_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))


@dataclass
class DemoResult:
    """What one run of the generator wrote."""

    paths: list[Path]  # data files, per year: incidents then mobilisations
    incidents: int
    mobilisations: int
    months: list[str]  # 'YYYY-MM' covered
    seconds: float = 0.0
    readme: Path | None = None
    by_file: dict[str, int] = field(default_factory=dict)  # rows per file name


# ---- calendar ---------------------------------------------------------------------------------

def default_start(months: int = 36, today: dt.date | None = None) -> str:
    """Return the first month ('YYYY-MM') of the `months` months ending with the last complete month."""
    today = today or dt.date.today()
    last = today.year * 12 + today.month - 2  # months since year 0 of the previous month
    first = last - (months - 1)
    return f"{first // 12:04d}-{first % 12 + 1:02d}"


def month_range(start: str, months: int) -> list[tuple[int, int]]:
    """Return (year, month) for `months` consecutive months from 'YYYY-MM'."""
    match = re.fullmatch(r"(\d{4})-(\d{1,2})", str(start).strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"start must be 'YYYY-MM', got {start!r}")
    if months < 1:
        raise ValueError(f"months must be at least 1, got {months}")
    first = int(match.group(1)) * 12 + int(match.group(2)) - 1
    return [((first + i) // 12, (first + i) % 12 + 1) for i in range(months)]


# ---- calibration tables -----------------------------------------------------------------------

@lru_cache(maxsize=1)
def calibration() -> dict:
    """Return the demo calibration figures (lfb/data/tables/demo_calibration.json, after its source line)."""
    text = (REFERENCE_DIR / "demo_calibration.json").read_text(encoding="utf-8")
    return json.loads(text.split("\n", 1)[1] if text.startswith("#") else text)


def _read_table(name: str) -> pd.DataFrame:
    """Read a demo reference CSV (first line is its source comment) keeping empty text as ''."""
    return pd.read_csv(REFERENCE_DIR / name, skiprows=1, keep_default_na=False, na_values=[])


@dataclass
class _Model:
    """Everything the generator needs, as arrays, prepared once from the reference tables."""

    cal: dict
    # cells
    cell_e: np.ndarray
    cell_n: np.ndarray
    cell_p: np.ndarray
    cell_station: np.ndarray  # index into the LFB station arrays
    cell_text: dict[str, np.ndarray]
    # LFB stations
    st_code: np.ndarray
    st_name: np.ndarray
    st_e: np.ndarray
    st_n: np.ndarray
    st_pumps: np.ndarray
    st_travel: np.ndarray
    st_busy: np.ndarray
    st_turnout: np.ndarray
    st_neighbours: np.ndarray  # the 4 nearest other stations (where a pump stands by when away)
    # incident types
    types: pd.DataFrame
    type_p: np.ndarray  # base weights
    type_key: np.ndarray  # index of the stop key
    type_month: np.ndarray  # (types, 12) seasonal factor
    type_pumps_cdf: np.ndarray  # (types, 10)
    type_no_first: np.ndarray
    type_travel: np.ndarray  # incident-type travel factor
    type_group: np.ndarray  # 0 False Alarm, 1 Fire, 2 Special Service
    type_calls: list[tuple[np.ndarray, np.ndarray]]  # per stop key: values, cdf
    hour_cdf: np.ndarray  # (2 day types, keys, 24)
    hour_busy: np.ndarray  # (24,) relative workload by hour
    # travel
    log_centre: np.ndarray
    log_median: np.ndarray
    hour_factor: np.ndarray
    resid: np.ndarray  # (bands, knots)
    knots: np.ndarray
    turnout_mean: np.ndarray  # (24,)
    turnout_sigma: float
    boroughs: dict[str, str]


def _smoothed_cell_weights(cells: pd.DataFrame) -> np.ndarray:
    """Return cell weights: 70% the cell's own count, 30% the mean of its 3x3 neighbourhood."""
    ix = ((cells.easting - cells.easting.min()) // 1000).to_numpy(int)
    iy = ((cells.northing - cells.northing.min()) // 1000).to_numpy(int)
    grid = np.zeros((ix.max() + 3, iy.max() + 3))
    grid[ix + 1, iy + 1] = cells.incidents.to_numpy(float)
    box = sum(grid[1 + dx:grid.shape[0] - 1 + dx, 1 + dy:grid.shape[1] - 1 + dy]
              for dx in (-1, 0, 1) for dy in (-1, 0, 1)) / 9.0
    weights = 0.7 * cells.incidents.to_numpy(float) + 0.3 * box[ix, iy]
    return weights / weights.sum()


def _cdf(p: np.ndarray) -> np.ndarray:
    """Return the cumulative distribution of probabilities along the last axis (last value exactly 1)."""
    c = np.cumsum(np.asarray(p, float), axis=-1)
    c /= c[..., -1:]
    return c


@lru_cache(maxsize=1)
def _model() -> _Model:
    """Prepare the generator's arrays from the reference tables."""
    cal = calibration()
    st_all = stations()
    demo_st = _read_table("demo_stations.csv").set_index("station_code")
    lfb = st_all[st_all.is_lfb == 1]
    codes = lfb.station_code.to_numpy(str)
    index = {name: i for i, name in enumerate(lfb.station_name)}
    st_e, st_n = lfb.easting.to_numpy(float), lfb.northing.to_numpy(float)
    workload = demo_st.loc[codes, "ground_incidents"].to_numpy(float) + 5.0
    gap = np.hypot(st_e[:, None] - st_e[None, :], st_n[:, None] - st_n[None, :])
    np.fill_diagonal(gap, np.inf)
    fixed = np.random.default_rng(20230101)  # station traits: the same whatever the seed

    cells = london_cells()
    types = _read_table("demo_incident_types.csv")
    keys = sorted(set(cal["stop_keys"].values()))
    key_index = {k: i for i, k in enumerate(keys)}
    type_key = types.stop_key.map(key_index).to_numpy(int)
    pumps = cal["pumps"]
    pump_p = np.array([pumps.get(f"{k}|{c}", pumps[k]) for k, c in zip(types.stop_key, types.property_category)])
    no_first = cal["no_first_pump"]
    tf = cal["type_factor"]
    hours = cal["hour_profile"]
    hour_p = np.array([[hours[day][k] for k in keys] for day in ("weekday", "weekend")])
    overall_hours = hour_p.mean(axis=(0, 1))
    trav = cal["travel"]
    turnout = cal["turnout"]
    # turnout: lognormal with a mean by hour; mean and SD over all pumps = the published 70 s / 38 s
    w = overall_hours / overall_hours.sum()
    rel = TURNOUT_NIGHT / float(np.sum(w * TURNOUT_NIGHT))
    mean_h = turnout["mean_s"] * rel
    second = float(np.sum(w * mean_h**2)) * np.exp(STATION_TURNOUT_SD**2)
    cv2 = max((turnout["sd_s"] ** 2 + turnout["mean_s"] ** 2) / second - 1.0, 0.01)  # within-hour CV squared
    calls = []
    for k in keys:
        dist = cal["num_calls"][k]
        calls.append((np.array([int(v) for v in dist]), _cdf(np.array(list(dist.values()), float))))
    return _Model(
        cal=cal,
        cell_e=cells.easting.to_numpy(float), cell_n=cells.northing.to_numpy(float),
        cell_p=_smoothed_cell_weights(cells),
        cell_station=cells.station_ground.map(index).to_numpy(int),
        cell_text={c: cells[c].fillna("").astype(str).to_numpy(object) for c in
                   ("borough_code", "borough_name", "ward_code", "ward_name", "postcode_district")},
        st_code=codes, st_name=lfb.station_name.to_numpy(object), st_e=st_e, st_n=st_n,
        st_pumps=demo_st.loc[codes, "pumps"].to_numpy(int),
        st_travel=demo_st.loc[codes, "travel_factor"].to_numpy(float),
        st_busy=np.clip((workload / workload.mean()) ** 0.5, 0.5, 2.0),
        st_turnout=np.exp(fixed.normal(0.0, STATION_TURNOUT_SD, len(codes))),
        st_neighbours=np.argsort(gap, axis=1)[:, :4],
        types=types,
        type_p=types["count"].to_numpy(float),
        type_key=type_key,
        type_month=np.array([cal["month_type_factor"][k] for k in types.stop_key]),
        type_pumps_cdf=_cdf(pump_p),
        type_no_first=np.array([no_first.get(f"{k}|{s}", no_first[k]) if s else no_first[k]
                                for k, s in zip(types.stop_key, types.special_service_type)]),
        type_travel=(types.stop_key.map(tf["stop_code"]).fillna(1.0)
                     * types.property_category.map(tf["property_category"]).fillna(1.0)).to_numpy(float),
        type_group=types.incident_group.map({"False Alarm": 0, "Fire": 1, "Special Service": 2}).to_numpy(int),
        type_calls=calls,
        hour_cdf=_cdf(hour_p),
        hour_busy=np.clip((overall_hours / overall_hours.mean()) ** 0.5, 0.6, 1.4),
        log_centre=np.log(np.array(trav["band_centre_m"], float)),
        log_median=np.log(np.array(trav["band_median_s"], float)),
        hour_factor=np.array(trav["hour_factor"], float) ** HOUR_EFFECT,
        resid=np.array(trav["residual_quantiles"], float),
        knots=np.array(trav["residual_knots"], float),
        turnout_mean=mean_h,
        turnout_sigma=float(np.sqrt(np.log1p(cv2))),
        boroughs=cal["borough_proper_case"],
    )


# ---- drawing ----------------------------------------------------------------------------------

def _draw(rng: np.random.Generator, cdf: np.ndarray) -> np.ndarray:
    """Draw one index per row from rows of cumulative probabilities (n, k)."""
    u = rng.random(cdf.shape[0])
    return np.minimum((u[:, None] > cdf).sum(axis=1), cdf.shape[1] - 1)


def median_travel_s(model: _Model, distance_m: np.ndarray) -> np.ndarray:
    """Return the real median travel time (s) for straight-line distances (log-log interpolation)."""
    x = np.log(np.clip(distance_m, 25.0, None))
    y = np.interp(x, model.log_centre, model.log_median)
    slope = (model.log_median[-1] - model.log_median[-2]) / (model.log_centre[-1] - model.log_centre[-2])
    beyond = x > model.log_centre[-1]
    y[beyond] = model.log_median[-1] + slope * (x[beyond] - model.log_centre[-1])
    return np.exp(y)


def _residual(model: _Model, distance_m: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Return the log travel-time residual at probability `u`, interpolated between distance bands."""
    x = np.log(np.clip(distance_m, 25.0, None))
    pos = np.clip(np.interp(x, model.log_centre, np.arange(len(model.log_centre))), 0, len(model.log_centre) - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(model.log_centre) - 1)
    frac = pos - lo
    uk = np.clip(u, model.knots[0], model.knots[-1])
    j = np.clip(np.searchsorted(model.knots, uk) - 1, 0, len(model.knots) - 2)
    t = (uk - model.knots[j]) / (model.knots[j + 1] - model.knots[j])

    def at(band: np.ndarray) -> np.ndarray:
        """Return the residual of one band at the knots' interpolation point."""
        return model.resid[band, j] * (1 - t) + model.resid[band, j + 1] * t

    return at(lo) * (1 - frac) + at(hi) * frac


@dataclass
class _Month:
    """One month of generated incidents and mobilisations, as arrays (not yet text)."""

    inc: dict[str, np.ndarray]
    mob: dict[str, np.ndarray]


def _incidents(model: _Model, rng: np.random.Generator, year: int, month: int, per_year: float) -> dict:
    """Draw the month's incidents: when, what and where (sorted by time of call)."""
    cal = model.cal
    first = dt.date(year, month, 1)
    days = (dt.date(year + month // 12, month % 12 + 1, 1) - first).days
    month_days = np.array([31, 28.25, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    rate = np.array(cal["month_rate"], float)
    expected = per_year * rate[month - 1] * days / float(np.sum(rate * month_days))
    n = int(rng.poisson(expected))
    dow = (np.arange(days) + first.weekday()) % 7
    day_w = np.array(cal["weekday_factor"], float)[dow] * rng.gamma(25.0, 1 / 25.0, days)  # busy and quiet days
    day = rng.choice(days, size=n, p=day_w / day_w.sum())
    type_w = model.type_p * model.type_month[:, month - 1]
    kind = rng.choice(len(type_w), size=n, p=type_w / type_w.sum())
    weekend = ((day + first.weekday()) % 7 >= 5).astype(int)
    hour = _draw(rng, model.hour_cdf[weekend, model.type_key[kind]])
    second = rng.integers(0, 3600, n)
    epoch_day = (first - dt.date(1970, 1, 1)).days
    call = (epoch_day + day).astype(np.int64) * 86400 + hour * 3600 + second
    order = np.argsort(call, kind="stable")
    call, kind, hour = call[order], kind[order], hour[order]
    cell = rng.choice(len(model.cell_p), size=n, p=model.cell_p)
    east = np.floor(model.cell_e[cell] + rng.random(n) * 1000.0)
    north = np.floor(model.cell_n[cell] + rng.random(n) * 1000.0)
    return {"call": call, "kind": kind, "hour": hour, "cell": cell, "east": east, "north": north,
            "ground": model.cell_station[cell]}


def _turnout(model: _Model, rng: np.random.Generator, hour: np.ndarray, station: np.ndarray) -> np.ndarray:
    """Draw turnout times (s): lognormal around the hour's mean, times the station's own factor."""
    mean = model.turnout_mean[hour] * model.st_turnout[station]
    sigma = model.turnout_sigma
    return mean * np.exp(sigma * rng.standard_normal(len(mean)) - sigma**2 / 2)


def year_factor(model: _Model, year: int) -> float:
    """Return the travel-time level of a year (real years; before or after them, the nearest one's)."""
    table = {int(y): float(v) for y, v in model.cal["travel"]["year_factor"].items()}
    return table[min(table, key=lambda y: (abs(y - year), y))]


def _travel(model: _Model, rng: np.random.Generator, distance: np.ndarray, hour: np.ndarray, station: np.ndarray,
            factor: np.ndarray, turnout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Draw travel times (s) and their probability level, redrawn where attendance would pass 1200 s."""
    base = median_travel_s(model, distance) * model.hour_factor[hour] * model.st_travel[station] * factor
    u = rng.random(len(distance))
    travel = base * np.exp(TRAVEL_SPREAD * _residual(model, distance, u))
    for _ in range(6):
        over = turnout + travel > MAX_ATTENDANCE_S
        if not over.any():
            break
        u[over] = rng.random(int(over.sum()))
        travel[over] = base[over] * np.exp(TRAVEL_SPREAD * _residual(model, distance[over], u[over]))
    return np.maximum(travel, 1.0), u


def _dispatch(model: _Model, rng: np.random.Generator, inc: dict, attend: np.ndarray, year: int) -> dict:
    """Choose, time and order the pumps of the incidents with index `attend`; return mobilisation arrays."""
    m = len(attend)
    east, north = inc["east"][attend], inc["north"][attend]
    hour, ground, kind = inc["hour"][attend], inc["ground"][attend], inc["kind"][attend]
    n_pumps = inc["pumps"][attend]
    d_home = np.hypot(east[:, None] - model.st_e[None, :], north[:, None] - model.st_n[None, :])  # (m, stations)
    expect = median_travel_s(model, d_home.ravel()).reshape(d_home.shape) * model.st_travel[None, :]
    own = np.arange(len(model.st_e))[None, :] == ground[:, None]
    key = expect * np.where(own, GROUND_PREFERENCE, 1.0)
    k = CANDIDATE_STATIONS
    cand = np.argpartition(key, k, axis=1)[:, :k]  # (m, k) station indices
    # two slots per candidate station (pump 1, pump 2); a slot is usable if the pump exists and is free
    slot_station = np.repeat(cand, 2, axis=1)
    slot_pump = np.tile([0, 1], k)[None, :].repeat(m, axis=0)
    exists = model.st_pumps[slot_station] > slot_pump
    busy = BUSY_BASE * model.st_busy[slot_station] * model.hour_busy[hour][:, None]
    free = exists & (rng.random(slot_station.shape) >= busy)
    away = rng.random(slot_station.shape) < AWAY_FROM_HOME
    neighbour = model.st_neighbours[slot_station, rng.integers(0, 4, slot_station.shape)]
    base = np.where(away, neighbour, slot_station)  # the station the pump stands at (its home or another)
    dist = np.hypot(east[:, None] - model.st_e[base], north[:, None] - model.st_n[base])
    eta = median_travel_s(model, dist.ravel()).reshape(dist.shape) * model.st_travel[base]
    eta *= np.where(base == ground[:, None], GROUND_PREFERENCE, 1.0)
    eta += slot_pump * 1e-3  # a station's first pump goes before its second
    eta[~free] = np.inf
    order = np.argsort(eta, axis=1)[:, :int(n_pumps.max())]
    rank = np.arange(order.shape[1])[None, :]
    chosen = (rank < n_pumps[:, None]) & np.isfinite(np.take_along_axis(eta, order, axis=1))
    row, col = np.nonzero(chosen)
    slot = order[row, col]
    home = slot_station[row, slot]
    station = base[row, slot]
    pump_digit = slot_pump[row, slot]
    swap = (model.st_pumps[home] == 2) & (rng.random(m) < 0.5)[row]  # either pump may be the one sent
    pump_digit = np.where(swap, 1 - pump_digit, pump_digit) + 1
    dispatch_rank = col
    # mobilisation time: with the first pump, or later as a make-up
    delay = np.where((dispatch_rank == 0) | (rng.random(len(row)) < SECOND_SAME_TIME), 0,
                     60 + rng.exponential(300.0, len(row))).astype(np.int64)
    h = hour[row]
    turnout = np.round(_turnout(model, rng, h, station))
    factor = model.type_travel[kind[row]] * year_factor(model, year)
    travel, u = _travel(model, rng, dist[row, slot], h, station, factor, turnout)
    spot = (dispatch_rank == 0) & (rng.random(m) < ON_THE_SPOT)[row]  # the real files' 2% of very short times
    n_spot = int(spot.sum())
    turnout[spot] = np.floor(rng.random(n_spot) * 15)
    travel[spot] = np.where(rng.random(n_spot) < 0.4, 1 + rng.random(n_spot) * 10, 10 + rng.random(n_spot) * 90)
    turnout = np.minimum(turnout, MAX_TURNOUT_S)
    travel = np.minimum(np.round(travel), MAX_ATTENDANCE_S - turnout)  # the cap holds after rounding too
    inc_index = attend[row]
    mobilised = inc["call"][inc_index] + delay
    arrived = mobilised + (turnout + travel).astype(np.int64)
    return {"inc": inc_index, "station": station, "home": home, "digit": pump_digit, "away": away[row, slot],
            "mobilised": mobilised, "turnout": turnout, "travel": travel, "arrived": arrived,
            "u": u, "rank": dispatch_rank}


def _order_pumps(mob: dict) -> None:
    """Add PumpOrder (arrival order within the incident) to the mobilisation arrays."""
    order = np.lexsort((mob["rank"], mob["arrived"], mob["inc"]))
    inc_sorted = mob["inc"][order]
    starts = np.r_[0, np.flatnonzero(np.diff(inc_sorted)) + 1]
    position = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    pump_order = np.empty(len(order), int)
    pump_order[order] = position + 1
    mob["pump_order"] = pump_order


def _month(model: _Model, rng: np.random.Generator, year: int, month: int, per_year: float) -> _Month:
    """Generate one month of incidents and their mobilisations."""
    inc = _incidents(model, rng, year, month, per_year)
    n = len(inc["call"])
    kind = inc["kind"]
    no_first = rng.random(n) < model.type_no_first[kind]
    pumps = np.minimum(_draw(rng, model.type_pumps_cdf[kind]) + 1, 10)
    pumps[no_first] = 1
    inc["pumps"] = pumps
    inc["no_first"] = no_first
    attend = np.flatnonzero(~no_first)
    mob = _dispatch(model, rng, inc, attend, year) if len(attend) else None
    if mob is None or not len(mob["inc"]):
        mob = {k: np.zeros(0, int) for k in ("inc", "station", "home", "digit", "away", "mobilised", "turnout",
                                              "travel", "arrived", "u", "rank")}
    _order_pumps(mob)
    # incident figures from its mobilisations
    counts = np.bincount(mob["inc"], minlength=n)
    stations_per = np.zeros(n, int)
    if len(mob["inc"]):
        pairs = np.unique(np.c_[mob["inc"], mob["station"]], axis=0)
        stations_per = np.bincount(pairs[:, 0], minlength=n)
    inc["num_pumps"], inc["num_stations"] = counts, stations_per
    attendance = mob["turnout"] + mob["travel"]
    for which, order in (("first", 1), ("second", 2)):
        sel = mob["pump_order"] == order
        secs = np.full(n, np.nan)
        secs[mob["inc"][sel]] = attendance[sel]
        st = np.full(n, -1)
        st[mob["inc"][sel]] = mob["station"][sel]
        inc[f"{which}_s"], inc[f"{which}_station"] = secs, st
    # how long each pump stays: mobilised -> left, then the incident's pump minutes
    group = model.type_group[kind]
    busy = model.cal["busy_minutes"]
    names = ("False Alarm", "Fire", "Special Service")
    med = np.log(np.array([busy[g]["median_min"] for g in names]))
    sig = np.array([busy[g]["sigma"] for g in names])
    mg = group[mob["inc"]]
    scene = np.exp(med[mg] + sig[mg] * rng.standard_normal(len(mg))) * 60.0
    mob["left"] = mob["arrived"] + np.maximum(np.round(scene), 60).astype(np.int64)
    pump_seconds = np.bincount(mob["inc"], weights=(mob["left"] - mob["mobilised"]).astype(float), minlength=n)
    lone = np.flatnonzero(counts == 0)  # attended, but not as an emergency: one pump, about 20 minutes
    pump_seconds[lone] = 300 + np.exp(med[group[lone]] + sig[group[lone]] * rng.standard_normal(len(lone))) * 60
    inc["pump_minutes"] = np.maximum(60, np.round(pump_seconds / 60.0)).astype(int)
    nf = inc["no_first"]
    inc["num_missing"] = nf & (rng.random(n) < model.cal["no_first_pump_count_missing"])
    return _Month(inc, mob)


# ---- text formatting ---------------------------------------------------------------------------

_TIMES = np.array([f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400)], dtype=object)


def _dates(seconds: np.ndarray, day_first: bool) -> np.ndarray:
    """Return the date part of epoch seconds as 'dd/mm/yyyy' (day_first) or 'yyyy-mm-dd' text."""
    days = seconds // 86400
    unique, inverse = np.unique(days, return_inverse=True)
    base = dt.date(1970, 1, 1)
    text = [(base + dt.timedelta(days=int(d))) for d in unique]
    fmt = "%d/%m/%Y" if day_first else "%Y-%m-%d"
    return np.array([d.strftime(fmt) for d in text], dtype=object)[inverse]


def _datetimes(seconds: np.ndarray) -> np.ndarray:
    """Return epoch seconds as 'dd/mm/yyyy HH:MM:SS' text (the mobilisation files' format)."""
    if not len(seconds):
        return np.zeros(0, dtype=object)
    return _dates(seconds, True) + " " + _TIMES[seconds % 86400]


def _num(values: np.ndarray, suffix: str = "") -> np.ndarray:
    """Return integers as text with an optional suffix (e.g. '.0' as the published floats are written)."""
    return np.array([f"{v}{suffix}" for v in np.asarray(values, dtype=np.int64).tolist()], dtype=object)


def _blank_where(text: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Return a copy of text cells with '' where `mask` is True."""
    out = np.array(text, dtype=object, copy=True)
    out[mask] = ""
    return out


def _coordinate(values: np.ndarray) -> np.ndarray:
    """Return latitude/longitude as text the way the published files write them (up to 10 decimals)."""
    return np.array([f"{v:.10f}".rstrip("0").rstrip(".") for v in values.tolist()], dtype=object)


def _notional_rate(model: _Model, year: int, month: int) -> float:
    """Return the notional cost per pump hour (pounds) in force on a date (fiscal years from April)."""
    rates = {int(y): v for y, v in model.cal["notional_cost_rate"]["by_fiscal_year"].items()}
    growth = model.cal["notional_cost_rate"]["yearly_growth"]
    fiscal = year - (month < 4)
    if fiscal in rates:
        return float(rates[fiscal])
    below = [y for y in rates if y < fiscal]
    above = [y for y in rates if y > fiscal]
    if below and above:
        lo, hi = max(below), min(above)
        return rates[lo] * (rates[hi] / rates[lo]) ** ((fiscal - lo) / (hi - lo))
    ref = max(below) if below else min(above)
    return rates[ref] * (1 + growth) ** (fiscal - ref)


def _incident_columns(model: _Model, rng: np.random.Generator, data: _Month, seq_start: int, year: int,
                      month: int) -> dict[str, np.ndarray]:
    """Return the month's incident rows as published text columns, in header order."""
    inc = data.inc
    n = len(inc["call"])
    t = model.types.iloc[inc["kind"]]
    redacted = t.redacted.to_numpy(bool)
    call = inc["call"]
    date_iso = _dates(call, False)
    ddmmyyyy = np.array([d[8:10] + d[5:7] + d[0:4] for d in date_iso.tolist()], dtype=object)
    number = np.array([f"{seq_start + i:06d}-{d}{DEMO_SUFFIX}" for i, d in enumerate(ddmmyyyy.tolist())],
                      dtype=object)
    cell = inc["cell"]
    text = {c: v[cell] for c, v in model.cell_text.items()}
    ward_gone = rng.random(n) < model.cal["ward_missing_share"]
    east, north = inc["east"].astype(np.int64), inc["north"].astype(np.int64)
    lat, lon = bng_to_wgs84(east, north)
    district = text["postcode_district"]
    postcode = (district + " " + _num(rng.integers(0, 10, n)) + INWARD_LETTERS[rng.integers(0, 20, n)].astype(object)
                + INWARD_LETTERS[rng.integers(0, 20, n)].astype(object))
    pattern = rng.random(n)
    uprn = np.where(pattern < 0.45, rng.integers(100_000_000_000, 100_100_000_000, n),
                    np.where(pattern < 0.85, rng.integers(10_000_000_000, 10_100_000_000, n),
                             rng.integers(100_000_000, 300_000_000, n)))
    uprn[redacted] = 0
    calls_key = model.type_key[inc["kind"]]
    num_calls = np.ones(n, int)
    for key, (values, cdf) in enumerate(model.type_calls):
        sel = np.flatnonzero(calls_key == key)
        if len(sel):
            num_calls[sel] = values[np.minimum(np.searchsorted(cdf, rng.random(len(sel))), len(values) - 1)]
    rate = _notional_rate(model, year, month)
    first_missing = np.isnan(inc["first_s"])
    second_missing = np.isnan(inc["second_s"])
    pumps_missing = inc["num_missing"]
    borough = text["borough_name"]
    frame = {
        "IncidentNumber": number,
        "DateOfCall": date_iso,
        "CalYear": _num(np.full(n, year)),
        "TimeOfCall": _TIMES[call % 86400],
        "HourOfCall": _num(inc["hour"]),
        "IncidentGroup": t.incident_group.to_numpy(object),
        "StopCodeDescription": t.stop_code.to_numpy(object),
        "SpecialServiceType": t.special_service_type.to_numpy(object),
        "PropertyCategory": t.property_category.to_numpy(object),
        "PropertyType": t.property_type.to_numpy(object),
        "AddressQualifier": t.address_qualifier.to_numpy(object),
        "Postcode_full": _blank_where(postcode, redacted),
        "Postcode_district": district,
        "UPRN": _num(uprn),
        "USRN": _num(rng.integers(20_000_000, 23_000_000, n)),
        "IncGeo_BoroughCode": text["borough_code"],
        "IncGeo_BoroughName": borough,
        "ProperCase": np.array([model.boroughs.get(b, b.title()) for b in borough.tolist()], dtype=object),
        "IncGeo_WardCode": _blank_where(text["ward_code"], ward_gone),
        "IncGeo_WardName": _blank_where(text["ward_name"], ward_gone),
        "IncGeo_WardNameNew": _blank_where(text["ward_name"], ward_gone),
        "Easting_m": _blank_where(_num(east, ".0"), redacted),
        "Northing_m": _blank_where(_num(north, ".0"), redacted),
        "Easting_rounded": _num(east // 100 * 100 + 50),
        "Northing_rounded": _num(north // 100 * 100 + 50),
        "Latitude": _blank_where(_coordinate(lat), redacted),
        "Longitude": _blank_where(_coordinate(lon), redacted),
        "FRS": np.full(n, "London", dtype=object),
        "IncidentStationGround": model.st_name[inc["ground"]],
        "FirstPumpArriving_AttendanceTime": _blank_where(_num(np.nan_to_num(inc["first_s"]), ".0"), first_missing),
        "FirstPumpArriving_DeployedFromStation": _blank_where(model.st_name[inc["first_station"]], first_missing),
        "SecondPumpArriving_AttendanceTime": _blank_where(_num(np.nan_to_num(inc["second_s"]), ".0"),
                                                          second_missing),
        "SecondPumpArriving_DeployedFromStation": _blank_where(model.st_name[inc["second_station"]],
                                                               second_missing),
        "NumStationsWithPumpsAttending": _blank_where(_num(np.maximum(inc["num_stations"], 1), ".0"),
                                                      pumps_missing),
        "NumPumpsAttending": _blank_where(_num(np.maximum(inc["num_pumps"], 1), ".0"), pumps_missing),
        "PumpCount": _num(np.maximum(inc["num_pumps"], 1)),
        "PumpMinutesRounded": _num(inc["pump_minutes"]),
        "Notional Cost (£)": _num(np.round(inc["pump_minutes"] / 60.0 * rate)),
        "NumCalls": _num(num_calls, ".0"),
    }
    return {name: frame[name] for name in INCIDENT_HEADER}


def _delay_codes(model: _Model, rng: np.random.Generator, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Draw delay codes: 'Not held up' at random, traffic/address codes mostly on slow journeys."""
    codes = model.cal["delay_codes"]["codes"]
    n = len(u)
    weight = np.stack([np.full(n, c["share"]) if c["id"] == 12 else c["share"] * 3.0 * u**2 for c in codes], axis=1)
    pick = rng.random(n)
    edges = np.cumsum(weight, axis=1)
    which = (pick[:, None] >= edges).sum(axis=1)  # len(codes) = no code
    ids = np.array([f"{c['id']}.0" for c in codes] + [""], dtype=object)
    text = np.array([c["description"] for c in codes] + [""], dtype=object)
    return ids[which], text[which]


def _mobilisation_columns(model: _Model, rng: np.random.Generator, data: _Month, numbers: np.ndarray,
                          year: int, first_id: int) -> dict[str, np.ndarray]:
    """Return the month's mobilisation rows as published text columns, in order of mobilisation."""
    mob = data.mob
    order = np.lexsort((mob["pump_order"], mob["inc"], mob["mobilised"]))
    mob = {k: v[order] for k, v in mob.items()}
    m = len(mob["inc"])
    station = mob["station"]
    no_mobile = rng.random(m) < MOBILE_MISSING
    no_left = rng.random(m) < LEFT_MISSING
    attendance = (mob["turnout"] + mob["travel"]).astype(np.int64)
    delay_id, delay_text = _delay_codes(model, rng, mob["u"])
    pump_order = mob["pump_order"]
    reporting = np.where(pump_order == 1, "1", np.where(pump_order == 2, "2", "Not Used")).astype(object)
    frame = {
        "IncidentNumber": numbers[mob["inc"]],
        "CalYear": _num(np.full(m, year)),
        "HourOfCall": _num(data.inc["hour"][mob["inc"]]),
        "ResourceMobilisationId": _num(first_id + np.arange(m)),
        "Resource_Code": model.st_code[mob["home"]].astype(object) + _num(mob["digit"]),
        "PerformanceReporting": reporting,
        "DateAndTimeMobilised": _datetimes(mob["mobilised"]),
        "DateAndTimeMobile": _blank_where(_datetimes(mob["mobilised"] + mob["turnout"].astype(np.int64)), no_mobile),
        "DateAndTimeArrived": _datetimes(mob["arrived"]),
        "TurnoutTimeSeconds": _blank_where(_num(mob["turnout"], ".0"), no_mobile),
        "TravelTimeSeconds": _blank_where(_num(mob["travel"], ".0"), no_mobile),
        "AttendanceTimeSeconds": _num(attendance),
        "DateAndTimeLeft": _blank_where(_datetimes(mob["left"]), no_left),
        "DateAndTimeReturned": np.full(m, "", dtype=object),
        "DeployedFromStation_Code": model.st_code[station].astype(object),
        "DeployedFromStation_Name": model.st_name[station],
        "DeployedFromLocation": np.where(mob["away"], "Other Station", "Home Station").astype(object),
        "PumpOrder": _num(pump_order),
        "PlusCode_Code": np.full(m, "Initial", dtype=object),
        "PlusCode_Description": np.full(m, "Initial Mobilisation", dtype=object),
        "DelayCodeId": delay_id,
        "DelayCode_Description": delay_text,
    }
    return {name: frame[name] for name in MOBILISATION_HEADER}


# ---- files --------------------------------------------------------------------------------------

README_TEXT = """DEMO DATA - SYNTHETIC, NOT REAL LONDON FIRE BRIGADE RECORDS

The files lfb-demo-incidents-YYYY.csv and lfb-demo-mobilisations-YYYY.csv in this folder were
generated by lfb/demo.py (seed {seed}, {first} to {last}, {incidents:,} incidents, {mobilisations:,}
mobilisations). They follow the exact published schemas of the LFB incident and mobilisation
records so that the whole pipeline can be exercised, and their distributions are calibrated on a
real 2023 sample, but every row is invented: no incident here happened. Incident numbers end in
"-DEMO" and mobilisation ids start at {first_id:,}, so demo rows can always be told apart from
real ones (the database flags them is_demo = 1; `python -m lfb clear-demo` removes them).
"""


def _write_rows(fh: TextIO, columns: dict[str, np.ndarray]) -> int:
    """Append text columns as CSV rows to an open file (minimal quoting, LF line ends); return the row count."""
    cells = [np.asarray(c, dtype=object).tolist() for c in columns.values()]
    csv.writer(fh, lineterminator="\n").writerows(zip(*cells))
    return len(cells[0]) if cells else 0


def generate_demo(out_dir: Path, *, start: str | None = None, months: int = 36, seed: int = 2024,
                  incidents_per_year: int = 120_000, progress: Progress | None = None) -> DemoResult:
    """Write demo incident and mobilisation files (one of each per calendar year) into `out_dir`."""
    clock = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = start or default_start(months)
    covered = month_range(start, months)
    if incidents_per_year <= 0:
        raise ValueError(f"incidents_per_year must be positive, got {incidents_per_year}")
    model = _model()
    years = sorted({y for y, _ in covered})
    final = {y: (out_dir / INCIDENT_FILE.format(year=y), out_dir / MOBILISATION_FILE.format(year=y)) for y in years}
    for old in out_dir.iterdir():  # files of an earlier run for years not covered now would mislead
        match = DEMO_FILE_RE.fullmatch(old.name)
        if match and int(match.group(2)) not in final:
            old.unlink()
    result = DemoResult(paths=[], incidents=0, mobilisations=0, months=[f"{y:04d}-{m:02d}" for y, m in covered])
    next_id = FIRST_MOBILISATION_ID
    files: list = []  # the open (incident, mobilisation) files of the current year
    current, seq = None, 1
    try:
        for i, (year, month) in enumerate(covered):
            if year != current:
                for fh in files:
                    fh.close()
                files = [p.with_name(p.name + ".partial").open("w", encoding="utf-8", newline="")
                         for p in final[year]]
                files[0].write(",".join(INCIDENT_HEADER) + "\n")
                files[1].write(",".join(MOBILISATION_HEADER) + "\n")
                current, seq = year, 1
            rng = np.random.default_rng([seed, year, month])
            data = _month(model, rng, year, month, incidents_per_year)
            incidents = _incident_columns(model, rng, data, seq, year, month)
            mobilisations = _mobilisation_columns(model, rng, data, incidents["IncidentNumber"], year, next_id)
            n_inc, n_mob = _write_rows(files[0], incidents), _write_rows(files[1], mobilisations)
            seq += n_inc
            next_id += n_mob
            result.incidents += n_inc
            result.mobilisations += n_mob
            for path, rows in zip(final[year], (n_inc, n_mob)):
                result.by_file[path.name] = result.by_file.get(path.name, 0) + rows
            if progress:
                progress(i + 1, len(covered))
    finally:
        for fh in files:
            fh.close()
    for year in years:
        for path in final[year]:
            path.with_name(path.name + ".partial").replace(path)
            result.paths.append(path)
    result.readme = out_dir / README_NAME
    result.readme.write_text(README_TEXT.format(
        seed=seed, first=result.months[0], last=result.months[-1], incidents=result.incidents,
        mobilisations=result.mobilisations, first_id=FIRST_MOBILISATION_ID), encoding="utf-8")
    result.seconds = time.perf_counter() - clock
    return result


def demo_files(folder: Path) -> list[Path]:
    """Return the demo data files in a folder, incidents before mobilisations, by year."""
    found = [(int(m.group(2)), m.group(1) != "incidents", p) for p in Path(folder).iterdir()
             if (m := DEMO_FILE_RE.fullmatch(p.name))]
    return [p for _, _, p in sorted(found)]
