"""The app, the CLI and the scheduler run side by side: readers never wait for a writer in another process."""
import os
import subprocess
import sys
import time

from lfb.config import PROJECT_ROOT
from lfb.service.locks import holder, job_lock
from tests.builders import MOBILISATION_HEADER, mobilisation_row


def _big_mobilisation_file(path, rows):
    """Write `rows` valid mobilisation records quickly (one template line, numbered)."""
    import csv
    import io

    buffer = io.StringIO()
    csv.DictWriter(buffer, fieldnames=MOBILISATION_HEADER).writerow(mobilisation_row("{n}-01012023", "{m}"))
    template = buffer.getvalue()
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(MOBILISATION_HEADER) + "\r\n")
        fh.writelines(template.replace("{n}", str(100000 + i)).replace("{m}", str(i)) for i in range(rows))
    return path


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
    big = _big_mobilisation_file(tmp_path / "big.csv", 200_000)
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
