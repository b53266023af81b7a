"""London postcode lookups: normalisation, the shipped table, single and vectorised lookups, district spread."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lfb.data import reference
from lfb.geo.grid import haversine_m, wgs84_to_bng
from lfb.geo.postcodes import (ATTRIBUTION, TABLE_PATH, PostcodeHit, bench_postcodes, lookup_postcode,
                               lookup_postcodes, normalise_postcode)


@pytest.fixture(scope="module")
def shipped() -> pd.DataFrame:
    """The shipped postcode table read straight from its file, independently of the module under test."""
    return pd.read_csv(TABLE_PATH, skiprows=1, dtype={"postcode": str})


@pytest.mark.parametrize("text, expected", [
    ("SE1 7PB", "SE1 7PB"),
    ("se17pb", "SE1 7PB"),
    (" SE1  7PB ", "SE1 7PB"),
    ("sE1\t7pB\n", "SE1 7PB"),
    ("S E 1 7 P B", "SE1 7PB"),     # spacing anywhere is ignored
    ("sw1a1aa", "SW1A 1AA"),        # AA9A outward code
    ("w1a 0ax", "W1A 0AX"),         # A9A
    ("e1 6an", "E1 6AN"),           # A9
    ("n10 1aa", "N10 1AA"),         # A99
    ("cr44 1aa", "CR44 1AA"),       # AA99
    ("M1 1AE", "M1 1AE"),           # postcode-shaped but not in London: normalised all the same
    ("EH1 1YZ", "EH1 1YZ"),
    ("", None),
    ("   ", None),
    ("SE1", None),                  # a district, not a full postcode
    ("SE1 7P", None),
    ("SE1 7PBX", None),
    ("SE1-7PB", None),
    ("SEE1 7PB", None),             # three letters before the digit
    ("1SE 7PB", None),
    ("SE1 PB7", None),
    ("SE1 77B", None),
    ("51.5034,-0.1195", None),
    ("ＳＥ１ ７ＰＢ", None),           # full-width characters are not a postcode
    (None, None),
    (17, None),
])
def test_normalise_postcode(text, expected):
    assert normalise_postcode(text) == expected


def test_shipped_table_invariants(shipped):
    first = gzip.open(TABLE_PATH, "rt", encoding="utf-8").readline()
    assert first.startswith("# source: OS Code-Point Open") and ATTRIBUTION in first
    assert list(shipped.columns) == ["postcode", "easting", "northing", "in_use", "borough_id"]
    assert shipped.postcode.is_unique and shipped.postcode.is_monotonic_increasing
    assert (shipped.postcode.map(normalise_postcode) == shipped.postcode).all()
    assert set(shipped.in_use) == {0, 1} and shipped.in_use.sum() > 0.8 * len(shipped)
    assert set(shipped.borough_id) == set(reference.boroughs().borough_id)
    # British National Grid metres of Greater London
    assert shipped.easting.between(500_000, 565_000).all() and shipped.northing.between(150_000, 205_000).all()


def test_boroughs_table():
    b = reference.boroughs()
    assert len(b) == 33 and b.gss_code.is_unique
    assert (b.gss_code == [f"E09{i:06d}" for i in b.borough_id]).all()
    assert (b.lfb_name == b.name.str.upper()).all()
    assert b.inner.isin([0, 1]).all() and 10 <= b.inner.sum() <= 16


def _assert_hit_matches_row(hit: PostcodeHit | None, row: pd.Series) -> None:
    """Check a lookup result against a row of the shipped table."""
    assert hit is not None
    assert (hit.postcode, hit.easting, hit.northing, hit.in_use) == (row.postcode, row.easting, row.northing,
                                                                     bool(row.in_use))
    assert hit.district == row.postcode.split(" ")[0]
    borough = reference.boroughs().loc[row.borough_id]
    assert (hit.borough, hit.borough_code) == (borough.lfb_name, borough.gss_code)
    e, n = wgs84_to_bng(hit.latitude, hit.longitude)  # latitude/longitude round-trip to the stored grid point
    assert float(np.hypot(e - row.easting, n - row.northing)) < 1.0


@pytest.mark.parametrize("in_use", [1, 0])
def test_lookup_live_and_terminated(shipped, in_use):
    rows = shipped[shipped.in_use == in_use].sample(25, random_state=7)
    for _, row in rows.iterrows():
        _assert_hit_matches_row(lookup_postcode(row.postcode), row)
        messy = f"  {row.postcode.replace(' ', '').lower()} "
        assert lookup_postcode(messy) == lookup_postcode(row.postcode)


def test_terminated_postcode_is_flagged(shipped):
    terminated = shipped[shipped.in_use == 0].postcode.iloc[0]
    hit = lookup_postcode(terminated)
    assert hit is not None and hit.in_use is False


def test_unknown_and_unreadable_postcodes(shipped):
    known = set(shipped.postcode)
    unknown = next(f"SE1 {d}ZZ" for d in range(10) if f"SE1 {d}ZZ" not in known)  # London-shaped, not a postcode
    assert "M1 1AE" not in known
    for text in (unknown, "M1 1AE", "SE1", "not a postcode", ""):
        assert lookup_postcode(text) is None


def test_vectorised_equals_single_lookups(shipped):
    sample = shipped.postcode.sample(300, random_state=3).tolist()
    texts = sample + [p.lower().replace(" ", "") for p in sample[:50]] + ["M1 1AE", "SE1", "", None, "SE1 0ZZ", 12]
    index = pd.Index([f"r{i}" for i in range(len(texts))])
    frame = lookup_postcodes(pd.Series(texts, index=index, dtype=object))
    assert frame.index.equals(index)
    for key, text in zip(index, texts):
        hit, row = lookup_postcode(text), frame.loc[key]
        assert bool(row.found) == (hit is not None)
        if hit is None:
            assert pd.isna(row.latitude) and pd.isna(row.in_use) and pd.isna(row.borough)
            expected = normalise_postcode(text)
            assert row.postcode == expected if expected else pd.isna(row.postcode)
            continue
        assert (row.postcode, row.district, row.borough, row.borough_code) == (hit.postcode, hit.district, hit.borough,
                                                                               hit.borough_code)
        assert (row.latitude, row.longitude, row.easting, row.northing) == (hit.latitude, hit.longitude, hit.easting,
                                                                            hit.northing)
        assert bool(row.in_use) == hit.in_use
    assert lookup_postcodes(texts).found.tolist() == frame.found.tolist()  # a plain list gives the same answers


def test_vectorised_lookup_of_nothing():
    frame = lookup_postcodes([])
    assert frame.empty and {"postcode", "found", "latitude", "in_use", "borough"} <= set(frame.columns)


def test_bench_reports_fast_lookups():
    figures = bench_postcodes(n=2000)
    assert figures["table_bytes"] == TABLE_PATH.stat().st_size < 3_000_000
    assert figures["rows"] > 150_000
    assert 0 < figures["single_lookup_us"] < 1000  # well under a millisecond
    assert figures["batch_rows_per_s"] > 10_000


def test_district_centre_and_spread_come_from_the_shipped_postcodes(shipped):
    """Each district's centre is one of its live postcodes; its spread columns are their distances from it."""
    districts = reference.postcode_districts()
    live = shipped[shipped.in_use == 1].assign(district=lambda d: d.postcode.str.split(" ").str[0])
    assert set(live.district) <= set(districts.index)  # every district with a live London postcode is known
    e0, n0 = wgs84_to_bng(districts.latitude.to_numpy(), districts.longitude.to_numpy())
    centre = pd.DataFrame({"e0": e0, "n0": n0}, index=districts.index)
    live = live.join(centre, on="district", how="inner")
    distance = pd.Series(np.hypot(live.easting - live.e0, live.northing - live.n0), index=live.index)
    by = distance.groupby(live.district)
    assert (districts.postcodes == by.size().reindex(districts.index).fillna(0)).all()
    has = districts.postcodes > 0
    assert (by.min()[districts.index[has]] < 1.0).all()  # the centre is a live postcode of the district
    assert np.allclose(districts.spread_p90_m[has].astype(float), by.quantile(0.9)[districts.index[has]], atol=1.0)
    assert np.allclose(districts.spread_p50_m[has].astype(float), by.quantile(0.5)[districts.index[has]], atol=1.0)
    assert districts.spread_p90_m[~has].isna().all() and (districts.incidents[~has] > 0).all()
    # a City district is compact; no spread is larger than London
    assert districts.spread_p90_m["EC2V"] < 1000 and districts.spread_p90_m[has].max() < 40_000


# ---- checks against the source file (developers and CI only) -------------------------------

@pytest.fixture
def code_point(shared_data: Path) -> pd.DataFrame:
    """The Code-Point Open extract the table is built from."""
    return pd.read_csv(shared_data / "london_postcodes.csv", dtype={"postcode": str})


def test_every_source_postcode_resolves_to_its_code_point_position(code_point):
    frame = lookup_postcodes(code_point.postcode)
    assert frame.found.all() and len(frame) == len(code_point)
    assert (frame.easting == code_point.easting).all() and (frame.northing == code_point.northing).all()
    assert (frame.in_use.astype(bool) == code_point.in_use.astype(bool)).all()
    assert (frame.district == code_point.postcode_district).all()
    assert (frame.borough_code == code_point.borough_code).all()
    assert (frame.borough == code_point.borough_name.str.upper()).all()
    # our latitude/longitude (computed from the grid point) agree with Code-Point's own within a metre
    assert haversine_m(frame.latitude, frame.longitude, code_point.latitude, code_point.longitude).max() < 1.0


def test_shipped_table_has_every_source_row(code_point, shipped):
    assert len(shipped) == len(code_point)
    assert set(shipped.postcode) == set(code_point.postcode)
    assert shipped.in_use.sum() == code_point.in_use.sum()
