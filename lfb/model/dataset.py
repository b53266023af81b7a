"""Training and evaluation examples: one row per pump attendance, with its incident and target."""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sqlite_utils

from lfb.model.features import incident_location
from lfb.data.formats import INCIDENTS
from lfb.data.reference import stations

MAX_TARGET_S = 1200.0  # the published files hold no attendance over 20 minutes
TARGET = "attendance_seconds"
FUTURE = "incident month after the current month (impossible date)"

_QUERY = """
SELECT a.incident_number, a.mobilisation_id, a.station_code, a.attendance_seconds, a.pump_order,
       CASE WHEN a.deployed_from_location IS NULL THEN NULL
            WHEN lower(trim(a.deployed_from_location)) = 'home station' THEN 1.0 ELSE 0.0 END AS home_station,
       a.derived, a.is_demo, COALESCE(a.mobilised_at, i.call_datetime) AS mobilised_at,
       i.call_datetime, i.month, i.incident_group, i.stop_code, i.special_service_type, i.property_category,
       i.property_type, i.address_qualifier, i.postcode_district, i.borough_name, i.station_ground,
       i.latitude, i.longitude, i.easting_m, i.northing_m, i.easting_rounded, i.northing_rounded
FROM {attendances} a JOIN {incidents} i ON i.incident_number = a.incident_number
WHERE a.attendance_seconds > 0 AND a.attendance_seconds <= {cap} {where}
"""
ORDER = ["call_datetime", "incident_number", "mobilisation_id"]  # sorted in pandas: 3x faster than in SQLite


@dataclass
class Examples:
    """Pump attendances ready for features, plus what was left out and why."""

    frame: pd.DataFrame
    dropped: dict[str, int]

    def fingerprint(self) -> str:
        """Return a short hash identifying exactly these examples (keys and targets)."""
        digest = hashlib.sha256()
        keys = self.frame["incident_number"].astype(str) + "|" + self.frame["mobilisation_id"].astype(str)
        digest.update("\n".join(keys).encode())
        digest.update(self.frame[TARGET].to_numpy(float).tobytes())
        return digest.hexdigest()[:16]


def _prepare(raw: pd.DataFrame) -> Examples:
    """Add location, time and request columns; drop rows the model cannot use, counting them."""
    dropped: dict[str, int] = {}
    future = (raw["month"] > dt.date.today().strftime("%Y-%m")).to_numpy(bool)
    dropped[FUTURE] = int(future.sum())  # stored before ingestion refused impossible dates; would empty the windows
    raw = raw[~future].sort_values(ORDER, kind="stable", ignore_index=True)
    lat, lon = incident_location(raw)
    raw = raw.assign(latitude=lat, longitude=lon)
    known = raw["station_code"].isin(stations().index)
    dropped["station not in the reference table"] = int((~known).sum())
    located = np.isfinite(lat) & np.isfinite(lon)
    dropped["incident without a location"] = int((known & ~located).sum())
    frame = raw[known & located].copy()
    frame["when"] = pd.to_datetime(frame["mobilised_at"], format="%Y-%m-%d %H:%M:%S", errors="coerce")
    frame["home_station"] = frame["home_station"].astype(float)
    frame["borough"] = frame["borough_name"]
    return Examples(frame.reset_index(drop=True), dropped)


def load_examples(db: sqlite_utils.Database, *, since: str | None = None, until: str | None = None,
                  demo: bool | None = None) -> Examples:
    """Return the pump attendances stored in the database, by incident month in [since, until] (YYYY-MM)."""
    clauses, params = [], []
    if since:
        clauses.append("AND i.month >= ?")
        params.append(since[:7])
    if until:
        clauses.append("AND i.month <= ?")
        params.append(until[:7])
    if demo is not None:
        clauses.append("AND i.is_demo = ?")
        params.append(int(demo))
    sql = _QUERY.format(attendances="attendances", incidents="incidents", cap=MAX_TARGET_S, where=" ".join(clauses))
    raw = pd.read_sql_query(sql, db.conn, params=params)
    return _prepare(raw)


def examples_from_file(path: Path, db: sqlite_utils.Database) -> Examples:
    """Return the pump attendances of one record file, read exactly as ingestion reads it, storing nothing.

    An incident file gives its own first/second pump attendances; a mobilisation file takes the incident
    (location, type) of each row from the database.
    """
    from lfb.data.ingest import ingest_file
    from lfb.data.store import connect

    scratch = connect(":memory:")
    report = ingest_file(scratch, path)
    if report.status != "ok":
        raise ValueError(f"{Path(path).name}: {report.message}")
    incidents = "incidents"
    if report.kind != INCIDENTS:
        main_path = db.execute("PRAGMA database_list").fetchall()[0][2]
        scratch.execute("ATTACH DATABASE ? AS store", [main_path])
        incidents = "store.incidents"
    sql = _QUERY.format(attendances="attendances", incidents=incidents, cap=MAX_TARGET_S, where="")
    examples = _prepare(pd.read_sql_query(sql, scratch.conn))
    total = scratch.execute("SELECT COUNT(*) FROM attendances").fetchone()[0]
    examples.dropped["no matching incident or time out of range"] = int(total - len(examples.frame)
                                                                        - sum(examples.dropped.values()))
    examples.dropped["rejected rows of the file"] = report.rows_rejected
    return examples
