"""Requests to the sidecar: queued with their arguments checked, taken one at a time, closed with an outcome."""
import pytest

from lfb.service.requests import (DONE, FAILED, PENDING, RUNNING, RequestRefused, beat, claim_next, fail_interrupted,
                                  finish, get_job, list_jobs, report_progress, sidecar_status, start_scheduled, submit)


def test_a_request_moves_from_pending_to_running_to_done(settings):
    job_id = submit(settings, "train", {"test_months": 2}, who="chief")
    assert get_job(settings, job_id)["status"] == PENDING
    claimed = claim_next(settings, runner="host:1")
    assert claimed["id"] == job_id and claimed["status"] == RUNNING and claimed["args"] == {"test_months": 2}
    assert claim_next(settings, runner="host:1") is None  # nothing else waits
    report_progress(settings, job_id, "fitting", 0.5)
    assert get_job(settings, job_id)["progress_pct"] == 50.0
    finish(settings, job_id, True, "v7 promoted: MAE 61.2 s vs 63.0 s", "line\n" * 5)
    job = get_job(settings, job_id)
    assert job["status"] == DONE and job["outcome"].startswith("v7 promoted") and job["seconds"] >= 0
    assert job["requested_by"] == "chief" and job["progress"] is None


def test_requests_are_taken_oldest_first(settings):
    first, second = submit(settings, "fetch"), submit(settings, "rollback", {"reason": "bad"})
    assert [claim_next(settings, "r")["id"], claim_next(settings, "r")["id"]] == [first, second]


@pytest.mark.parametrize(("kind", "args", "message"), [
    ("retrain", {}, "unknown request 'retrain'"),
    ("promote", {}, "needs version"),
    ("ingest", {"path": "x.csv", "force": True}, "takes no force"),
])
def test_bad_requests_are_refused_with_a_message(settings, kind, args, message):
    with pytest.raises(RequestRefused, match=message):
        submit(settings, kind, args)
    assert list_jobs(settings) == []


def test_the_same_request_waiting_twice_is_refused_naming_the_first(settings):
    first = submit(settings, "train", who="chief")
    with pytest.raises(RequestRefused, match=f"already waiting \\(#{first}, asked by chief"):
        submit(settings, "train", who="dee")
    claim_next(settings, "r")  # once it runs, a new one may wait behind it
    assert submit(settings, "train", who="dee") > first


def test_jobs_left_running_by_a_dead_sidecar_are_marked_failed(settings):
    submit(settings, "train")
    job = claim_next(settings, "old-host:42")
    scheduled = start_scheduled(settings, "pipeline", "other:7")
    assert fail_interrupted(settings, "interrupted: the sidecar stopped", runner="old-host:42") == [job["id"]]
    assert get_job(settings, job["id"])["status"] == FAILED and "interrupted" in get_job(settings, job["id"])["outcome"]
    assert get_job(settings, scheduled)["status"] == RUNNING and get_job(settings, scheduled)["requested_by"] == "schedule"


def test_the_sidecar_is_alive_while_its_heartbeat_is_recent(settings):
    assert sidecar_status(settings).seen_s_ago is None and "never run" in sidecar_status(settings).words()
    beat(settings, "box", 99, "2026-11-30 10:00:00", {"next_runs": {"pipeline": "2026-12-15 02:00"}})
    status = sidecar_status(settings)
    assert status.alive and status.info["next_runs"]["pipeline"] == "2026-12-15 02:00" and "running" in status.words()
    late = sidecar_status(settings, now=__import__("time").time() + 120)
    assert not late.alive and "not running" in late.words()


def test_a_closed_job_stays_closed(settings):
    submit(settings, "train")
    job = claim_next(settings, "box:1")
    finish(settings, job["id"], False, "abandoned: the sidecar was stopped")
    finish(settings, job["id"], True, "v8 promoted")  # the abandoned run ending after all changes nothing
    assert (get_job(settings, job["id"])["status"], get_job(settings, job["id"])["outcome"]) == \
        (FAILED, "abandoned: the sidecar was stopped")
