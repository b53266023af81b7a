"""Locations: postcodes, lat/lon, grid references; outside London is refused."""
import pytest

from lfb.geo.location import LocationError, parse_location


def test_postcode_and_district():
    full, district = parse_location("se1 7sg"), parse_location("SE1")
    assert full.postcode_district == district.postcode_district == "SE1"
    assert full.precision == "postcode" and full.borough and full.uncertainty_m <= 100
    assert district.precision == "postcode district centroid" and district.uncertainty_m > 500
    assert "whole postcode district" in district.note and f"{district.uncertainty_m / 1000:.1f} km" in district.note
    assert 51.4 < full.latitude < 51.6 and (full.latitude, full.longitude) != (district.latitude, district.longitude)


def test_lat_lon_and_easting_northing():
    a = parse_location("51.5034, -0.1195")
    b = parse_location("530450,179750")
    assert a.precision == b.precision == "point"
    assert abs(a.latitude - b.latitude) < 0.01 and a.borough == "LAMBETH"


@pytest.mark.parametrize(("text", "message"), [
    ("52.2,0.12", "not in Greater London"),           # Cambridge
    ("450000,200000", "not in Greater London"),       # Oxfordshire, on the grid
    ("CB2 1TN", "postcode CB2 1TN is not in Greater London"),
    ("CB2", "postcode district CB2 is not in Greater London"),
    ("behind the bakery", "cannot read location"),
    ("123,456789999", "neither latitude"),
])
def test_bad_locations_are_refused_clearly(text, message):
    with pytest.raises(LocationError, match=message):
        parse_location(text)


@pytest.mark.parametrize("text", ["-0.1195,51.5034", "-0.1195 51.5034", "(-0.1195, 51.5034)"])
def test_a_pair_that_only_makes_sense_swapped_is_read_swapped_and_says_so(text):
    where = parse_location(text)
    assert (round(where.latitude, 4), round(where.longitude, 4)) == (51.5034, -0.1195)
    assert "read longitude first" in where.note and "write latitude first" in where.note


def test_a_swapped_grid_reference_is_read_swapped_and_says_so():
    where = parse_location("179750,530450")
    assert where.borough == "LAMBETH" and "read northing first" in where.note


@pytest.mark.parametrize("text", ["SE1 7PB", "se17pb", " SE1  7PB "])
def test_a_full_postcode_is_located_at_its_own_point(text):
    from lfb.geo.postcodes import lookup_postcode

    where, known = parse_location(text), lookup_postcode("SE1 7PB")
    assert where.precision == "postcode" and where.note == "" and where.postcode_district == "SE1"
    assert (where.latitude, where.longitude) == (known.latitude, known.longitude)


def test_a_terminated_postcode_still_resolves_with_a_note():
    from lfb.geo.postcodes import postcode_table

    table = postcode_table()
    gone = table[~table.in_use].iloc[0]
    where = parse_location(gone.postcode)
    assert (where.latitude, where.longitude) == (gone.latitude, gone.longitude)
    assert "terminated" in where.note and "check the address" in where.note


def test_an_unknown_full_postcode_falls_back_to_its_district_naming_the_fallback():
    where, district = parse_location("SE1 9ZZ"), parse_location("SE1")
    assert where.precision == "postcode district centroid" and where.uncertainty_m == district.uncertainty_m
    assert (where.latitude, where.longitude) == (district.latitude, district.longitude)
    assert "SE1 9ZZ is not in the postcode table" in where.note and "centre of its district SE1" in where.note


def test_a_london_postcode_at_the_edge_of_the_cell_grid_is_in_london():
    from lfb.geo.location import london_cells_of
    from lfb.geo.postcodes import postcode_table

    table = postcode_table()
    edge = table[london_cells_of(table.latitude.to_numpy(), table.longitude.to_numpy()) < 0].iloc[0]
    assert parse_location(edge.postcode).borough == edge.borough
    assert parse_location(f"{edge.latitude},{edge.longitude}").borough == edge.borough


def test_many_locations_are_read_at_once_in_order_like_one():
    from lfb.geo.location import parse_locations

    texts = ["W2", "51.5034,-0.1195", "530450,179750", "-0.1195,51.5034", "SE1 7PB", "52.2,0.12", "CB2 1TN",
             "behind the bakery", "", None, "123,456789999"] * 7  # 77 texts: Arrow's regex engine
    table = parse_locations(texts)
    assert len(table) == 77 and list(table.columns) == ["latitude", "longitude", "postcode_district", "borough",
                                                         "precision", "uncertainty_m", "note", "error"]
    assert table.error.iloc[:5].tolist() == [""] * 5
    assert table.error.iloc[8] == table.error.iloc[9] == "no location given"
    for i, text in enumerate(texts[:11]):
        one = parse_locations([text]).iloc[0]  # 1 text: Python's regex engine
        assert one.fillna(-1).tolist() == table.iloc[i].fillna(-1).tolist()
        if not one.error:
            assert (parse_location(text).latitude, parse_location(text).note) == (one.latitude, one.note)


def test_every_kind_of_missing_value_is_no_location():
    import pandas as pd

    from lfb.geo.location import parse_locations

    for values in (["W2", None, float("nan"), pd.NA], pd.Series(["W2", None, pd.NA, None], dtype="string")):
        assert parse_locations(values).error.tolist() == ["", "no location given", "no location given",
                                                          "no location given"]
