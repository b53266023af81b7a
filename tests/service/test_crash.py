"""A training killed with SIGKILL leaves nothing that blocks or pollutes the next one."""
import os
import signal
import subprocess
import sys
import time

from lfb.config import PROJECT_ROOT
from lfb.model.registry import champion, list_versions
from lfb.service.jobs import setup, tidy_models
from lfb.service.locks import holder, job_lock


def test_leftovers_of_an_interrupted_training_are_cleaned_up_and_logged(trained_copy):
    settings, db, result = trained_copy
    (settings.models_dir / ".incoming-v20990101-000000").mkdir()
    (settings.models_dir / ".incoming-v20990101-000000" / "median.cbm").write_bytes(b"half")
    unregistered = settings.models_dir / "v20990101-000001"
    unregistered.mkdir()
    (unregistered / "metadata.json").write_text("{}")
    lines = []
    removed = tidy_models(db, settings, log=lines.append)
    assert sorted(removed) == [".incoming-v20990101-000000", "v20990101-000001"]
    assert sorted(p.name for p in settings.models_dir.iterdir()) == [".orphans", result.version]
    assert (settings.models_dir / ".orphans" / "v20990101-000001" / "metadata.json").exists()  # set aside, not lost
    assert any("interrupted training" in line for line in lines)
    assert tidy_models(db, settings, log=lines.append) == []


def test_tidying_waits_for_no_one_and_leaves_a_running_training_alone(trained_copy):
    settings, db, _ = trained_copy
    scratch = settings.models_dir / ".incoming-v20990101-000000"
    scratch.mkdir()
    with job_lock(settings, "train", owner="scheduler"):  # a training is between saving and registering
        assert tidy_models(db, settings, log=lambda _m: None) == []
    assert scratch.exists()


def test_a_training_killed_with_sigkill_blocks_nothing(trained_copy, tmp_path):
    settings, db, result = trained_copy
    env = dict(os.environ, LFB_DB=str(settings.db_path), LFB_SERVICE_DB=str(settings.service_db_path),
               LFB_MODELS_DIR=str(settings.models_dir), LFB_DATA_DIR=str(tmp_path), PYTHONPATH=str(PROJECT_ROOT),
               LFB_MODEL_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "lfb", "--no-progress", "train", "--until", "2024-10",
                             "--test-months", "2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while holder(settings, "train") is None and time.time() < deadline:
        time.sleep(0.05)
    assert holder(settings, "train") is not None, "the training never started"
    time.sleep(1.5)  # in the middle of fitting
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert holder(settings, "train").pid == proc.pid  # the dead process's lock is still recorded ...
    lines = []
    setup(settings, demo_if_empty=False, train_if_missing=False, log=lines.append)  # the next start
    assert holder(settings, "train") is None  # ... and the next job takes it over at once: nothing is blocked
    assert [v["version"] for v in list_versions(db)] == [result.version] and champion(db) == result.version
    assert not [p for p in settings.models_dir.iterdir() if p.name.startswith(".incoming-")]
