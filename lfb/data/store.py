"""The SQLite data store: connection settings, schema migrations and bulk upserts."""
from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import sqlite_utils

BUSY_TIMEOUT_MS = 120_000  # readers under WAL never wait for a writer; this only covers crash recovery
WRITE_RETRY_MS = 250  # a writer that finds the database busy retries at this pace until its wait runs out
DEFAULT_WRITE_WAIT_S = 600.0
log = logging.getLogger(__name__)

INCIDENT_COLUMNS: dict[str, str] = {
    "incident_number": "TEXT NOT NULL PRIMARY KEY",
    "call_datetime": "TEXT NOT NULL",
    "month": "TEXT NOT NULL",
    "cal_year": "INTEGER",
    "hour_of_call": "INTEGER",
    "incident_group": "TEXT",
    "stop_code": "TEXT",
    "special_service_type": "TEXT",
    "property_category": "TEXT",
    "property_type": "TEXT",
    "address_qualifier": "TEXT",
    "postcode_full": "TEXT",
    "postcode_district": "TEXT",
    "uprn": "INTEGER",
    "usrn": "INTEGER",
    "borough_code": "TEXT",
    "borough_name": "TEXT",
    "proper_case": "TEXT",
    "ward_code": "TEXT",
    "ward_name": "TEXT",
    "ward_name_new": "TEXT",
    "easting_m": "REAL",
    "northing_m": "REAL",
    "easting_rounded": "REAL",
    "northing_rounded": "REAL",
    "latitude": "REAL",
    "longitude": "REAL",
    "frs": "TEXT",
    "station_ground": "TEXT",
    "first_pump_seconds": "REAL",
    "first_pump_station": "TEXT",
    "second_pump_seconds": "REAL",
    "second_pump_station": "TEXT",
    "num_stations_with_pumps": "INTEGER",
    "num_pumps_attending": "INTEGER",
    "pump_count": "INTEGER",
    "pump_minutes": "REAL",
    "pump_hours": "REAL",
    "notional_cost": "REAL",
    "num_calls": "INTEGER",
    "is_demo": "INTEGER NOT NULL DEFAULT 0",
    "ingest_id": "INTEGER",
}

MOBILISATION_COLUMNS: dict[str, str] = {
    "incident_number": "TEXT NOT NULL",
    "mobilisation_id": "TEXT NOT NULL",
    "month": "TEXT NOT NULL",
    "cal_year": "INTEGER",
    "hour_of_call": "INTEGER",
    "resource_code": "TEXT",
    "performance_reporting": "TEXT",
    "mobilised_at": "TEXT",
    "mobile_at": "TEXT",
    "arrived_at": "TEXT",
    "turnout_seconds": "REAL",
    "travel_seconds": "REAL",
    "attendance_seconds": "REAL",
    "left_at": "TEXT",
    "returned_at": "TEXT",
    "station_code": "TEXT",
    "station_name": "TEXT",
    "deployed_from_location": "TEXT",
    "pump_order": "INTEGER",
    "plus_code": "TEXT",
    "plus_code_description": "TEXT",
    "delay_code_id": "INTEGER",
    "delay_code_description": "TEXT",
    "derived": "INTEGER NOT NULL DEFAULT 0",
    "is_demo": "INTEGER NOT NULL DEFAULT 0",
    "ingest_id": "INTEGER",
}


def _create(table: str, columns: dict[str, str], extra: str = "") -> str:
    """Return a CREATE TABLE statement for `columns` (name -> SQL type)."""
    body = ",\n  ".join(f"{name} {sql}" for name, sql in columns.items())
    return f"CREATE TABLE {table} (\n  {body}{extra}\n);"


# Each migration moves the schema one version up; never edit one that has shipped.
MIGRATIONS: list[str] = [
    # 1: records, reference stations, ingest bookkeeping.
    "\n".join([
        _create("incidents", INCIDENT_COLUMNS),
        _create("mobilisations", MOBILISATION_COLUMNS, ",\n  PRIMARY KEY (incident_number, mobilisation_id)"),
        """CREATE TABLE stations (
  station_code TEXT NOT NULL PRIMARY KEY,
  station_name TEXT NOT NULL,
  brigade TEXT NOT NULL,
  is_lfb INTEGER NOT NULL,
  borough_name TEXT,
  latitude REAL NOT NULL,
  longitude REAL NOT NULL,
  easting REAL NOT NULL,
  northing REAL NOT NULL
);""",
        """CREATE TABLE ingests (
  id INTEGER PRIMARY KEY,
  file_name TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  kind TEXT,
  rows_read INTEGER NOT NULL DEFAULT 0,
  rows_inserted INTEGER NOT NULL DEFAULT 0,
  rows_updated INTEGER NOT NULL DEFAULT 0,
  rows_rejected INTEGER NOT NULL DEFAULT 0,
  started TEXT NOT NULL,
  finished TEXT,
  status TEXT NOT NULL,
  message TEXT
);""",
        """CREATE TABLE rejects (
  id INTEGER PRIMARY KEY,
  ingest_id INTEGER NOT NULL REFERENCES ingests(id),
  line INTEGER,
  reason TEXT NOT NULL,
  raw TEXT NOT NULL
);""",
        "CREATE INDEX idx_ingests_sha ON ingests(sha256);",
    ]),
    # 2: indexes for the app's queries, demo markers, derived-row accounting, downloads.
    """
CREATE INDEX idx_incidents_month ON incidents(month);
CREATE INDEX idx_incidents_ground ON incidents(station_ground, month);
CREATE INDEX idx_mobilisations_month ON mobilisations(month);
CREATE INDEX idx_mobilisations_station ON mobilisations(station_code, month);
CREATE INDEX idx_rejects_ingest ON rejects(ingest_id);
ALTER TABLE ingests ADD COLUMN size_bytes INTEGER;
ALTER TABLE ingests ADD COLUMN rows_derived INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ingests ADD COLUMN seconds REAL;
ALTER TABLE ingests ADD COLUMN is_demo INTEGER NOT NULL DEFAULT 0;
CREATE TABLE downloads (
  url TEXT NOT NULL PRIMARY KEY,
  dataset TEXT NOT NULL,
  name TEXT NOT NULL,
  path TEXT NOT NULL,
  size_bytes INTEGER,
  last_modified TEXT,
  etag TEXT,
  sha256 TEXT,
  downloaded TEXT NOT NULL
);
CREATE VIEW attendances AS
  SELECT * FROM mobilisations WHERE derived = 0
  UNION ALL
  SELECT d.* FROM mobilisations d WHERE d.derived = 1 AND NOT EXISTS (
    SELECT 1 FROM mobilisations r WHERE r.incident_number = d.incident_number AND r.derived = 0);
""",
    # 3: the model registry (immutable versions, champion alias, append-only promotions log) and job locks.
    """
CREATE TABLE model_versions (
  version TEXT NOT NULL PRIMARY KEY,
  created TEXT NOT NULL,
  path TEXT NOT NULL,
  data_from TEXT,
  data_until TEXT,
  test_from TEXT,
  test_until TEXT,
  train_rows INTEGER,
  test_rows INTEGER,
  mae REAL,
  p90_coverage REAL,
  lift_vs_distance REAL,
  is_demo INTEGER NOT NULL DEFAULT 0,
  train_seconds REAL,
  decision TEXT,
  decision_json TEXT
);
CREATE TABLE aliases (
  name TEXT NOT NULL PRIMARY KEY,
  version TEXT NOT NULL REFERENCES model_versions(version),
  updated TEXT NOT NULL
);
CREATE TABLE promotions (
  id INTEGER PRIMARY KEY,
  at TEXT NOT NULL,
  who TEXT NOT NULL,
  action TEXT NOT NULL,
  from_version TEXT,
  to_version TEXT NOT NULL,
  reason TEXT NOT NULL
);
CREATE TRIGGER promotions_no_update BEFORE UPDATE ON promotions
  BEGIN SELECT RAISE(ABORT, 'the promotions log is append-only'); END;
CREATE TRIGGER promotions_no_delete BEFORE DELETE ON promotions
  BEGIN SELECT RAISE(ABORT, 'the promotions log is append-only'); END;
CREATE TABLE job_locks (
  name TEXT NOT NULL PRIMARY KEY,
  owner TEXT NOT NULL,
  pid INTEGER NOT NULL,
  host TEXT NOT NULL,
  started TEXT NOT NULL
);
""",
    # 4: reference-table fingerprints (so opening the store writes nothing unless they changed); the checksum of
    # each version's metadata.json, kept where it cannot be edited together with the file.
    """
CREATE TABLE meta (
  key TEXT NOT NULL PRIMARY KEY,
  value TEXT NOT NULL
);
ALTER TABLE model_versions ADD COLUMN metadata_sha256 TEXT;
""",
    # 5: covering indexes for the station map's aggregates (lfb/data/station_stats.py): a month range of pump
    # attendances read from the index alone, the "has a real mobilisation" test of the attendances view and the
    # incident group of each attendance without visiting table rows. The month index is superseded by the first.
    """
DROP INDEX idx_mobilisations_month;
CREATE INDEX idx_mobilisations_month_stats ON mobilisations(month, derived, station_code, attendance_seconds,
  pump_order, is_demo, incident_number);
CREATE INDEX idx_mobilisations_real ON mobilisations(incident_number, derived);
CREATE INDEX idx_incidents_group ON incidents(incident_number, incident_group);
""",
]

SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(RuntimeError):
    """The database cannot be opened or is newer than this code."""


class StoreBusy(StoreError):
    """Another process kept the database busy with a write for longer than this one would wait."""


class Store(sqlite_utils.Database):
    """A SQLite database in WAL mode that knows how long its writers wait for another writer."""

    write_wait_s: float = DEFAULT_WRITE_WAIT_S


def open_database(path: Path | str, migrations: Sequence[str], *, migrate_now: bool = True,
                  write_wait_s: float = DEFAULT_WRITE_WAIT_S) -> Store:
    """Open a SQLite file in WAL mode (created if missing) and bring its schema up to `migrations`."""
    path = Path(path)
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot open database {path}: {exc}") from exc
    db = Store(conn)
    db.write_wait_s = write_wait_s
    if migrate_now:
        migrate(db, migrations)
    return db


def connect(path: Path | str, *, migrate_now: bool = True, write_wait_s: float = DEFAULT_WRITE_WAIT_S) -> Store:
    """Open the records store at `path`; opening writes nothing unless the schema must be created or upgraded."""
    return open_database(path, MIGRATIONS, migrate_now=migrate_now, write_wait_s=write_wait_s)


def schema_version(db: sqlite_utils.Database) -> int:
    """Return the schema version recorded in the database (0 for a new file)."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite_utils.Database, migrations: Sequence[str] = MIGRATIONS, target: int | None = None) -> int:
    """Apply the pending migrations up to `target` (default: all), each in its own transaction; return the version."""
    current, newest = schema_version(db), len(migrations)
    target = newest if target is None else target
    if current > newest:
        raise StoreError(f"database schema v{current} is newer than this code (v{newest}); upgrade the code")
    for version in range(current + 1, target + 1):
        with transaction(db):
            if schema_version(db) >= version:  # another process upgraded it while this one waited
                continue
            for statement in _split_sql(migrations[version - 1]):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {version}")
    return schema_version(db)


def _split_sql(script: str) -> list[str]:
    """Split a migration script into complete statements."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements


def current_writer(db: sqlite_utils.Database) -> str:
    """Return, in words, which job is writing to the records store (as far as the store can tell)."""
    try:
        row = db.execute("SELECT file_name, started FROM ingests WHERE status = 'running' "
                         "ORDER BY id DESC LIMIT 1").fetchone()
    except sqlite3.OperationalError:  # not the records store, or not migrated yet
        row = None
    return f"the ingest of {row[0]} (started {row[1]} UTC)" if row else "another process"


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    """Return True if the error means another connection holds the write lock."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def begin_write(db: sqlite_utils.Database) -> None:
    """Start a write transaction, waiting (with a logged message) while another process writes."""
    wait = float(getattr(db, "write_wait_s", DEFAULT_WRITE_WAIT_S))
    started = time.monotonic()
    announced = False
    db.execute(f"PRAGMA busy_timeout = {WRITE_RETRY_MS}")
    try:
        while True:
            try:
                db.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                waited = time.monotonic() - started
                if waited >= wait:
                    raise StoreBusy(f"the database is still busy after {waited:.0f} s: {current_writer(db)} is "
                                    f"writing; try again when it ends (LFB_WRITE_WAIT sets how long to wait)") from None
                if not announced:
                    log.warning("waiting for the database: %s is writing (up to %.0f s) ...", current_writer(db),
                                wait)
                    announced = True
    finally:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if announced:
        log.warning("the database is free again after %.0f s; going on", time.monotonic() - started)


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """Run the block in one write transaction: all of it commits, or none of it."""
    begin_write(db)
    try:
        yield db
        db.execute("COMMIT")
    except BaseException as exc:
        _rollback(db, exc)
        raise


def _rollback(db: sqlite_utils.Database, error: BaseException) -> None:
    """Roll back the open transaction, if SQLite has not already done so, without hiding `error`."""
    if not db.conn.in_transaction:  # SQLite ends the transaction itself on some errors (disk full, I/O)
        return
    try:
        db.execute("ROLLBACK")
    except sqlite3.Error as failed:
        error.add_note(f"the rollback failed too ({failed}); SQLite restores the file when it is next opened")


def upsert_rows(db: sqlite_utils.Database, table: str, columns: Sequence[str], key: Sequence[str],
                rows: Iterable[Sequence[Any]]) -> None:
    """Insert rows, replacing every column of a row whose key already exists."""
    names = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    sql = (f"INSERT INTO {table} ({names}) VALUES ({marks}) "
           f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}")
    db.conn.executemany(sql, rows)


def count(db: sqlite_utils.Database, table: str, where: str = "", params: Sequence[Any] = ()) -> int:
    """Return the number of rows of `table` matching the optional WHERE clause."""
    sql = f"SELECT COUNT(*) FROM {table}" + (f" WHERE {where}" if where else "")
    return int(db.execute(sql, params).fetchone()[0])


def delete_demo_rows(db: sqlite_utils.Database) -> dict[str, int]:
    """Delete every demo incident and mobilisation row in one transaction; return how many went."""
    with transaction(db):
        gone = {
            "incidents": db.execute("DELETE FROM incidents WHERE is_demo = 1").rowcount,
            "mobilisations": db.execute("DELETE FROM mobilisations WHERE is_demo = 1").rowcount,
        }
        db.execute("UPDATE ingests SET status = 'removed', message = 'demo rows removed; ' || COALESCE(message, '') "
                   "WHERE is_demo = 1 AND status = 'ok'")
    return gone
