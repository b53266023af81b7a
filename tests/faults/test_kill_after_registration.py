"""A training killed with SIGKILL the instant its version is registered leaves no version half-way between
registered and promoted: a version the promotion rule promoted is the champion as soon as it is registered (one
transaction), so no registered version reads 'promoted' while another one serves. The random kills of the training
scenario land in that window rarely; this kill lands in it every time."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lfb.config import PROJECT_ROOT
from tests.faults import harness

# `python -m lfb train`, killed with SIGKILL by itself the moment register() returns
KILLED_AFTER_REGISTER = """
import os, signal, sys
import lfb.model.registry as registry, lfb.model.training as training
from lfb.cli import main

original = registry.register

def register_then_die(*args, **kwargs):
    original(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)

training.register = register_then_die
sys.exit(main(["--no-progress", "train", "--test-months", "2"]))
"""


def test_a_training_killed_right_after_registering_leaves_no_half_promoted_version(one_champion,
                                                                                  tmp_path: Path) -> None:
    base, first = one_champion
    root = harness.copy_state(base, tmp_path / "state")
    settings = harness.state_settings(root)
    killed = subprocess.run([sys.executable, "-c", KILLED_AFTER_REGISTER], check=False, env=harness.env_for(root),
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stdout + killed.stderr
    [new] = [v for v in harness.registered(settings) if v != first]
    assert harness.decision_promotes(settings, new)  # the rule promotes any candidate no worse (harness.FAST_ENV)
    assert harness.champions(settings) == [new]
    assert harness.registry_problems(settings, {new}, tidied=False) == []
    harness.next_start(settings)
    assert harness.registry_problems(settings, {new}, tidied=True) == [] and harness.lock_problems(settings) == []
