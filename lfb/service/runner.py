"""The job runner: one job of any kind, run through the same lfb functions as the CLI.

It reports the job's progress (stage and, where there is one, the fraction done), keeps the end of its log, and
closes it with the outcome in words. An error becomes a failed job with a one-line reason, never a crash of the
sidecar that runs it.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from lfb.config import Settings
from lfb.data.ingest import Progress
from lfb.errorlog import append_traceback
from lfb.model.estimator import ModelSettings
from lfb.service import jobs, requests
from lfb.service.jobs import Log
from lfb.service.pipeline import decision_words, run_pipeline

LOG_LINES = 300  # the end of a job's log kept with it
PROGRESS_EVERY_S = 0.5  # at most this often a progress write (a new stage is written at once)
OFFLINE = "offline: the London Datastore cannot be reached; nothing changed"
# Log lines of a training and how far they are into it; stops are honoured at these lines only, before anything
# is saved or registered.
TRAINING_STAGES: list[tuple[re.Pattern[str], Callable[[int, int], float]]] = [
    (re.compile(r"loading pump attendances"), lambda i, n: 0.02),
    (re.compile(r"train \d{4}-\d{2}\.\."), lambda i, n: 0.08),
    (re.compile(r"fitting model (\d+)/(\d+)"), lambda i, n: 0.10 + 0.50 * (i - 1) / n),
    (re.compile(r"refitting model (\d+)/(\d+)"), lambda i, n: 0.60 + 0.15 * (i - 1) / n),
    (re.compile(r"refitting served model (\d+)/(\d+)"), lambda i, n: 0.75 + 0.20 * (i - 1) / n),
]
PIPELINE_STEP = re.compile(r"step (\d+)/(\d+): ")


class Stopped(KeyboardInterrupt):
    """The sidecar was asked to stop while this job ran (an interruption: what was unfinished is not kept)."""


@dataclass(frozen=True)
class JobResult:
    """How a job ended."""

    job_id: int
    ok: bool
    outcome: str


class JobContext:
    """A running job's log excerpt, progress reports and stop signal."""

    def __init__(self, settings: Settings, job_id: int, echo: Log, should_stop: Callable[[], bool],
                 clock: Callable[[], float] = time.monotonic, owner: str = "sidecar"):
        self.settings, self.job_id, self.echo, self.should_stop = settings, job_id, echo, should_stop
        self.clock, self.owner = clock, owner  # owner: how the job's locks name their holder
        self.lines: deque[str] = deque(maxlen=LOG_LINES)
        self.span = (0.0, 1.0)  # the part of the whole job the current step covers
        self.fraction: float | None = None
        self._written = -PROGRESS_EVERY_S

    def note(self, line: str) -> None:
        """Keep a log line and echo it."""
        for part in str(line).rstrip().splitlines() or [""]:
            self.lines.append(f"{dt.datetime.now(dt.timezone.utc):%H:%M:%S} {part}")
            self.echo(f"job #{self.job_id}: {part}")

    def log(self, line: str) -> None:
        """Keep a log line, echo it, and report the stage it announces (stopping here if asked to)."""
        text = str(line).strip()
        self.note(text)
        if step := PIPELINE_STEP.match(text):
            i, n = int(step[1]), int(step[2])
            self.span = ((i - 1) / n, i / n)
            self.report(text, 0.0, force=True)
            return
        for pattern, where in TRAINING_STAGES:
            if found := pattern.search(text):
                self.check_stop()
                numbers = [int(g) for g in found.groups()] or [1, 1]
                self.report(text, where(*numbers), force=True)
                return

    def report(self, text: str, fraction: float | None = None, force: bool = False) -> None:
        """Write the job's stage (and fraction of this step done) to the jobs table, at most every half second."""
        if fraction is not None:
            low, high = self.span
            self.fraction = low + (high - low) * min(max(fraction, 0.0), 1.0)
        now = self.clock()
        if force or now - self._written >= PROGRESS_EVERY_S:
            self._written = now
            requests.report_progress(self.settings, self.job_id, text, self.fraction)

    def progress(self, label: str) -> Progress:
        """Return a progress callback for one file or download (a jobs.ProgressFactory)."""
        def update(done: int, total: int) -> None:
            """Report how far the file has got; stop here if asked to."""
            self.check_stop()
            fraction = done / total if total else None
            self.report(f"{label}: {fraction:.0%}" if fraction is not None else label, fraction, force=done >= total)
        return update

    def check_stop(self) -> None:
        """Raise Stopped if the sidecar was asked to stop."""
        if self.should_stop():
            raise Stopped("the sidecar was asked to stop")

    def excerpt(self) -> str:
        """Return the end of the job's log."""
        return "\n".join(self.lines)


class _Capture(logging.Handler):
    """Copy the library's warnings raised in the job's thread (lock take-overs, waits) into the job's log."""

    def __init__(self, context: JobContext):
        super().__init__(logging.WARNING)
        self.context, self.thread = context, threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        """Keep one record."""
        if record.thread == self.thread:
            self.context.lines.append(f"{dt.datetime.now(dt.timezone.utc):%H:%M:%S} note: {record.getMessage()}")


def _count(args: dict[str, Any], name: str) -> int | None:
    """Return a whole-number argument of at least 1 (None if absent), or raise ValueError naming it."""
    value = args.get(name)
    if value is None:
        return None
    try:
        number = int(str(value))
    except ValueError:
        number = 0
    if number < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")
    return number


def upload_path(settings: Settings, text: str) -> Path:
    """Return the file an ingest request names: an absolute path, or one relative to the data folder."""
    path = Path(text).expanduser()
    return path if path.is_absolute() else settings.data_dir / path


def _fetch(ctx: JobContext, db: sqlite_utils.Database, args: dict[str, Any], who: str,
           model_settings: ModelSettings | None) -> tuple[bool, str]:
    """Download new files from the London Datastore and ingest them."""
    from lfb.data.datastore import OfflineError

    try:
        report = jobs.fetch(db, ctx.settings, progress=ctx.progress, log=ctx.log, owner=ctx.owner)
    except OfflineError:
        return False, OFFLINE
    ingested = [f"{o.ingest.file_name} ({o.ingest.rows_read:,} rows read, {o.ingest.rows_rejected:,} rejected)"
                for o in report.downloaded if o.ingest is not None and o.ingest.status == "ok"]
    failed = [f"{o.resource.name}: {o.message}" for o in report.failed] + report.errors
    return report.ok, (f"fetched: {report.summary()}" + (f"; ingested {', '.join(ingested)}" if ingested else "")
                       + (f"; failed: {'; '.join(failed)}" if failed else ""))


def _ingest(ctx: JobContext, db: sqlite_utils.Database, args: dict[str, Any], who: str,
            model_settings: ModelSettings | None) -> tuple[bool, str]:
    """Ingest one file (an upload saved by the app, or a file named by the CLI)."""
    from lfb.data.readers import is_file, not_a_file

    path = upload_path(ctx.settings, str(args["path"]))
    if path.is_dir():
        return False, f"{not_a_file(path)}; nothing changed"
    if not is_file(path):
        return False, f"no such file: {path} (upload it again); nothing changed"
    report = jobs.ingest_files(db, [path], settings=ctx.settings, progress=ctx.progress, log=ctx.log,
                               owner=ctx.owner)[0]
    if report.status == "ok":
        return True, (f"ingested {report.file_name}: {report.rows_read:,} {report.kind} rows read "
                      f"({report.rows_inserted:,} new, {report.rows_updated:,} updated), "
                      f"{report.rows_rejected:,} rejected")
    if report.status == "skipped":
        return True, f"{report.file_name}: {report.message}"
    return False, f"{report.file_name} not ingested: {report.message}"


def _train(ctx: JobContext, db: sqlite_utils.Database, args: dict[str, Any], who: str,
           model_settings: ModelSettings | None) -> tuple[bool, str]:
    """Train a candidate; the promotion rule decides whether it goes into service."""
    from lfb.model.training import train

    result = train(db, ctx.settings, until=args.get("until"), test_months=_count(args, "test_months"), who=who,
                   owner=ctx.owner, model_settings=model_settings, log=ctx.log)
    return True, decision_words(result.version, result.metadata["decision"])


def _evaluate(ctx: JobContext, db: sqlite_utils.Database, args: dict[str, Any], who: str,
              model_settings: ModelSettings | None) -> tuple[bool, str]:
    """Score the champion (or a version) on its test window or on stored data since a month."""
    from lfb.model.scoring import score_version

    ctx.log("scoring " + (args.get("version") or "the champion") +
            (f" on stored data since {args['since']}" if args.get("since") else " (its held-out test report)"))
    report = score_version(db, ctx.settings, version=args.get("version"), since=args.get("since"))
    if not report.get("n"):
        return False, f"{report['version']} on {report['source']}: no pump attendances to score"
    words = (f"{report['version']} on {report['source']}: MAE {report['mae']:.1f} s, P90 coverage "
             f"{report['p90_coverage']:.1%}, within ±60 s {report['within_60s']:.1%} ({report['n']:,} pumps)")
    notes = [n for n in (report.get("fallback"), report.get("warning")) if n]
    return True, words + "".join(f"; warning: {n}" for n in notes)


def _promote(ctx: JobContext, db: sqlite_utils.Database, args: dict[str, Any], who: str,
             model_settings: ModelSettings | None) -> tuple[bool, str]:
    """Put a version into service by hand, recording what the promotion rule had said of it."""
    from lfb.model.registry import RegistryError, set_champion

    version = str(args["version"])
    row = db.execute("SELECT decision FROM model_versions WHERE version = ?", [version]).fetchone()
    if row is None:
        raise RegistryError(f"there is no model version {version!r} (see `python -m lfb models list`)")
    verdict = row[0] or "no verdict recorded"
    reason = args.get("reason") or f"promotion asked by {who}"
    previous = set_champion(db, ctx.settings.models_dir, version, who=who, action="manual promote",
                            reason=f"{reason}; the rule had said at training: {verdict}")
    return True, (f"{version} put into service by {who} (was {previous or 'none'}); the rule had said at "
                  f"training: {verdict}")


def _rollback(ctx: JobContext, db: sqlite_utils.Database, args: dict[str, Any], who: str,
              model_settings: ModelSettings | None) -> tuple[bool, str]:
    """Put back the champion that served before the current one."""
    from lfb.model.registry import champion, rollback

    current = champion(db)
    done = rollback(db, ctx.settings.models_dir, who=who, reason=args.get("reason") or f"rollback asked by {who}")
    skipped = f" (skipped {'; '.join(done.skipped)})" if done.skipped else ""
    return True, f"rolled back: {done.version} is the champion again (was {current}){skipped}"


def _pipeline(ctx: JobContext, db: sqlite_utils.Database, args: dict[str, Any], who: str,
              model_settings: ModelSettings | None) -> tuple[bool, str]:
    """Fetch, ingest, train a candidate and promote it only if the rule says so."""
    result = run_pipeline(db, ctx.settings, who=who, owner=ctx.owner, log=ctx.log, progress=ctx.progress,
                          model_settings=model_settings)
    return result.ok, result.outcome


def _backup(ctx: JobContext, db: sqlite_utils.Database, args: dict[str, Any], who: str,
            model_settings: ModelSettings | None) -> tuple[bool, str]:
    """Back up the stores, the registered models and the users (the oldest beyond LFB_BACKUP_KEEP go)."""
    from lfb.service.backup import make_backup

    report = make_backup(ctx.settings, log=ctx.log)
    removed = f"; removed {len(report.removed)} older backup(s)" if report.removed else ""
    return True, (f"backed up into {report.path.name} ({report.size_bytes / 1e6:,.1f} MB, {len(report.versions)} "
                  f"model version(s)){removed}")


HANDLERS: dict[str, Callable[..., tuple[bool, str]]] = {
    "fetch": _fetch, "ingest": _ingest, "train": _train, "evaluate": _evaluate, "promote": _promote,
    "rollback": _rollback, "pipeline": _pipeline, "backup": _backup,
}


def _log_traceback(settings: Settings, job: dict[str, Any], exc: BaseException) -> Path | None:
    """Append an unexpected error's traceback to the error log; return its path (None if it cannot be written)."""
    return append_traceback(settings, f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC job #{job['id']} "
                                      f"{job['kind']} {job.get('args')}", exc)


def failure_words(settings: Settings, job: dict[str, Any], exc: BaseException) -> str:
    """Return the one-line reason a job failed."""
    from lfb.data.datastore import OfflineError
    from lfb.data.formats import FormatError
    from lfb.data.store import StoreError
    from lfb.model.registry import RegistryError
    from lfb.model.serving import NoModel
    from lfb.service.locks import JobBusy, LockLost

    if isinstance(exc, Stopped):
        return (f"stopped: the sidecar was asked to stop while this job ran "
                f"({dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC); what it had not finished was not "
                "kept: ask again to run it")
    if isinstance(exc, JobBusy):
        return f"not run: {exc}"
    if isinstance(exc, OfflineError):
        return OFFLINE
    if isinstance(exc, (StoreError, FormatError, ValueError, OSError, RegistryError, NoModel, LockLost,
                        requests.RequestRefused)):
        return str(exc)
    where = _log_traceback(settings, job, exc)
    return f"unexpected {type(exc).__name__}: {exc}" + (f" (the traceback is in {where})" if where else "")


def run_job(settings: Settings, job: dict[str, Any], log: Log = print, *, model_settings: ModelSettings | None = None,
            should_stop: Callable[[], bool] = lambda: False, note: str = "") -> JobResult:
    """Run one claimed job (status running) of any kind and close it with its outcome; never raise for its errors."""
    who = str(job.get("requested_by") or "sidecar")
    context = JobContext(settings, int(job["id"]), log, should_stop, owner=f"{who} (sidecar job #{job['id']})")
    capture = _Capture(context)
    logging.getLogger("lfb").addHandler(capture)
    db = None
    try:
        if note:
            context.note(note)
        context.note(f"{job['kind']} asked by {who}" + (f" with {job['args']}" if job.get("args") else ""))
        if job.get("args_problem"):
            raise requests.RequestRefused(job["args_problem"])
        requests.check_request(job["kind"], dict(job.get("args") or {}))
        db = jobs.open_store(settings)
        ok, outcome = HANDLERS[job["kind"]](context, db, dict(job.get("args") or {}), who, model_settings)
    except (Exception, Stopped) as exc:  # noqa: BLE001 - a job's error is its outcome, never the sidecar's crash
        ok, outcome = False, failure_words(settings, job, exc)
    finally:
        logging.getLogger("lfb").removeHandler(capture)
        if db is not None:
            db.close()
    outcome = " ".join(outcome.split())
    context.note(("done: " if ok else "failed: ") + outcome)
    requests.finish(settings, context.job_id, ok, outcome, context.excerpt())
    return JobResult(context.job_id, ok, outcome)
