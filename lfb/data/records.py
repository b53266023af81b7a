"""Turn raw LFB rows into the store's canonical records, with a reason for every row refused."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lfb.data import formats
from lfb.data.formats import INCIDENTS, MOBILISATIONS, SPECS
from lfb.data.reference import station_codes_by_name
from lfb.data.store import INCIDENT_COLUMNS, MOBILISATION_COLUMNS

DEMO_SUFFIX = "-DEMO"  # demo incident numbers end with this, so demo rows label themselves
MAX_ATTENDANCE_S = 24 * 3600


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


def _is_demo(numbers: pd.Series) -> pd.Series:
    """Return 1 for demo incident numbers, 0 otherwise."""
    return numbers.astype("string").str.endswith(DEMO_SUFFIX).fillna(False).astype(int)


def parse_incidents(frame: pd.DataFrame, rows: int | np.ndarray, derive: bool = True) -> Parsed:
    """Parse a raw chunk of incident records; derive first- and second-pump attendance rows (unless told not to)."""
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
