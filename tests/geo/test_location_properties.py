"""Property-based checks of the location reader: any text gives a place in London or a LocationError, never else."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lfb.geo.location import LocationError, in_greater_london, parse_location, parse_locations

LONDON_LAT, LONDON_LON = st.floats(51.29, 51.69), st.floats(-0.50, 0.33)
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.text(max_size=60))
def test_any_text_is_a_london_place_or_a_clear_refusal(text):
    try:
        where = parse_location(text)
    except LocationError as exc:
        assert str(exc)  # a message, never an empty one
        return
    assert in_greater_london(where.latitude, where.longitude)[0] or where.precision != "point"
    assert where.precision in ("point", "postcode", "postcode district centroid")


@FAST
@given(LONDON_LAT, LONDON_LON, st.sampled_from(["{a},{b}", "{a}, {b}", "{a} {b}", "({a}, {b})", "{a};{b}"]))
def test_a_point_in_london_reads_back_as_written(lat, lon, shape):
    text = shape.format(a=f"{lat:.6f}", b=f"{lon:.6f}")
    if not in_greater_london(lat, lon)[0]:
        return  # the bounding box holds places outside London too
    where = parse_location(text)
    assert (round(where.latitude, 6), round(where.longitude, 6)) == (round(lat, 6), round(lon, 6))
    assert where.precision == "point" and where.note == ""


@FAST
@given(st.lists(st.one_of(st.text(max_size=20), st.none(), st.sampled_from(["SE1 7PB", "W2", "51.5,-0.12"])),
                max_size=80))
def test_many_texts_at_once_read_like_one_at_a_time(texts):
    table = parse_locations(texts)
    assert len(table) == len(texts)
    for text, row in zip(texts, table.itertuples()):
        if row.error:
            continue
        one = parse_location(text)
        assert (one.latitude, one.longitude, one.precision) == (row.latitude, row.longitude, row.precision)
