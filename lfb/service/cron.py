"""Standard 5-field crontab expressions read into APScheduler triggers, in London time.

APScheduler 3 reads the day-of-week field with Monday as 0, where crontab has Sunday as 0 (and 7); this module
reads it as crontab does, so `0 2 * * 0` is Sunday at 02:00. A day of the month and a day of the week given
together are refused: classic cron runs on either, APScheduler only when both match.
"""
from __future__ import annotations

import datetime as dt
import re

from apscheduler.triggers.cron import CronTrigger

LONDON = "Europe/London"
DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_PART = re.compile(r"(?P<range>\*|(?P<low>\w+)(?:-(?P<high>\w+))?)(?:/(?P<step>\d+))?")


class CronError(ValueError):
    """A crontab expression that cannot be used, with what is wrong in words."""


def _day(text: str) -> int:
    """Return a crontab weekday (0-7 or a three-letter name) as 0 (Sunday) to 6, 7 read as 0."""
    if text.isdigit() and int(text) <= 7:
        return int(text) % 7
    if text.lower() in DAY_NAMES:
        return DAY_NAMES.index(text.lower())
    raise CronError(f"{text!r} is not a day of the week (0-7 with 0 and 7 = Sunday, or sun..sat)")


def crontab_days(field: str) -> list[int]:
    """Return the weekdays (0 = Sunday) a crontab day-of-week field names."""
    days: set[int] = set()
    for part in field.split(","):
        match = _PART.fullmatch(part.strip())
        if match is None:
            raise CronError(f"{part!r} is not a day-of-week expression (e.g. 1-5, sun, */2)")
        step = int(match["step"] or 1)
        if step < 1:
            raise CronError(f"the step in {part!r} must be at least 1")
        if match["range"] == "*":
            low, high = 0, 6
        else:
            low = _day(match["low"])
            high = _day(match["high"]) if match["high"] else (6 if match["step"] else low)
            if match["high"] and match["high"] == "7":
                high = 7  # '5-7' runs Friday to Sunday
            if high < low:
                raise CronError(f"the range {part!r} runs backwards")
        days.update(d % 7 for d in range(low, high + 1, step))
    return sorted(days)


def crontab_trigger(expr: str, timezone: str = LONDON) -> CronTrigger:
    """Return the trigger of a 5-field crontab expression (minute hour day month weekday), or raise CronError."""
    fields = expr.split()
    if len(fields) != 5:
        raise CronError(f"it has {len(fields)} field(s); a crontab expression has 5")
    minute, hour, day, month, weekday = fields
    if day != "*" and weekday != "*":
        raise CronError("give a day of the month or a day of the week, not both (cron and APScheduler disagree "
                        "on what both mean)")
    if weekday != "*":
        weekday = ",".join(DAY_NAMES[d] for d in crontab_days(weekday))
    try:
        return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=weekday, timezone=timezone)
    except ValueError as exc:
        raise CronError(str(exc)) from None


def fires_between(trigger: CronTrigger, after: dt.datetime, until: dt.datetime, limit: int = 100_000
                  ) -> list[dt.datetime]:
    """Return the trigger's fire times later than `after` and not later than `until` (at most `limit`)."""
    out: list[dt.datetime] = []
    start = after + dt.timedelta(microseconds=1)
    while len(out) < limit:
        fire = trigger.get_next_fire_time(None, start)
        if fire is None or fire > until:
            break
        out.append(fire)
        start = fire + dt.timedelta(microseconds=1)
    return out
