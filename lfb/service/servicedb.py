"""The small service database (data/service.db): job locks, the prediction log, the jobs asked of the scheduler
sidecar (and its scheduled runs), and its heartbeat.

It is a separate SQLite file from the records store on purpose: SQLite lets one process write to a file at a time,
and an ingest holds the records store's write lock for the whole file (so that readers see all of it or none of it).
Everything written here is a short transaction, so a lock, a request or a logged estimate never queues behind an
ingest.
"""
from __future__ import annotations

from lfb.config import Settings
from lfb.data.store import Store, open_database

SERVICE_WRITE_WAIT_S = 30.0  # writes here are milliseconds long: waiting longer means something is wrong

MIGRATIONS: list[str] = [
    # 1: job locks with a lease, renewed by a heartbeat while the job runs.
    """
CREATE TABLE locks (
  name TEXT NOT NULL PRIMARY KEY,
  owner TEXT NOT NULL,
  pid INTEGER NOT NULL,
  host TEXT NOT NULL,
  token TEXT NOT NULL,
  started TEXT NOT NULL,
  renewed REAL NOT NULL,
  expires REAL NOT NULL
);
""",
    # 2: every estimate the app gave: who asked, what, what the model said, with which version.
    """
CREATE TABLE prediction_log (
  id INTEGER PRIMARY KEY,
  at TEXT NOT NULL,
  username TEXT NOT NULL,
  incident_number TEXT,
  station_code TEXT NOT NULL,
  location_text TEXT NOT NULL,
  latitude REAL,
  longitude REAL,
  precision TEXT,
  call_time TEXT NOT NULL,
  incident_group TEXT NOT NULL,
  details_json TEXT,
  median_s REAL NOT NULL,
  p90_s REAL NOT NULL,
  p_over_360 REAL,
  flag INTEGER NOT NULL DEFAULT 0,
  flag_reason TEXT,
  model_version TEXT NOT NULL,
  is_demo INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX idx_prediction_log_user ON prediction_log(username, id);
CREATE INDEX idx_prediction_log_incident ON prediction_log(incident_number);
""",
    # 3: jobs asked of the scheduler sidecar (and its scheduled runs), and its heartbeat.
    """
CREATE TABLE jobs (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  args_json TEXT NOT NULL DEFAULT '{}',
  requested_by TEXT NOT NULL,
  requested_at TEXT NOT NULL,
  status TEXT NOT NULL,
  started TEXT,
  finished TEXT,
  progress TEXT,
  progress_pct REAL,
  outcome TEXT,
  log TEXT,
  runner TEXT
);
CREATE INDEX idx_jobs_status ON jobs(status, id);
CREATE TABLE heartbeats (
  name TEXT NOT NULL PRIMARY KEY,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  started TEXT NOT NULL,
  beat REAL NOT NULL,
  info_json TEXT
);
""",
    # 4: failed sign-ins, kept a while to slow guessing and lock an account after too many.
    """
CREATE TABLE signin_failures (
  id INTEGER PRIMARY KEY,
  username TEXT NOT NULL,
  at REAL NOT NULL
);
CREATE INDEX idx_signin_failures ON signin_failures(username, at);
""",
]


def open_service_db(settings: Settings) -> Store:
    """Open (and create or upgrade) the service database."""
    return open_database(settings.service_db_path, MIGRATIONS, write_wait_s=SERVICE_WRITE_WAIT_S)
