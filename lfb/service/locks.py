"""One job of a kind at a time, across processes (app, scheduler, CLI), through the job_locks table."""
from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import sqlite_utils

from lfb.data.store import transaction


class JobBusy(RuntimeError):
    """Another process is already running this job."""


def _alive(pid: int) -> bool:
    """Return True if a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder(db: sqlite_utils.Database, name: str) -> dict | None:
    """Return who holds the lock `name`, or None."""
    row = db.execute("SELECT owner, pid, host, started FROM job_locks WHERE name = ?", [name]).fetchone()
    return None if row is None else dict(zip(("owner", "pid", "host", "started"), row))


@contextmanager
def job_lock(db: sqlite_utils.Database, name: str, owner: str = "cli") -> Iterator[None]:
    """Hold the lock `name` for the block; raise JobBusy if a live process holds it already."""
    me, host = os.getpid(), socket.gethostname()
    with transaction(db):
        current = holder(db, name)
        if current and not (current["host"] == host and not _alive(current["pid"])):
            raise JobBusy(f"a {name} job is already running (started {current['started']} UTC by "
                          f"{current['owner']}, process {current['pid']} on {current['host']}); try again when it ends")
        db.execute("INSERT OR REPLACE INTO job_locks (name, owner, pid, host, started) VALUES (?, ?, ?, ?, ?)",
                   [name, owner, me, host, dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")])
    try:
        yield
    finally:
        with transaction(db):
            db.execute("DELETE FROM job_locks WHERE name = ? AND pid = ? AND host = ?", [name, me, host])
