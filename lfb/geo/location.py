"""Where an incident is: read postcodes, 'lat,lon' or 'easting,northing', and check they are in London.

`parse_locations` reads a whole column of texts at once (the batch path); `parse_location` reads one
text through it (the CLI and the app), so both give the same answer. A full postcode is located at its
own point (OS Code-Point Open, live or terminated); an unknown full postcode, or a district alone, at the
centre of its district, with a note and the district's spread as the location's uncertainty.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lfb.geo.grid import bng_to_wgs84, wgs84_to_bng
from lfb.data.reference import CELL_M, cells_by_key, postcode_districts
from lfb.text import quoted

PAIR = r"^\(?\s*(?P<a>[+-]?\d+(?:\.\d+)?)\s*(?:[,;]\s*|\s+)(?P<b>[+-]?\d+(?:\.\d+)?)\s*\)?$"
POSTCODE = r"^(?P<outward>[A-Z]{1,2}\d[A-Z\d]?)(?P<inward>\d[A-Z]{2})?$"  # on upper-case text without spaces
ARROW_FROM_ROWS = 64  # from this many texts Arrow's regex engine is faster; below, Python's
POINT, POSTCODE_POINT, DISTRICT_CENTROID = "point", "postcode", "postcode district centroid"
POSTCODE_UNCERTAINTY_M = 50.0  # a postcode's point is within its few dozen addresses
DEFAULT_DISTRICT_SPREAD_M = 1500.0  # for a district whose spread the table does not give
COLUMNS = ("latitude", "longitude", "postcode_district", "borough", "precision", "uncertainty_m", "note", "error")
EXAMPLES = ("give a London postcode (e.g. 'SE1 7SG' or 'SE1'), 'latitude,longitude' (e.g. '51.5034,-0.1195') "
            "or 'easting,northing' (e.g. '530450,179050')")


class LocationError(ValueError):
    """A location that cannot be read, or that is not in Greater London."""


@dataclass(frozen=True)
class Location:
    """A point in London with what is known about its area."""

    latitude: float
    longitude: float
    postcode_district: str | None
    borough: str | None
    precision: str  # 'point' (coordinates), 'postcode' (a postcode's point) or 'postcode district centroid'
    text: str
    note: str = ""  # how the text was read, when the reader had to interpret it
    uncertainty_m: float = 0.0  # how far the true place may be from this point (90% of a district's postcodes)


# ---- London's 1-km cells, looked up for many points at once ----------------------------------------

class CellTable(NamedTuple):
    """Greater London's 1-km cells, sorted by key (easting km * 10^5 + northing km), with their usual area."""

    keys: np.ndarray
    district: np.ndarray
    borough: np.ndarray
    ground: np.ndarray  # the name of the station whose ground the cell usually is


@lru_cache(maxsize=1)
def cell_table() -> CellTable:
    """Return the London cells as sorted arrays, for looking up many points at once."""
    cells = cells_by_key()
    keys = np.array([x * 100_000 + y for x, y in cells], dtype=np.int64)
    order = np.argsort(keys)
    values = list(cells.values())
    column = (lambda name: np.array([getattr(values[i], name) for i in order], dtype=object))  # noqa: E731
    return CellTable(keys[order], column("postcode_district"), column("borough_name"), column("station_ground"))


def london_cells_of(latitude: np.ndarray, longitude: np.ndarray) -> np.ndarray:
    """Return, for each WGS84 point, the position of its London 1-km cell in the cell table (-1 outside London)."""
    lat, lon = np.atleast_1d(np.asarray(latitude, float)), np.atleast_1d(np.asarray(longitude, float))
    easting, northing = wgs84_to_bng(lat, lon)
    located = np.isfinite(easting) & np.isfinite(northing)
    keys = np.where(located, (np.where(located, easting, 0) // CELL_M) * 100_000
                    + np.where(located, northing, 0) // CELL_M, -1).astype(np.int64)
    table = cell_table().keys
    where = np.clip(np.searchsorted(table, keys), 0, len(table) - 1)
    return np.where(located & (table[where] == keys), where, -1)


def _borough_names_at(latitude: np.ndarray, longitude: np.ndarray) -> np.ndarray:
    """Return the borough (as the LFB records spell it) each point lies in, by the boundary polygons (None outside)."""
    from lfb.data.reference import boroughs
    from lfb.geo.layers import borough_codes_at

    names = dict(zip(boroughs().gss_code, boroughs().lfb_name))
    return np.array([names.get(code) if code else None for code in borough_codes_at(latitude, longitude)],
                    dtype=object)


def in_greater_london(latitude: np.ndarray, longitude: np.ndarray) -> np.ndarray:
    """Return, for each WGS84 point, whether it is in Greater London (a London 1-km cell, or a borough's boundary)."""
    lat, lon = np.atleast_1d(np.asarray(latitude, float)), np.atleast_1d(np.asarray(longitude, float))
    inside = london_cells_of(lat, lon) >= 0
    edge = np.flatnonzero(~inside & np.isfinite(lat) & np.isfinite(lon))
    if len(edge):
        inside[edge] = _borough_names_at(lat[edge], lon[edge]) != None  # noqa: E711 - elementwise
    return inside


# ---- reading texts -----------------------------------------------------------------------------------

def _texts(values: Sequence[object] | pd.Series) -> np.ndarray:
    """Return the values as stripped text ('' where missing)."""
    raw = values.to_numpy(dtype=object) if isinstance(values, pd.Series) else list(values)
    if len(raw) >= ARROW_FROM_ROWS:
        try:
            text = pc.utf8_trim_whitespace(pc.fill_null(pa.array(raw, type=pa.string(), from_pandas=True), ""))
            return np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
    return np.array(["" if pd.isna(v) else str(v).strip() for v in raw], dtype=object)


def _compact(texts: np.ndarray) -> np.ndarray:
    """Return the texts in upper case without white space (how postcodes are compared)."""
    if len(texts) >= ARROW_FROM_ROWS:
        upper = pc.utf8_upper(pa.array(texts, type=pa.string()))
        return np.asarray(pc.replace_substring_regex(upper, r"\s+", "").to_numpy(zero_copy_only=False), dtype=object)
    return np.array([re.sub(r"\s+", "", t.upper()) for t in texts], dtype=object)


def _extract(texts: np.ndarray, pattern: str, names: tuple[str, ...]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Return the named groups of `pattern` per text ('' where absent) and where it matched (Arrow's engine for
    many texts, Python's for a few: same pattern, same result)."""
    if len(texts) >= ARROW_FROM_ROWS:
        parts = pc.extract_regex(pa.array(texts, type=pa.string()), pattern)
        groups = {n: np.asarray(pc.fill_null(parts.field(n), "").to_numpy(zero_copy_only=False), dtype=object)
                  for n in names}
        return groups, parts.is_valid().to_numpy(zero_copy_only=False)
    matches = [_compiled(pattern).match(t) for t in texts]
    groups = {n: np.array([(m.group(n) or "") if m else "" for m in matches], dtype=object) for n in names}
    return groups, np.array([m is not None for m in matches], dtype=bool)


@lru_cache(maxsize=8)
def _compiled(pattern: str) -> re.Pattern[str]:
    """Return a compiled regular expression."""
    return re.compile(pattern)


@lru_cache(maxsize=1)
def _districts() -> dict[str, tuple[float, float, str | None, float]]:
    """Return latitude, longitude, borough and spread (90% of its postcodes within, m) of each London district."""
    table = postcode_districts()
    spread = table["spread_p90_m"] if "spread_p90_m" in table else pd.Series(np.nan, index=table.index)
    return {d: (float(a), float(b), c if isinstance(c, str) else None,
                float(r) if np.isfinite(r) and r > 0 else DEFAULT_DISTRICT_SPREAD_M)
            for d, a, b, c, r in zip(table.index, table.latitude, table.longitude, table.borough_name,
                                     spread.to_numpy(float))}


def _empty(n: int) -> dict[str, np.ndarray]:
    """Return the result columns for `n` texts, nothing located yet."""
    return {"latitude": np.full(n, np.nan), "longitude": np.full(n, np.nan),
            "postcode_district": np.full(n, None, dtype=object), "borough": np.full(n, None, dtype=object),
            "precision": np.full(n, "", dtype=object), "uncertainty_m": np.full(n, np.nan),
            "note": np.full(n, "", dtype=object),
            "error": np.full(n, "", dtype=object)}


def _as_points(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the WGS84 point that a number pair means (lat,lon or easting,northing) and which pairs mean one."""
    degrees = (np.abs(a) <= 90) & (np.abs(b) <= 180)
    grid = ~degrees & (a >= 0) & (a <= 700_000) & (b >= 0) & (b <= 1_300_000)
    lat, lon = np.where(degrees, a, np.nan), np.where(degrees, b, np.nan)
    if grid.any():
        g_lat, g_lon = bng_to_wgs84(a[grid], b[grid])
        lat[grid], lon[grid] = g_lat, g_lon
    return lat, lon, degrees | grid


def _locate_pairs(out: dict[str, np.ndarray], rows: np.ndarray, texts: np.ndarray, a: np.ndarray,
                  b: np.ndarray) -> None:
    """Locate 'lat,lon' and 'easting,northing' pairs; a pair that is in London only when swapped is read swapped."""
    lat, lon, meaningful = _as_points(a, b)
    swapped = np.zeros(len(rows), dtype=bool)
    outside = np.flatnonzero(~in_greater_london(lat, lon))
    if len(outside):
        s_lat, s_lon, _ = _as_points(b[outside], a[outside])
        s_ok = in_greater_london(s_lat, s_lon)
        hit = outside[s_ok]
        swapped[hit] = True
        lat[hit], lon[hit] = s_lat[s_ok], s_lon[s_ok]
    cell = london_cells_of(lat, lon)
    _keys, district, borough, _ground = cell_table()
    in_cell = cell >= 0
    out["postcode_district"][rows[in_cell]] = district[cell[in_cell]]
    out["borough"][rows[in_cell]] = borough[cell[in_cell]]
    edge = np.flatnonzero(~in_cell & np.isfinite(lat) & np.isfinite(lon))  # London's edge, outside the cell grid
    if len(edge):
        out["borough"][rows[edge]] = _borough_names_at(lat[edge], lon[edge])
    ok = in_cell.copy()
    ok[edge] = out["borough"][rows[edge]] != None  # noqa: E711 - elementwise
    out["latitude"][rows[ok]], out["longitude"][rows[ok]] = lat[ok], lon[ok]
    out["precision"][rows[ok]] = POINT
    out["uncertainty_m"][rows[ok]] = 0.0
    for i in np.flatnonzero(swapped):
        first, second = ("longitude", "latitude") if abs(b[i]) <= 90 else ("northing", "easting")
        out["note"][rows[i]] = (f"location {texts[i]!r} read {first} first, as {second} {b[i]:g}, {first} "
                                f"{a[i]:g}: write {second} first")
    for i in np.flatnonzero(~ok):
        out["error"][rows[i]] = (
            f"location {quoted(texts[i])} ({lat[i]:.5f}, {lon[i]:.5f}) is not in Greater London: give a place in "
            "one of the 33 London boroughs" if meaningful[i] else
            f"location {quoted(texts[i])}: neither latitude,longitude nor British National Grid easting,northing: "
            f"{EXAMPLES}")


def _locate_postcodes(out: dict[str, np.ndarray], rows: np.ndarray, outward: np.ndarray, inward: np.ndarray) -> None:
    """Locate full postcodes at their own point (terminated ones too, with a note); a district alone, or a full
    postcode the table does not hold, at the centre of its district, with a note and the district's spread."""
    from lfb.geo.postcodes import lookup_postcodes

    full = np.flatnonzero(inward != "")
    found = np.zeros(len(rows), dtype=bool)
    if len(full):
        hits = lookup_postcodes([f"{o} {i}" for o, i in zip(outward[full], inward[full])])
        hit = hits["found"].to_numpy(bool)
        at, target = full[hit], rows[full[hit]]
        found[at] = True
        out["latitude"][target] = hits["latitude"].to_numpy(float)[hit]
        out["longitude"][target] = hits["longitude"].to_numpy(float)[hit]
        out["postcode_district"][target] = hits["district"].to_numpy(object)[hit]
        out["borough"][target] = hits["borough"].to_numpy(object)[hit]
        out["precision"][target], out["uncertainty_m"][target] = POSTCODE_POINT, POSTCODE_UNCERTAINTY_M
        terminated = hit & ~hits["in_use"].fillna(True).to_numpy(bool)
        for row, postcode in zip(rows[full[terminated]], hits["postcode"].to_numpy(object)[terminated]):
            out["note"][row] = (f"postcode {postcode} is terminated (no longer in use): located where it was; "
                                "check the address")
    districts = _districts()
    for k in np.flatnonzero(~found):
        row, district, rest = rows[k], outward[k], inward[k]
        known = districts.get(district)
        if known is None:
            shown = f"postcode {district} {rest}" if rest else f"postcode district {district}"
            out["error"][row] = (f"{shown} is not in Greater London (the LFB covers the 33 London boroughs): give a "
                                 "London postcode, or the place as 'latitude,longitude'")
            continue
        lat, lon, borough, spread = known
        out["latitude"][row], out["longitude"][row], out["borough"][row] = lat, lon, borough
        out["postcode_district"][row], out["precision"][row] = district, DISTRICT_CENTROID
        out["uncertainty_m"][row] = spread
        if rest:
            out["note"][row] = (f"postcode {district} {rest} is not in the postcode table (new, or mistyped?): "
                                f"located at the centre of its district {district}, which can be up to "
                                f"{spread / 1000:.1f} km from the address")
        else:
            out["note"][row] = (f"{district} is a whole postcode district: located at its centre, which can be up to "
                                f"{spread / 1000:.1f} km from the address; a full postcode is more precise")


def _read(texts: np.ndarray) -> dict[str, np.ndarray]:
    """Read stripped location texts into the result columns (COLUMNS)."""
    out = _empty(len(texts))
    pairs, is_pair = _extract(texts, PAIR, ("a", "b"))
    rows = np.flatnonzero(is_pair)
    if len(rows):
        _locate_pairs(out, rows, texts[rows], pairs["a"][rows].astype(float), pairs["b"][rows].astype(float))
    rest = np.flatnonzero(~is_pair)
    codes, is_code = _extract(_compact(texts[rest]), POSTCODE, ("outward", "inward"))
    if is_code.any():
        _locate_postcodes(out, rest[is_code], codes["outward"][is_code], codes["inward"][is_code])
    for i in rest[~is_code]:
        out["error"][i] = "no location given" if not texts[i] else f"cannot read location {quoted(texts[i])}: {EXAMPLES}"
    return out


def parse_locations(values: Sequence[object] | pd.Series) -> pd.DataFrame:
    """Read many location texts at once: latitude, longitude, postcode_district, borough, precision, note and
    error ('' when the text was read and is in Greater London), one row per text, in order."""
    out = _read(_texts(values))
    index = values.index if isinstance(values, pd.Series) else None
    return pd.DataFrame(out, index=index, columns=list(COLUMNS))


def parse_location(text: str) -> Location:
    """Read one location given as a London postcode (or district), 'lat,lon' or 'easting,northing'."""
    texts = _texts([text])
    row = {name: values[0] for name, values in _read(texts).items()}
    if row["error"]:
        raise LocationError(f"no location given: {EXAMPLES}" if row["error"] == "no location given"
                            else row["error"])
    return Location(float(row["latitude"]), float(row["longitude"]), row["postcode_district"], row["borough"],
                    row["precision"], texts[0], row["note"], float(row["uncertainty_m"]))
