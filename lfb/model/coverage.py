"""London's coverage: the model's first-pump arrival estimate in every 1-km cell, and what changes without a station.

For each cell of the Greater London grid (lfb/data/tables/london_cells.csv, taken at its centre) the model in
service estimates, in one batch through the serving code (Predictor.estimate_arrays), the attendance of a pump
from each of the cell's `k` nearest LFB stations, leaving from its home station, at one hour of one weekday, for
one incident group (other details unknown). The cell's arrival is the smallest median among them (the P90 shown is
that station's). "What if a station is unavailable" takes the smallest median among the same candidates without
it, so removing a station can never make a cell faster. Results are cached in-process per model version, hour,
weekday, group and removed station; the cached objects are shared: read them, do not modify them.
"""
from __future__ import annotations

import datetime as dt
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Hashable

import numpy as np
import pandas as pd

from lfb.data.reference import CELL_M, holiday_flags, london_cells, stations
from lfb.geo.grid import bng_to_wgs84
from lfb.model.estimator import TARGET_S
from lfb.model.features import nearest_stations
from lfb.model.serving import OPTIONAL_TYPES, Predictor, RequestError
from lfb.text import quoted

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DEFAULT_STATIONS = 6  # candidates per cell: the 7th nearest station is practically never the fastest
CACHE_SIZE = 48
_cache: OrderedDict[Hashable, Any] = OrderedDict()
_lock = threading.Lock()


@dataclass(frozen=True)
class CoverageSummary:
    """How much of London the first pump is estimated to reach within six minutes."""

    cells: int
    cells_over: int
    share_cells_over: float
    share_incidents_over: float  # cells weighted by their incidents in the 2023 LFB sample


@dataclass(frozen=True)
class Coverage:
    """The estimated first-pump arrival in every London cell at one hour of one weekday."""

    version: str
    when: pd.Timestamp
    incident_group: str
    cells: pd.DataFrame  # per cell: easting, northing (south-west corner), latitude, longitude (centre), incidents,
    #                      borough_name, station_code (fastest), median_s, p90_s, over_target
    candidates: np.ndarray  # station codes, cells x k, nearest first
    medians: np.ndarray  # median estimate of each candidate, cells x k
    p90s: np.ndarray
    summary: CoverageSummary
    seconds: float  # time the computation took

    @property
    def hour(self) -> int:
        """Return the hour estimated for."""
        return int(self.when.hour)

    @property
    def weekday(self) -> int:
        """Return the weekday estimated for (Monday = 0)."""
        return int(self.when.weekday())


@dataclass(frozen=True)
class WhatIfSummary:
    """What London loses when one station is unavailable."""

    removed: str
    cells_changed: int  # cells whose fastest station was the removed one
    cells_slower: int
    cells_newly_over: int
    largest_increase_s: float
    mean_increase_s: float  # over the cells that get slower
    share_incidents_over_before: float
    share_incidents_over_after: float


@dataclass(frozen=True)
class WhatIf:
    """Coverage without one station, cell by cell, against coverage with every station."""

    base: Coverage
    cells: pd.DataFrame  # base.cells' place columns plus station_code, median_s, p90_s, over_target (without the
    #                      station), before_station, before_s, change_s, slower, newly_over
    summary: WhatIfSummary


@lru_cache(maxsize=1)
def cell_centres() -> pd.DataFrame:
    """Return the London cells with the WGS84 position of each cell's centre and the cell's usual area."""
    cells = london_cells()
    lat, lon = bng_to_wgs84(cells["easting"].to_numpy(float) + CELL_M / 2, cells["northing"].to_numpy(float) + CELL_M / 2)
    return pd.DataFrame({
        "easting": cells["easting"].to_numpy(int), "northing": cells["northing"].to_numpy(int),
        "latitude": lat, "longitude": lon, "incidents": cells["incidents"].fillna(0).to_numpy(int),
        "borough_name": cells["borough_name"].astype(object).where(cells["borough_name"].notna(), None),
        "postcode_district": cells["postcode_district"].astype(object).where(cells["postcode_district"].notna(), None),
    })


@lru_cache(maxsize=64)
def representative_day(latest: pd.Timestamp, weekday: int) -> dt.date:
    """Return the latest ordinary day (no bank or school holiday) on or before `latest` that falls on `weekday`."""
    day = latest.date() - dt.timedelta(days=(latest.weekday() - weekday) % 7)
    for _ in range(60):  # the longest school holiday is six weeks
        bank, school = holiday_flags(pd.DatetimeIndex([pd.Timestamp(day)]))
        if not bank[0] and not school[0]:
            return day
        day -= dt.timedelta(days=7)
    return day


def _checked(predictor: Predictor, hour: int, weekday: int, incident_group: str) -> None:
    """Refuse an hour, weekday or incident group the model cannot answer for."""
    if not 0 <= int(hour) <= 23:
        raise RequestError(f"hour {hour} is not an hour of the day (0-23)")
    if not 0 <= int(weekday) <= 6:
        raise RequestError(f"weekday {weekday} is not a weekday number (Monday = 0 ... Sunday = 6)")
    known = predictor.categories.get("incident_group", set())
    if incident_group not in known:
        raise RequestError(f"unknown incident group {quoted(incident_group)}: choose one of {', '.join(sorted(known))}")


def _model_key(predictor: Predictor) -> tuple[str, str, str]:
    """Return what identifies a model version's estimates (the version and its training run)."""
    meta = predictor.metadata
    return predictor.version, str(meta.get("created", "")), str(meta.get("data_fingerprint", ""))


def _cached(key: Hashable, make: Any) -> Any:
    """Return the cached value of `key`, or make, cache and return it (the oldest entry goes when full)."""
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    value = make()
    with _lock:
        value = _cache.setdefault(key, value)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return value


def clear_cache() -> None:
    """Forget every cached coverage and what-if."""
    with _lock:
        _cache.clear()


def _requests(cells: pd.DataFrame, candidates: np.ndarray, when: pd.Timestamp, incident_group: str) -> dict:
    """Return one request per cell and candidate station, as column arrays (REQUEST_COLUMNS)."""
    n, k = candidates.shape
    size = n * k
    repeat = (lambda column: np.repeat(cells[column].to_numpy(object), k))  # noqa: E731
    return {"station_code": candidates.ravel(), "latitude": np.repeat(cells["latitude"].to_numpy(float), k),
            "longitude": np.repeat(cells["longitude"].to_numpy(float), k),
            "when": np.full(size, np.datetime64(when.to_datetime64(), "s")), "home_station": np.ones(size),
            "borough": repeat("borough_name"), "postcode_district": repeat("postcode_district"),
            "incident_group": np.full(size, incident_group, dtype=object),
            **{name: np.full(size, None, dtype=object) for name in OPTIONAL_TYPES}}


def _summary(cells: pd.DataFrame, over: np.ndarray) -> CoverageSummary:
    """Return the summary of cells of which `over` are over the target."""
    weights = cells["incidents"].to_numpy(float)
    total = weights.sum()
    return CoverageSummary(len(cells), int(over.sum()), float(over.mean()) if len(over) else 0.0,
                           float(weights[over].sum() / total) if total else 0.0)


def _compute(predictor: Predictor, when: pd.Timestamp, incident_group: str, k: int) -> Coverage:
    """Estimate every cell's candidates in one batch and keep each cell's fastest."""
    started = time.perf_counter()
    centres = cell_centres()
    candidates = nearest_stations(centres["latitude"].to_numpy(), centres["longitude"].to_numpy(), k)
    out = predictor.estimate_arrays(_requests(centres, candidates, when, incident_group))
    medians = np.asarray(out["median_s"], float).reshape(candidates.shape)
    p90s = np.asarray(out["p90_s"], float).reshape(candidates.shape)
    fastest = np.argmin(medians, axis=1)
    rows = np.arange(len(centres))
    cells = centres.drop(columns=["postcode_district"]).assign(
        station_code=candidates[rows, fastest], median_s=medians[rows, fastest], p90_s=p90s[rows, fastest])
    cells["over_target"] = cells["median_s"].to_numpy() > TARGET_S
    return Coverage(predictor.version, when, incident_group, cells, candidates, medians, p90s,
                    _summary(cells, cells["over_target"].to_numpy()), time.perf_counter() - started)


def coverage(predictor: Predictor, hour: int, weekday: int, incident_group: str = "Fire",
             k: int = DEFAULT_STATIONS) -> Coverage:
    """Return the estimated first-pump arrival in every London cell at `hour` on an ordinary `weekday` (cached)."""
    _checked(predictor, hour, weekday, incident_group)
    day = representative_day(predictor.time_range[1], int(weekday))
    when = pd.Timestamp(day) + pd.Timedelta(hours=int(hour))
    key = ("coverage", _model_key(predictor), int(hour), int(weekday), incident_group, int(k))
    return _cached(key, lambda: _compute(predictor, when, incident_group, int(k)))


def without_station(base: Coverage, removed: str) -> WhatIf:
    """Return the coverage of `base` with station `removed` taken out of every cell's candidates."""
    gone = base.candidates == removed
    medians = np.where(gone, np.inf, base.medians)
    fastest = np.argmin(medians, axis=1)
    rows = np.arange(len(medians))
    before = base.cells
    cells = before[["easting", "northing", "latitude", "longitude", "incidents", "borough_name"]].assign(
        station_code=base.candidates[rows, fastest], median_s=medians[rows, fastest], p90_s=base.p90s[rows, fastest],
        before_station=before["station_code"].to_numpy(), before_s=before["median_s"].to_numpy())
    cells["over_target"] = cells["median_s"].to_numpy() > TARGET_S
    cells["change_s"] = cells["median_s"] - cells["before_s"]
    cells["slower"] = cells["change_s"].to_numpy() > 0
    cells["newly_over"] = cells["over_target"].to_numpy() & ~before["over_target"].to_numpy()
    slower = cells["change_s"][cells["slower"]]
    summary = WhatIfSummary(
        removed, int((cells["before_station"] == removed).sum()), int(cells["slower"].sum()),
        int(cells["newly_over"].sum()), float(slower.max()) if len(slower) else 0.0,
        float(slower.mean()) if len(slower) else 0.0, base.summary.share_incidents_over,
        _summary(cells, cells["over_target"].to_numpy()).share_incidents_over)
    return WhatIf(base, cells, summary)


def what_if(predictor: Predictor, removed: str, hour: int, weekday: int, incident_group: str = "Fire",
            k: int = DEFAULT_STATIONS) -> WhatIf:
    """Return London's coverage without station `removed` against coverage with every station (cached)."""
    code = str(removed).strip().upper()
    st = stations()
    if code not in st.index or int(st.loc[code, "is_lfb"]) != 1:
        raise RequestError(f"unknown LFB station {removed!r}: give an LFB station code (e.g. A21)")
    base = coverage(predictor, hour, weekday, incident_group, k)
    key = ("what_if", _model_key(predictor), int(hour), int(weekday), incident_group, int(k), code)
    return _cached(key, lambda: without_station(base, code))
