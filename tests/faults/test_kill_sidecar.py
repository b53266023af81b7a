"""The scheduler sidecar (`python scheduler.py`) killed with SIGKILL at random moments while it starts and runs a
queued pipeline request loses nothing: the databases pass integrity_check, there is exactly one champion and no
half-version, and a restarted sidecar marks the interrupted request failed with a reason, tidies what the kill left,
frees the locks, runs the pipeline again to success and stops cleanly on SIGTERM."""
from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from lfb.service.requests import DONE, FAILED, PENDING, RUNNING, get_job, list_jobs, submit
from tests.faults import harness

INTERRUPTED = "interrupted: the sidecar stopped while this job ran"


def _wait_closed(settings, job_id: int, seconds: float) -> dict[str, Any]:
    """Wait until a request is done or failed (or the time is up); return it."""
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        job = get_job(settings, job_id)
        if job["status"] in (DONE, FAILED):
            return job
        time.sleep(0.05)
    return get_job(settings, job_id)


def _stop(proc: subprocess.Popen) -> int:
    """Stop a sidecar with SIGTERM and return its exit code (-999 if it did not end within a minute)."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return -999


def _stage(job: dict[str, Any], kill: harness.Kill, new: list[str]) -> str:
    """Return what the sidecar was doing when it was killed."""
    if not kill.interrupted:
        return "sidecar had exited"
    if job["status"] == PENDING:
        return "start-up (request not taken yet)"
    if job["status"] != RUNNING:
        return f"request {job['status']}"
    if new:
        return "running: version registered"
    progress = job["progress"] or ""
    return "running: fetch" if progress.startswith(("starting", "step 1/2", "offline")) else "running: training"


def test_a_sidecar_killed_at_random_moments_loses_nothing(one_champion, fault_trials: int, fault_report: Path,
                                                         tmp_path: Path) -> None:
    base, first = one_champion
    scenario = harness.new_scenario("sidecar pipeline", fault_trials)
    clean_root = harness.copy_state(base, tmp_path / "clean")
    clean_settings = harness.state_settings(clean_root)
    job_id = submit(clean_settings, "pipeline", who="fault suite")
    started = time.perf_counter()
    proc = harness.start(harness.sidecar_command(), clean_root, "clean.log")
    job = _wait_closed(clean_settings, job_id, 180)
    scenario.observe(time.perf_counter() - started)
    assert _stop(proc) == 0 and job["status"] == DONE, (job, (clean_root / "clean.log").read_text())
    assert len(harness.registered(clean_settings)) == 2  # the pipeline trained a candidate

    def trial(index: int) -> None:
        """Kill the sidecar at a random moment, check the invariants, restart it and run the pipeline again."""
        root = harness.copy_state(base, tmp_path / f"trial-{index}")
        settings = harness.state_settings(root)
        job_id = submit(settings, "pipeline", who="fault suite")
        delay = scenario.moment(index, tail=0.4)  # odd trials: after the start-up, while the pipeline runs
        started = time.perf_counter()
        kill = harness.kill_after(harness.start(harness.sidecar_command(), root, "killed.log"), started, delay)
        at_kill = get_job(settings, job_id)
        new = [v for v in harness.registered(settings) if v != first]
        stage = _stage(at_kill, kill, new)
        allowed = {first} | {v for v in new if harness.decision_promotes(settings, v)}
        problems = [] if kill.interrupted else [f"the sidecar ended by itself ({kill.returncode})"]
        problems += harness.integrity_problems(settings)
        problems += harness.registry_problems(settings, allowed, tidied=False)
        # the restart: it marks the killed request, tidies, then runs the pipeline asked again (or the one waiting)
        rerun_id = job_id if at_kill["status"] == PENDING else submit(settings, "pipeline", who="fault suite")
        restarted = time.perf_counter()
        second = harness.start(harness.sidecar_command(), root, "restarted.log")
        rerun = _wait_closed(settings, rerun_id, 180)
        if rerun["status"] == DONE and not new:  # a whole start and pipeline run, as the clean one
            scenario.observe(time.perf_counter() - restarted)
        code = _stop(second)
        output = (root / "restarted.log").read_text(errors="replace")
        if code != 0 or "Traceback" in output:
            problems.append(f"the restarted sidecar did not stop cleanly ({code}): {output[-500:]}")
        after = get_job(settings, job_id)
        if at_kill["status"] == RUNNING and not (after["status"] == FAILED and
                                                 (after["outcome"] or "").startswith(INTERRUPTED)):
            problems.append(f"the interrupted request #{job_id} is {after['status']}: {after['outcome']}")
        if at_kill["status"] == DONE and after["status"] != DONE:
            problems.append(f"the request #{job_id} done before the kill is now {after['status']}")
        if rerun["status"] != DONE:
            problems.append(f"the rerun #{rerun_id} is {rerun['status']}: {rerun['outcome']}")
        if left := list_jobs(settings, status=RUNNING):
            problems.append(f"requests still running after the restart: {[j['id'] for j in left]}")
        versions = harness.registered(settings)
        allowed |= {v for v in versions if v != first and harness.decision_promotes(settings, v)}
        problems += harness.registry_problems(settings, allowed, tidied=True)
        problems += harness.interrupted_ingest_problems(settings, [])
        problems += harness.lock_problems(settings)
        problems += harness.integrity_problems(settings)
        scenario.record(index, kill, stage, problems, root)

    harness.run_trials(scenario, trial)
    scenario.finish(fault_report)
