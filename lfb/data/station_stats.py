"""Pump attendance figures per station over a period: the store's side of the station map.

One pump attendance is one row of the `attendances` view (real mobilisation records, else the first and second
pumps derived from incident records). The queries below select exactly those rows from the `mobilisations` table
with the view's own rule, so that SQLite reads them from the covering indexes of schema v5 alone; a test checks
they agree with the view.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlite_utils

from lfb.data.reference import stations

TARGET_S = 360.0  # the LFB's six-minute attendance target (the model's lfb.model.estimator.TARGET_S)
MAX_ATTENDANCE_S = 1200.0  # as for training (lfb.model.dataset.MAX_TARGET_S): no published attendance is longer
HISTOGRAM_BIN_S = 30.0

_ROWS = """
SELECT m.station_code, m.attendance_seconds
FROM mobilisations m {join}
WHERE m.month BETWEEN ? AND ? AND m.attendance_seconds > 0 AND m.attendance_seconds <= ? {where}
  AND (m.derived = 0 OR NOT EXISTS (
    SELECT 1 FROM mobilisations r WHERE r.incident_number = m.incident_number AND r.derived = 0))
"""


@dataclass(frozen=True)
class StatsFilter:
    """Which pump attendances to count: a month range, an incident group (None = all), first pumps only or all."""

    first_month: str
    last_month: str
    incident_group: str | None = None
    first_pump_only: bool = False
    real_only: bool = False  # leave demo rows out (set when the store holds real records too)


def month_table(db: sqlite_utils.Database) -> pd.DataFrame:
    """Return the months that hold pump attendances, oldest first, with whether any of a month's rows is real."""
    rows = db.execute("SELECT month, MAX(is_demo = 0) FROM mobilisations GROUP BY month ORDER BY month").fetchall()
    return pd.DataFrame({"month": [r[0] for r in rows], "real": [bool(r[1]) for r in rows]})


def default_filter(db: sqlite_utils.Database, months: int = 12) -> StatsFilter | None:
    """Return a filter over the newest `months` months with data, all groups, real rows only if any (None if empty)."""
    table = month_table(db)
    if table.empty:
        return None
    recent = table["month"].iloc[-months:]
    return StatsFilter(str(recent.iloc[0]), str(recent.iloc[-1]), real_only=bool(table["real"].any()))


def incident_groups(db: sqlite_utils.Database) -> list[str]:
    """Return the incident groups present in the store, sorted."""
    rows = db.execute("SELECT DISTINCT incident_group FROM incidents WHERE incident_group IS NOT NULL "
                      "ORDER BY incident_group").fetchall()
    return [r[0] for r in rows]


def _query(flt: StatsFilter, station_code: str | None = None) -> tuple[str, list]:
    """Return the SQL and parameters selecting the (station, seconds) of the attendances a filter keeps."""
    join, where, params = "", [], [flt.first_month, flt.last_month, MAX_ATTENDANCE_S]
    if flt.incident_group:
        join = "JOIN incidents i ON i.incident_number = m.incident_number AND i.incident_group = ?"
        params.insert(0, flt.incident_group)
    if flt.first_pump_only:
        where.append("AND m.pump_order = 1")
    if flt.real_only:
        where.append("AND m.is_demo = 0")
    if station_code is not None:
        where.append("AND m.station_code = ?")
        params.append(station_code)
    return _ROWS.format(join=join, where=" ".join(where)), params


def _rows(db: sqlite_utils.Database, flt: StatsFilter, station_code: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return station codes and attendance seconds of the attendances a filter keeps."""
    sql, params = _query(flt, station_code)
    rows = db.execute(sql, params).fetchall()
    codes = np.array([r[0] for r in rows], dtype=object)
    return codes, np.fromiter((r[1] for r in rows), dtype=float, count=len(rows))


def station_summary(db: sqlite_utils.Database, flt: StatsFilter) -> pd.DataFrame:
    """Return, per station with at least one pump, the pumps, median and P90 seconds and the share within 360 s."""
    codes, seconds = _rows(db, flt)
    frame = pd.DataFrame({"station_code": codes, "s": seconds, "ok": seconds <= TARGET_S})
    grouped = frame.groupby("station_code", sort=True)
    out = pd.DataFrame({"pumps": grouped["s"].size(), "median_s": grouped["s"].median(),
                        "p90_s": grouped["s"].quantile(0.9), "within_target": grouped["ok"].mean()})
    out.index.name = "station_code"
    return out.astype({"pumps": int, "median_s": float, "p90_s": float, "within_target": float})


def station_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Return every LFB station (name, position) with its figures from `summary`; pumps 0 where it has none."""
    st = stations()
    lfb = st.loc[st["is_lfb"] == 1, ["station_name", "borough_name", "latitude", "longitude"]]
    table = lfb.join(summary, how="left")
    table["pumps"] = table["pumps"].fillna(0).astype(int)
    return table.rename_axis("station_code").reset_index()


def attendance_seconds(db: sqlite_utils.Database, station_code: str, flt: StatsFilter) -> np.ndarray:
    """Return the attendance seconds of one station's pumps that a filter keeps."""
    return _rows(db, flt, station_code)[1]


def histogram(seconds: np.ndarray, bin_s: float = HISTOGRAM_BIN_S) -> pd.DataFrame:
    """Return the attendance-time distribution as bins [start_s, end_s) up to the cap, with pump counts."""
    edges = np.arange(0.0, MAX_ATTENDANCE_S + bin_s, bin_s)
    counts, _ = np.histogram(np.asarray(seconds, float), bins=edges)
    return pd.DataFrame({"start_s": edges[:-1], "end_s": edges[1:], "pumps": counts.astype(int)})
