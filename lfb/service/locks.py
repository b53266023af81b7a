"""One job of a kind at a time, across processes and containers (app, scheduler, CLI): leased locks.

A lock is a row in the service database's `locks` table. Its holder renews the lease from a heartbeat thread while
the job runs; a lock whose lease has expired (its process died, possibly in a container that no longer exists, or
hangs) is taken over by the next job that asks for it. On the same host, a lock whose process is gone is taken over
at once.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from lfb.config import Settings
from lfb.data.store import transaction
from lfb.service.servicedb import open_service_db

log = logging.getLogger(__name__)


class JobBusy(RuntimeError):
    """Another process is already running this job."""


class LockLost(RuntimeError):
    """This job's lock was cleared or taken over while it ran."""


@dataclass(frozen=True)
class LockInfo:
    """Who holds a lock, and until when its lease runs."""

    name: str
    owner: str
    pid: int
    host: str
    started: str
    renewed: float
    expires: float

    def stale_reason(self, now: float, host: str) -> str:
        """Return why this lock may be taken over now ('' while its holder is alive and renewing)."""
        if now > self.expires:
            return f"its lease expired {now - self.expires:.0f} s ago (process {self.pid} on {self.host} stopped renewing it)"
        if self.host == host and not _alive(self.pid):
            return f"its process {self.pid} on this host has ended"
        return ""

    def as_dict(self, now: float | None = None, host: str | None = None) -> dict:
        """Return the lock as plain data, with its state seen from this process."""
        now = time.time() if now is None else now
        stale = self.stale_reason(now, host or socket.gethostname())
        return asdict(self) | {"state": "stale" if stale else "held", "stale_reason": stale,
                               "expires_in_s": round(self.expires - now, 1)}


def _now_text() -> str:
    """Return the current UTC time as ISO text."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _alive(pid: int) -> bool:
    """Return True if a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _row(db, name: str) -> tuple[LockInfo, str] | None:
    """Return a lock and its token, or None."""
    row = db.execute("SELECT name, owner, pid, host, started, renewed, expires, token FROM locks WHERE name = ?",
                     [name]).fetchone()
    return None if row is None else (LockInfo(*row[:7]), row[7])


def list_locks(settings: Settings) -> list[LockInfo]:
    """Return every lock currently recorded, held or stale."""
    db = open_service_db(settings)
    try:
        rows = db.execute("SELECT name, owner, pid, host, started, renewed, expires FROM locks ORDER BY name")
        return [LockInfo(*r) for r in rows]
    finally:
        db.close()


def holder(settings: Settings, name: str) -> LockInfo | None:
    """Return who holds the lock `name`, or None."""
    db = open_service_db(settings)
    try:
        found = _row(db, name)
        return None if found is None else found[0]
    finally:
        db.close()


def clear_lock(settings: Settings, name: str) -> LockInfo | None:
    """Remove the lock `name` whoever holds it; return what was removed (None if there was none)."""
    db = open_service_db(settings)
    try:
        with transaction(db):
            found = _row(db, name)
            db.execute("DELETE FROM locks WHERE name = ?", [name])
    finally:
        db.close()
    if found:
        log.warning("lock %s cleared (was held by %s, process %s on %s)", name, found[0].owner, found[0].pid,
                    found[0].host)
    return None if found is None else found[0]


class Lease:
    """A held lock, kept alive by a heartbeat thread until released."""

    def __init__(self, settings: Settings, name: str, token: str, lease_s: float):
        self.settings, self.name, self.token, self.lease_s = settings, name, token, lease_s
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lock-{name}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        """Renew the lease every third of its length until stopped; note it if the lock was lost."""
        db = open_service_db(self.settings)  # a connection of this thread's own
        try:
            while not self._stop.wait(max(self.lease_s / 3, 0.05)):
                now = time.time()
                try:
                    with transaction(db):
                        renewed = db.execute("UPDATE locks SET renewed = ?, expires = ? WHERE name = ? AND token = ?",
                                             [now, now + self.lease_s, self.name, self.token]).rowcount
                except Exception as exc:  # noqa: BLE001 - a failed renewal is retried at the next beat
                    log.warning("could not renew the %s lock (%s); retrying", self.name, exc)
                    continue
                if not renewed:
                    log.error("the %s lock was cleared or taken over while this job ran", self.name)
                    self._lost.set()
                    return
        finally:
            db.close()

    @property
    def lost(self) -> bool:
        """Return True if the lock was cleared or taken over by another process."""
        return self._lost.is_set()

    def check(self) -> None:
        """Raise LockLost if the lock is no longer this job's (call before committing results)."""
        if self.lost:
            raise LockLost(f"the {self.name} lock was cleared or taken over while this job ran; its results were "
                           "not kept: run it again")

    def release(self) -> None:
        """Stop the heartbeat and remove the lock if it is still this job's."""
        self._stop.set()
        self._thread.join(timeout=5)
        db = open_service_db(self.settings)
        try:
            with transaction(db):
                db.execute("DELETE FROM locks WHERE name = ? AND token = ?", [self.name, self.token])
        finally:
            db.close()


def acquire(settings: Settings, name: str, owner: str = "cli") -> Lease:
    """Take the lock `name` (taking over a stale one, logged) or raise JobBusy naming its holder."""
    me, host, now = os.getpid(), socket.gethostname(), time.time()
    token = uuid.uuid4().hex
    db = open_service_db(settings)
    try:
        with transaction(db):
            found = _row(db, name)
            if found:
                current, _token = found
                stale = current.stale_reason(now, host)
                if not stale:
                    raise JobBusy(f"a {name} job is already running (started {current.started} UTC by "
                                  f"{current.owner}, process {current.pid} on {current.host}); try again when it "
                                  f"ends, or see `python -m lfb locks`")
                log.warning("taking over the %s lock of %s (process %s on %s): %s", name, current.owner, current.pid,
                            current.host, stale)
            db.execute("INSERT OR REPLACE INTO locks (name, owner, pid, host, token, started, renewed, expires) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       [name, owner, me, host, token, _now_text(), now, now + settings.lock_lease_s])
    finally:
        db.close()
    return Lease(settings, name, token, settings.lock_lease_s)


@contextmanager
def job_lock(settings: Settings, name: str, owner: str = "cli") -> Iterator[Lease]:
    """Hold the lock `name` for the block, renewing its lease; raise JobBusy if a live process holds it."""
    lease = acquire(settings, name, owner)
    try:
        yield lease
    finally:
        lease.release()
