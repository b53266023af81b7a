"""Fixtures of the hostile-input suite: a private copy of the trained store, the CLI run in-process, and the tally of
inputs tried per entry point (printed at the end of the run, for the README's figures)."""
from __future__ import annotations

import contextlib
import io
import shutil
import sqlite3
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from lfb.config import Settings, get_settings

TRIED: Counter[str] = Counter()  # entry point -> hostile inputs tried
TRACEBACKS: Counter[str] = Counter()  # entry point -> outputs that held a traceback (must stay 0)
LOST: Counter[str] = Counter()  # entry point -> rows lost (must stay 0)


def tally(entry: str, output: str = "", lost: int = 0) -> None:
    """Count one hostile input tried on `entry`, with any traceback in its output and rows it lost."""
    TRIED[entry] += 1
    TRACEBACKS[entry] += "Traceback (most recent call last)" in output
    LOST[entry] += max(lost, 0)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the hostile inputs tried per entry point, tracebacks and rows lost."""
    if not TRIED:
        return
    write = terminalreporter.write_line
    write("")
    write(f"{'hostile inputs per entry point':<34} {'tried':>6} {'tracebacks':>11} {'rows lost':>10}")
    for entry in sorted(TRIED):
        write(f"{entry:<34} {TRIED[entry]:>6} {TRACEBACKS[entry]:>11} {LOST[entry]:>10}")
    write(f"{'total':<34} {sum(TRIED.values()):>6} {sum(TRACEBACKS.values()):>11} {sum(LOST.values()):>10}")


@dataclass(frozen=True)
class Counts:
    """What must never shrink: stored rows, model versions and the champion."""

    incidents: int
    mobilisations: int
    versions: int
    champion: str | None

    def lost(self, after: Counts) -> int:
        """Return how many rows or versions `after` lacks compared with these counts."""
        return (max(self.incidents - after.incidents, 0) + max(self.mobilisations - after.mobilisations, 0)
                + max(self.versions - after.versions, 0))


def counts(settings: Settings) -> Counts:
    """Return the store's row counts, the registered versions and the champion."""
    with contextlib.closing(sqlite3.connect(settings.db_path)) as db:
        one = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731 - a local shorthand
        champion = db.execute("SELECT version FROM aliases WHERE name = 'champion'").fetchone()
        return Counts(one("SELECT COUNT(*) FROM incidents"), one("SELECT COUNT(*) FROM mobilisations"),
                      one("SELECT COUNT(*) FROM model_versions"), champion[0] if champion else None)


@pytest.fixture(scope="module")
def store(trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A private copy of the trained demo store and models, the environment pointing at it for the whole module."""
    source, _ = trained
    root = tmp_path_factory.mktemp("hostile")
    shutil.copytree(source.data_dir, root / "data")
    shutil.copytree(source.models_dir, root / "models")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LFB_DATA_DIR", str(root / "data"))
        mp.setenv("LFB_MODELS_DIR", str(root / "models"))
        mp.setenv("LFB_DATASTORE_URL", "http://127.0.0.1:9")
        mp.setenv("LFB_SHARED_DATA", str(root / "no-shared-data"))
        for name in ("LFB_DB", "LFB_SERVICE_DB", "LFB_CREDENTIALS"):
            mp.delenv(name, raising=False)
        yield get_settings()


@dataclass(frozen=True)
class Run:
    """What one CLI run returned and printed."""

    code: int
    out: str
    err: str


def run_cli(argv: list[str], stdin: str = "") -> Run:
    """Run `python -m lfb ARGV` in-process with `stdin`; return its exit code and output."""
    from lfb.cli import main

    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdin = old_stdin
    return Run(int(code), out.getvalue(), err.getvalue())
