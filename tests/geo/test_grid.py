"""British National Grid conversion against known points, and distances."""
import numpy as np
import pandas as pd
import pytest

from lfb.geo.grid import bearing_deg, bng_to_wgs84, haversine_m, wgs84_to_bng

# (easting, northing) -> WGS84 (lat, lon): values from PROJ (EPSG:27700 -> EPSG:4326, OS Helmert).
KNOWN = [
    ((651409.903, 313177.270), (52.657978597, 1.716051990)),  # OS guide's worked-example point
    ((530000.0, 180000.0), (51.503990828, -0.128353940)),    # Whitehall
    ((521277.0, 193865.0), (51.630535280, -0.249189448)),    # Edgwarebury (2023 sample row)
]


@pytest.mark.parametrize(("grid", "wgs"), KNOWN)
def test_bng_to_wgs84_matches_known_points(grid, wgs):
    lat, lon = bng_to_wgs84(*grid)
    assert haversine_m(lat, lon, *wgs) < 0.05


@pytest.mark.parametrize(("grid", "wgs"), KNOWN)
def test_wgs84_to_bng_matches_known_points(grid, wgs):
    e, n = wgs84_to_bng(*wgs)
    assert abs(e - grid[0]) < 0.05 and abs(n - grid[1]) < 0.05


def test_round_trip_is_exact_to_a_centimetre():
    rng = np.random.default_rng(1)
    e, n = rng.uniform(500_000, 560_000, 200), rng.uniform(155_000, 200_000, 200)
    e2, n2 = wgs84_to_bng(*bng_to_wgs84(e, n))
    assert np.max(np.hypot(e2 - e, n2 - n)) < 0.01


def test_distance_and_bearing():
    assert haversine_m(51.5, -0.1, 51.5, -0.1) == 0
    assert haversine_m(51.0, 0.0, 52.0, 0.0) == pytest.approx(111_195, rel=1e-3)
    assert bearing_deg(51.0, 0.0, 52.0, 0.0) == pytest.approx(0.0, abs=1e-6)
    assert bearing_deg(51.0, 0.0, 51.0, 1.0) == pytest.approx(89.6, abs=0.2)


def test_conversion_agrees_with_published_coordinates(shared_data):
    """Published lat/lon of the real 2023 sample (OSTN15) are within a few metres of ours."""
    df = pd.read_csv(shared_data / "incidents_2023_sample_jan_sep.csv", low_memory=False)
    df = df[df.Easting_m.notna() & (df.Latitude != 0)]
    lat, lon = bng_to_wgs84(df.Easting_m, df.Northing_m)
    err = haversine_m(lat, lon, df.Latitude, df.Longitude)
    assert len(df) > 2000
    assert np.median(err) < 4 and np.percentile(err, 99) < 6
