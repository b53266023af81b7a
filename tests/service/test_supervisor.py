"""The supervisor of ./start.sh: starts its children, restarts one that dies (back-off, limit), stops all on
SIGTERM/SIGINT (terminate, wait, kill) with exit code 0, interrupts a set-up step, knows a busy port."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from lfb.config import PROJECT_ROOT, ConfigError, get_settings
from lfb.service.supervisor import Child, Supervisor, port_in_use, python_command

PY = sys.executable


def sleeper(pid_file: Path, *, ignore_term: bool = False) -> list[str]:
    """Return a command that writes its process id to `pid_file`, then sleeps; on SIGTERM it writes 'SIGTERM' to
    `pid_file` + '.stop' and ends (or ignores SIGTERM if asked)."""
    code = textwrap.dedent(f"""
        import os, signal, sys, time
        def stop(signum, frame):
            open({str(pid_file) + ".stop"!r}, "w").write(signal.Signals(signum).name)
            sys.exit(0)
        signal.signal(signal.SIGTERM, signal.SIG_IGN if {ignore_term!r} else stop)
        open({str(pid_file)!r}, "w").write(str(os.getpid()))
        print("child up", flush=True)
        time.sleep(600)
    """)
    return [PY, "-c", code]


def dies(count_file: Path, *, times: int, code: int = 3) -> list[str]:
    """Return a command that appends a line to `count_file` and exits with `code` its first `times` runs, then
    sleeps (times < 0: always exits)."""
    script = textwrap.dedent(f"""
        import sys, time
        path = {str(count_file)!r}
        with open(path, "a") as fh:
            fh.write("run\\n")
        runs = sum(1 for _ in open(path))
        if {times} < 0 or runs <= {times}:
            sys.exit({code})
        time.sleep(600)
    """)
    return [PY, "-c", script]


def wait_for(predicate, timeout: float = 30.0) -> None:
    """Wait until `predicate()` is true (fail after `timeout` s)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting")
        time.sleep(0.05)


def gone(pid: int) -> bool:
    """Return True when no process `pid` exists (a zombie still counts as there)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def read_pid(path: Path) -> int:
    """Return the process id a sleeper wrote."""
    wait_for(lambda: path.exists() and path.read_text().strip() != "")
    return int(path.read_text())


SUPERVISE = textwrap.dedent("""
    import sys
    from lfb.service.supervisor import Child, Supervisor
    a, b, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    import json
    children = [Child("app", json.loads(a)), Child("sidecar", json.loads(b))]
    supervisor = Supervisor(children, stop_timeout_s=timeout, backoff_s=0.05)
    supervisor.install_signal_handlers()
    sys.exit(supervisor.run())
""")


def run_supervisor(tmp_path: Path, app: list[str], sidecar: list[str], timeout: float = 10.0):
    """Start a supervisor of two stand-in children in its own process; return it and its output file."""
    import json

    log = tmp_path / "supervisor.log"
    with log.open("w") as out:
        process = subprocess.Popen([PY, "-c", SUPERVISE, json.dumps(app), json.dumps(sidecar), str(timeout)],
                                   cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT,
                                   env=dict(os.environ, PYTHONPATH=str(PROJECT_ROOT)))
    return process, log


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_both_children_start_and_a_signal_stops_both_with_exit_code_0(tmp_path, sig):
    process, log = run_supervisor(tmp_path, sleeper(tmp_path / "app.pid"), sleeper(tmp_path / "sidecar.pid"))
    try:
        app, sidecar = read_pid(tmp_path / "app.pid"), read_pid(tmp_path / "sidecar.pid")
        assert not gone(app) and not gone(sidecar)
        process.send_signal(sig)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
    assert gone(app) and gone(sidecar)
    for name in ("app", "sidecar"):  # asked to end (SIGTERM), not killed, whichever signal stopped the supervisor
        assert (tmp_path / f"{name}.pid.stop").read_text() == "SIGTERM"
    out = log.read_text()
    assert "killing it" not in out
    assert "started the app" in out and "started the sidecar" in out
    assert f"stopping ({sig.name}): app, sidecar" in out and out.rstrip().endswith("[supervisor] stopped")
    assert "Traceback" not in out


def test_a_child_that_ignores_sigterm_is_killed_after_the_timeout(tmp_path):
    process, log = run_supervisor(tmp_path, sleeper(tmp_path / "app.pid"),
                                  sleeper(tmp_path / "sidecar.pid", ignore_term=True), timeout=1.0)
    try:
        stubborn = read_pid(tmp_path / "sidecar.pid")
        wait_for(lambda: log.read_text().splitlines().count("child up") == 2)  # handlers in place
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
    assert gone(stubborn) and not (tmp_path / "sidecar.pid.stop").exists()
    assert (tmp_path / "app.pid.stop").read_text() == "SIGTERM"
    assert "sidecar: it did not stop within 1 s: killing it" in log.read_text()
    assert "app: it did not stop" not in log.read_text()


def stop_when(supervisor: Supervisor, predicate, timeout: float = 30.0) -> threading.Thread:
    """Ask `supervisor` to stop (from another thread) once `predicate()` holds, or after `timeout` s anyway."""
    def watch() -> None:
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            time.sleep(0.05)
        supervisor.request_stop(signal.SIGTERM)
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_child_that_dies_is_restarted_after_a_back_off(tmp_path):
    runs = tmp_path / "runs"
    lines: list[str] = []
    child = Child("sidecar", dies(runs, times=2))
    supervisor = Supervisor([child], backoff_s=0.05, restart_limit=5, log=lines.append)
    stop_when(supervisor, lambda: runs.exists() and runs.read_text().count("run") >= 3 and child.process is not None)
    assert supervisor.run() == 0
    assert runs.read_text().count("run") == 3  # died twice, restarted twice, then stayed up until the stop
    restarts = [line for line in lines if "stopped unexpectedly" in line]
    assert len(restarts) == 2
    assert "the sidecar stopped unexpectedly (exit code 3" in restarts[0]
    assert "restarting it in 0.05 s (restart 1 of at most 5 in a row)" in restarts[0]
    assert "restarting it in 0.1 s (restart 2 of at most 5 in a row)" in restarts[1]  # the back-off doubles
    assert lines[-1] == "stopped"


def test_it_gives_up_after_the_restart_limit_and_stops_the_others(tmp_path):
    lines: list[str] = []
    healthy = Child("app", sleeper(tmp_path / "app.pid"))
    broken = Child("sidecar", dies(tmp_path / "runs", times=-1, code=2))
    supervisor = Supervisor([healthy, broken], backoff_s=0.01, restart_limit=2, log=lines.append)
    stop_when(supervisor, lambda: False, timeout=60)  # a safety net only: it must end by itself well before
    assert supervisor.run() == 1
    assert (tmp_path / "runs").read_text().count("run") == 3
    assert gone(read_pid(tmp_path / "app.pid"))
    assert any(line.startswith("error: the sidecar stopped 3 times in a row (last: exit code 2")
               and "giving up after 2 restarts: stopping everything" in line for line in lines), lines


def test_a_command_that_cannot_start_counts_as_a_death(tmp_path):
    lines: list[str] = []
    supervisor = Supervisor([Child("sidecar", [str(tmp_path / "no-such-program")])], backoff_s=0.01,
                            restart_limit=1, log=lines.append)
    stop_when(supervisor, lambda: False, timeout=60)
    assert supervisor.run() == 1
    assert any("could not start the sidecar" in line and "No such file" in line for line in lines), lines
    assert any("giving up after 1 restarts" in line for line in lines), lines


def test_a_child_that_ran_long_enough_starts_its_count_afresh(tmp_path):
    lines: list[str] = []
    runs = tmp_path / "runs"
    child = Child("sidecar", dies(runs, times=-1))
    # every run counts as 'stable' (stable_s = 0): the limit of 1 restart in a row is never reached
    supervisor = Supervisor([child], backoff_s=0.01, restart_limit=1, stable_s=0.0, log=lines.append)
    stop_when(supervisor, lambda: runs.exists() and runs.read_text().count("run") >= 4)
    assert supervisor.run() == 0
    assert not any("giving up" in line for line in lines)
    assert all("restart 1 of at most 1 in a row" in line for line in lines if "stopped unexpectedly" in line)


def test_a_stop_during_a_set_up_step_interrupts_it(tmp_path):
    lines: list[str] = []
    supervisor = Supervisor([], stop_timeout_s=5, log=lines.append)
    pid_file = tmp_path / "step.pid"
    stop_when(supervisor, lambda: pid_file.exists() and pid_file.read_text() != "")
    assert supervisor.run_step("setup", sleeper(pid_file)) is None
    assert gone(int(pid_file.read_text()))
    assert "stopping: setup interrupted (SIGTERM)" in lines
    assert supervisor.run_step("users init", [PY, "-c", "pass"]) is None  # nothing more starts after a stop


def test_a_set_up_step_gives_its_exit_code():
    supervisor = Supervisor([], log=lambda _m: None)
    assert supervisor.run_step("ok", [PY, "-c", "pass"]) == 0
    assert supervisor.run_step("fails", [PY, "-c", "raise SystemExit(4)"]) == 4


def test_a_busy_port_is_seen():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert port_in_use(port)
    assert not port_in_use(port)


def test_python_in_a_command_is_this_interpreter():
    assert python_command(["python", "scheduler.py"]) == [sys.executable, "scheduler.py"]
    assert python_command(["/usr/bin/env", "x"]) == ["/usr/bin/env", "x"]


@pytest.mark.parametrize(("name", "value", "message"), [
    ("LFB_SIDECAR_CMD", "python 'scheduler.py", ("LFB_SIDECAR_CMD must be a command line such as 'python "
                                                 "scheduler.py': No closing quotation in \"python 'scheduler.py\"")),
    ("LFB_RESTART_LIMIT", "-1", "LFB_RESTART_LIMIT must be at least 0, got '-1'"),
    ("LFB_RESTART_BACKOFF", "soon", "LFB_RESTART_BACKOFF must be a number, got 'soon'"),
    ("LFB_STOP_TIMEOUT", "0", "LFB_STOP_TIMEOUT must be more than 0, got '0'"),
])
def test_the_supervisor_settings_are_checked(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        get_settings()
    assert str(raised.value) == message


def test_the_supervisor_settings_are_read(monkeypatch):
    for name, value in (("LFB_SIDECAR_CMD", "python other.py --x"), ("LFB_RESTART_LIMIT", "0"),
                        ("LFB_RESTART_BACKOFF", "0.5"), ("LFB_STOP_TIMEOUT", "3")):
        monkeypatch.setenv(name, value)
    settings = get_settings()
    assert (settings.sidecar_cmd, settings.restart_limit, settings.restart_backoff_s, settings.stop_timeout_s) == (
        "python other.py --x", 0, 0.5, 3.0)
    for name in ("LFB_SIDECAR_CMD", "LFB_RESTART_LIMIT", "LFB_RESTART_BACKOFF", "LFB_STOP_TIMEOUT"):
        monkeypatch.delenv(name)
    settings = get_settings()
    assert (settings.sidecar_cmd, settings.restart_limit, settings.restart_backoff_s, settings.stop_timeout_s) == (
        "python scheduler.py", 5, 1.0, 10.0)
