"""The scheduler sidecar in this process, driven with short intervals and a fake clock: scheduled and requested
runs, one job at a time, runs missed while it was down, recovery at start, heartbeat, stop."""
import dataclasses
import datetime as dt
import signal
import threading
import time
from contextlib import contextmanager

import pytest
from apscheduler.triggers.date import DateTrigger

from lfb.model import registry
from lfb.model.estimator import ModelSettings
from lfb.service.cron import crontab_trigger
from lfb.service.locks import JobBusy, holder, job_lock
from lfb.service.pipeline import OFFLINE
from lfb.service.requests import (DONE, FAILED, PENDING, RUNNING, claim_next, get_job, list_jobs, sidecar_status,
                                  submit)
from lfb.service.scheduler import Missed, Sidecar, missed_run
from tests.builders import FAST_MODEL

UTC = dt.timezone.utc
MONTHLY = crontab_trigger("0 2 15 * *")


@pytest.fixture
def store(trained_copy, tmp_path):
    """A private trained store (champion trained up to 2024-08, data to 2024-10), quick polls, no Datastore."""
    settings, db, result = trained_copy
    settings = dataclasses.replace(settings, data_dir=tmp_path / "data", datastore_url="http://127.0.0.1:9",
                                   poll_s=0.1)
    return settings, db, result.version


def _wait_for(condition, seconds, what):
    """Poll until condition() is true, or fail naming what was awaited."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def running(settings, **options):
    """Run a sidecar in a thread for the block, then stop it and check it ended."""
    options.setdefault("model_settings", ModelSettings(**FAST_MODEL))
    sidecar = Sidecar(settings, echo=lambda _line: None, **options)
    thread = threading.Thread(target=sidecar.run, daemon=True)
    thread.start()
    _wait_for(lambda: sidecar.scheduler is not None and sidecar.scheduler.running, 30, "the sidecar to start")
    try:
        yield sidecar
    finally:
        sidecar.stop("the test is over")
        thread.join(timeout=30)
        assert not thread.is_alive(), "the sidecar did not stop"


def _scheduled(settings):
    """Return the scheduled runs recorded in the jobs table."""
    return [j for j in list_jobs(settings) if j["requested_by"] == "schedule"]


def _ended(settings, job_id):
    """Return True once a job is done or failed."""
    return get_job(settings, job_id)["status"] in (DONE, FAILED)


def test_a_scheduled_run_executes_the_pipeline(store):
    settings, db, champion = store
    soon = DateTrigger(run_date=dt.datetime.now(UTC) + dt.timedelta(seconds=0.5))
    with running(settings, trigger=soon):
        _wait_for(lambda: _scheduled(settings) and _ended(settings, _scheduled(settings)[0]["id"]), 120,
                  "the scheduled pipeline")
    [run] = _scheduled(settings)
    assert (run["kind"], run["status"]) == ("pipeline", DONE), run["outcome"]
    new = registry.list_versions(db)[0]["version"]
    assert new != champion and run["outcome"].startswith(f"{OFFLINE}; {new} ")
    assert "step 2/2: training a candidate" in run["log"]


def test_a_request_moves_from_pending_to_running_to_done_and_a_bad_one_fails_with_a_reason(store):
    settings, _, _ = store
    good = submit(settings, "train", who="chief")
    bad = submit(settings, "ingest", {"path": "uploads/never-uploaded.csv"}, who="chief")
    states, progress = [get_job(settings, good)["status"]], []
    with running(settings):
        while not _ended(settings, bad):
            job = get_job(settings, good)
            if job["status"] != states[-1]:
                states.append(job["status"])
            if job["progress"]:
                progress.append(job["progress"])
            time.sleep(0.01)
    if get_job(settings, good)["status"] != states[-1]:
        states.append(get_job(settings, good)["status"])
    assert states == [PENDING, RUNNING, DONE]
    assert any(p.startswith("fitting model") for p in progress)
    failed = get_job(settings, bad)
    assert failed["status"] == FAILED and failed["outcome"].startswith("no such file: ")
    assert get_job(settings, good)["finished"] <= failed["started"]  # taken in order, one at a time


def test_two_training_requests_never_run_together(store, monkeypatch):
    from lfb.model import training

    settings, db, _ = store
    active, most = [0], [0]
    original = training.train

    def watched(*args, **kwargs):
        active[0] += 1
        most[0] = max(most[0], active[0])
        try:
            return original(*args, **kwargs)
        finally:
            active[0] -= 1
    monkeypatch.setattr(training, "train", watched)
    first, second = submit(settings, "train", {"test_months": 2}), submit(settings, "train", {"test_months": 3})
    with running(settings):
        _wait_for(lambda: _ended(settings, first) and _ended(settings, second), 120, "both trainings")
    assert [get_job(settings, j)["status"] for j in (first, second)] == [DONE, DONE] and most[0] == 1
    assert len(registry.list_versions(db)) == 3


def test_a_training_request_while_another_process_trains_fails_with_the_busy_message(store):
    settings, db, champion = store
    job_id = submit(settings, "train", who="chief")
    with job_lock(settings, "train", owner="cli"):  # `python -m lfb train` is running
        with running(settings):
            _wait_for(lambda: _ended(settings, job_id), 30, "the request")
    job = get_job(settings, job_id)
    assert job["status"] == FAILED and job["outcome"].startswith("not run: a train job is already running (started ")
    assert "by cli, process" in job["outcome"] and [v["version"] for v in registry.list_versions(db)] == [champion]


def test_at_start_jobs_left_running_ingests_and_training_leftovers_are_closed(store):
    settings, db, _ = store
    submit(settings, "train")
    left = claim_next(settings, "old-host:4242")["id"]
    db.execute("INSERT INTO ingests (file_name, sha256, kind, started, status) VALUES ('half.csv', 'x', "
               "'incidents', '2026-11-01 10:00:00', 'running')")
    (settings.models_dir / ".incoming-v20990101-000000").mkdir()
    with running(settings) as sidecar:
        pass
    job = get_job(settings, left)
    assert job["status"] == FAILED
    assert job["outcome"] == f"interrupted: the sidecar stopped while this job ran (restart at {sidecar.started} UTC)"
    assert db.execute("SELECT status, message FROM ingests WHERE file_name = 'half.csv'").fetchone()[0] == "failed"
    assert not (settings.models_dir / ".incoming-v20990101-000000").exists()


def test_the_heartbeat_says_alive_with_the_next_run_and_the_current_job_then_stopped(store):
    settings, _, _ = store
    job_id = submit(settings, "train")
    with running(settings):
        _wait_for(lambda: (sidecar_status(settings).info.get("current_job") or {}).get("id") == job_id, 30,
                  "the heartbeat to name the job")
        status = sidecar_status(settings)
        assert status.alive and "is running" in status.words()
        assert status.info["next_runs"]["pipeline"].endswith(":00 GMT") and status.info["threads"] == 1
        _wait_for(lambda: _ended(settings, job_id), 60, "the training")
    status = sidecar_status(settings)
    assert not status.alive and "was stopped at" in status.words()


def test_one_sidecar_at_a_time(store):
    settings, _, _ = store
    with running(settings):
        with pytest.raises(JobBusy, match="a sidecar job is already running"):
            Sidecar(settings, echo=lambda _line: None).recover()
    assert holder(settings, "sidecar") is None  # released on stop


def test_a_signal_only_marks_the_stop_and_the_sidecar_acts_on_it_from_its_own_thread(store):
    settings, _, _ = store
    lines = []
    sidecar = Sidecar(settings, echo=lines.append)
    thread = threading.Thread(target=sidecar.run, daemon=True)
    thread.start()
    _wait_for(lambda: sidecar.scheduler is not None and sidecar.scheduler.running, 30, "the sidecar to start")
    sidecar.on_signal(signal.SIGTERM)  # what the handler does: note it, take no lock (the loop may hold one)
    assert sidecar._signalled == "signal SIGTERM"
    thread.join(timeout=30)
    assert not thread.is_alive() and "stopping (signal SIGTERM)" in lines and lines[-1] == "scheduler sidecar stopped"
    assert holder(settings, "sidecar") is None


def test_a_sidecar_that_cannot_start_holds_no_lock(store, tmp_path):
    settings, _, _ = store
    (tmp_path / "not-a-folder").write_text("")
    broken = dataclasses.replace(settings, db_path=tmp_path / "not-a-folder" / "lfb.db")
    with pytest.raises(Exception):  # noqa: B017 - whatever the store's error, the lock must go
        Sidecar(broken, echo=lambda _line: None).run()
    assert holder(settings, "sidecar") is None


def test_a_stop_during_a_training_ends_it_at_a_safe_point_and_keeps_nothing(store):
    settings, db, champion = store
    slow = ModelSettings(**{**FAST_MODEL, "max_iterations": 300, "learning_rate": 0.05, "ensemble": 6})
    job_id = submit(settings, "train")
    with running(settings, model_settings=slow):
        _wait_for(lambda: (get_job(settings, job_id)["progress"] or "").startswith("fitting model 1/6"), 60,
                  "the training to fit")
    job = get_job(settings, job_id)
    assert job["status"] == FAILED and job["outcome"].startswith("stopped: the sidecar was asked to stop")
    assert [v["version"] for v in registry.list_versions(db)] == [champion]
    assert holder(settings, "train") is None and holder(settings, "sidecar") is None


def test_a_job_that_reaches_no_safe_point_is_marked_abandoned_on_stop(store, monkeypatch):
    from lfb.model import training
    from lfb.service import scheduler

    settings, _, _ = store
    monkeypatch.setattr(scheduler, "STOP_WAIT_S", 0.3)
    inside, release = threading.Event(), threading.Event()

    def stuck(*args, **kwargs):
        inside.set()
        release.wait(30)  # a long native fit: no log line, no safe point
        raise RuntimeError("ended after the stop")
    monkeypatch.setattr(training, "train", stuck)
    job_id = submit(settings, "train")
    with running(settings) as sidecar:
        _wait_for(inside.is_set, 30, "the training to start")
    assert sidecar.abandoned == job_id
    job = get_job(settings, job_id)
    assert job["status"] == FAILED and job["outcome"].startswith("abandoned: the sidecar was stopped at ")
    release.set()
    _wait_for(lambda: sidecar.current is None, 30, "the stuck job to end")
    assert get_job(settings, job_id)["outcome"] == job["outcome"]  # the job stays closed as abandoned


def test_the_scheduler_jobs_have_fixed_ids_and_run_one_instance_coalesced(store):
    settings, _, _ = store
    sidecar = Sidecar(dataclasses.replace(settings, misfire_grace_s=1800.0), echo=lambda _l: None)
    jobs = {job.id: job for job in sidecar.build(Missed(dt.datetime.now(UTC), 60.0, True)).get_jobs()}
    assert set(jobs) == {"monthly-pipeline", "missed-pipeline", "daily-backup", "poll-requests", "heartbeat",
                         "signals"}
    assert all(job.coalesce and job.max_instances == 1 for job in jobs.values())
    pipeline = jobs["monthly-pipeline"]
    assert pipeline.misfire_grace_time == 1800 and str(pipeline.trigger.timezone) == "Europe/London"
    assert str(pipeline.trigger) == "cron[month='*', day='15', day_of_week='*', hour='2', minute='0']"
    assert jobs["poll-requests"].trigger.interval.total_seconds() == settings.poll_s
    assert str(jobs["daily-backup"].trigger) == "cron[month='*', day='*', day_of_week='*', hour='3', minute='30']"
    without = {job.id for job in sidecar.build(None).get_jobs()}
    assert "missed-pipeline" not in without


# ---- runs missed while the sidecar was down ----

def _start_and_stop(settings, at: dt.datetime) -> None:
    """Run a sidecar whose clock says `at` until it has caught up what it had to, then stop it."""
    before = len(_scheduled(settings))
    with running(settings, clock=lambda: at) as sidecar:
        if sidecar.missed is not None and sidecar.missed.within_grace:
            _wait_for(lambda: len(_scheduled(settings)) > before and _ended(settings, _scheduled(settings)[0]["id"]),
                      120, "the catch-up run")


def test_a_run_missed_while_down_runs_once_when_the_sidecar_comes_back_within_the_grace_period(store):
    settings, db, _ = store
    _start_and_stop(settings, dt.datetime(2026, 12, 14, 12, 0, tzinfo=UTC))  # alive the day before, then down
    assert _scheduled(settings) == []
    _start_and_stop(settings, dt.datetime(2026, 12, 15, 3, 0, tzinfo=UTC))  # back an hour after the 02:00 run
    _start_and_stop(settings, dt.datetime(2026, 12, 15, 3, 10, tzinfo=UTC))  # restarted again: not a second time
    [run] = _scheduled(settings)
    assert run["status"] == DONE and run["kind"] == "pipeline"
    assert "catching up the run planned at 2026-12-15 02:00 GMT" in run["log"]
    assert len(registry.list_versions(db)) == 2


def test_a_run_missed_beyond_the_grace_period_does_not_run_and_says_so(store):
    settings, db, champion = store
    _start_and_stop(settings, dt.datetime(2026, 12, 14, 12, 0, tzinfo=UTC))
    _start_and_stop(settings, dt.datetime(2026, 12, 15, 9, 0, tzinfo=UTC))  # 7 h late; the grace is 6 h
    _start_and_stop(settings, dt.datetime(2026, 12, 15, 9, 30, tzinfo=UTC))
    [record] = _scheduled(settings)
    assert record["status"] == FAILED and record["log"] == ""
    assert record["outcome"] == ("missed: the pipeline planned at 2026-12-15 02:00 GMT did not run (no sidecar was "
                                 "running); it is 7.0 h late, more than LFB_MISFIRE_GRACE_S (6 h), so it is skipped: "
                                 "ask for a `pipeline` to run it now")
    assert [v["version"] for v in registry.list_versions(db)] == [champion]


@pytest.mark.parametrize(("since", "now", "expected"), [
    (None, "2026-12-15 03:00", None),  # never ran here: nothing counts as missed
    ("2026-12-14 12:00", "2026-12-15 01:59", None),  # not due yet
    ("2026-12-14 12:00", "2026-12-15 02:00", Missed(dt.datetime(2026, 12, 15, 2, tzinfo=UTC), 0.0, True)),
    ("2026-12-14 12:00", "2026-12-15 08:00", Missed(dt.datetime(2026, 12, 15, 2, tzinfo=UTC), 6 * 3600.0, True)),
    ("2026-12-14 12:00", "2026-12-15 08:01", Missed(dt.datetime(2026, 12, 15, 2, tzinfo=UTC), 6 * 3600.0 + 60, False)),
    ("2026-12-15 02:00", "2026-12-15 03:00", None),  # alive at 02:00: it ran then (or it is in the jobs table)
    ("2026-10-01 00:00", "2026-12-15 03:00", Missed(dt.datetime(2026, 12, 15, 2, tzinfo=UTC), 3600.0, True)),  # latest
])
def test_which_run_counts_as_missed(since, now, expected):
    def moment(text):
        return None if text is None else dt.datetime.fromisoformat(text).replace(tzinfo=UTC)
    assert missed_run(MONTHLY, moment(since), moment(now), 6 * 3600.0) == expected


def test_a_sidecar_training_uses_the_sidecar_thread_count(store, monkeypatch):
    from lfb.model import training

    settings, _, _ = store
    threads, original = [], training.train

    def watched(db, settings, **kwargs):
        threads.append((settings.model_threads, kwargs["model_settings"]))
        return original(db, settings, **{**kwargs, "model_settings": ModelSettings(**FAST_MODEL)})
    monkeypatch.setattr(training, "train", watched)
    job_id = submit(settings, "train")
    with running(dataclasses.replace(settings, model_threads=2, sidecar_threads=1), model_settings=None):
        _wait_for(lambda: _ended(settings, job_id), 60, "the training")
    assert threads == [(1, None)]  # no model settings given: the training builds them with 1 thread


def test_the_daily_backup_runs_as_a_scheduled_job(store):
    from lfb.service.backup import list_backups

    settings, _, _ = store
    never = DateTrigger(run_date=dt.datetime.now(UTC) + dt.timedelta(days=30))
    soon = DateTrigger(run_date=dt.datetime.now(UTC) + dt.timedelta(seconds=0.5))
    with running(settings, trigger=never, backup_trigger=soon):
        _wait_for(lambda: [j for j in _scheduled(settings) if j["kind"] == "backup" and _ended(settings, j["id"])],
                  60, "the scheduled backup")
    [run] = [j for j in _scheduled(settings) if j["kind"] == "backup"]
    assert run["status"] == DONE and run["outcome"].startswith("backed up into lfb-backup-")
    assert len(list_backups(settings)) == 1


def test_a_backup_can_be_requested_like_any_job(store):
    settings, _, _ = store
    job_id = submit(settings, "backup", who="chief")
    with running(settings, trigger=DateTrigger(run_date=dt.datetime.now(UTC) + dt.timedelta(days=30))):
        _wait_for(lambda: _ended(settings, job_id), 60, "the backup request")
    assert get_job(settings, job_id)["status"] == DONE
