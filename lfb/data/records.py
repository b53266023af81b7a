"""Turn raw LFB rows into the store's canonical records, with a reason for every row refused."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lfb.config import get_settings
from lfb.data import formats
from lfb.data.formats import INCIDENTS, MOBILISATIONS, SPECS
from lfb.data.formats import MOBILISATION_COLUMNS as MOBILISATION_SPEC
from lfb.data.reference import station_codes_by_name
from lfb.data.store import INCIDENT_COLUMNS, MOBILISATION_COLUMNS

DEMO_SUFFIX = "-DEMO"  # demo incident numbers end with this, so demo rows label themselves
MAX_ATTENDANCE_S = 24 * 3600
FIRST_RECORDS = pd.Timestamp("2009-01-01")  # the published LFB records start on 1 January 2009
INCIDENT_GROUPS = {"fire": "Fire", "special service": "Special Service", "false alarm": "False Alarm"}
# What a coordinate can be somewhere in Britain: (published column, low, high, where).
COORDINATE_LIMITS = {
    "latitude": ("Latitude", 49.8, 60.9, "outside Britain (49.8..60.9)"),
    "longitude": ("Longitude", -8.7, 1.8, "outside Britain (-8.7..1.8)"),
    "easting_m": ("Easting_m", 0, 700_000, "outside the British National Grid (0..700000)"),
    "northing_m": ("Northing_m", 0, 1_300_000, "outside the British National Grid (0..1300000)"),
    "easting_rounded": ("Easting_rounded", 0, 700_000, "outside the British National Grid (0..700000)"),
    "northing_rounded": ("Northing_rounded", 0, 1_300_000, "outside the British National Grid (0..1300000)"),
}


@dataclass
class Parsed:
    """Canonical rows of one chunk, the rows derived from them, and the rows refused."""

    kind: str
    records: pd.DataFrame
    derived: pd.DataFrame
    rejects: list[tuple[int, str, str]] = field(default_factory=list)  # (row number, reason, raw JSON)


class Reasons:
    """Why rows of a chunk are refused (kept only for the rows that have a reason)."""

    def __init__(self, n: int):
        self.n = n
        self.by_row: dict[int, list[str]] = {}

    def note(self, mask: np.ndarray, text: str) -> None:
        """Add `text` to the reasons of every row where `mask` is True."""
        for i in np.flatnonzero(mask):
            self.by_row.setdefault(int(i), []).append(text)

    def refused(self) -> np.ndarray:
        """Return the mask of rows with at least one reason."""
        mask = np.zeros(self.n, bool)
        mask[list(self.by_row)] = True
        return mask


def _typed(frame: pd.DataFrame, kind: str, reasons: Reasons) -> dict[str, pd.Series]:
    """Parse every known column of a raw frame by its published type; note unreadable cells."""
    positions = formats.match_columns(list(frame.columns), kind)
    out: dict[str, pd.Series] = {}
    n = len(frame)
    for col in SPECS[kind]:
        if col.name not in positions:
            out[col.name] = pd.Series([None] * n, index=frame.index, dtype=object)
            continue
        raw = frame.iloc[:, positions[col.name]]
        header = frame.columns[positions[col.name]]
        if col.kind == "text":
            out[col.name] = formats.parse_text(raw)
        elif col.kind == "id":
            out[col.name] = formats.parse_id(raw)
        else:
            parser = {"int": formats.parse_float, "float": formats.parse_float, "date": formats.parse_date,
                      "time": formats.parse_time, "datetime": formats.parse_datetime}[col.kind]
            values, bad = parser(raw)
            reasons.note(bad, f"{header}: unreadable value")
            out[col.name] = values
    return out


def _raw_json(frame: pd.DataFrame, i: int) -> str:
    """Return row `i` of a raw frame as JSON text, original headers as keys."""
    row = frame.iloc[i]
    return json.dumps({str(k): (None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
                       for k, v in row.items()}, ensure_ascii=False)


def row_numbers(rows: int | np.ndarray, n: int) -> np.ndarray:
    """Return the file row number of each of `n` rows, given them or the first one (the others following on)."""
    return np.arange(rows, rows + n) if np.ndim(rows) == 0 else np.asarray(rows)


def _finish(frame: pd.DataFrame, rows: int | np.ndarray, reasons: Reasons) -> tuple[np.ndarray, list]:
    """Return the mask of accepted rows and the reject tuples for the others."""
    numbers = row_numbers(rows, len(frame))
    rejects = [(int(numbers[i]), "; ".join(reasons.by_row[i]), _raw_json(frame, i)) for i in sorted(reasons.by_row)]
    return ~reasons.refused(), rejects


def latest_possible_date() -> pd.Timestamp:
    """Return the first moment no record can be from: today plus the margin setting, to the end of that day."""
    return pd.Timestamp(dt.date.today() + dt.timedelta(days=get_settings().date_margin_days + 1))


def note_impossible_dates(reasons: Reasons, when: pd.Series, header: str, latest: pd.Timestamp) -> None:
    """Refuse rows whose date is before the first published records or after today (plus the margin)."""
    reasons.note((when < FIRST_RECORDS).to_numpy(bool), f"{header}: before 2009, when the published records start")
    reasons.note((when >= latest).to_numpy(bool), f"{header}: after today")


def note_impossible_coordinates(reasons: Reasons, v: dict[str, pd.Series]) -> None:
    """Refuse rows with a coordinate that cannot be in Britain (missing coordinates pass)."""
    for name, (header, low, high, where) in COORDINATE_LIMITS.items():
        reasons.note(((v[name] < low) | (v[name] > high)).to_numpy(bool), f"{header}: {where}")


def canonical_incident_group(groups: pd.Series, reasons: Reasons | None) -> pd.Series:
    """Return incident groups spelt as published (matched ignoring case and spacing); refuse any other value
    (or, without `reasons`, keep it as it is)."""
    keys = groups.astype("string").str.replace(r"\s+", " ", regex=True).str.strip().str.lower()
    canonical = keys.map(INCIDENT_GROUPS).astype(object)
    other = (groups.notna() & canonical.isna()).to_numpy(bool)
    if reasons is None:
        return canonical.where(~other, groups).where(lambda g: g.notna(), None)
    reasons.note(other, "IncidentGroup: not Fire, Special Service or False Alarm")
    return canonical.where(canonical.notna(), None)


def _is_demo(numbers: pd.Series) -> pd.Series:
    """Return 1 for demo incident numbers, 0 otherwise."""
    return numbers.astype("string").str.endswith(DEMO_SUFFIX).fillna(False).astype(int)


def parse_incidents(frame: pd.DataFrame, rows: int | np.ndarray, derive: bool = True,
                    refuse_impossible: bool = True) -> Parsed:
    """Parse a raw chunk of incident records; derive first- and second-pump attendance rows (unless told not to).

    Rows with impossible dates, coordinates or incident groups are refused unless `refuse_impossible` is False
    (batch estimates keep such rows, to report them with their own error).
    """
    n = len(frame)
    reasons = Reasons(n)
    v = _typed(frame, INCIDENTS, reasons)
    reasons.note(v["incident_number"].isna().to_numpy(bool), "IncidentNumber: missing")
    reasons.note(v["date_of_call"].isna().to_numpy(bool) & ~reasons.refused(), "DateOfCall: missing")
    when = v["date_of_call"] + v["time_of_call"].fillna(pd.Timedelta(0))
    for name, header in (("first_pump_seconds", "FirstPumpArriving_AttendanceTime"),
                         ("second_pump_seconds", "SecondPumpArriving_AttendanceTime")):
        times = v[name]
        reasons.note(((times < 0) | (times > MAX_ATTENDANCE_S)).to_numpy(bool), f"{header}: out of range")
    for name in ("latitude", "longitude", "easting_m", "northing_m"):
        v[name] = v[name].where(v[name] != 0)  # published files write 0 for an unknown coordinate
    if refuse_impossible:
        note_impossible_dates(reasons, v["date_of_call"], "DateOfCall", latest_possible_date())
        note_impossible_coordinates(reasons, v)
    v["incident_group"] = canonical_incident_group(v["incident_group"], reasons if refuse_impossible else None)
    ok, rejects = _finish(frame, rows, reasons)
    cols = {
        "incident_number": v["incident_number"],
        "call_datetime": formats.iso(when),
        "month": when.dt.strftime("%Y-%m"),
        "cal_year": v["cal_year"].fillna(when.dt.year.astype(float)),
        "hour_of_call": v["hour_of_call"].fillna(when.dt.hour.astype(float)),
    }
    for name in INCIDENT_COLUMNS:
        if name not in cols and name not in ("is_demo", "ingest_id"):
            cols[name] = v[name]
    records = pd.DataFrame(cols, index=frame.index)[ok]
    records["is_demo"] = _is_demo(records["incident_number"])
    derived = derive_attendances(records) if derive else pd.DataFrame()
    return Parsed(INCIDENTS, records.reset_index(drop=True), derived, rejects)


def derive_attendances(incidents: pd.DataFrame) -> pd.DataFrame:
    """Return first- and second-pump attendance rows (mobilisation columns) from incident records (the last row of
    an incident given twice wins, as it does for the record itself)."""
    codes = station_codes_by_name()
    incidents = incidents.drop_duplicates("incident_number", keep="last")
    parts = []
    for order, prefix in ((1, "first_pump"), (2, "second_pump")):
        has = incidents[f"{prefix}_seconds"].notna()
        if not has.any():
            continue
        inc = incidents[has]
        names = inc[f"{prefix}_station"]
        parts.append(pd.DataFrame({
            "incident_number": inc["incident_number"],
            "mobilisation_id": f"derived-{order}",
            "month": inc["month"],
            "cal_year": inc["cal_year"],
            "hour_of_call": inc["hour_of_call"],
            "mobilised_at": inc["call_datetime"],
            "attendance_seconds": inc[f"{prefix}_seconds"],
            "station_code": names.map(lambda s: None if s is None else codes.get(str(s).strip().lower())),
            "station_name": names,
            "pump_order": order,
            "derived": 1,
            "is_demo": inc["is_demo"],
        }))
    if not parts:
        return pd.DataFrame(columns=["incident_number", "mobilisation_id"])
    return pd.concat(parts, ignore_index=True)


def parse_mobilisations(frame: pd.DataFrame, rows: int | np.ndarray) -> Parsed:
    """Parse a raw chunk of mobilisation records."""
    n = len(frame)
    reasons = Reasons(n)
    v = _typed(frame, MOBILISATIONS, reasons)
    reasons.note(v["incident_number"].isna().to_numpy(bool), "IncidentNumber: missing")
    reasons.note(v["mobilisation_id"].isna().to_numpy(bool), "ResourceMobilisationId: missing")
    reasons.note(v["mobilised_at"].isna().to_numpy(bool) & ~reasons.refused(), "DateAndTimeMobilised: missing")
    for name, header in (("attendance_seconds", "AttendanceTimeSeconds"), ("turnout_seconds", "TurnoutTimeSeconds"),
                         ("travel_seconds", "TravelTimeSeconds")):
        reasons.note(((v[name] < 0) | (v[name] > MAX_ATTENDANCE_S)).to_numpy(bool), f"{header}: out of range")
    latest = latest_possible_date()
    for col in MOBILISATION_SPEC:
        if col.kind == "datetime":
            note_impossible_dates(reasons, v[col.name], col.headers[0], latest)
    ok, rejects = _finish(frame, rows, reasons)
    when = v["mobilised_at"]
    cols: dict[str, pd.Series] = {
        "month": when.dt.strftime("%Y-%m"),
        "cal_year": v["cal_year"].fillna(when.dt.year.astype(float)),
        "hour_of_call": v["hour_of_call"].fillna(when.dt.hour.astype(float)),
    }
    for name in MOBILISATION_COLUMNS:
        if name not in cols and name not in ("derived", "is_demo", "ingest_id"):
            series = v[name]
            cols[name] = formats.iso(series) if series.dtype == "datetime64[ns]" else series
    records = pd.DataFrame(cols, index=frame.index)[ok]
    records["station_code"] = records["station_code"].map(lambda s: None if s is None else str(s).upper())
    records["derived"] = 0
    records["is_demo"] = _is_demo(records["incident_number"])
    return Parsed(MOBILISATIONS, records.reset_index(drop=True), pd.DataFrame(), rejects)


def parse_chunk(kind: str, frame: pd.DataFrame, rows: int | np.ndarray) -> Parsed:
    """Parse a raw chunk of the given kind (`rows`: the file row number of each row, or of the first)."""
    return (parse_incidents if kind == INCIDENTS else parse_mobilisations)(frame, rows)
