"""Job locks: one job of a kind at a time across processes and containers, with leases that survive restarts."""
import dataclasses
import socket
import subprocess
import sys
import time

import pytest

from lfb.cli import EXIT_OK, EXIT_USAGE, main
from lfb.service.locks import JobBusy, LockLost, acquire, clear_lock, holder, job_lock, list_locks
from lfb.service.servicedb import open_service_db


@pytest.fixture
def quick(settings):
    """Settings with a short lease, so expiry can be tested in a second."""
    return dataclasses.replace(settings, lock_lease_s=0.4)


def _plant(settings, name="train", host="lfb-app-7f9c4d", pid=1, expires_in=60.0):
    """Write a lock row as another process (maybe in another container) would have."""
    db = open_service_db(settings)
    now = time.time()
    db.execute("INSERT INTO locks (name, owner, pid, host, token, started, renewed, expires) "
               "VALUES (?, 'scheduler', ?, ?, 'their-token', '2026-01-01 02:00:00', ?, ?)",
               [name, pid, host, now, now + expires_in])
    db.close()


def test_a_held_lock_refuses_a_second_job_and_is_released(settings):
    with job_lock(settings, "train", owner="scheduler"):
        with pytest.raises(JobBusy, match="already running .* by scheduler"):
            acquire(settings, "train")
        assert holder(settings, "train").owner == "scheduler"
    assert list_locks(settings) == []


def test_a_lock_left_by_a_container_that_no_longer_exists_is_taken_over_after_its_lease(quick, caplog):
    _plant(quick, host="lfb-scheduler-old-container", pid=1, expires_in=0.5)
    with pytest.raises(JobBusy):  # its lease still runs: the other process may be alive
        acquire(quick, "train")
    time.sleep(0.7)
    with job_lock(quick, "train", owner="cli"):
        assert holder(quick, "train").host == socket.gethostname()
    assert "taking over the train lock of scheduler" in caplog.text and "lease expired" in caplog.text


def test_a_lock_of_a_dead_process_on_this_host_is_taken_over_at_once(settings):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _plant(settings, host=socket.gethostname(), pid=dead.pid, expires_in=600)
    with job_lock(settings, "train"):
        assert holder(settings, "train").pid != dead.pid


def test_the_heartbeat_keeps_a_long_job_s_lock(quick):
    with job_lock(quick, "train", owner="long job"):
        time.sleep(1.2)  # three leases long
        with pytest.raises(JobBusy, match="long job"):
            acquire(quick, "train")


def test_a_job_whose_lock_was_cleared_knows_it(quick):
    with job_lock(quick, "train") as lease:
        clear_lock(quick, "train")
        deadline = time.time() + 3
        while not lease.lost and time.time() < deadline:
            time.sleep(0.05)
        with pytest.raises(LockLost, match="run it again"):
            lease.check()


def test_cli_lists_and_clears_locks_with_confirmation(settings, capsys, monkeypatch):
    _plant(settings, host="lfb-scheduler-gone", expires_in=-30)
    assert main(["locks"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "train" in out and "lfb-scheduler-gone" in out and "STALE" in out
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["locks", "clear", "train"]) == EXIT_USAGE  # no confirmation possible: refused, kept
    assert "--yes" in capsys.readouterr().err and holder(settings, "train") is not None
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda _prompt: "n")
    assert main(["locks", "clear", "train"]) == EXIT_OK
    assert holder(settings, "train") is not None
    monkeypatch.setattr("builtins.input", lambda _prompt: "y")
    assert main(["locks", "clear", "train"]) == EXIT_OK
    assert holder(settings, "train") is None
    assert main(["locks", "clear", "train", "--yes"]) == EXIT_OK
    assert "nothing to clear" in capsys.readouterr().out
