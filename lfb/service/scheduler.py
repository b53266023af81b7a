"""The scheduler sidecar: an APScheduler process beside the app that runs the monthly pipeline and the requests.

Jobs with fixed ids: the monthly pipeline (LFB_PIPELINE_CRON, London time), a poll for requests every LFB_POLL_S
seconds (taken oldest first and run one at a time, never two together nor beside the pipeline), a heartbeat, and a
check for signals. One sidecar runs at a time (a `sidecar` lock). At start it marks the jobs a previous sidecar left
running as failed, tidies what a killed training or ingest left, and runs once a scheduled pipeline it missed while
it was down, if that was at most LFB_MISFIRE_GRACE_S ago. SIGTERM or SIGINT stop it: the current job stops at its
next safe point (nothing half-done is kept), or is marked abandoned after STOP_WAIT_S. The signal handler only
notes the signal and a job acts on it, because the scheduler's loop may hold a lock (the executor's, while it
submits a job) that stopping the scheduler needs: stopping from the handler itself could wait for ever.

APScheduler's own persistent job store needs SQLAlchemy, which this project does not install: the missed run is
found from the service database instead (the last scheduled run in `jobs` and the last heartbeat).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from lfb.config import ConfigError, Settings, get_settings
from lfb.model.estimator import ModelSettings
from lfb.service import jobs, requests
from lfb.service.cron import LONDON, crontab_trigger, fires_between
from lfb.service.jobs import Log
from lfb.service.locks import JobBusy, Lease, acquire
from lfb.service.runner import run_job

HEARTBEAT_S = 5.0  # well inside requests.ALIVE_WITHIN_S
STOP_WAIT_S = 5.0  # how long a stop waits for the current job to reach a safe point
SIGNAL_CHECK_S = 0.5  # how often a stop asked by a signal is acted on
PIPELINE_JOB, MISSED_JOB, POLL_JOB, BEAT_JOB = "monthly-pipeline", "missed-pipeline", "poll-requests", "heartbeat"
SIGNAL_JOB = "signals"
BACKUP_JOB = "daily-backup"
SIDECAR_LOCK = "sidecar"
UTC = dt.timezone.utc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Missed:
    """A scheduled pipeline run that fell while no sidecar was running."""

    fire: dt.datetime
    late_s: float
    within_grace: bool


def missed_run(trigger: BaseTrigger, since: dt.datetime | None, now: dt.datetime, grace_s: float) -> Missed | None:
    """Return the latest planned run after `since` (the last sign of life) and up to `now`, or None.

    Within the grace period it is the latest such run; beyond it, the first one missed. With no `since` (the
    sidecar never ran here) nothing counts as missed.
    """
    if since is None:
        return None
    grace_start = now - dt.timedelta(seconds=grace_s)
    recent = fires_between(trigger, max(since, grace_start - dt.timedelta(microseconds=1)), now)  # grace inclusive
    if recent:
        return Missed(recent[-1], (now - recent[-1]).total_seconds(), True)
    older = fires_between(trigger, since, grace_start, limit=1)
    return Missed(older[0], (now - older[0]).total_seconds(), False) if older else None


def _utc_text(moment: dt.datetime) -> str:
    """Return an aware time as UTC text, as the jobs table writes it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _london(moment: dt.datetime | None) -> str | None:
    """Return an aware time as London time text, or None."""
    return None if moment is None else moment.astimezone(ZoneInfo(LONDON)).strftime("%Y-%m-%d %H:%M %Z")


def next_fire(cron: str, now: dt.datetime | None = None) -> str | None:
    """Return when a crontab expression fires next after `now`, in London time words."""
    return _london(crontab_trigger(cron).get_next_fire_time(None, now or dt.datetime.now(UTC)))


class Sidecar:
    """The scheduler sidecar: the monthly pipeline, the requests and the heartbeat, one job at a time."""

    def __init__(self, settings: Settings, *, model_settings: ModelSettings | None = None,
                 trigger: BaseTrigger | None = None, backup_trigger: BaseTrigger | None = None, clock: Callable[[], dt.datetime] | None = None,
                 echo: Log = print):
        self.settings = dataclasses.replace(settings, model_threads=settings.sidecar_threads)
        self.model_settings = model_settings
        self.trigger = trigger or crontab_trigger(settings.pipeline_cron)
        self.backup_trigger = backup_trigger or crontab_trigger(settings.backup_cron)
        self.clock = clock or (lambda: dt.datetime.now(UTC))
        self.echo = echo
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.runner = f"{self.host}:{self.pid}"
        self.started = ""
        self.current: dict[str, Any] | None = None
        self.abandoned: int | None = None  # the job given up when a stop found it still running
        self.missed: Missed | None = None  # the scheduled run missed while no sidecar ran, found at start
        self.scheduler: BlockingScheduler | None = None
        self._lease: Lease | None = None
        self._work = threading.Lock()  # held by whatever runs a job: requests and the pipeline never overlap
        self._stop = threading.Event()
        self._signalled = ""  # set by a signal handler, acted on by the signals job (a handler must take no lock)

    # ---- start ----

    def recover(self) -> Missed | None:
        """Take the sidecar lock, close what a previous sidecar left running, tidy; return a missed run, if any."""
        now = self.clock()
        self._lease = acquire(self.settings, SIDECAR_LOCK, owner="scheduler sidecar")
        try:
            return self._recover(now)
        except BaseException:
            self._lease.release()
            raise

    def _recover(self, now: dt.datetime) -> Missed | None:
        """Close what a previous sidecar left running, tidy, write the first heartbeat; return a missed run."""
        self.started = _utc_text(now)
        previous = requests.sidecar_status(self.settings, now=now.timestamp())
        last_seen = None if previous.seen_s_ago is None else now - dt.timedelta(seconds=previous.seen_s_ago)
        last_run = requests.last_scheduled(self.settings, "pipeline")
        marks = [m for m in (last_seen, last_run and dt.datetime.fromisoformat(last_run).replace(tzinfo=UTC)) if m]
        gone = requests.fail_interrupted(self.settings, f"interrupted: the sidecar stopped while this job ran "
                                                        f"(restart at {self.started} UTC)")
        if gone:
            self.echo(f"marked as failed the job(s) a previous sidecar left running: {', '.join(map(str, gone))}")
        db = jobs.open_store(self.settings)
        try:
            jobs.tidy_models(db, self.settings, log=self.echo)
            jobs.close_interrupted_ingests(db, self.settings, log=self.echo, owner="scheduler sidecar")
        finally:
            db.close()
        self.beat()
        return missed_run(self.trigger, max(marks) if marks else None, now, self.settings.misfire_grace_s)

    def record_missed(self, missed: Missed) -> int:
        """Record in the jobs table a scheduled run missed too long ago to be run now; return its id."""
        job_id = requests.start_scheduled(self.settings, "pipeline", self.runner)
        grace = self.settings.misfire_grace_s
        outcome = (f"missed: the pipeline planned at {_london(missed.fire)} did not run (no sidecar was running); "
                   f"it is {missed.late_s / 3600:,.1f} h late, more than LFB_MISFIRE_GRACE_S ({grace / 3600:g} h), "
                   "so it is skipped: ask for a `pipeline` to run it now")
        requests.finish(self.settings, job_id, False, outcome)
        self.echo(outcome)
        return job_id

    def build(self, missed: Missed | None) -> BlockingScheduler:
        """Return the scheduler with its jobs: the pipeline, a missed run to catch up, the poll and the heartbeat."""
        grace = max(1, int(self.settings.misfire_grace_s))  # APScheduler: None would mean 'however late'
        scheduler = BlockingScheduler(timezone=LONDON, executors={"default": ThreadPoolExecutor(4)},
                                      job_defaults={"coalesce": True, "max_instances": 1})
        scheduler.add_job(self.scheduled_pipeline, self.trigger, id=PIPELINE_JOB, name="monthly pipeline",
                          replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=grace)
        now = dt.datetime.now(UTC)
        if missed is not None and missed.within_grace:
            scheduler.add_job(self.scheduled_pipeline, "date", run_date=now, id=MISSED_JOB, replace_existing=True,
                              name="missed pipeline", coalesce=True, max_instances=1, misfire_grace_time=None,
                              kwargs={"missed": missed})
        scheduler.add_job(self.scheduled_backup, self.backup_trigger, id=BACKUP_JOB, name="daily backup",
                          replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=grace)
        scheduler.add_job(self.poll, IntervalTrigger(seconds=self.settings.poll_s), id=POLL_JOB, name="requests",
                          replace_existing=True, coalesce=True, max_instances=1, next_run_time=now,
                          misfire_grace_time=None)
        scheduler.add_job(self.beat, IntervalTrigger(seconds=HEARTBEAT_S), id=BEAT_JOB, name="heartbeat",
                          replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=None)
        scheduler.add_job(self.check_signals, IntervalTrigger(seconds=SIGNAL_CHECK_S), id=SIGNAL_JOB,
                          name="signals", replace_existing=True, coalesce=True, max_instances=1,
                          misfire_grace_time=None)
        return scheduler

    def run(self) -> int:
        """Start, run until stopped, then stop cleanly; return the exit code."""
        missed = self.missed = self.recover()
        if missed is not None and not missed.within_grace:
            self.record_missed(missed)
        elif missed is not None:
            self.echo(f"the pipeline planned at {_london(missed.fire)} was missed while no sidecar ran "
                      f"({missed.late_s / 60:,.0f} min ago, within the grace period): running it now")
        self.scheduler = self.build(missed)
        self.echo(f"scheduler sidecar started (process {self.pid} on {self.host}): pipeline "
                  f"'{self.settings.pipeline_cron}' London time, next {_london(self.next_pipeline())}; looking for requests every "
                  f"{self.settings.poll_s:g} s; training with {self.settings.model_threads} thread(s) at nice "
                  f"{os.nice(0)}, below the app")
        if not (self._stop.is_set() or self._signalled):
            self.scheduler.start()
        if self._signalled:
            self.stop(self._signalled)  # a signal that came before the loop began
        return self.finish_stop()

    # ---- jobs ----

    def poll(self) -> None:
        """Take the oldest waiting request, if no job runs, and run it in a worker thread (one at a time)."""
        if self._stop.is_set() or self._signalled or not self._work.acquire(blocking=False):
            return
        try:
            job = requests.claim_next(self.settings, self.runner)
        except Exception as exc:  # noqa: BLE001 - the service database may be busy: try at the next poll
            self._work.release()
            self.echo(f"could not look for requests ({exc}); trying again in {self.settings.poll_s:g} s")
            return
        if job is None:
            self._work.release()
            return
        threading.Thread(target=self._run_then_release, args=(job,), name=f"job-{job['id']}", daemon=True).start()

    def _run_then_release(self, job: dict[str, Any]) -> None:
        """Run a claimed request, then free the sidecar for the next one (and look for it at once)."""
        try:
            self.execute(job)
        finally:
            self._work.release()
        if not self._stop.is_set() and self.scheduler is not None and self.scheduler.running:
            self.poll()

    def scheduled_pipeline(self, missed: Missed | None = None) -> None:
        """Run the monthly pipeline, recorded as a scheduled job (after the request that runs now, if any)."""
        while not self._work.acquire(timeout=0.5):
            if self._stop.is_set():
                return
        try:
            if self._stop.is_set():
                return
            job_id = requests.start_scheduled(self.settings, "pipeline", self.runner)
            note = (f"catching up the run planned at {_london(missed.fire)}, missed while no sidecar ran"
                    if missed else "")
            self.execute(requests.get_job(self.settings, job_id), note=note)
        finally:
            self._work.release()

    def scheduled_backup(self) -> None:
        """Run the daily backup, recorded as a scheduled job (between two other jobs, never beside one)."""
        while not self._work.acquire(timeout=0.5):
            if self._stop.is_set():
                return
        try:
            if not self._stop.is_set():
                job_id = requests.start_scheduled(self.settings, "backup", self.runner)
                self.execute(requests.get_job(self.settings, job_id))
        finally:
            self._work.release()

    def execute(self, job: dict[str, Any], note: str = "") -> None:
        """Run one job through the runner; nothing it raises stops the sidecar."""
        self.current = job
        self.beat()
        try:
            result = run_job(self.settings, job, self.echo, model_settings=self.model_settings,
                             should_stop=self._stop.is_set, note=note)
            self.echo(f"job #{result.job_id} {job['kind']} {'done' if result.ok else 'failed'}: {result.outcome}")
        except Exception as exc:  # noqa: BLE001 - even a failure to record the outcome must not end the sidecar
            self.echo(f"job #{job['id']} could not be closed ({type(exc).__name__}: {exc}); the next start marks it")
        finally:
            self.current = None

    def next_backup(self) -> dt.datetime | None:
        """Return when the daily backup runs next."""
        job = self.scheduler.get_job(BACKUP_JOB) if self.scheduler is not None else None
        if job is not None and getattr(job, "next_run_time", None) is not None:
            return job.next_run_time
        return self.backup_trigger.get_next_fire_time(None, self.clock())

    def next_pipeline(self) -> dt.datetime | None:
        """Return when the monthly pipeline runs next."""
        job = self.scheduler.get_job(PIPELINE_JOB) if self.scheduler is not None else None
        if job is not None and getattr(job, "next_run_time", None) is not None:
            return job.next_run_time
        return self.trigger.get_next_fire_time(None, self.clock())

    def beat(self) -> None:
        """Write the heartbeat: alive, the next planned runs, the current job; stop if another sidecar took over."""
        if self._lease is not None and self._lease.lost:
            self.echo("the sidecar lock was cleared or taken over by another sidecar: stopping")
            self.stop("the sidecar lock was lost")
            return
        current = self.current
        info = {"runner": self.runner, "cron": self.settings.pipeline_cron, "poll_s": self.settings.poll_s,
                "misfire_grace_s": self.settings.misfire_grace_s, "threads": self.settings.model_threads,
                "next_runs": {"pipeline": _london(self.next_pipeline()), "backup": _london(self.next_backup())},
                "stopping": self._stop.is_set(),
                "current_job": None if current is None else {k: current.get(k) for k in
                                                             ("id", "kind", "requested_by", "started")}}
        try:
            requests.beat(self.settings, self.host, self.pid, self.started, info, at=self.clock().timestamp())
        except Exception as exc:  # noqa: BLE001 - a missed beat is retried at the next one
            self.echo(f"could not write the heartbeat ({exc})")

    # ---- stop ----

    def on_signal(self, number: int, _frame: object = None) -> None:
        """Note a SIGTERM or SIGINT; the signals job stops the sidecar (a handler must not take the locks it needs)."""
        self._signalled = f"signal {signal.Signals(number).name}"

    def check_signals(self) -> None:
        """Stop if a signal asked for it, or if a stop came before the scheduler's loop began."""
        if self._signalled or self._stop.is_set():
            self.stop(self._signalled or "asked to stop")
            if self.scheduler is not None and self.scheduler.running:
                self.scheduler.shutdown(wait=False)

    def stop(self, why: str = "asked to stop") -> None:
        """Stop taking work and end the scheduler's loop; the current job stops at its next safe point."""
        if self._stop.is_set():
            return
        self._stop.set()
        self.echo(f"stopping ({why})" + (f": job #{self.current['id']} stops at its next safe point"
                                          if self.current else ""))
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def finish_stop(self) -> int:
        """Wait a little for the current job; mark it abandoned if it runs on; release the sidecar lock."""
        if self._work.acquire(timeout=STOP_WAIT_S):
            self._work.release()
        elif (current := self.current) is not None:
            self.abandoned = int(current["id"])
            requests.finish(self.settings, self.abandoned, False,
                            f"abandoned: the sidecar was stopped at {_utc_text(self.clock())} UTC while this job ran; "
                            "nothing unfinished was kept: ask again to run it")
            self.echo(f"job #{self.abandoned} abandoned: it did not reach a safe point within {STOP_WAIT_S:g} s")
        if self._lease is not None:
            self._lease.release()
        try:
            requests.beat(self.settings, self.host, self.pid, self.started, {"stopped": _utc_text(self.clock())},
                          at=self.clock().timestamp())
        except Exception:  # noqa: BLE001 - a stopped sidecar looks dead soon enough anyway
            pass
        self.echo("scheduler sidecar stopped")
        return 0


def _echo(line: str) -> None:
    """Print a sidecar log line with the time (UTC)."""
    print(f"{dt.datetime.now(UTC):%Y-%m-%d %H:%M:%S} {line}", flush=True)


def lower_priority(nice: int) -> int:
    """Lower this process's CPU priority to `nice` (never raise it); return the nice value it runs at."""
    current = os.nice(0)
    if nice > current:
        current = os.nice(nice - current)
    return current


def main() -> int:
    """Run the sidecar until SIGTERM or SIGINT (`python scheduler.py`); errors are one line."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S")
    logging.Formatter.converter = time.gmtime  # UTC, like the sidecar's own lines
    try:
        settings = get_settings()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    lower_priority(settings.sidecar_nice)
    sidecar = Sidecar(settings, echo=_echo)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, sidecar.on_signal)
    try:
        code = sidecar.run()
    except JobBusy as exc:
        print(f"error: another scheduler sidecar runs with this data: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - no traceback reaches the terminal
        print(f"error: the sidecar stopped: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if sidecar.abandoned is not None:  # its thread runs on in a native fit: end the process without waiting for it
        sys.stdout.flush()
        os._exit(code)
    return code
