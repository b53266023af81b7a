"""The app, the CLI and the scheduler run side by side: readers never wait for a writer in another process."""
import os
import subprocess
import sys
import time

import pytest

from lfb.config import PROJECT_ROOT
from lfb.service.locks import holder, job_lock
from tests.builders import big_mobilisation_file


def _wait_for(condition, seconds, what):
    """Poll until condition() is true, or fail naming what was awaited."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_commands_answer_while_a_large_ingest_runs_in_another_process(trained_copy, tmp_path):
    from lfb.data.status import data_status
    from lfb.model.registry import list_versions
    from lfb.model.serving import Predictor
    from lfb.service.jobs import open_store

    settings, db, result = trained_copy
    before = db.execute("SELECT COUNT(*) FROM mobilisations WHERE derived = 0").fetchone()[0]
    big = big_mobilisation_file(tmp_path / "big.csv", 200_000)
    env = dict(os.environ, LFB_DB=str(settings.db_path), LFB_SERVICE_DB=str(settings.service_db_path),
               LFB_MODELS_DIR=str(settings.models_dir), LFB_DATA_DIR=str(tmp_path), PYTHONPATH=str(PROJECT_ROOT))
    ingest = subprocess.Popen([sys.executable, "-m", "lfb", "--no-progress", "ingest", str(big)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(lambda: holder(settings, "ingest") is not None, 30, "the ingest to start")
        time.sleep(0.5)  # well inside its write transaction
        started = time.perf_counter()
        store = open_store(settings)
        status = data_status(store)
        versions = list_versions(store)
        estimate = Predictor.from_registry(store, settings).predict_one("A21", "W2", "2024-09-02 10:00", "Fire")
        with job_lock(settings, "train", owner="app"):  # the app's and scheduler's own writes do not queue either
            pass
        in_process = time.perf_counter() - started
        started = time.perf_counter()
        cli = subprocess.run([sys.executable, "-m", "lfb", "models", "list"], env=env, capture_output=True,
                             text=True, timeout=60)
        command = time.perf_counter() - started
        assert ingest.poll() is None, "the ingest ended before the commands ran: the test proved nothing"
        assert in_process < 5 and command < 5, f"{in_process:.1f} s in process, {command:.1f} s for the command"
        assert status["mobilisations"] == before  # the half-done ingest is invisible
        assert versions[0]["version"] == result.version and 0 < estimate.median_s < 1200
        assert cli.returncode == 0 and result.version in cli.stdout
    finally:
        out, _ = ingest.communicate(timeout=300)
    assert ingest.returncode == 0, out
    assert db.execute("SELECT COUNT(*) FROM mobilisations WHERE derived = 0").fetchone()[0] == before + 200_000


def _ingest_process(settings, tmp_path, path):
    """Start `python -m lfb ingest path` against these settings in another process."""
    env = dict(os.environ, LFB_DB=str(settings.db_path), LFB_SERVICE_DB=str(settings.service_db_path),
               LFB_MODELS_DIR=str(settings.models_dir), LFB_DATA_DIR=str(tmp_path), PYTHONPATH=str(PROJECT_ROOT))
    return subprocess.Popen([sys.executable, "-m", "lfb", "--no-progress", "ingest", str(path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _running_ingest(settings):
    """Return True once an ingest row says 'running' (the file is being written)."""
    from lfb.data.store import connect

    db = connect(settings.db_path)
    try:
        return db.execute("SELECT COUNT(*) FROM ingests WHERE status = 'running'").fetchone()[0] > 0
    finally:
        db.close()


def test_a_write_waits_for_an_ingest_in_another_process_naming_it(trained_copy, tmp_path, caplog):
    from lfb.model.registry import set_champion

    settings, db, result = trained_copy
    ingest = _ingest_process(settings, tmp_path, big_mobilisation_file(tmp_path / "monthly.csv", 150_000))
    try:
        _wait_for(lambda: _running_ingest(settings), 30, "the ingest to start")
        with pytest.raises(Exception, match="already the champion"):  # a write: waits for the ingest first
            set_champion(db, settings.models_dir, result.version, who="admin", action="promote", reason="test")
        assert "waiting for the database: the ingest of monthly.csv" in caplog.text
        assert ingest.poll() is not None or "free again" in caplog.text
    finally:
        out, _ = ingest.communicate(timeout=300)
    assert ingest.returncode == 0, out


def test_an_ingest_killed_with_sigkill_leaves_the_store_as_it_was(trained_copy, tmp_path):
    import signal

    from lfb.data.status import data_status
    from lfb.service.jobs import ingest_files, open_store

    settings, db, _ = trained_copy
    before = data_status(db)
    ingest = _ingest_process(settings, tmp_path, big_mobilisation_file(tmp_path / "monthly.csv", 150_000))
    _wait_for(lambda: _running_ingest(settings), 30, "the ingest to start")
    time.sleep(0.5)
    ingest.send_signal(signal.SIGKILL)
    ingest.wait()
    store = open_store(settings)
    assert store.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    after = data_status(store)
    assert (after["incidents"], after["mobilisations"]) == (before["incidents"], before["mobilisations"])
    lines = []
    ingest_files(store, [big_mobilisation_file(tmp_path / "small.csv", 10)], settings=settings, log=lines.append)
    assert any("left unfinished by a process that ended" in line for line in lines)  # its lock was taken over
    rows = store.execute("SELECT file_name, status, message FROM ingests ORDER BY id DESC LIMIT 2").fetchall()
    assert rows[0][:2] == ("small.csv", "ok")
    assert rows[1][:2] == ("monthly.csv", "failed") and "interrupted" in rows[1][2]
