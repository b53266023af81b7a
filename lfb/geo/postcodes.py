"""London postcodes resolved offline to their point (OS Code-Point Open), live and terminated ones.

The table `lfb/data/tables/london_postcodes.csv.gz` (built by tools/build_reference.py) holds every postcode
of the 33 London boroughs: `postcode,easting,northing,in_use,borough_id` with British National Grid metres
exactly as Code-Point publishes them; latitude/longitude are computed once at load (lfb.geo.grid).
Run `python -m lfb.geo.postcodes --bench` for the size, load and lookup-speed figures.
"""
from __future__ import annotations

import argparse
import re
import time
import timeit
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from lfb.data.reference import REFERENCE_DIR, boroughs
from lfb.geo.grid import bng_to_wgs84

ATTRIBUTION = ("Contains OS data (c) Crown copyright and database right 2025; Contains Royal Mail data (c) Royal Mail "
               "copyright and database right 2025; Contains National Statistics data (c) Crown copyright and database "
               "right 2025 (Open Government Licence v3)")
TABLE_PATH = REFERENCE_DIR / "london_postcodes.csv.gz"
# outward code (A9, A99, AA9, AA99, A9A, AA9A) then inward code (9AA), spaces removed
_SHAPE = r"[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}"
_SHAPE_RE = re.compile(_SHAPE)


@dataclass(frozen=True)
class PostcodeHit:
    """A London postcode's point and area; in_use is False for a terminated postcode (still located)."""

    postcode: str  # standard form, e.g. 'SE1 7PB'
    latitude: float  # WGS84
    longitude: float
    easting: int  # British National Grid, metres (Code-Point)
    northing: int
    in_use: bool
    district: str  # outward code, e.g. 'SE1'
    borough: str  # as the LFB records spell it (upper case), e.g. 'SOUTHWARK'
    borough_code: str  # ONS GSS code, e.g. 'E09000028'


def normalise_postcode(text: object) -> str | None:
    """Return a postcode in standard form ('SE1 7PB') from any case and spacing, or None if not postcode-shaped."""
    if not isinstance(text, str):
        return None
    compact = "".join(text.split()).upper()
    if not _SHAPE_RE.fullmatch(compact):
        return None
    return f"{compact[:-3]} {compact[-3:]}"


@lru_cache(maxsize=1)
def postcode_table() -> pd.DataFrame:
    """Return every London postcode (live and terminated) with its point and area, indexed by postcode."""
    raw = pd.read_csv(TABLE_PATH, skiprows=1, dtype={"postcode": str, "easting": np.int32, "northing": np.int32,
                                                     "in_use": np.int8, "borough_id": np.int16})
    names = boroughs()
    latitude, longitude = bng_to_wgs84(raw.easting.to_numpy(float), raw.northing.to_numpy(float))
    table = pd.DataFrame({
        "postcode": raw.postcode, "latitude": latitude, "longitude": longitude,
        "easting": raw.easting, "northing": raw.northing, "in_use": raw.in_use.astype(bool),
        "district": raw.postcode.str[:-4],
        "borough": raw.borough_id.map(names.lfb_name), "borough_code": raw.borough_id.map(names.gss_code),
    })
    table = table.set_index("postcode", drop=False)
    if not table.index.is_unique:  # also builds the hash index that lookups use
        raise ValueError(f"{TABLE_PATH.name}: duplicate postcodes")
    return table


@lru_cache(maxsize=1)
def _arrays() -> tuple[pd.Index, dict[str, np.ndarray]]:
    """Return the table's postcode index and its columns as numpy arrays, for fast lookups."""
    table = postcode_table()
    return table.index, {c: table[c].to_numpy() for c in table}


def lookup_postcode(text: str) -> PostcodeHit | None:
    """Return the point and area of a London postcode (any case and spacing), or None if unknown."""
    postcode = normalise_postcode(text)
    if postcode is None:
        return None
    index, col = _arrays()
    try:
        i = index.get_loc(postcode)
    except KeyError:
        return None
    return PostcodeHit(postcode, float(col["latitude"][i]), float(col["longitude"][i]), int(col["easting"][i]),
                       int(col["northing"][i]), bool(col["in_use"][i]), col["district"][i], col["borough"][i],
                       col["borough_code"][i])


def lookup_postcodes(texts: Sequence[str] | pd.Series) -> pd.DataFrame:
    """Look up many postcodes at once (hash-index join); one row per input, same index; `found` False if unknown.

    Columns: postcode (standard form, NaN if not postcode-shaped), found, latitude, longitude, easting, northing
    (float), in_use (nullable boolean), district, borough, borough_code; all but `found` missing where not found.
    """
    series = texts if isinstance(texts, pd.Series) else pd.Series(list(texts), dtype=object)
    codes, uniques = pd.factorize(series.to_numpy(dtype=object))  # each distinct text is read once
    # the same normalisation as single lookups; the extra last entry answers missing inputs (code -1)
    normalised = np.array([normalise_postcode(t) for t in uniques] + [None], dtype=object)
    index, col = _arrays()
    pos = index.get_indexer(normalised)[codes]
    found = pos >= 0
    take = np.where(found, pos, 0)
    out: dict[str, object] = {"postcode": normalised[codes], "found": found}
    for name in ("latitude", "longitude", "easting", "northing"):
        out[name] = np.where(found, col[name][take].astype(float), np.nan)
    out["in_use"] = pd.arrays.BooleanArray(col["in_use"][take].astype(bool), ~found)
    for name in ("district", "borough", "borough_code"):
        out[name] = np.where(found, col[name][take], None)
    return pd.DataFrame(out, index=series.index)


def bench_postcodes(n: int = 100_000, seed: int = 0) -> dict[str, float]:
    """Measure the table's size on disk, its load time, single-lookup time and vectorised throughput."""
    postcode_table.cache_clear()
    _arrays.cache_clear()
    started = time.perf_counter()
    index, _ = _arrays()
    load_s = time.perf_counter() - started
    rng = np.random.default_rng(seed)
    picks = index.to_numpy(dtype=object)[rng.integers(0, len(index), n)]
    texts = [p.lower().replace(" ", "") if k % 2 else p for k, p in enumerate(picks)]  # half typed 'se17pb'
    queue = iter(texts)
    single_s = timeit.timeit(lambda: lookup_postcode(next(queue)), number=n) / n
    started = time.perf_counter()
    frame = lookup_postcodes(texts)
    batch_s = time.perf_counter() - started
    if not frame.found.all():
        raise RuntimeError("bench: a postcode taken from the table was not found")
    return {"table_bytes": float(TABLE_PATH.stat().st_size), "rows": float(len(index)), "load_s": load_s,
            "single_lookup_us": single_s * 1e6, "batch_rows": float(n), "batch_s": batch_s,
            "batch_rows_per_s": n / batch_s}


def main(argv: Sequence[str] | None = None) -> None:
    """Look up the postcodes given on the command line, or print the benchmark figures (--bench)."""
    parser = argparse.ArgumentParser(prog="python -m lfb.geo.postcodes", description=__doc__.splitlines()[0])
    parser.add_argument("postcodes", nargs="*", help="postcodes to look up, e.g. 'SE1 7PB'")
    parser.add_argument("--bench", action="store_true", help="measure size, load time and lookup speed")
    parser.add_argument("--n", type=int, default=100_000, help="lookups for --bench (default 100,000)")
    args = parser.parse_args(argv)
    if args.bench:
        figures = bench_postcodes(args.n)
        print(f"table {TABLE_PATH.name}: {figures['table_bytes'] / 1e6:.2f} MB, {figures['rows']:,.0f} postcodes")
        print(f"load (read, grid conversion, index): {figures['load_s'] * 1e3:.0f} ms")
        print(f"single lookup: {figures['single_lookup_us']:.1f} us (mean of {args.n:,})")
        print(f"vectorised: {figures['batch_rows']:,.0f} rows in {figures['batch_s'] * 1e3:.0f} ms "
              f"({figures['batch_rows_per_s']:,.0f} rows/s)")
    for text in args.postcodes:
        print(f"{text!r}: {lookup_postcode(text)}")
    print(ATTRIBUTION)


if __name__ == "__main__":
    main()
