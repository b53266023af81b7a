"""./start.sh: a start with everything in place re-does nothing (no install, no demo load, no training), runs the app
and the sidecar under the supervisor, says where to open the app and how to sign in, and stops both on Ctrl-C with
exit code 0; a busy LFB_PORT is one clear line before anything is done."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from lfb.config import PROJECT_ROOT
from tests.browser.conftest import free_port
from tests.scripts.test_install import fake_venv, pip_calls, run_install

START = PROJECT_ROOT / "start.sh"
SIDECAR = "python -c 'import os, sys, time; open(sys.argv[1], \"w\").write(str(os.getpid())); time.sleep(600)' {pid}"


def ready_folders(trained, tmp_path: Path) -> tuple[Path, Path]:
    """Copy the trained demo store and its models into a data folder and a models folder of the test."""
    settings, _result = trained
    data, models = tmp_path / "data", tmp_path / "models"
    data.mkdir()
    shutil.copytree(settings.models_dir, models)
    for suffix in ("", "-wal", "-shm"):
        source = settings.db_path.with_name(settings.db_path.name + suffix)
        if source.exists():
            shutil.copy(source, data / ("lfb.db" + suffix))
    return data, models


def start_env(tmp_path: Path, venv: Path, port: int, **more: str) -> dict[str, str]:
    """Return the environment of a ./start.sh run: no LFB_* of the caller, the test's folders, port and venv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LFB_")}
    env.update(LFB_VENV=str(venv), LFB_DATA_DIR=str(tmp_path / "data"), LFB_MODELS_DIR=str(tmp_path / "models"),
               LFB_PORT=str(port), PYTHON=sys.executable, PATH="/usr/bin:/bin", **more)
    return env


def answers(port: int) -> bool:
    """Return True when the app answers on its health URL."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as answer:
            return answer.read() == b"ok"
    except OSError:
        return False


def test_a_second_start_redoes_nothing_runs_both_and_stops_both_on_ctrl_c(trained, tmp_path):
    ready_folders(trained, tmp_path)
    venv, calls = fake_venv(tmp_path)
    assert run_install(venv).returncode == 0  # the first start's install
    port, sidecar_pid = free_port(), tmp_path / "sidecar.pid"
    log = tmp_path / "start.log"
    env = start_env(tmp_path, venv, port, LFB_SIDECAR_CMD=SIDECAR.format(pid=sidecar_pid))
    with log.open("w") as out:
        process = subprocess.Popen(["bash", str(START)], cwd="/", env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while not ("the app is ready" in log.read_text() and sidecar_pid.exists() and sidecar_pid.read_text()):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"./start.sh did not get the app ready:\n{log.read_text()[-4000:]}")
            time.sleep(0.2)
        assert answers(port)
        sidecar = int(sidecar_pid.read_text())
        process.send_signal(signal.SIGINT)  # Ctrl-C
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    out = log.read_text()
    assert len(pip_calls(calls)) == 1 and f"requirements (requirements.txt) already installed in {venv}" in out
    assert "loading the embedded DEMO dataset" not in out and "training" not in out  # data and model reused
    assert "model in service: v" in out
    assert "created the first admin account of the app:\n  username: admin\n  password: " in out
    assert (f"the app is ready: open http://localhost:{port} and sign in as admin (the password printed once at "
            "the first start") in out
    assert "started the sidecar: python -c" in out and "stopping (SIGINT): app, sidecar" in out
    assert out.rstrip().endswith("[supervisor] stopped") and "Traceback" not in out
    assert not answers(port)
    with pytest.raises(ProcessLookupError):
        os.kill(sidecar, 0)


def test_a_busy_port_is_said_in_one_line_before_anything_is_done(tmp_path):
    venv, _calls = fake_venv(tmp_path)
    assert run_install(venv).returncode == 0
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        done = subprocess.run(["bash", str(START)], cwd="/", env=start_env(tmp_path, venv, port),
                              capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert done.stderr.strip() == (f"error: port {port} is already in use (is the app already running, e.g. another "
                                   f"./start.sh?): stop what uses it, or start on another port, e.g. "
                                   f"LFB_PORT={port + 1} ./start.sh")
    assert not (tmp_path / "data" / "lfb.db").exists()  # nothing was set up


def test_a_missing_sidecar_script_leaves_the_app_running_alone_with_a_note(trained, tmp_path, monkeypatch):
    from lfb.config import get_settings
    from lfb.service.supervisor import serve

    data, models = ready_folders(trained, tmp_path)
    for name, value in (("LFB_DATA_DIR", data), ("LFB_MODELS_DIR", models), ("LFB_PORT", free_port()),
                        ("LFB_SIDECAR_CMD", "python no-such-sidecar.py")):
        monkeypatch.setenv(name, str(value))  # the set-up steps read the same settings
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        if line.startswith("starting the app"):
            os.kill(os.getpid(), signal.SIGTERM)  # stop as soon as the children would start

    previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        assert serve(get_settings(), setup=False, log=log) == 0
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])
    assert ("note: the scheduler sidecar is not in this checkout (no-such-sidecar.py is missing): the app runs alone, "
            "and requests to the sidecar wait") in lines
    assert any(line.startswith("starting the app on") and "sidecar" not in line for line in lines)
    assert (data / "credentials.yaml").exists()  # the first admin was made in the test's folder
