"""Fixtures of the fault suite: small prepared states (built once per session, copied for every trial), the number
of trials (LFB_FAULT_TRIALS) and the report file; the per-scenario summaries are printed at the end of the run."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from lfb.config import get_settings
from tests.builders import FAST_MODEL, big_mobilisation_file
from tests.faults import harness

BIG_FILE_ROWS = 50_000  # a mobilisation file that takes a couple of seconds to ingest on one core


@pytest.fixture(scope="session")
def fault_trials() -> int:
    """The number of trials of each scenario (LFB_FAULT_TRIALS, default 20)."""
    return get_settings().fault_trials


@pytest.fixture(scope="session")
def fault_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The file the scenarios' one-line summaries are appended to (LFB_FAULT_REPORT, or in pytest's tmp folder)."""
    text = os.environ.get("LFB_FAULT_REPORT", "").strip()
    return Path(text) if text else tmp_path_factory.getbasetemp() / "faults-report.jsonl"


@pytest.fixture(scope="session")
def one_champion(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A state with 10 months of small demo data and one trained champion (trained to 2024-08); return (root, it)."""
    from lfb.model.estimator import ModelSettings
    from lfb.model.training import train
    from lfb.service import jobs

    root = tmp_path_factory.mktemp("one-champion")
    settings = harness.state_settings(root)
    db = jobs.open_store(settings)
    jobs.load_demo(db, settings, start="2024-01", months=10, incidents_per_year=3000, log=lambda _m: None)
    shutil.rmtree(settings.data_dir / "demo")  # the generated files are ingested: trials need not copy them
    result = train(db, settings, until="2024-08", test_months=2, model_settings=ModelSettings(**FAST_MODEL),
                   log=lambda _m: None)
    db.close()
    return root, result.version


@pytest.fixture(scope="session")
def two_champions(one_champion: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """The one-champion state with a second version trained on all months and put into service; return (root,
    first, second): `models rollback` and `models promote FIRST` both put the first back."""
    from lfb.model.estimator import ModelSettings
    from lfb.model.registry import champion, set_champion
    from lfb.model.training import train
    from lfb.service import jobs

    base, first = one_champion
    root = harness.copy_state(base, tmp_path_factory.getbasetemp() / "two-champions")
    settings = harness.state_settings(root)
    db = jobs.open_store(settings)
    result = train(db, settings, test_months=2, model_settings=ModelSettings(**FAST_MODEL), log=lambda _m: None)
    if champion(db) != result.version:
        set_champion(db, settings.models_dir, result.version, who="fault suite", action="manual promote",
                     reason="the state the promotion and rollback trials start from")
    db.close()
    return root, first, result.version


@pytest.fixture(scope="session")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A large mobilisation file (BIG_FILE_ROWS new records)."""
    return big_mobilisation_file(tmp_path_factory.mktemp("big") / "big.csv", BIG_FILE_ROWS)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print one line per fault scenario run: trials, how many the kill interrupted, invariant failures."""
    if not harness.REPORT:
        return
    terminalreporter.section("fault suite (SIGKILL trials)")
    for line in harness.REPORT:
        terminalreporter.write_line(
            f"{line['scenario']:<22} trials {line['trials']:>3}  interrupted {line['interrupted']:>3}  "
            f"invariant failures {line['invariant_failures']}  runs {line['clean_run_s']:.1f} s (median {line['median_run_s']:.1f} s)  "
            f"wall {line['wall_s']:.0f} s  seed {line['seed']}  stages {line['stages']}")
