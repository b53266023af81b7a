"""A real `python scheduler.py` process: killed with SIGKILL in the middle of a training or an ingest it leaves the
store, the registry and the locks consistent, and the next start marks the request failed and goes on; SIGTERM
stops it cleanly; a bad setting or a second sidecar is one line."""
import os
import signal
import subprocess
import sys
import time

import pytest

from lfb.config import PROJECT_ROOT
from lfb.data.ingest import INTERRUPTED
from lfb.data.store import count
from lfb.model.registry import champion, list_versions
from lfb.service.locks import holder
from lfb.service.requests import DONE, FAILED, RUNNING, get_job, sidecar_status, submit
from lfb.service.servicedb import open_service_db
from tests.builders import big_mobilisation_file


def _wait_for(condition, seconds, what):
    """Poll until condition() is true, or fail naming what was awaited."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def sidecar(trained_copy, tmp_path):
    """Start `python scheduler.py` processes on a private trained store; return (settings, db, champion, start)."""
    settings, db, result = trained_copy
    env = dict(os.environ, LFB_DB=str(settings.db_path), LFB_SERVICE_DB=str(settings.service_db_path),
               LFB_MODELS_DIR=str(settings.models_dir), LFB_DATA_DIR=str(tmp_path / "data"),
               LFB_DATASTORE_URL="http://127.0.0.1:9", LFB_POLL_S="0.2", LFB_SIDECAR_THREADS="1",
               PYTHONPATH=str(PROJECT_ROOT))
    started = []

    def start(**extra):
        """Start one sidecar process (output in tmp_path/sidecar-N.log)."""
        path = tmp_path / f"sidecar-{len(started)}.log"
        with path.open("w") as out:
            proc = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "scheduler.py")], env=dict(env, **extra),
                                    stdout=out, stderr=subprocess.STDOUT, text=True)
        proc.output = path
        started.append(proc)
        return proc
    yield settings, db, result.version, start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _consistent(settings, db, versions):
    """Assert the store, the service database, the registry and the locks are as a clean run leaves them."""
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    service = open_service_db(settings)
    try:
        assert service.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        service.close()
    assert sorted(v["version"] for v in list_versions(db)) == sorted(versions)
    folders = [p.name for p in settings.models_dir.iterdir() if p.name != ".orphans"]
    assert sorted(folders) == sorted(versions)  # no scratch folder, no unregistered version
    assert count(db, "ingests", "status = 'running'") == 0
    assert holder(settings, "train") is None and holder(settings, "ingest") is None


def _restart_and_check_interrupted(settings, start, job_id):
    """Start a new sidecar; check it marks the killed request failed and runs the next request; return it."""
    proc = start()
    _wait_for(lambda: get_job(settings, job_id)["status"] == FAILED, 60, "the interrupted request to be marked")
    assert get_job(settings, job_id)["outcome"].startswith("interrupted: the sidecar stopped while this job ran "
                                                           "(restart at ")
    _wait_for(lambda: sidecar_status(settings).alive, 30, "the new sidecar's heartbeat")
    after = submit(settings, "evaluate")
    _wait_for(lambda: get_job(settings, after)["status"] == DONE, 60, "the next request")
    return proc


def _stop(proc, how=signal.SIGTERM):
    """Stop a sidecar with SIGTERM (or SIGINT, Ctrl-C) and check it ends cleanly."""
    proc.send_signal(how)
    assert proc.wait(timeout=60) == 0
    assert f"stopping (signal {how.name})" in proc.output.read_text() and "Traceback" not in proc.output.read_text()


def test_a_sidecar_killed_in_the_middle_of_a_training_leaves_everything_consistent(sidecar):
    settings, db, version, start = sidecar
    job_id = submit(settings, "train", who="chief")
    proc = start()
    _wait_for(lambda: (get_job(settings, job_id)["progress"] or "").startswith("fitting model"), 120,
              "the training to fit")
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert get_job(settings, job_id)["status"] == RUNNING
    left = holder(settings, "train")  # the dead process's lock, naming the request it ran
    assert (left.pid, left.owner) == (proc.pid, f"chief (sidecar job #{job_id})")
    second = _restart_and_check_interrupted(settings, start, job_id)
    _consistent(settings, db, [version])
    assert champion(db) == version
    _stop(second)
    assert not sidecar_status(settings).alive and "was stopped at" in sidecar_status(settings).words()


def test_a_sidecar_killed_in_the_middle_of_an_ingest_leaves_everything_consistent(sidecar, tmp_path):
    settings, db, version, start = sidecar
    before = count(db, "mobilisations")
    big = big_mobilisation_file(tmp_path / "big.csv", 300_000)
    job_id = submit(settings, "ingest", {"path": str(big)})
    proc = start()
    _wait_for(lambda: count(db, "ingests", "file_name = 'big.csv' AND status = 'running'") == 1, 120,
              "the ingest to start writing")
    time.sleep(0.5)
    assert proc.poll() is None and get_job(settings, job_id)["status"] == RUNNING
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    second = _restart_and_check_interrupted(settings, start, job_id)
    _consistent(settings, db, [version])
    assert count(db, "mobilisations") == before
    assert db.execute("SELECT status, message FROM ingests WHERE file_name = 'big.csv'").fetchone() == \
        ("failed", INTERRUPTED)
    _stop(second, signal.SIGINT)


def test_sigterm_in_the_middle_of_a_training_stops_cleanly_with_a_clear_status(sidecar):
    settings, db, version, start = sidecar
    job_id = submit(settings, "train")
    proc = start()
    _wait_for(lambda: (get_job(settings, job_id)["progress"] or "").startswith("fitting model"), 120,
              "the training to fit")
    stopped = time.time()
    _stop(proc)
    assert time.time() - stopped < 30
    job = get_job(settings, job_id)
    assert job["status"] == FAILED and job["outcome"].split(":")[0] in ("stopped", "abandoned"), job["outcome"]
    assert holder(settings, "sidecar") is None
    lock = holder(settings, "train")
    assert lock is None or lock.pid == proc.pid  # released, or left by the ended process: taken over at once
    second = start()
    _wait_for(lambda: sidecar_status(settings).alive, 60, "the next sidecar")
    _consistent(settings, db, [version])
    _stop(second)


def test_a_bad_setting_or_a_second_sidecar_is_one_line(sidecar):
    settings, _, _, start = sidecar
    bad = start(LFB_PIPELINE_CRON="0 2 15 *")
    assert bad.wait(timeout=60) == 2
    assert bad.output.read_text().splitlines() == [
        "error: LFB_PIPELINE_CRON must be a 5-field crontab expression (minute hour day-of-month month day-of-week, "
        "e.g. '0 2 15 * *'), got '0 2 15 *': it has 4 field(s); a crontab expression has 5"]
    first = start(LFB_SIDECAR_NICE="7")
    _wait_for(lambda: sidecar_status(settings).alive, 60, "the sidecar")
    assert os.getpriority(os.PRIO_PROCESS, first.pid) == max(7, os.nice(0))  # the app's dispatchers come first
    second = start()
    assert second.wait(timeout=60) == 1
    [line] = second.output.read_text().splitlines()
    assert line.startswith("error: another scheduler sidecar runs with this data: a sidecar job is already running "
                           "(started ") and f"process {first.pid} on " in line
    _stop(first)
