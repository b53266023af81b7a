"""What the data store holds: rows per month and kind, stations, recent ingests, rejects."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlite_utils

from lfb.data.store import connect, count, schema_version


def months_by_kind(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Return, per month, the number of incidents, mobilisations and derived attendances (demo or real)."""
    sql = """
    SELECT month,
      SUM(kind = 'incidents') AS incidents,
      SUM(kind = 'mobilisations') AS mobilisations,
      SUM(kind = 'derived') AS derived,
      MAX(is_demo) AS demo
    FROM (
      SELECT month, 'incidents' AS kind, is_demo FROM incidents
      UNION ALL
      SELECT month, CASE derived WHEN 1 THEN 'derived' ELSE 'mobilisations' END, is_demo FROM mobilisations
    ) GROUP BY month ORDER BY month"""
    return [dict(zip(("month", "incidents", "mobilisations", "derived", "demo"), r)) for r in db.execute(sql)]


KIND_LABELS = {"incidents": "incidents", "mobilisations": "mobilisations", "derived": "derived attendances"}


def rows_by_month(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Return the rows stored per month, kind (incidents, mobilisations, derived attendances) and origin (demo/real)."""
    sql = """
    SELECT month, 'incidents', is_demo, COUNT(*) FROM incidents GROUP BY month, is_demo
    UNION ALL
    SELECT month, CASE derived WHEN 1 THEN 'derived' ELSE 'mobilisations' END, is_demo, COUNT(*)
    FROM mobilisations GROUP BY month, derived, is_demo
    ORDER BY 1, 2, 3"""
    return [{"month": m, "kind": KIND_LABELS[k], "origin": "demo" if demo else "real", "rows": n}
            for m, k, demo, n in db.execute(sql)]


def recent_ingests(db: sqlite_utils.Database, limit: int = 10) -> list[dict[str, Any]]:
    """Return the latest ingests, newest first."""
    cols = ["id", "file_name", "kind", "status", "rows_read", "rows_inserted", "rows_updated", "rows_rejected",
            "rows_derived", "seconds", "started", "finished", "size_bytes", "is_demo", "message"]
    rows = db.execute(f"SELECT {', '.join(cols)} FROM ingests ORDER BY id DESC LIMIT ?", [limit]).fetchall()
    return [dict(zip(cols, r)) for r in rows]


def reject_reasons(db: sqlite_utils.Database, limit: int = 10) -> list[dict[str, Any]]:
    """Return the most frequent reasons rows were rejected, with counts."""
    rows = db.execute("SELECT reason, COUNT(*) AS n FROM rejects GROUP BY reason ORDER BY n DESC LIMIT ?",
                      [limit]).fetchall()
    return [{"reason": r, "rows": n} for r, n in rows]


def ingest_rejects(db: sqlite_utils.Database, ingest_id: int, sample: int = 20) -> dict[str, Any]:
    """Return why one ingest refused rows (reasons with counts) and a sample of the refused rows as read."""
    reasons = db.execute("SELECT reason, COUNT(*) AS n FROM rejects WHERE ingest_id = ? GROUP BY reason "
                         "ORDER BY n DESC, reason", [ingest_id]).fetchall()
    rows = db.execute("SELECT line, reason, raw FROM rejects WHERE ingest_id = ? ORDER BY line, id LIMIT ?",
                      [ingest_id, sample]).fetchall()
    return {"reasons": [{"reason": r, "rows": n} for r, n in reasons],
            "sample": [{"line": line, "reason": reason, "raw": raw} for line, reason, raw in rows]}


def data_marker(db: sqlite_utils.Database) -> tuple:
    """Return a small value that changes whenever an ingest or clear-demo changes what the store holds."""
    return tuple(db.execute("SELECT COUNT(*), MAX(id), MAX(finished), SUM(status = 'ok') FROM ingests").fetchone())


def unknown_stations(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Return station codes/names in mobilisations that the reference stations table lacks."""
    rows = db.execute("""
      SELECT COALESCE(m.station_code, '?'), m.station_name, COUNT(*) FROM mobilisations m
      LEFT JOIN stations s ON s.station_code = m.station_code
      WHERE s.station_code IS NULL GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 20""").fetchall()
    return [{"station_code": c, "station_name": n, "rows": k} for c, n, k in rows]


def data_status(db: sqlite_utils.Database) -> dict[str, Any]:
    """Return a summary of everything the store holds."""
    demo_incidents = count(db, "incidents", "is_demo = 1")
    return {
        "schema_version": schema_version(db),
        "incidents": count(db, "incidents"),
        "mobilisations": count(db, "mobilisations", "derived = 0"),
        "derived_attendances": count(db, "mobilisations", "derived = 1"),
        "demo_incidents": demo_incidents,
        "stations": count(db, "stations"),
        "lfb_stations": count(db, "stations", "is_lfb = 1"),
        "rejects": count(db, "rejects"),
        "months": months_by_kind(db),
        "ingests": recent_ingests(db),
        "reject_reasons": reject_reasons(db),
        "unknown_stations": unknown_stations(db),
    }


def has_data(db: sqlite_utils.Database) -> bool:
    """Return True when the store holds any incident or mobilisation record."""
    return bool(db.execute("SELECT EXISTS(SELECT 1 FROM incidents) OR EXISTS(SELECT 1 FROM mobilisations)")
                .fetchone()[0])


def holds_demo(db: sqlite_utils.Database) -> bool:
    """Return True when demo records are in the store, read cheaply from the ingests table (not the records)."""
    # demo files are ingested with is_demo = 1; clear-demo marks their ingests 'removed'
    return bool(db.execute("SELECT EXISTS(SELECT 1 FROM ingests WHERE is_demo = 1 AND status = 'ok')").fetchone()[0])


def store_holds_demo(db_path: Path) -> bool:
    """Return True when the store at `db_path` exists and holds demo records (opening it changes nothing)."""
    if not Path(db_path).is_file():
        return False
    db = connect(db_path, migrate_now=False)
    try:
        return holds_demo(db)
    except sqlite3.OperationalError:  # a store not set up yet has no ingests table
        return False
    finally:
        db.close()
