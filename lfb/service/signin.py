"""Failed sign-ins: each one is kept a while, slows the next try, and too many lock the account for a time.

An account with `signin_max_failures` failed sign-ins within `signin_window_s` is locked until the window has passed
since the last of them: a right password then does not open it (the page says until when, and an admin can unlock
it at once with `python -m lfb users unlock NAME`). Every failed try in a session also waits longer than the one
before (1, 2, 4 ... seconds, at most `MAX_DELAY_S`), so guessing is slow even across accounts.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from lfb.config import Settings
from lfb.data.store import transaction
from lfb.service.servicedb import open_service_db

MAX_DELAY_S = 16.0


@dataclass(frozen=True)
class Lockout:
    """Whether an account is locked by failed sign-ins, and until when (epoch seconds)."""

    failures: int
    locked_until: float | None

    def words(self, now: float | None = None) -> str:
        """Return the lock in a sentence for the sign-in page ('' when the account is not locked)."""
        if self.locked_until is None:
            return ""
        minutes = max(1, round((self.locked_until - (time.time() if now is None else now)) / 60))
        return (f"This account is locked after {self.failures} failed sign-ins: try again in {minutes} minute(s), "
                "or ask an admin to unlock it now.")


def _key(username: str) -> str:
    """Return the form a username is counted under (as the credentials file keeps it)."""
    return str(username).strip().lower()


def record_failure(settings: Settings, username: str, now: float | None = None) -> None:
    """Keep one failed sign-in of an account (and forget those older than the window)."""
    at = time.time() if now is None else now
    db = open_service_db(settings)
    try:
        with transaction(db):
            db.execute("DELETE FROM signin_failures WHERE at < ?", [at - settings.signin_window_s])
            db.execute("INSERT INTO signin_failures (username, at) VALUES (?, ?)", [_key(username)[:64], at])
    finally:
        db.close()


def clear_failures(settings: Settings, username: str) -> int:
    """Forget an account's failed sign-ins (a good sign-in, or an admin's unlock); return how many went."""
    db = open_service_db(settings)
    try:
        with transaction(db):
            return db.execute("DELETE FROM signin_failures WHERE username = ?", [_key(username)]).rowcount
    finally:
        db.close()


def lockout(settings: Settings, username: str, now: float | None = None) -> Lockout:
    """Return how many recent failed sign-ins an account has, and whether they lock it."""
    at = time.time() if now is None else now
    db = open_service_db(settings)
    try:
        rows = [r[0] for r in db.execute("SELECT at FROM signin_failures WHERE username = ? AND at >= ? ORDER BY at",
                                         [_key(username), at - settings.signin_window_s])]
    finally:
        db.close()
    if len(rows) < settings.signin_max_failures:
        return Lockout(len(rows), None)
    return Lockout(len(rows), rows[-1] + settings.signin_window_s)


def delay_after(failures_in_session: int) -> float:
    """Return how long a session waits after its n-th failed sign-in (1, 2, 4 ... s, at most MAX_DELAY_S)."""
    if failures_in_session < 1:
        return 0.0
    return min(2.0 ** (failures_in_session - 1), MAX_DELAY_S)
