"""The small service database (data/service.db): job locks now; the requests queue, job runs, heartbeats and the
prediction log as they land.

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
]


def open_service_db(settings: Settings) -> Store:
    """Open (and create or upgrade) the service database."""
    return open_database(settings.service_db_path, MIGRATIONS, write_wait_s=SERVICE_WRITE_WAIT_S)
