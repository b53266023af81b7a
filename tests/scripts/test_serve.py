"""scripts/serve.sh, the end of ./start.sh: the first admin (a generated password printed once), then the app running
on LFB_PORT."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import bcrypt
import pytest

from lfb.config import PROJECT_ROOT, get_settings
from lfb.service import users
from tests.browser.conftest import free_port, stop_app

SERVE = PROJECT_ROOT / "scripts" / "serve.sh"


def _serve(data_dir: Path, port: int, log: Path) -> str:
    """Run scripts/serve.sh until the app answers on `port`, stop it, and return what it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LFB_")}
    env.update(LFB_DATA_DIR=str(data_dir), LFB_PORT=str(port), PYTHONPATH=str(PROJECT_ROOT),
               PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin")
    with log.open("w") as out:
        process = subprocess.Popen(["bash", str(SERVE)], cwd="/", env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as answer:
                    if answer.read() == b"ok":
                        break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail(f"the app did not start:\n{log.read_text()[-3000:]}")
    finally:
        stop_app(process)
    return log.read_text()


def test_serve_creates_the_admin_prints_its_password_once_and_runs_the_app(tmp_path):
    port = free_port()
    first = _serve(tmp_path / "data", port, tmp_path / "first.log")
    passwords = re.findall(r"password: (\S+)", first)
    assert len(passwords) == 1, first
    stored = users.read_credentials(get_settings().relocated(tmp_path / "data"))["usernames"]["admin"]["password"]
    assert bcrypt.checkpw(passwords[0].encode(), stored.encode())
    assert f"The app starts on http://localhost:{port}" in first and "Traceback" not in first
    again = _serve(tmp_path / "data", port, tmp_path / "again.log")
    assert passwords[0] not in again and "password: " not in again
    assert "users of the app: 1 (admin: admin)" in again


def test_serve_refuses_a_bad_port_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LFB_")}
    env.update(LFB_DATA_DIR=str(tmp_path / "data"), LFB_PORT="eighty", PYTHONPATH=str(PROJECT_ROOT),
               PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin")
    done = subprocess.run(["bash", str(SERVE)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "LFB_PORT='eighty' is not a port number" in done.stderr and "Traceback" not in done.stderr
