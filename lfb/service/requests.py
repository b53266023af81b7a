"""Jobs asked of the scheduler sidecar, and its heartbeat: the one way the app and the CLI get work done.

The app never trains or ingests in its own process: it writes a request (a row of `jobs`, status `pending`) that
the sidecar picks up within seconds and runs (`running`, with progress), then closes (`done` or `failed`, with
the outcome in words and a log excerpt). Scheduled runs are recorded the same way (requested by `schedule`), so
`jobs` is the whole history. The sidecar writes a heartbeat with what it plans next, so the app can say plainly
whether it is alive.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lfb.config import Settings
from lfb.data.store import transaction
from lfb.service.servicedb import open_service_db
from lfb.text import quoted, shortened

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
# kind -> (required arguments, optional arguments); what each does is in lfb.service.runner
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "fetch": ((), ()),
    "ingest": (("path",), ()),
    "train": ((), ("until", "test_months")),
    "evaluate": ((), ("since", "version")),
    "promote": (("version",), ("reason",)),
    "rollback": ((), ("reason",)),
    "pipeline": ((), ()),
    "backup": ((), ()),
}
JOB_COLUMNS = ("id", "kind", "args_json", "requested_by", "requested_at", "status", "started", "finished",
               "progress", "progress_pct", "outcome", "log", "runner")
SIDECAR = "scheduler"
MAX_ARG_CHARS = 4096  # a path, a version or a reason is never longer
MAX_TEST_MONTHS = 120
MAX_WHO_CHARS = 64
MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])(-\d{2})?")
UNREADABLE_ARGS = "the request's arguments are not readable"
ALIVE_WITHIN_S = 30.0  # a heartbeat older than this means the sidecar is not running


class RequestRefused(ValueError):
    """A request that cannot be queued: unknown kind, missing or unknown argument, or the same one waits already."""


@dataclass(frozen=True)
class SidecarStatus:
    """Whether the scheduler sidecar is alive, since when, and what it plans next."""

    alive: bool
    seen_s_ago: float | None  # None: it has never run against this data folder
    host: str | None
    pid: int | None
    started: str | None
    info: dict[str, Any]

    def words(self) -> str:
        """Return the status in a sentence for people."""
        if self.seen_s_ago is None:
            return "The scheduler sidecar has never run with this data folder: start it with `python scheduler.py`."
        if not self.alive:
            how = (f"was stopped at {self.info['stopped']} UTC" if self.info.get("stopped") else
                   f"is not running (last seen {self.seen_s_ago:,.0f} s ago)")
            return (f"The scheduler sidecar {how}: requests wait until it is started again (`python scheduler.py`, "
                    "or ./start.sh).")
        return f"The scheduler sidecar is running (process {self.pid} on {self.host}, since {self.started} UTC)."


def _now() -> str:
    """Return the current UTC time as ISO text."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def check_request(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """Return the request's arguments cleaned, or raise RequestRefused saying what is wrong."""
    if kind not in KINDS:
        raise RequestRefused(f"unknown request {quoted(kind)}: use one of {', '.join(KINDS)}")
    required, optional = KINDS[kind]
    given = {k: v for k, v in args.items() if v not in (None, "")}
    missing = [name for name in required if name not in given]
    unknown = [name for name in given if name not in required + optional]
    if missing:
        raise RequestRefused(f"a {kind} request needs {', '.join(missing)}: give {'it' if len(missing) == 1 else 'them'}")
    if unknown:
        raise RequestRefused(f"a {kind} request takes no {', '.join(unknown)} (it takes "
                             f"{', '.join(required + optional) or 'nothing'}): remove {', '.join(unknown)}")
    return {name: _checked(name, value) for name, value in given.items()}


def _checked(name: str, value: Any) -> Any:
    """Return one request argument if it has the right type and shape, or raise RequestRefused naming it."""
    if name == "test_months":
        number = value if isinstance(value, int) and not isinstance(value, bool) else None
        if isinstance(value, str) and value.strip().isdigit():
            number = int(value)
        if number is None or not 1 <= number <= MAX_TEST_MONTHS:
            raise RequestRefused(f"test_months {quoted(value)} is not a whole number from 1 to {MAX_TEST_MONTHS}: "
                                 "give one, e.g. 3")
        return number
    if not isinstance(value, str) or len(value) > MAX_ARG_CHARS or "\x00" in value:
        raise RequestRefused(f"{name} {quoted(value)} is not a line of text of at most {MAX_ARG_CHARS} characters: "
                             f"give the {name} as text")
    if name in ("until", "since") and not MONTH.fullmatch(value.strip()):
        raise RequestRefused(f"{name} {quoted(value)} is not a month: give YYYY-MM or YYYY-MM-DD, e.g. 2024-05")
    if name == "path" and not Path(value).expanduser().is_absolute() and ".." in Path(value).parts:
        raise RequestRefused(f"path {quoted(value)} leaves the data folder: give an absolute path, or one inside "
                             "the data folder")
    return value


def submit(settings: Settings, kind: str, args: dict[str, Any] | None = None, who: str = "cli") -> int:
    """Queue a request for the sidecar; return its id (the same request already waiting is refused, naming it)."""
    clean = check_request(kind, dict(args or {}))
    if not isinstance(who, str) or not who.strip() or len(who) > MAX_WHO_CHARS or not who.isprintable():
        raise RequestRefused(f"who asks ({quoted(who)}) must be a name on one line of at most {MAX_WHO_CHARS} "
                             "characters: give one, e.g. --who chief")
    text = json.dumps(clean, sort_keys=True, default=str)
    db = open_service_db(settings)
    try:
        with transaction(db):
            same = db.execute("SELECT id, requested_by, requested_at FROM jobs WHERE status = ? AND kind = ? AND "
                              "args_json = ?", [PENDING, kind, text]).fetchone()
            if same:
                raise RequestRefused(f"the same {kind} request is already waiting (#{same[0]}, asked by {same[1]} "
                                     f"at {same[2]} UTC)")
            return int(db.execute("INSERT INTO jobs (kind, args_json, requested_by, requested_at, status) "
                                  "VALUES (?, ?, ?, ?, ?)", [kind, text, who, _now(), PENDING]).lastrowid)
    finally:
        db.close()


def _job(row: tuple) -> dict[str, Any]:
    """Return a jobs row as a dictionary, its arguments decoded and its duration in seconds."""
    job = dict(zip(JOB_COLUMNS, row))
    raw = job.pop("args_json")
    try:
        args = json.loads(raw or "{}")
    except (ValueError, TypeError):
        args = None
    job["args_problem"] = None if isinstance(args, dict) else (
        f"{UNREADABLE_ARGS} ({shortened(raw, 80)!r} is not a JSON object): ask again")
    job["args"] = args if isinstance(args, dict) else {}
    job["seconds"] = None
    if job["started"]:
        end = job["finished"] or _now()
        job["seconds"] = (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(job["started"])).total_seconds()
    return job


def list_jobs(settings: Settings, limit: int = 50, status: str | None = None) -> list[dict[str, Any]]:
    """Return the latest jobs (requested and scheduled), newest first."""
    db = open_service_db(settings)
    try:
        where, params = ("WHERE status = ?", [status]) if status else ("", [])
        rows = db.execute(f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs {where} ORDER BY id DESC LIMIT ?",
                          [*params, limit]).fetchall()
        return [_job(r) for r in rows]
    finally:
        db.close()


def get_job(settings: Settings, job_id: int) -> dict[str, Any] | None:
    """Return one job, or None."""
    db = open_service_db(settings)
    try:
        row = db.execute(f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs WHERE id = ?", [job_id]).fetchone()
        return None if row is None else _job(row)
    finally:
        db.close()


def claim_next(settings: Settings, runner: str) -> dict[str, Any] | None:
    """Take the oldest pending request for `runner` (pending -> running, in one transaction); None if none waits."""
    db = open_service_db(settings)
    try:
        with transaction(db):
            row = db.execute("SELECT id FROM jobs WHERE status = ? ORDER BY id LIMIT 1", [PENDING]).fetchone()
            if row is None:
                return None
            db.execute("UPDATE jobs SET status = ?, started = ?, runner = ?, progress = 'starting' WHERE id = ?",
                       [RUNNING, _now(), runner, row[0]])
        return get_job(settings, int(row[0]))
    finally:
        db.close()


def start_scheduled(settings: Settings, kind: str, runner: str, args: dict[str, Any] | None = None) -> int:
    """Record a scheduled run as a job that is already running; return its id."""
    clean = check_request(kind, dict(args or {}))
    db = open_service_db(settings)
    try:
        with transaction(db):
            now = _now()
            return int(db.execute("INSERT INTO jobs (kind, args_json, requested_by, requested_at, status, started, "
                                  "runner, progress) VALUES (?, ?, 'schedule', ?, ?, ?, ?, 'starting')",
                                  [kind, json.dumps(clean, sort_keys=True), now, RUNNING, now, runner]).lastrowid)
    finally:
        db.close()


def report_progress(settings: Settings, job_id: int, text: str, fraction: float | None = None) -> None:
    """Record how far a running job has got (a few words, and a fraction done when known)."""
    db = open_service_db(settings)
    try:
        with transaction(db):
            db.execute("UPDATE jobs SET progress = ?, progress_pct = ? WHERE id = ? AND status = ?",
                       [text[:300], None if fraction is None else round(100 * min(max(fraction, 0.0), 1.0), 1),
                        job_id, RUNNING])
    finally:
        db.close()


def finish(settings: Settings, job_id: int, ok: bool, outcome: str, log: str = "") -> None:
    """Close a running job: done or failed, the outcome in words and the end of its log (a closed job stays so)."""
    db = open_service_db(settings)
    try:
        with transaction(db):
            db.execute("UPDATE jobs SET status = ?, finished = ?, outcome = ?, log = ?, progress = NULL, "
                       "progress_pct = NULL WHERE id = ? AND status = ?",
                       [DONE if ok else FAILED, _now(), outcome[:2000], log[-8000:], job_id, RUNNING])
    finally:
        db.close()


def fail_interrupted(settings: Settings, reason: str, runner: str | None = None) -> list[int]:
    """Mark as failed the jobs left running by a process that ended (all of them, or those of `runner`)."""
    db = open_service_db(settings)
    try:
        with transaction(db):
            where, params = ("AND runner = ?", [runner]) if runner else ("", [])
            ids = [r[0] for r in db.execute(f"SELECT id FROM jobs WHERE status = ? {where}", [RUNNING, *params])]
            for job_id in ids:
                db.execute("UPDATE jobs SET status = ?, finished = ?, outcome = ?, progress = NULL WHERE id = ?",
                           [FAILED, _now(), reason, job_id])
        return ids
    finally:
        db.close()


def last_scheduled(settings: Settings, kind: str) -> str | None:
    """Return when the latest scheduled run of `kind` was recorded (UTC text), or None if there was none."""
    db = open_service_db(settings)
    try:
        return db.execute("SELECT MAX(requested_at) FROM jobs WHERE requested_by = 'schedule' AND kind = ?",
                          [kind]).fetchone()[0]
    finally:
        db.close()


def beat(settings: Settings, host: str, pid: int, started: str, info: dict[str, Any], at: float | None = None) -> None:
    """Write the sidecar's heartbeat (at `at`, default now) with what it plans next (its next runs, its current job)."""
    db = open_service_db(settings)
    try:
        with transaction(db):
            db.execute("INSERT INTO heartbeats (name, host, pid, started, beat, info_json) VALUES (?, ?, ?, ?, ?, ?) "
                       "ON CONFLICT(name) DO UPDATE SET host = excluded.host, pid = excluded.pid, "
                       "started = excluded.started, beat = excluded.beat, info_json = excluded.info_json",
                       [SIDECAR, host, pid, started, time.time() if at is None else at,
                        json.dumps(info, default=str)])
    finally:
        db.close()


def sidecar_status(settings: Settings, now: float | None = None) -> SidecarStatus:
    """Return whether the sidecar is alive (a recent heartbeat) and what it last said."""
    db = open_service_db(settings)
    try:
        row = db.execute("SELECT host, pid, started, beat, info_json FROM heartbeats WHERE name = ?",
                         [SIDECAR]).fetchone()
    finally:
        db.close()
    if row is None:
        return SidecarStatus(False, None, None, None, None, {})
    age = (time.time() if now is None else now) - float(row[3])
    info = json.loads(row[4] or "{}")
    return SidecarStatus(age <= ALIVE_WITHIN_S and not info.get("stopped"), age, row[0], row[1], row[2], info)
