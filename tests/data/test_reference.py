"""Reference tables: stations, London extent, postcode districts, holidays."""
import datetime as dt

import pandas as pd
import pytest

from lfb.data import reference
from lfb.data.reference import UnknownStation, easter_sunday, holiday_flags, in_london, resolve_station


def test_all_lfb_stations_with_coordinates_in_london():
    st = reference.stations()
    lfb = st[st.is_lfb == 1]
    assert len(lfb) == 102 and len(st) == 108
    assert in_london(lfb.latitude.to_numpy(), lfb.longitude.to_numpy()).all()
    assert lfb.borough_name.notna().all()


def test_resolve_station_by_code_or_name():
    assert resolve_station("a21").station_name == "Paddington"
    assert resolve_station(" paddington ").station_code == "A21"
    with pytest.raises(UnknownStation, match="unknown station 'Atlantis'"):
        resolve_station("Atlantis")


@pytest.mark.parametrize(("lat", "lon", "inside"), [
    (51.5074, -0.1278, True),    # Charing Cross
    (51.4700, -0.4543, True),    # Heathrow
    (51.3925, 0.1100, True),     # Orpington
    (51.7520, -1.2577, False),   # Oxford
    (51.2798, 1.0789, False),    # Canterbury
    (48.8566, 2.3522, False),    # Paris
])
def test_in_london(lat, lon, inside):
    assert in_london(lat, lon)[0] == inside


def test_postcode_districts_have_centroids_in_london():
    pc = reference.postcode_districts()
    assert {"W2", "SE1", "E14", "CR0"} <= set(pc.index)
    assert in_london(pc.loc["SE1"].latitude, pc.loc["SE1"].longitude)[0]


def test_easter():
    assert [easter_sunday(y) for y in (2024, 2025, 2026, 2027)] == [
        dt.date(2024, 3, 31), dt.date(2025, 4, 20), dt.date(2026, 4, 5), dt.date(2027, 3, 28)]


def test_bank_holidays_from_table_and_by_rule():
    days = pd.Series(pd.to_datetime([
        "2023-05-08",  # coronation (one-off, from the table)
        "2023-05-09",
        "2026-04-03",  # Good Friday (rule)
        "2026-12-28",  # Boxing Day falls on a Saturday: substitute Monday (rule)
        "2027-12-27", "2027-12-28",  # Christmas and Boxing Day at a weekend (rule)
        "2026-08-31",  # summer bank holiday (rule)
    ]))
    bank, _ = holiday_flags(days)
    assert bank.tolist() == [True, False, True, True, True, True, True]


def test_school_holidays():
    _, school = holiday_flags(pd.Series(pd.to_datetime(["2023-08-10", "2023-03-08", "2026-08-10", "2026-03-10"])))
    assert school.tolist() == [True, False, True, False]
