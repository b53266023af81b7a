"""Times as a Londoner writes them: day first, London local time (GMT or BST), offsets converted, 'now'.

One parser for the CLI, batches and the app. `parse_times` reads a whole column at once; `parse_time`
reads one text through it. Accepted: '01/08/2024 14:30' (day first, also with '-' or '.', two-digit
years, seconds, am/pm), '1 Aug 2024 14:30', ISO '2024-08-01T14:30[:00]', any of them followed by an
offset ('Z', 'UTC', 'GMT', 'BST', '+01:00', '-0500'), which is converted to London time, and 'now'.
A time without an offset is London local time. The result is a naive London local time, as the LFB
records and the model use. A date without a time of day is refused: the hour matters.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lfb.text import quoted

LONDON = "Europe/London"

_TIME = r"(?P<H>\d{1,2})(?:[:.](?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,]\d+)?)?)?\s*(?P<ap>[ap]\.?m\.?)?"
_ZONE = r"(?P<z>z|utc|gmt|bst|[+-]\d{2}(?::?\d{2})?)"
_DATE = (r"(?:(?P<iy>\d{4})[-/.](?P<im>\d{1,2})[-/.](?P<id>\d{1,2})"
         r"|(?P<ud>\d{1,2})[-/.](?P<um>\d{1,2})[-/.](?P<uy>\d{4}|\d{2})"
         r"|(?P<nd>\d{1,2})(?:st|nd|rd|th)?[ -]?(?P<nm>[a-z]{3,9})\.?,?[ -]?(?P<ny>\d{4}|\d{2}))")
PATTERN = rf"(?i)^\s*{_DATE}(?:(?:\s*[t,]\s*|\s+(?:at\s+)?){_TIME})?\s*{_ZONE}?\s*$"
MONTHS = {name: i + 1 for i, names in enumerate((
    ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
    ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
    ("dec", "december"))) for name in names}
EXAMPLE = "'01/08/2024 14:30' (day first) or '2024-08-01T14:30'"
NUMBER_GROUPS = ("iy", "im", "id", "ud", "um", "uy", "nd", "ny", "H", "M", "S")
WORD_GROUPS = ("nm", "ap", "z")
ARROW_FROM_ROWS = 64  # from this many texts Arrow's regex engine is faster; below, Python's (no compile per call)
_REGEX = re.compile(PATTERN)


class TimeError(ValueError):
    """A time that cannot be read as a London date and time."""


def london_now() -> pd.Timestamp:
    """Return the current London local time (naive, to the second)."""
    return pd.Timestamp.now(tz=LONDON).tz_localize(None).floor("s")


def to_london(moment: pd.Timestamp | dt.datetime) -> pd.Timestamp:
    """Return a datetime as naive London local time (one with an offset is converted; a naive one is kept)."""
    stamp = pd.Timestamp(moment)
    return stamp.tz_convert(LONDON).tz_localize(None) if stamp.tzinfo else stamp


def _texts(values: Sequence[object] | pd.Series) -> pa.Array:
    """Return the values as stripped Arrow text, missing ones as ''."""
    raw = values.to_numpy(dtype=object) if isinstance(values, pd.Series) else values
    try:
        text = pa.array(raw, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        text = pa.array([None if pd.isna(v) else str(v) for v in raw], type=pa.string())
    return pc.utf8_trim_whitespace(pc.fill_null(text, ""))


def _groups_arrow(text: pa.Array) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Return PATTERN's groups for many texts through Arrow's regex engine (see _groups)."""
    parts = pc.extract_regex(text, PATTERN)
    out: dict[str, np.ndarray] = {}
    for name in NUMBER_GROUPS + WORD_GROUPS:
        field = pc.fill_null(parts.field(name), "")
        if name in NUMBER_GROUPS:
            out[name] = pc.cast(pc.if_else(pc.equal(field, ""), None, field), pa.float64()).to_numpy(
                zero_copy_only=False)
        else:
            out[name] = np.asarray(pc.utf8_lower(field).to_numpy(zero_copy_only=False), dtype=object)
    return out, parts.is_valid().to_numpy(zero_copy_only=False)


def _groups_python(words: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Return PATTERN's groups for a few texts through Python's regex engine (see _groups)."""
    matches = [_REGEX.match(w) for w in words]
    found = [m.groupdict("") if m else {} for m in matches]
    out = {name: np.array([float(g[name]) if g.get(name) else np.nan for g in found]) for name in NUMBER_GROUPS}
    out |= {name: np.array([g.get(name, "").lower() for g in found], dtype=object) for name in WORD_GROUPS}
    return out, np.array([m is not None for m in matches], dtype=bool)


def _groups(text: pa.Array) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Return PATTERN's groups per text (numbers as floats, NaN where absent; words in lower case, '' where absent)
    and where the pattern matched; Arrow's engine for many texts, Python's for a few (same pattern, same result)."""
    if len(text) >= ARROW_FROM_ROWS:
        return _groups_arrow(text)
    return _groups_python(text.to_pylist())


def _offset_minutes(zones: np.ndarray) -> np.ndarray:
    """Return the offset from UTC in minutes of zone texts ('z', 'bst', '+01:00'...); NaN where there is none."""
    out = np.full(len(zones), np.nan)
    named = {"z": 0.0, "utc": 0.0, "gmt": 0.0, "bst": 60.0}
    for i in np.flatnonzero(zones != ""):
        zone = zones[i]
        if zone in named:
            out[i] = named[zone]
        else:
            digits = zone[1:].replace(":", "")
            minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) > 2 else 0)
            out[i] = minutes if zone[0] == "+" else -minutes
    return out


def _clock(groups: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return hour, minute and second of the matched texts, and where a time of day was given at all."""
    hour, minute, second, half = groups["H"], groups["M"], groups["S"], groups["ap"]
    twelve = half != ""
    given = np.isfinite(hour) & (np.isfinite(minute) | twelve)
    if twelve.any():
        pm = twelve & np.array([h[:1] == "p" for h in half], dtype=bool)
        bad = twelve & ((hour < 1) | (hour > 12))
        hour = np.where(twelve, hour % 12 + np.where(pm, 12, 0), hour)
        hour[bad] = np.nan
    return hour, np.nan_to_num(minute, nan=0.0), np.nan_to_num(second, nan=0.0), given


def _calendar(groups: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return year, month and day of the matched texts, whichever way the date was written."""
    year = np.fmax(np.fmax(groups["iy"], groups["uy"]), groups["ny"])
    year = np.where(year < 100, year + 2000, year)
    names = groups["nm"]
    named = np.full(len(names), np.nan)
    for i in np.flatnonzero(names != ""):
        named[i] = MONTHS.get(names[i], np.nan)
    month = np.fmax(np.fmax(groups["im"], groups["um"]), named)
    day = np.fmax(np.fmax(groups["id"], groups["ud"]), groups["nd"])
    return year, month, day


def _assemble(year: np.ndarray, month: np.ndarray, day: np.ndarray, hour: np.ndarray, minute: np.ndarray,
              second: np.ndarray) -> np.ndarray:
    """Return datetime64 values from their parts (NaT where they make no real date and time)."""
    ok = np.isfinite(year + month + day + hour) & (month >= 1) & (month <= 12) & (day >= 1) & (hour < 24) \
        & (minute < 60) & (second < 60) & (year >= 1900) & (year <= 2200)
    months = np.where(ok, (year - 1970) * 12 + month - 1, 0).astype("int64").astype("datetime64[M]")
    length = ((months + 1).astype("datetime64[D]") - months.astype("datetime64[D]")).astype(int)
    ok &= day <= length
    seconds = np.where(ok, (day - 1) * 86400 + hour * 3600 + minute * 60 + second, 0).astype("int64")
    out = (months.astype("datetime64[s]") + seconds.astype("timedelta64[s]")).astype("datetime64[ns]")
    out[~ok] = np.datetime64("NaT")
    return out


def _shift_to_london(moments: np.ndarray, offsets: np.ndarray) -> None:
    """Convert, in place, the times written with an offset from UTC (minutes; NaN = none) to London local time."""
    zoned = np.flatnonzero(np.isfinite(offsets) & ~np.isnat(moments))
    if len(zoned):
        utc = pd.DatetimeIndex(moments[zoned] - (offsets[zoned] * 60).astype("timedelta64[s]"))
        moments[zoned] = utc.tz_localize("UTC").tz_convert(LONDON).tz_localize(None).to_numpy()


def _fill_now(moments: np.ndarray, text: pa.Array, now: pd.Timestamp | None) -> None:
    """Set, in place, the texts 'now' (any case) to now in London."""
    lower = pc.utf8_lower(text)
    if len(text) >= ARROW_FROM_ROWS and not pc.any(pc.equal(lower, "now")).as_py():
        return
    is_now = pc.equal(lower, "now").to_numpy(zero_copy_only=False)
    if is_now.any():
        moments[is_now] = np.datetime64(now if now is not None else london_now(), "ns")


def parse_times(values: Sequence[object] | pd.Series, now: pd.Timestamp | None = None) -> tuple[pd.Series, pd.Series]:
    """Return naive London local times for many texts, and per text what is wrong ('' when it was read)."""
    text = _texts(values)
    groups, matched = _groups(text)
    hour, minute, second, clock_given = _clock(groups)
    moments = _assemble(*_calendar(groups), hour, minute, second)
    _shift_to_london(moments, _offset_minutes(groups["z"]))
    _fill_now(moments, text, now)
    errors = np.full(len(moments), "", dtype=object)
    for i in np.flatnonzero(np.isnat(moments)):
        errors[i] = _problem(text[i].as_py(), bool(matched[i]), bool(clock_given[i]))
    index = values.index if isinstance(values, pd.Series) else None
    return pd.Series(moments, index=index), pd.Series(errors, index=index, dtype=object)


def _problem(text: str, matched: bool, clock_given: bool) -> str:
    """Return why one text is not a time."""
    if not text:
        return "no time given"
    if not matched:
        return f"cannot read time {quoted(text)}: give a London date and time, e.g. {EXAMPLE}"
    if not clock_given:
        return f"time {quoted(text)} has no time of day: add one, e.g. '{text} 14:30'"
    year = re.search(r"\b(\d{4})\b", text)
    if year and not pd.Timestamp.min.year < int(year[1]) < pd.Timestamp.max.year:
        return (f"time {quoted(text)} is too far away: give a date between {pd.Timestamp.min.year + 1} and "
                f"{pd.Timestamp.max.year - 1}, e.g. {EXAMPLE}")
    return f"time {quoted(text)} is not a real date and time"


def parse_time(value: str | dt.datetime | pd.Timestamp, now: pd.Timestamp | None = None) -> pd.Timestamp:
    """Return one time as naive London local time, or raise TimeError saying what is wrong."""
    if isinstance(value, (dt.datetime, pd.Timestamp)):
        if pd.isna(value):
            raise TimeError("no time given")
        return to_london(value)
    moments, errors = parse_times([value], now)
    if errors.iat[0]:
        raise TimeError(f"no time given: give a London date and time, e.g. {EXAMPLE}"
                        if errors.iat[0] == "no time given" else errors.iat[0])
    return moments.iat[0]
