"""scripts/install.sh, the install step of ./start.sh, ./test.sh (through scripts/bootstrap.sh) and the Docker image:
it installs the requirements once, and again only when they changed."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lfb.config import PROJECT_ROOT

INSTALL = PROJECT_ROOT / "scripts" / "install.sh"


def fake_venv(root: Path) -> tuple[Path, Path]:
    """Make a virtualenv whose python logs every call, answers `-m pip` without installing anything, and runs the
    real interpreter otherwise; return the virtualenv and the call log."""
    calls = root / "calls.log"
    bin_dir = root / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    python.write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\n'
                      f'if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then echo "pip: $*"; exit 0; fi\n'
                      f'exec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    return root / "venv", calls


def run_install(venv: Path, reqs: str = "requirements.txt") -> subprocess.CompletedProcess:
    """Run scripts/install.sh VENV REQS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LFB_")}
    return subprocess.run(["bash", str(INSTALL), str(venv), reqs], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def pip_calls(calls: Path) -> list[str]:
    """Return the pip commands the fake python was asked to run."""
    return [line for line in calls.read_text().splitlines() if line.startswith("-m pip")] if calls.exists() else []


def test_it_installs_once_and_not_again_while_the_requirements_are_unchanged(tmp_path):
    venv, calls = fake_venv(tmp_path)
    first = run_install(venv)
    assert first.returncode == 0, first.stderr
    wanted = f"-m pip install --disable-pip-version-check --no-input -r {PROJECT_ROOT / 'requirements.txt'}"
    assert pip_calls(calls) == [wanted]
    assert "installing requirements.txt into" in first.stdout
    assert "requirements (requirements.txt) installed" in first.stdout
    assert (venv / ".installed-requirements.txt").is_file()
    second = run_install(venv)
    assert second.returncode == 0, second.stderr
    assert len(pip_calls(calls)) == 1  # nothing re-installed
    assert second.stdout.strip() == f"requirements (requirements.txt) already installed in {venv}"


def test_it_installs_again_when_the_requirements_changed(tmp_path):
    venv, calls = fake_venv(tmp_path)
    assert run_install(venv).returncode == 0
    (venv / ".installed-requirements.txt").write_text("checksum of older requirements\n")
    again = run_install(venv)
    assert again.returncode == 0 and len(pip_calls(calls)) == 2
    assert "installing requirements.txt into" in again.stdout


def test_the_test_requirements_have_their_own_stamp(tmp_path):
    venv, calls = fake_venv(tmp_path)
    assert run_install(venv).returncode == 0
    assert run_install(venv, "requirements-dev.txt").returncode == 0
    assert pip_calls(calls)[-1].endswith(str(PROJECT_ROOT / "requirements-dev.txt"))
    assert run_install(venv, "requirements-dev.txt").returncode == 0 and len(pip_calls(calls)) == 2


def test_a_failed_install_leaves_no_stamp_and_says_so(tmp_path):
    venv, _calls = fake_venv(tmp_path)
    python = venv / "bin" / "python"
    failing = 'echo "ERROR: no such package" >&2; exit 1'
    python.write_text(python.read_text().replace('echo "pip: $*"; exit 0', failing))
    failed = run_install(venv)
    assert failed.returncode != 0 and "ERROR: no such package" in failed.stderr
    assert not (venv / ".installed-requirements.txt").exists()


def test_a_missing_requirements_file_is_one_line(tmp_path):
    venv, _calls = fake_venv(tmp_path)
    done = run_install(venv, "requirements-none.txt")
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: no requirements file {PROJECT_ROOT}/requirements-none.txt"


def test_bootstrap_installs_through_install_sh(tmp_path):
    venv, calls = fake_venv(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LFB_")}
    env["LFB_VENV"] = str(venv)
    script = f'source "{PROJECT_ROOT}/scripts/bootstrap.sh" requirements.txt && command -v python && pwd'
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120, cwd="/",
                          check=False)
    assert done.returncode == 0, done.stderr
    assert len(pip_calls(calls)) == 1
    lines = done.stdout.strip().splitlines()
    assert lines[-2:] == [str(venv / "bin" / "python"), str(PROJECT_ROOT)]  # on PATH, in the project
