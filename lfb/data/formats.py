"""The published LFB file formats: their columns, how to recognise them, how to parse their values."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

INCIDENTS, MOBILISATIONS = "incidents", "mobilisations"
MISSING_TOKENS = frozenset({"", "null", "nan", "na", "n/a", "none", "#n/a"})


@dataclass(frozen=True)
class Column:
    """One published column: canonical name, accepted headers and value type."""

    name: str
    headers: tuple[str, ...]
    kind: str  # text | int | float | date | time | datetime | id
    required: bool = False


def _c(name: str, header: str | tuple[str, ...], kind: str = "text", required: bool = False) -> Column:
    """Shorthand for a Column with one or more accepted headers."""
    return Column(name, (header,) if isinstance(header, str) else header, kind, required)


INCIDENT_COLUMNS: tuple[Column, ...] = (
    _c("incident_number", "IncidentNumber", "id", True),
    _c("date_of_call", "DateOfCall", "date", True),
    _c("cal_year", "CalYear", "int"),
    _c("time_of_call", "TimeOfCall", "time", True),
    _c("hour_of_call", "HourOfCall", "int"),
    _c("incident_group", "IncidentGroup", "text", True),
    _c("stop_code", "StopCodeDescription", "text", True),
    _c("special_service_type", "SpecialServiceType"),
    _c("property_category", "PropertyCategory", "text", True),
    _c("property_type", "PropertyType", "text", True),
    _c("address_qualifier", "AddressQualifier"),
    _c("postcode_full", "Postcode_full"),
    _c("postcode_district", "Postcode_district"),
    _c("uprn", "UPRN", "int"),
    _c("usrn", "USRN", "int"),
    _c("borough_code", "IncGeo_BoroughCode"),
    _c("borough_name", "IncGeo_BoroughName"),
    _c("proper_case", "ProperCase"),
    _c("ward_code", "IncGeo_WardCode"),
    _c("ward_name", "IncGeo_WardName"),
    _c("ward_name_new", "IncGeo_WardNameNew"),
    _c("easting_m", "Easting_m", "float"),
    _c("northing_m", "Northing_m", "float"),
    _c("easting_rounded", "Easting_rounded", "float", True),
    _c("northing_rounded", "Northing_rounded", "float", True),
    _c("latitude", "Latitude", "float"),
    _c("longitude", "Longitude", "float"),
    _c("frs", "FRS"),
    _c("station_ground", "IncidentStationGround", "text", True),
    _c("first_pump_seconds", "FirstPumpArriving_AttendanceTime", "float", True),
    _c("first_pump_station", "FirstPumpArriving_DeployedFromStation", "text", True),
    _c("second_pump_seconds", "SecondPumpArriving_AttendanceTime", "float"),
    _c("second_pump_station", "SecondPumpArriving_DeployedFromStation"),
    _c("num_stations_with_pumps", "NumStationsWithPumpsAttending", "int"),
    _c("num_pumps_attending", "NumPumpsAttending", "int"),
    _c("pump_count", "PumpCount", "int"),
    _c("pump_minutes", "PumpMinutesRounded", "float"),
    _c("pump_hours", ("PumpHoursRoundUp", "PumpHoursRounded"), "float"),
    _c("notional_cost", ("Notional Cost (£)", "Notional Cost", "NotionalCost"), "float"),
    _c("num_calls", "NumCalls", "int"),
)

MOBILISATION_COLUMNS: tuple[Column, ...] = (
    _c("incident_number", "IncidentNumber", "id", True),
    _c("cal_year", "CalYear", "int"),
    _c("hour_of_call", "HourOfCall", "int"),
    _c("mobilisation_id", "ResourceMobilisationId", "id", True),
    _c("resource_code", "Resource_Code"),
    _c("performance_reporting", "PerformanceReporting"),
    _c("mobilised_at", "DateAndTimeMobilised", "datetime", True),
    _c("mobile_at", "DateAndTimeMobile", "datetime"),
    _c("arrived_at", "DateAndTimeArrived", "datetime"),
    _c("turnout_seconds", "TurnoutTimeSeconds", "float"),
    _c("travel_seconds", "TravelTimeSeconds", "float"),
    _c("attendance_seconds", "AttendanceTimeSeconds", "float", True),
    _c("left_at", "DateAndTimeLeft", "datetime"),
    _c("returned_at", "DateAndTimeReturned", "datetime"),
    _c("station_code", "DeployedFromStation_Code", "text", True),
    _c("station_name", "DeployedFromStation_Name"),
    _c("deployed_from_location", "DeployedFromLocation"),
    _c("pump_order", "PumpOrder", "int"),
    _c("plus_code", "PlusCode_Code"),
    _c("plus_code_description", "PlusCode_Description"),
    _c("delay_code_id", "DelayCodeId", "int"),
    _c("delay_code_description", "DelayCode_Description"),
)

SPECS: dict[str, tuple[Column, ...]] = {INCIDENTS: INCIDENT_COLUMNS, MOBILISATIONS: MOBILISATION_COLUMNS}


class FormatError(ValueError):
    """A file that is not one of the published LFB formats."""


def header_key(header: object) -> str:
    """Return a comparable form of a column header (case, spaces, BOM and mis-decoded £ ignored)."""
    text = str(header).replace("\ufeff", "").replace("Â£", "£").strip().lower()
    return re.sub(r"[\s_]+", "", text)


def match_columns(headers: list[object], kind: str) -> dict[str, int]:
    """Return, for each canonical column of `kind` found in `headers`, its position."""
    keys = [header_key(h) for h in headers]
    found: dict[str, int] = {}
    for col in SPECS[kind]:
        for accepted in col.headers:
            key = header_key(accepted)
            if key in keys:
                found[col.name] = keys.index(key)
                break
            if col.name == "notional_cost":
                starts = [i for i, k in enumerate(keys) if k.startswith("notionalcost")]
                if starts:
                    found[col.name] = starts[0]
                    break
    return found


def missing_required(headers: list[object], kind: str) -> list[str]:
    """Return the published names of required columns of `kind` absent from `headers`."""
    found = match_columns(headers, kind)
    return [c.headers[0] for c in SPECS[kind] if c.required and c.name not in found]


RECORDS_HINT = "give the LFB incident or mobilisation records as published (.csv or .xlsx)"


def detect_kind(headers: list[object]) -> str:
    """Return 'incidents' or 'mobilisations' for a header row, or raise FormatError naming what is missing."""
    missing = {kind: missing_required(headers, kind) for kind in SPECS}
    complete = [kind for kind, cols in missing.items() if not cols]
    if len(complete) == 1:
        return complete[0]
    if complete:  # both complete cannot happen with the specs above; prefer the richer match
        return max(complete, key=lambda k: len(match_columns(headers, k)))
    detail = "; ".join(f"as {kind.rstrip('s')} records it lacks {', '.join(cols)}" for kind, cols in missing.items())
    raise FormatError(f"not an LFB incident or mobilisation file: {detail}; {RECORDS_HINT}")


# ---- value parsing (vectorised; every parser returns values and a mask of unreadable cells) ----

def missing_mask(values: pd.Series) -> np.ndarray:
    """Return True where a raw cell is empty, NULL or otherwise missing."""
    as_text = values.astype("string").str.strip().str.lower()
    return (values.isna() | as_text.isin(MISSING_TOKENS)).to_numpy(bool)


def _arrow_text(values: pd.Series):
    """Return the cells as an Arrow string array, trimmed, with missing tokens as nulls (None if not text)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if values.dtype == object:
        return None
    try:
        text = pc.utf8_trim_whitespace(pa.array(values.array, type=pa.string()))
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return None
    missing = pc.is_in(pc.utf8_lower(text), value_set=pa.array(sorted(MISSING_TOKENS)))
    return pc.if_else(missing, pa.scalar(None, pa.string()), text)


def parse_text(values: pd.Series) -> pd.Series:
    """Return stripped text with missing cells as None."""
    fast = _arrow_text(values)
    if fast is not None:
        return pd.Series(fast.to_numpy(zero_copy_only=False), index=values.index, dtype=object)
    out = values.astype("string").str.strip()
    return out.where(~missing_mask(values), None).astype(object).where(lambda s: s.notna(), None)


def parse_id(values: pd.Series) -> pd.Series:
    """Return identifiers as text; numbers read as floats (235138081.0) lose their '.0'."""
    text = parse_text(values)
    as_text = text.astype("string")
    floaty = as_text.str.fullmatch(r"\d+\.0+").fillna(False).to_numpy(bool)
    if floaty.any():
        text = text.copy()
        text[floaty] = as_text[floaty].str.replace(r"\.0+$", "", regex=True)
    return text


def _arrow_floats(values: pd.Series) -> pd.Series | None:
    """Return text cells as floats through Arrow when every non-missing cell is a plain number, else None."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        text = pc.utf8_trim_whitespace(pa.array(values.array, type=pa.string()))
        nulled = pc.if_else(pc.is_in(pc.utf8_lower(text), value_set=pa.array(sorted(MISSING_TOKENS))),
                            pa.scalar(None, pa.string()), text)
        return pd.Series(pc.cast(nulled, pa.float64()).to_numpy(zero_copy_only=False), index=values.index)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError):
        return None


def parse_float(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Return numbers as floats (missing -> NaN) and the mask of cells that are not numbers."""
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.astype(float), np.zeros(len(values), bool)
    if values.dtype != object and (fast := _arrow_floats(values)) is not None:
        return fast, np.zeros(len(values), bool)
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    unread = numbers.isna().to_numpy(bool)
    if unread.any():
        rest = values[unread]
        missing = missing_mask(rest)
        cleaned = rest.astype("string").str.strip().str.replace(",", "", regex=False)
        again = pd.to_numeric(cleaned.where(~missing, None), errors="coerce").astype(float)
        numbers[unread] = again.to_numpy()
        bad = np.zeros(len(values), bool)
        bad[np.flatnonzero(unread)] = ~missing & again.isna().to_numpy(bool)
        return numbers, bad
    return numbers, np.zeros(len(values), bool)


_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d %b %Y", "%d-%b-%y", "%d-%b-%Y", "%d/%m/%y", "%Y/%m/%d")
_DATETIME_FORMATS = ("%d/%m/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%d/%m/%Y %H:%M", "%Y-%m-%dT%H:%M:%S",
                     "%Y-%m-%d %H:%M:%S.%f", "%d-%b-%y %H:%M:%S", "%d %b %Y %H:%M:%S", "%Y-%m-%d %H:%M")
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
MAX_EXCEL_SERIAL = 100_000  # days after 1899-12-30: the year 2173


def _stamp(value: object) -> pd.Timestamp:
    """Return a date cell as a Timestamp, NaT when pandas cannot hold it (before 1678, after 2261)."""
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, OverflowError):
        return pd.NaT
    return stamp if pd.Timestamp.min < stamp < pd.Timestamp.max else pd.NaT


def _parse_with_formats(values: pd.Series, formats: tuple[str, ...]) -> pd.Series:
    """Parse date-time cells that may be text in one of `formats`, date objects or Excel serials."""
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    objects = values.map(lambda v: isinstance(v, (dt.datetime, dt.date, pd.Timestamp))).to_numpy(bool) \
        if values.dtype == object else np.zeros(len(values), bool)
    if objects.any():
        out[objects] = pd.to_datetime(values[objects].map(_stamp), errors="coerce")
    numeric = values.map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)).to_numpy(bool) \
        if values.dtype == object else np.zeros(len(values), bool)
    if numeric.any():
        serial = pd.to_numeric(values[numeric], errors="coerce").astype(float)
        serial = serial.where(serial.abs() < MAX_EXCEL_SERIAL)  # beyond the dates pandas holds: unreadable
        out[numeric] = _EXCEL_EPOCH + pd.to_timedelta(serial.round(6), unit="D")
    todo = ~objects & ~numeric
    text = values[todo].astype("string").str.strip()
    for fmt in formats:
        if text.empty:
            break
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        ok = parsed.notna().to_numpy(bool)
        held = ok & (parsed > pd.Timestamp.min).to_numpy(bool) & (parsed < pd.Timestamp.max).to_numpy(bool)
        if held.any():  # a date pandas cannot hold (before 1678, after 2261) stays unreadable: its row is rejected
            out[text.index[held]] = parsed[held].astype("datetime64[ns]")
        if ok.any():
            text = text[~ok]
    return out


def parse_datetime(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Return date-times (missing -> NaT) and the mask of non-empty cells that are not date-times."""
    missing = missing_mask(values)
    parsed = _parse_with_formats(values.where(~missing, None), _DATETIME_FORMATS + _DATE_FORMATS)
    return parsed, ~missing & parsed.isna().to_numpy(bool)


def parse_date(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Return calendar dates at midnight (time parts dropped) and the mask of unreadable cells."""
    missing = missing_mask(values)
    parsed = _parse_with_formats(values.where(~missing, None), _DATE_FORMATS + _DATETIME_FORMATS)
    return parsed.dt.normalize(), ~missing & parsed.isna().to_numpy(bool)


def _arrow_times(values: pd.Series) -> pd.Series | None:
    """Return HH:MM:SS text cells as timedeltas through Arrow when all of them parse, else None."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = _arrow_text(values)
    if text is None:
        return None
    parsed = pc.strptime(text, format="%H:%M:%S", unit="s", error_is_null=True)
    if parsed.null_count != text.null_count:
        return None
    seconds = pc.add(pc.add(pc.multiply(pc.hour(parsed), 3600), pc.multiply(pc.minute(parsed), 60)),
                     pc.second(parsed))
    out = pd.to_timedelta(pc.cast(seconds, pa.float64()).to_numpy(zero_copy_only=False), unit="s")
    return pd.Series(out, index=values.index).astype("timedelta64[ns]")


def parse_time(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Return times of day as timedeltas and the mask of unreadable cells (HH:MM[:SS], time objects, day fractions)."""
    fast = _arrow_times(values)
    if fast is not None:
        return fast, np.zeros(len(values), bool)
    missing = missing_mask(values)
    out = pd.Series(pd.NaT, index=values.index, dtype="timedelta64[ns]")

    def one(v: object) -> pd.Timedelta | None:
        if isinstance(v, dt.datetime):
            return pd.Timedelta(hours=v.hour, minutes=v.minute, seconds=v.second)
        if isinstance(v, dt.time):
            return pd.Timedelta(hours=v.hour, minutes=v.minute, seconds=v.second)
        if isinstance(v, (int, float)) and 0 <= v < 1:
            return pd.Timedelta(days=float(v)).round("s")
        return None

    if values.dtype == object:
        special = values.map(lambda v: isinstance(v, (dt.datetime, dt.time, int, float)) and not isinstance(v, bool))
        special = special.to_numpy(bool) & ~missing
        if special.any():
            out[special] = values[special].map(one).astype("timedelta64[ns]")
    else:
        special = np.zeros(len(values), bool)
    rest = ~missing & ~special
    text = values[rest].astype("string").str.strip()
    match = text.str.extract(r"^(?:\d{4}-\d\d-\d\d[ T])?(\d{1,2}):(\d\d)(?::(\d\d))?(?:\.\d+)?$")
    hours = pd.to_numeric(match[0], errors="coerce")
    minutes = pd.to_numeric(match[1], errors="coerce")
    seconds = pd.to_numeric(match[2], errors="coerce").fillna(0)
    valid = hours.notna() & (hours < 24) & (minutes < 60) & (seconds < 60)
    delta = pd.to_timedelta(hours * 3600 + minutes * 60 + seconds, unit="s")
    out[text.index[valid.to_numpy(bool)]] = delta[valid]
    return out, ~missing & out.isna().to_numpy(bool)


def iso(values: pd.Series) -> pd.Series:
    """Return date-times as 'YYYY-MM-DD HH:MM:SS' text, NaT as None."""
    text = values.dt.strftime("%Y-%m-%d %H:%M:%S")
    return text.astype(object).where(values.notna(), None)
