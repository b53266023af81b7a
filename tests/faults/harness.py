"""The fault suite's harness: private copies of a small trained state, real processes killed with SIGKILL at random
moments, and the invariants every trial checks afterwards (each check returns the problems it found, never asserts
something that cannot fail)."""
from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lfb.config import PROJECT_ROOT, Settings, get_settings

# What every subprocess of the suite runs with: one thread, a fast model, the London Datastore unreachable at once,
# and a promotion rule that puts into service any candidate no worse than the champion (so that a training's kill
# window holds the promotion too, not only the registration).
FAST_ENV = {"LFB_MODEL_THREADS": "1", "LFB_SIDECAR_THREADS": "1", "LFB_MODEL_LEARNING_RATE": "0.3",
            "LFB_MODEL_MAX_ITERATIONS": "30", "LFB_DATASTORE_URL": "http://127.0.0.1:9", "LFB_HTTP_RETRIES": "0",
            "LFB_POLL_S": "0.2", "LFB_PROMOTE_MARGIN": "0", "LFB_COVERAGE_TOLERANCE": "1"}
LOCK_NAMES = ("ingest", "train", "sidecar")
REPORT: list[dict[str, Any]] = []  # one summary per scenario run in this session (printed at the end)
MAX_FAILED_TRIALS = 3  # a scenario stops after this many failing trials: the first ones say enough


def state_settings(root: Path) -> Settings:
    """Return settings whose every state path is under `root` (data/ and models/), offline, one thread."""
    return dataclasses.replace(get_settings().relocated(root / "data", root / "models"),
                               datastore_url="http://127.0.0.1:9", http_retries=0, model_threads=1,
                               sidecar_threads=1, poll_s=0.2, promote_margin=0.0, coverage_tolerance=1.0)


def env_for(root: Path, **extra: str) -> dict[str, str]:
    """Return the environment of a process working on the state under `root` (no inherited LFB_* setting)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LFB_")}
    env.update(FAST_ENV, LFB_DATA_DIR=str(root / "data"), LFB_MODELS_DIR=str(root / "models"),
               PYTHONPATH=str(PROJECT_ROOT), **extra)
    return env


def lfb(*args: str) -> list[str]:
    """Return the command line of `python -m lfb ARGS`."""
    return [sys.executable, "-m", "lfb", "--no-progress", *args]


def sidecar_command() -> list[str]:
    """Return the command line of the scheduler sidecar, as ./start.sh runs it."""
    return [sys.executable, str(PROJECT_ROOT / "scheduler.py")]


def copy_state(base: Path, root: Path) -> Path:
    """Copy a prepared state (data/ and models/) to `root` and return it."""
    shutil.copytree(base, root)
    return root


def start(command: list[str], root: Path, log_name: str) -> subprocess.Popen:
    """Start a process on the state under `root` in its own process group, its output in root/log_name."""
    with (root / log_name).open("w") as out:
        return subprocess.Popen(command, env=env_for(root), cwd=PROJECT_ROOT, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def run_to_end(command: list[str], root: Path, log_name: str, timeout: float = 300) -> tuple[int, float, str]:
    """Run a process on the state under `root` to its end; return its exit code, seconds and output."""
    started = time.perf_counter()
    proc = start(command, root, log_name)
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        code = -999
    return code, time.perf_counter() - started, (root / log_name).read_text(errors="replace")


@dataclass(frozen=True)
class Kill:
    """A SIGKILL sent `delay` seconds after a process started; `interrupted` if it was still running then."""

    delay: float
    interrupted: bool
    returncode: int


def kill_after(proc: subprocess.Popen, started: float, delay: float) -> Kill:
    """SIGKILL the process's whole group `delay` seconds after `started` (perf_counter), unless it ended before."""
    while time.perf_counter() < started + delay and proc.poll() is None:
        time.sleep(min(0.01, max(started + delay - time.perf_counter(), 0)))
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    code = proc.wait(timeout=60)
    return Kill(delay, code == -signal.SIGKILL, code)


@dataclass
class Scenario:
    """One fault scenario's trials: the seeded draws of kill moments, what each trial hit, every problem found."""

    name: str
    trials: int
    seed: int
    rng: random.Random = field(init=False)
    durations: list[float] = field(default_factory=list)
    interrupted: int = 0
    stages: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    failed_trials: int = 0
    done: int = 0
    started: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        """Seed the scenario's own random draws."""
        self.rng = random.Random(self.seed)

    def draw(self, low: float, high: float) -> float:
        """Return a kill moment drawn uniformly in [low, high] seconds."""
        return self.rng.uniform(low, high)

    def observe(self, seconds: float) -> None:
        """Note how long one whole run of the operation took (the clean run, then every rerun)."""
        self.durations.append(seconds)

    @property
    def duration(self) -> float:
        """The operation's measured duration: the median of the whole runs seen (robust to a busy machine)."""
        return statistics.median(self.durations)

    def moment(self, index: int, tail: float = 0.0) -> float:
        """Return a kill moment inside the measured duration: anywhere for even trials, in its last `1 - tail`
        share for odd ones (where the operation commits its work)."""
        return self.draw(0.0 if index % 2 == 0 else tail * self.duration, self.duration)

    def record(self, index: int, kill: Kill, stage: str, problems: list[str], root: Path) -> None:
        """Record one trial: whether the kill interrupted the work, the stage it hit, and its problems."""
        self.done += 1
        self.interrupted += kill.interrupted
        self.stages[stage] += 1
        if problems:
            self.failed_trials += 1
            self.failures += [f"{self.name} trial {index} (seed {self.seed}, kill at {kill.delay:.3f} s, stage "
                              f"{stage}, state kept in {root}): {p}" for p in problems]
        else:
            shutil.rmtree(root, ignore_errors=True)

    def stop_early(self) -> bool:
        """Return True once enough trials failed to say what is wrong."""
        return self.failed_trials >= MAX_FAILED_TRIALS

    def summary(self) -> dict[str, Any]:
        """Return the scenario's one-line summary."""
        return {"scenario": self.name, "trials": self.done, "interrupted": self.interrupted,
                "finished_before_kill": self.done - self.interrupted, "stages": dict(sorted(self.stages.items())),
                "invariant_failures": len(self.failures), "seed": self.seed, "clean_run_s": round(self.durations[0], 2) if self.durations else None,
                "median_run_s": round(self.duration, 2) if self.durations else None,
                "wall_s": round(time.perf_counter() - self.started, 1)}

    def finish(self, report: Path) -> None:
        """Write the summary line to the report file and the session's report, then fail on any problem."""
        line = self.summary()
        REPORT.append(line)
        with report.open("a") as fh:
            fh.write(json.dumps(line) + "\n")
        print(json.dumps(line))
        assert self.done == self.trials or self.stop_early(), f"{self.name}: {self.done} of {self.trials} trials ran"
        assert not self.failures, "\n".join(self.failures)


def new_scenario(name: str, trials: int) -> Scenario:
    """Return a scenario seeded from LFB_FAULT_SEED (to replay a run) or at random (the seed is reported)."""
    text = os.environ.get("LFB_FAULT_SEED", "").strip()
    seed = int(text) if text else random.SystemRandom().randrange(2**31)
    return Scenario(name, trials, seed)


def run_trials(scenario: Scenario, trial: Callable[[int], None]) -> None:
    """Run the scenario's trials (stopping early after a few failing ones)."""
    for index in range(scenario.trials):
        if scenario.stop_early():
            break
        trial(index)


# ---- what a trial looks at ----

@contextmanager
def store(settings: Settings) -> Iterator[sqlite3.Connection]:
    """Open the records store read-only-ish with plain sqlite3 (no migration, no write)."""
    conn = sqlite3.connect(settings.db_path, timeout=30)
    try:
        yield conn
    finally:
        conn.close()


def integrity_problems(settings: Settings) -> list[str]:
    """Return the databases whose PRAGMA integrity_check is not ok."""
    problems = []
    for path in (settings.db_path, settings.service_db_path):
        if not path.exists():
            problems.append(f"{path.name} is missing")
            continue
        conn = sqlite3.connect(path, timeout=30)
        try:
            result = conn.execute("PRAGMA integrity_check").fetchall()
        except sqlite3.DatabaseError as exc:
            result = [(str(exc),)]
        finally:
            conn.close()
        if result != [("ok",)]:
            problems.append(f"integrity_check of {path.name}: {result[:3]}")
    return problems


def counts(settings: Settings) -> dict[str, int]:
    """Return the row counts that a file's ingest changes."""
    with store(settings) as conn:
        return {name: conn.execute(sql).fetchone()[0] for name, sql in (
            ("incidents", "SELECT COUNT(*) FROM incidents"), ("mobilisations", "SELECT COUNT(*) FROM mobilisations"),
            ("rejects", "SELECT COUNT(*) FROM rejects"),
            ("ingests_ok", "SELECT COUNT(*) FROM ingests WHERE status = 'ok'"))}


def running_ingests(settings: Settings) -> list[int]:
    """Return the ids of ingests recorded as running."""
    with store(settings) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM ingests WHERE status = 'running'")]


def registered(settings: Settings) -> list[str]:
    """Return the registered versions."""
    with store(settings) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM model_versions ORDER BY version")]


def champions(settings: Settings) -> list[str]:
    """Return what the champion alias points at (one row when all is well)."""
    with store(settings) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM aliases WHERE name = 'champion'")]


def promotions(settings: Settings) -> list[tuple[str, str]]:
    """Return the promotions log as (action, to_version), oldest first."""
    with store(settings) as conn:
        return [(r[0], r[1]) for r in conn.execute("SELECT action, to_version FROM promotions ORDER BY id")]


def decision_promotes(settings: Settings, version: str) -> bool:
    """Return True if the promotion rule said, at training, to put this version into service."""
    with store(settings) as conn:
        row = conn.execute("SELECT decision_json FROM model_versions WHERE version = ?", [version]).fetchone()
    return bool(row and json.loads(row[0] or "{}").get("promote"))


def registry_problems(settings: Settings, allowed_champions: set[str], *, tidied: bool) -> list[str]:
    """Return what is wrong with the registry: not exactly one champion (one of `allowed_champions`), a registered
    version whose files are incomplete (a half-version), a version the rule promoted that never became champion, a
    champion that does not serve, a promotions log that disagrees with the alias, and (once tidied) a scratch or unregistered version folder left in models/."""
    from lfb.data.store import connect
    from lfb.model.registry import ORPHANS, RegistryError, load_serving, version_problem

    problems = []
    found = champions(settings)
    if len(found) != 1:
        problems.append(f"{len(found)} champions: {found}")
    elif found[0] not in allowed_champions:
        problems.append(f"the champion is {found[0]}, not one of {sorted(allowed_champions)}")
    versions = registered(settings)
    if found and found[0] not in versions:
        problems.append(f"the champion {found[0]} is not a registered version")
    log = promotions(settings)
    if found and (not log or log[-1][1] != found[0]):
        problems.append(f"the promotions log ends with {log[-1:]} but the champion is {found[0]}")
    champions_ever = {to_version for _, to_version in log}
    for version in versions:
        if decision_promotes(settings, version) and version not in champions_ever:
            problems.append(f"half-promoted: the rule promoted {version} at training, but it never became champion")
    db = connect(settings.db_path, migrate_now=False)
    try:
        for version in versions:
            if problem := version_problem(db, settings.models_dir, version):
                problems.append(f"half-version: {version} is registered but {problem}")
        try:
            serving = load_serving(db, settings.models_dir)
            if found and (serving.version != found[0] or serving.warning):
                problems.append(f"{serving.version} serves instead of the champion ({serving.warning})")
        except RegistryError as exc:
            problems.append(f"no model serves: {exc}")
    finally:
        db.close()
    if tidied:
        folders = sorted(p.name for p in settings.models_dir.iterdir() if p.name != ORPHANS)
        if folders != sorted(versions):
            problems.append(f"models/ holds {folders}, the registry {versions} (a scratch or unregistered folder "
                            "is left after the next start's tidy)")
    return problems


def lock_problems(settings: Settings) -> list[str]:
    """Return the locks still recorded, and those a new job cannot take (held by a live process)."""
    from lfb.service.locks import JobBusy, holder, job_lock

    problems = []
    for name in LOCK_NAMES:
        left = holder(settings, name)
        if left is not None:
            alive = _alive(left.pid)
            problems.append(f"the {name} lock is still recorded for process {left.pid} "
                            f"({'alive' if alive else 'dead'}, owner {left.owner})")
        try:
            with job_lock(settings, name, owner="fault suite"):
                pass
        except JobBusy as exc:
            problems.append(f"a new {name} job cannot start: {exc}")
    return problems


def _alive(pid: int) -> bool:
    """Return True if a process with this id runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def next_start(settings: Settings) -> list[str]:
    """Run what the next start runs (the sidecar's: tidy what a killed training left, close killed ingests)."""
    from lfb.service.jobs import close_interrupted_ingests, setup

    lines: list[str] = []
    db = setup(settings, demo_if_empty=False, train_if_missing=False, log=lines.append)
    try:
        close_interrupted_ingests(db, settings, log=lines.append, owner="next start")
    finally:
        db.close()
    return lines


def interrupted_ingest_problems(settings: Settings, ids: list[int]) -> list[str]:
    """Return the ingests left running by the killed process that the next start did not mark failed."""
    from lfb.data.ingest import INTERRUPTED

    problems = []
    if left := running_ingests(settings):
        problems.append(f"ingests {left} are still 'running' after the next start")
    with store(settings) as conn:
        for ingest_id in ids:
            row = conn.execute("SELECT status, message FROM ingests WHERE id = ?", [ingest_id]).fetchone()
            if row != ("failed", INTERRUPTED):
                problems.append(f"the killed ingest #{ingest_id} is {row}, not marked failed as interrupted")
    return problems
