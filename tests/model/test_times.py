"""Times as a Londoner writes them: day first, London local time, offsets converted, 'now'."""
import datetime as dt

import pandas as pd
import pytest

from lfb.model.times import TimeError, parse_time, parse_times

NOW = pd.Timestamp("2026-11-30 14:00:00")


@pytest.mark.parametrize(("text", "expected"), [
    ("01/08/2023 14:30", "2023-08-01 14:30"),        # day first: 1 August, not 8 January
    ("1/8/2023 14:30", "2023-08-01 14:30"),
    ("01-08-2023 14:30:15", "2023-08-01 14:30:15"),
    ("01.08.23 14.30", "2023-08-01 14:30"),
    ("13/08/2023 09:05", "2023-08-13 09:05"),
    ("01/08/2023 2:30 pm", "2023-08-01 14:30"),
    ("01/08/2023 12am", "2023-08-01 00:00"),
    ("1 Aug 2023 14:30", "2023-08-01 14:30"),
    ("1st August 2023 at 14:30", "2023-08-01 14:30"),
    ("01-Aug-23 14:30:00", "2023-08-01 14:30"),
    ("2023-08-01T14:30", "2023-08-01 14:30"),        # ISO stays year-month-day
    ("2023-08-01 14:30:00.250", "2023-08-01 14:30:00"),
    ("2023-01-08 14:30", "2023-01-08 14:30"),
    (" 2023/08/01 14:30 ", "2023-08-01 14:30"),
])
def test_dates_are_day_first_and_iso_stays_iso(text, expected):
    assert parse_time(text) == pd.Timestamp(expected)


@pytest.mark.parametrize(("text", "expected"), [
    ("2023-08-01T13:30Z", "2023-08-01 14:30"),         # summer: London is UTC+1 (BST)
    ("2023-08-01T13:30:00+00:00", "2023-08-01 14:30"),
    ("2023-08-01T18:30+05:00", "2023-08-01 14:30"),
    ("2023-08-01T09:30-0400", "2023-08-01 14:30"),
    ("2023-01-15T14:30Z", "2023-01-15 14:30"),         # winter: London is on GMT
    ("01/08/2023 14:30 BST", "2023-08-01 14:30"),
    ("01/08/2023 13:30 UTC", "2023-08-01 14:30"),
    ("2023-03-26T00:30Z", "2023-03-26 00:30"),          # just before the clocks go forward
    ("2023-03-26T01:30Z", "2023-03-26 02:30"),          # just after
])
def test_an_offset_is_converted_to_london_time(text, expected):
    assert parse_time(text) == pd.Timestamp(expected)


def test_datetimes_with_a_zone_are_converted_and_naive_ones_are_london_time():
    aware = dt.datetime(2023, 8, 1, 13, 30, tzinfo=dt.timezone.utc)
    assert parse_time(aware) == pd.Timestamp("2023-08-01 14:30")
    assert parse_time(dt.datetime(2023, 8, 1, 14, 30)) == pd.Timestamp("2023-08-01 14:30")


def test_now_is_now_in_london(monkeypatch):
    import lfb.model.times as times

    assert parse_time("now", now=NOW) == NOW and parse_time(" NOW ", now=NOW) == NOW
    monkeypatch.setattr(times, "london_now", lambda: pd.Timestamp("2026-07-01 09:00"))
    assert parse_time("now") == pd.Timestamp("2026-07-01 09:00")
    london = pd.Timestamp.now(tz="Europe/London").tz_localize(None)
    monkeypatch.undo()
    assert abs(parse_time("now") - london) < pd.Timedelta(minutes=1)


@pytest.mark.parametrize(("text", "message"), [
    ("yesterday-ish", "cannot read time 'yesterday-ish'"),
    ("", "no time given"),
    ("01/08/2023", "has no time of day"),
    ("2023-08-01", "has no time of day"),
    ("31/02/2023 10:00", "is not a real date and time"),
    ("01/13/2023 10:00", "is not a real date and time"),   # a month-first date is not silently read
    ("01/08/2023 25:00", "is not a real date and time"),
    ("01/08/2023 13pm", "is not a real date and time"),
])
def test_unreadable_times_say_why(text, message):
    with pytest.raises(TimeError, match=message):
        parse_time(text)


def test_a_column_is_read_at_once_and_keeps_its_rows():
    texts = pd.Series(["01/08/2023 14:30", None, "banana", "2023-08-01T13:30Z", "now"], index=[5, 6, 7, 8, 9])
    times, errors = parse_times(texts, now=NOW)
    assert list(times.index) == [5, 6, 7, 8, 9]
    assert times.tolist()[0] == times.tolist()[3] == pd.Timestamp("2023-08-01 14:30")
    assert times.tolist()[4] == NOW and times.isna().tolist() == [False, True, True, False, False]
    assert errors.tolist()[1] == "no time given" and errors.tolist()[2].startswith("cannot read time 'banana'")
    assert errors.tolist()[0] == errors.tolist()[3] == ""


def test_many_texts_read_exactly_like_one(monkeypatch):
    texts = ["01/08/2023 14:30", "2023-08-01T13:30Z", "1 Aug 2023 2pm", "31/02/2023 10:00", "soon", "",
             "01/08/2023", "2023-03-26T01:30+00:00", "now", "01.08.23 14.30 BST"] * 10  # 100: Arrow's engine
    many, many_errors = parse_times(texts, now=NOW)
    for i, text in enumerate(texts[:10]):
        one, one_error = parse_times([text], now=NOW)  # 1: Python's engine
        assert (one.iat[0] == many.iat[i]) or (pd.isna(one.iat[0]) and pd.isna(many.iat[i]))
        assert one_error.iat[0] == many_errors.iat[i]


def test_every_kind_of_missing_value_is_no_time():
    texts = ["01/08/2023 14:30", None, float("nan"), pd.NA]
    for values in (texts, pd.Series(texts, dtype="string")):
        assert parse_times(values)[1].tolist() == ["", "no time given", "no time given", "no time given"]
