"""The project's reference tables: stations, boroughs, postcode districts, London grid cells, holidays."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import sqlite_utils

from lfb.geo.grid import wgs84_to_bng
from lfb.text import quoted

REFERENCE_DIR = Path(__file__).resolve().parent / "tables"
CELL_M = 1000
CALENDAR_YEARS = (2009, 2024)  # years the calendar table covers; others follow the rules below


class UnknownStation(ValueError):
    """A station code or name that is not in the reference table."""


def _read(name: str) -> pd.DataFrame:
    """Read one reference CSV (its first line is a source comment)."""
    return pd.read_csv(REFERENCE_DIR / name, comment=None, skiprows=1, keep_default_na=False, na_values=[""])


@lru_cache(maxsize=1)
def stations() -> pd.DataFrame:
    """Return the LFB and neighbouring-brigade stations, indexed by station code."""
    return _read("stations.csv").set_index("station_code", drop=False)


@lru_cache(maxsize=1)
def station_codes_by_name() -> dict[str, str]:
    """Return a map from station name (lower case, as records spell it) to station code."""
    st = stations()
    return {name.strip().lower(): code for code, name in zip(st.station_code, st.station_name)}


def resolve_station(code_or_name: str) -> pd.Series:
    """Return the station row for a code (e.g. 'G26') or name (e.g. 'Paddington')."""
    key = str(code_or_name).strip()
    st = stations()
    if key.upper() in st.index:
        return st.loc[key.upper()]
    code = station_codes_by_name().get(key.lower())
    if code is None:
        raise UnknownStation(f"unknown station {quoted(key)}: give one of the {len(st)} station codes or names "
                             f"(e.g. {st.station_code.iloc[0]} / {st.station_name.iloc[0]})")
    return st.loc[code]


@lru_cache(maxsize=1)
def postcode_districts() -> pd.DataFrame:
    """Return the London postcode districts with centroid and borough, indexed by district."""
    return _read("postcode_districts.csv").set_index("postcode_district", drop=False)


@lru_cache(maxsize=1)
def boroughs() -> pd.DataFrame:
    """Return the 33 London boroughs (GSS code, name, LFB records' spelling, inner London), indexed by borough_id."""
    return _read("boroughs.csv").set_index("borough_id", drop=False)


@lru_cache(maxsize=1)
def london_cells() -> pd.DataFrame:
    """Return the 1-km grid cells that make up Greater London, with their usual attributes."""
    return _read("london_cells.csv")


@dataclass(frozen=True)
class Cell:
    """What is usual in one London 1-km cell."""

    station_ground: str | None
    postcode_district: str | None
    borough_name: str | None


@lru_cache(maxsize=1)
def cells_by_key() -> dict[tuple[int, int], Cell]:
    """Return the London cells keyed by (easting km, northing km)."""
    cells = london_cells()
    text = (lambda v: v if isinstance(v, str) else None)  # noqa: E731
    return {(int(e // CELL_M), int(n // CELL_M)): Cell(text(g), text(d), text(b))
            for e, n, g, d, b in zip(cells.easting, cells.northing, cells.station_ground, cells.postcode_district,
                                     cells.borough_name)}


def cell_keys(latitude: np.ndarray | float, longitude: np.ndarray | float) -> list[tuple[int, int] | None]:
    """Return the 1-km grid cell key of each WGS84 point (None where it has no coordinates)."""
    e, n = wgs84_to_bng(np.atleast_1d(np.asarray(latitude, float)), np.atleast_1d(np.asarray(longitude, float)))
    ok = (np.isfinite(e) & np.isfinite(n)).tolist()
    xs = (np.where(ok, e, 0) // CELL_M).astype(int).tolist()
    ys = (np.where(ok, n, 0) // CELL_M).astype(int).tolist()
    return [(x, y) if o else None for o, x, y in zip(ok, xs, ys)]


def in_london(latitude: np.ndarray | float, longitude: np.ndarray | float) -> np.ndarray:
    """Return, for each WGS84 point, whether it lies in a Greater London cell."""
    cells = cells_by_key()
    return np.array([key in cells for key in cell_keys(latitude, longitude)], dtype=bool)


@lru_cache(maxsize=1)
def travel_priors() -> tuple[dict[str, float], dict[float, float]]:
    """Return the usual travel-speed factor of each station code and of each hour of call (1 = average)."""
    pri = _read("travel_priors.csv")
    station = {str(k): float(f) for k, f in zip(pri.key[pri.kind == "station"], pri.factor[pri.kind == "station"])}
    hour = {float(k): float(f) for k, f in zip(pri.key[pri.kind == "hour"], pri.factor[pri.kind == "hour"])}
    return station, hour


# ---- holidays -------------------------------------------------------------------------------

def easter_sunday(year: int) -> dt.date:
    """Return the date of Easter Sunday (Gregorian computus)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month = (h + l_ - 7 * m + 114) // 31
    day = (h + l_ - 7 * m + 114) % 31 + 1
    return dt.date(year, month, day)


def _weekday_on_or_before(day: dt.date, weekday: int) -> dt.date:
    """Return the last date on or before `day` that falls on `weekday` (Mon=0)."""
    return day - dt.timedelta(days=(day.weekday() - weekday) % 7)


def _rule_bank_holidays(year: int) -> set[dt.date]:
    """Return England & Wales bank holidays of `year` by the standing rules (no one-off extras)."""
    easter = easter_sunday(year)
    days = {
        easter - dt.timedelta(days=2), easter + dt.timedelta(days=1),
        _weekday_on_or_before(dt.date(year, 5, 7), 0),
        _weekday_on_or_before(dt.date(year, 5, 31), 0),
        _weekday_on_or_before(dt.date(year, 8, 31), 0),
    }
    new_year = dt.date(year, 1, 1)
    days.add(new_year + dt.timedelta(days={5: 2, 6: 1}.get(new_year.weekday(), 0)))
    christmas, boxing = dt.date(year, 12, 25), dt.date(year, 12, 26)
    if christmas.weekday() == 5:
        days |= {christmas + dt.timedelta(days=2), boxing + dt.timedelta(days=2)}
    elif christmas.weekday() == 6:
        days |= {boxing, christmas + dt.timedelta(days=2)}
    elif boxing.weekday() == 5:
        days |= {christmas, boxing + dt.timedelta(days=2)}
    else:
        days |= {christmas, boxing}
    return days


def _rule_school_holidays(year: int) -> list[tuple[dt.date, dt.date]]:
    """Return typical London school-holiday periods of `year` (an approximation by rule)."""
    easter = easter_sunday(year)
    feb = _weekday_on_or_before(dt.date(year, 2, 21), 0)
    may = _weekday_on_or_before(dt.date(year, 5, 31), 0)
    octo = _weekday_on_or_before(dt.date(year, 10, 31), 0)
    return [
        (dt.date(year, 1, 1), dt.date(year, 1, 3)),
        (feb - dt.timedelta(days=2), feb + dt.timedelta(days=6)),
        (easter - dt.timedelta(days=9), easter + dt.timedelta(days=8)),
        (may - dt.timedelta(days=2), may + dt.timedelta(days=6)),
        (dt.date(year, 7, 22), dt.date(year, 9, 2)),
        (octo - dt.timedelta(days=9), octo - dt.timedelta(days=1)),
        (dt.date(year, 12, 20), dt.date(year, 12, 31)),
    ]


@lru_cache(maxsize=1)
def _calendar_sets() -> tuple[frozenset[dt.date], frozenset[dt.date]]:
    """Return the sets of bank-holiday and school-holiday dates covered by the table."""
    cal = _read("calendar.csv")
    bank, school = set(), set()
    for start, end, kind in zip(cal.start, cal.end, cal.kind):
        days = pd.date_range(start, end).date
        (bank if kind == "bank_holiday" else school).update(days)
    return frozenset(bank), frozenset(school)


@lru_cache(maxsize=64)
def _year_sets(year: int) -> tuple[frozenset[dt.date], frozenset[dt.date]]:
    """Return bank- and school-holiday dates of one year, from the table or by rule."""
    if CALENDAR_YEARS[0] <= year <= CALENDAR_YEARS[1]:
        bank, school = _calendar_sets()
        return (frozenset(d for d in bank if d.year == year), frozenset(d for d in school if d.year == year))
    school_days = {d for a, b in _rule_school_holidays(year) for d in pd.date_range(a, b).date}
    return frozenset(_rule_bank_holidays(year)), frozenset(school_days)


def holiday_flags(dates: pd.Series | pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Return (is_bank_holiday, is_school_holiday) boolean arrays for datetimes."""
    days = pd.to_datetime(pd.Series(dates)).dt.date
    unique = pd.unique(days.dropna())
    bank = {d: d in _year_sets(d.year)[0] for d in unique}
    school = {d: d in _year_sets(d.year)[1] for d in unique}
    return (days.map(bank).fillna(False).to_numpy(bool), days.map(school).fillna(False).to_numpy(bool))


def stations_fingerprint() -> str:
    """Return the SHA-256 of the reference stations table as shipped."""
    import hashlib

    return hashlib.sha256((REFERENCE_DIR / "stations.csv").read_bytes()).hexdigest()


def sync_stations(db: sqlite_utils.Database) -> bool:
    """Write the reference stations into the store only if they changed since last time; return True if written."""
    from lfb.data.store import transaction

    fingerprint = stations_fingerprint()
    row = db.execute("SELECT value FROM meta WHERE key = 'stations_sha256'").fetchone()
    if row is not None and row[0] == fingerprint:
        return False
    with transaction(db):
        load_stations(db)
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('stations_sha256', ?)", [fingerprint])
    return True


def load_stations(db: sqlite_utils.Database) -> int:
    """Write the reference stations into the database's stations table; return their number."""
    st = stations()
    cols = ["station_code", "station_name", "brigade", "is_lfb", "borough_name",
            "latitude", "longitude", "easting", "northing"]
    rows = [tuple(None if pd.isna(v) else v for v in row) for row in st[cols].itertuples(index=False)]
    db.conn.executemany(
        f"INSERT OR REPLACE INTO stations ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", rows)
    return len(rows)
