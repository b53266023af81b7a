"""Property-based checks of the time reader: every way a Londoner writes a moment reads as that moment."""
import datetime as dt

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from lfb.model.times import TimeError, parse_time, parse_times

MOMENTS = st.datetimes(min_value=dt.datetime(2009, 1, 1), max_value=dt.datetime(2035, 12, 31)).map(
    lambda m: m.replace(second=0, microsecond=0))
FAST = settings(max_examples=200, deadline=None)


@FAST
@given(MOMENTS, st.sampled_from(["%d/%m/%Y %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%d-%m-%Y %H:%M",
                                 "%d %b %Y %H:%M", "%d/%m/%Y %H:%M:%S"]))
def test_a_london_time_reads_as_written_whatever_the_format(moment, fmt):
    if moment.month == 10 and moment.day >= 25 and moment.hour == 1:
        return  # the hour of the autumn change happens twice in London: either reading is right
    assert parse_time(moment.strftime(fmt)) == pd.Timestamp(moment)


@FAST
@given(MOMENTS)
def test_an_explicit_utc_time_becomes_london_time(moment):
    text = moment.strftime("%Y-%m-%dT%H:%MZ")
    expected = pd.Timestamp(moment, tz="UTC").tz_convert("Europe/London").tz_localize(None)
    assert parse_time(text) == expected


@FAST
@given(st.text(max_size=40))
def test_any_text_is_a_time_or_a_clear_refusal(text):
    try:
        moment = parse_time(text)
    except TimeError as exc:
        assert str(exc)
        return
    assert isinstance(moment, pd.Timestamp) and moment.tzinfo is None


@FAST
@given(st.lists(st.one_of(st.text(max_size=20), MOMENTS.map(lambda m: m.strftime("%d/%m/%Y %H:%M"))), max_size=60))
def test_many_at_once_read_like_one_at_a_time(texts):
    moments, errors = parse_times(texts)
    for text, moment, error in zip(texts, moments, errors):
        if error:
            continue
        assert parse_time(text) == moment
