"""Crontab expressions as crontab reads them (Sunday is 0), in London time; bad ones refused with a reason."""
import datetime as dt

import pytest

from lfb.service.cron import CronError, crontab_days, crontab_trigger, fires_between

UTC = dt.timezone.utc


def _fires(expr: str, start: dt.datetime, days: int) -> list[dt.datetime]:
    """Return the fire times of an expression over some days."""
    return fires_between(crontab_trigger(expr), start, start + dt.timedelta(days=days))


def test_the_default_runs_on_the_15th_at_two_in_the_morning_london_time_in_summer_and_winter():
    summer, winter = _fires("0 2 15 * *", dt.datetime(2026, 3, 20, tzinfo=UTC), 260)[:1], \
        _fires("0 2 15 * *", dt.datetime(2026, 11, 20, tzinfo=UTC), 30)
    assert summer[0].astimezone(UTC) == dt.datetime(2026, 4, 15, 1, 0, tzinfo=UTC)  # 02:00 BST
    assert winter[0].astimezone(UTC) == dt.datetime(2026, 12, 15, 2, 0, tzinfo=UTC)  # 02:00 GMT
    assert len(_fires("0 2 15 * *", dt.datetime(2026, 1, 1, tzinfo=UTC), 365)) == 12


@pytest.mark.parametrize(("field", "days"), [
    ("0", [0]), ("7", [0]), ("sun", [0]), ("1-5", [1, 2, 3, 4, 5]), ("5-7", [0, 5, 6]), ("*/2", [0, 2, 4, 6]),
    ("mon,wed", [1, 3]), ("1-5/2", [1, 3, 5]),
])
def test_the_day_of_week_is_read_as_crontab_reads_it(field, days):
    assert crontab_days(field) == days


def test_sunday_zero_fires_on_sundays_not_mondays():
    fires = _fires("30 3 * * 0", dt.datetime(2026, 11, 30, tzinfo=UTC), 14)
    assert [f.strftime("%a %H:%M") for f in fires] == ["Sun 03:30", "Sun 03:30"]


@pytest.mark.parametrize(("expr", "message"), [
    ("0 2 15 *", "it has 4 field(s); a crontab expression has 5"),
    ("0 2 15 * * *", "it has 6 field(s)"),
    ("61 2 * * *", "higher than the maximum value (59)"),
    ("0 2 * * 8", "'8' is not a day of the week"),
    ("0 2 * * 5-1", "runs backwards"),
    ("0 2 15 * 1", "a day of the month or a day of the week, not both"),
    ("0 2 * * mon-", "is not a day-of-week expression"),
])
def test_bad_expressions_are_refused_saying_why(expr, message):
    with pytest.raises(CronError, match=message.replace("(", r"\(").replace(")", r"\)")):
        crontab_trigger(expr)


def test_fires_between_excludes_the_start_and_includes_the_end():
    start = dt.datetime(2026, 12, 15, 2, 0, tzinfo=UTC)
    fires = fires_between(crontab_trigger("0 2 * * *"), start, start + dt.timedelta(days=2))
    assert [f.astimezone(UTC) for f in fires] == [start + dt.timedelta(days=1), start + dt.timedelta(days=2)]
