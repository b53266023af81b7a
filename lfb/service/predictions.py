"""The prediction log: every estimate a dispatcher received, kept so it can be matched with what happened."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from lfb.config import Settings
from lfb.data.store import transaction
from lfb.service.servicedb import open_service_db

COLUMNS = ("id", "at", "username", "incident_number", "station_code", "location_text", "latitude", "longitude",
           "precision", "call_time", "incident_group", "details_json", "median_s", "p90_s", "p_over_360", "flag",
           "flag_reason", "model_version", "is_demo")


@dataclass(frozen=True)
class LoggedEstimate:
    """What was asked and answered, as it goes into the log."""

    username: str
    station_code: str
    location_text: str
    call_time: str
    incident_group: str
    median_s: float
    p90_s: float
    model_version: str
    p_over_360: float | None = None
    flag: bool = False
    flag_reason: str = ""
    incident_number: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    precision: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    is_demo: bool = False


def _now() -> str:
    """Return the current UTC time as ISO text."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def log_estimate(settings: Settings, entry: LoggedEstimate) -> int:
    """Append one estimate to the log; return its id."""
    number = (entry.incident_number or "").strip() or None
    db = open_service_db(settings)
    try:
        with transaction(db):
            cursor = db.execute(
                f"INSERT INTO prediction_log ({', '.join(COLUMNS[1:])}) VALUES ({', '.join('?' * (len(COLUMNS) - 1))})",
                [_now(), entry.username, number, entry.station_code, entry.location_text, entry.latitude,
                 entry.longitude, entry.precision, entry.call_time, entry.incident_group,
                 json.dumps(entry.details, default=str, sort_keys=True), entry.median_s, entry.p90_s,
                 entry.p_over_360, int(entry.flag), entry.flag_reason, entry.model_version, int(entry.is_demo)])
            return int(cursor.lastrowid)
    finally:
        db.close()


def recent_estimates(settings: Settings, username: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Return the latest logged estimates, newest first (only `username`'s when given)."""
    db = open_service_db(settings)
    try:
        where, params = ("WHERE username = ?", [username]) if username else ("", [])
        rows = db.execute(f"SELECT {', '.join(COLUMNS)} FROM prediction_log {where} ORDER BY id DESC LIMIT ?",
                          [*params, limit]).fetchall()
    finally:
        db.close()
    out = []
    for row in rows:
        item = dict(zip(COLUMNS, row))
        item["details"] = json.loads(item.pop("details_json") or "{}")
        item["flag"] = bool(item["flag"])
        item["is_demo"] = bool(item["is_demo"])
        out.append(item)
    return out


def estimates_with_incident_numbers(settings: Settings) -> list[dict[str, Any]]:
    """Return, for every incident number given with an estimate, the latest estimate logged with it."""
    columns = ("id", "at", "username", "incident_number", "station_code", "call_time", "incident_group", "median_s",
               "p90_s", "flag", "model_version", "is_demo")
    db = open_service_db(settings)
    try:
        rows = db.execute(f"SELECT {', '.join(columns)} FROM prediction_log WHERE id IN (SELECT MAX(id) FROM "
                          "prediction_log WHERE incident_number IS NOT NULL GROUP BY upper(trim(incident_number))) "
                          "ORDER BY id").fetchall()
    finally:
        db.close()
    return [dict(zip(columns, row)) | {"flag": bool(row[9]), "is_demo": bool(row[11])} for row in rows]
