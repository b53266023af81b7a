"""Locations: postcodes, lat/lon, grid references; outside London is refused."""
import pytest

from lfb.geo.location import LocationError, parse_location


def test_postcode_and_district():
    full, district = parse_location("se1 7sg"), parse_location("SE1")
    assert full.postcode_district == district.postcode_district == "SE1"
    assert full.precision == "postcode district centroid" and full.borough
    assert 51.4 < full.latitude < 51.6


def test_lat_lon_and_easting_northing():
    a = parse_location("51.5034, -0.1195")
    b = parse_location("530450,179750")
    assert a.precision == b.precision == "point"
    assert abs(a.latitude - b.latitude) < 0.01 and a.borough == "LAMBETH"


@pytest.mark.parametrize(("text", "message"), [
    ("52.2,0.12", "not in Greater London"),           # Cambridge
    ("450000,200000", "not in Greater London"),       # Oxfordshire, on the grid
    ("CB2 1TN", "not a London district"),
    ("behind the bakery", "cannot read location"),
    ("123,456789999", "neither latitude"),
])
def test_bad_locations_are_refused_clearly(text, message):
    with pytest.raises(LocationError, match=message):
        parse_location(text)
