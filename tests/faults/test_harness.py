"""The fault suite's checks can fail: each finds the damage it is there to find (a half-version, a stray folder, an
unexpected champion, a lock held by a live process, an ingest left running, a damaged database), and finds nothing
on an intact state."""
from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from lfb.service.locks import job_lock
from tests.faults import harness


def test_the_checks_pass_on_an_intact_state(one_champion, tmp_path: Path) -> None:
    base, first = one_champion
    settings = harness.state_settings(harness.copy_state(base, tmp_path / "state"))
    assert harness.integrity_problems(settings) == []
    assert harness.registry_problems(settings, {first}, tidied=True) == []
    assert harness.lock_problems(settings) == []
    assert harness.interrupted_ingest_problems(settings, []) == []


def test_the_registry_check_finds_a_half_version_a_stray_folder_and_an_unexpected_champion(one_champion,
                                                                                          tmp_path: Path) -> None:
    base, first = one_champion
    settings = harness.state_settings(harness.copy_state(base, tmp_path / "state"))
    assert harness.registry_problems(settings, {"v20990101-000000"}, tidied=False) == [
        f"the champion is {first}, not one of ['v20990101-000000']"]
    (settings.models_dir / ".incoming-v20990101-000000").mkdir()
    assert harness.registry_problems(settings, {first}, tidied=False) == []  # before the tidy: allowed
    [stray] = harness.registry_problems(settings, {first}, tidied=True)
    assert stray.startswith("models/ holds ['.incoming-v20990101-000000', ") and "after the next start's tidy" in stray
    shutil.rmtree(settings.models_dir / ".incoming-v20990101-000000")
    next(p for p in (settings.models_dir / first).iterdir() if p.suffix == ".cbm").write_bytes(b"half")
    problems = harness.registry_problems(settings, {first}, tidied=True)
    assert any(p.startswith(f"half-version: {first} is registered but file ") for p in problems), problems
    assert any(p.startswith("no model serves") for p in problems), problems


def test_the_lock_check_finds_a_lock_still_held(one_champion, tmp_path: Path) -> None:
    base, _ = one_champion
    settings = harness.state_settings(harness.copy_state(base, tmp_path / "state"))
    with job_lock(settings, "train", owner="a training that runs on"):
        problems = harness.lock_problems(settings)
    assert len(problems) == 2 and "the train lock is still recorded for process" in problems[0] \
        and "(alive, owner a training that runs on)" in problems[0]
    assert problems[1].startswith("a new train job cannot start: a train job is already running")
    assert harness.lock_problems(settings) == []


def test_the_ingest_and_integrity_checks_find_what_a_kill_could_leave(one_champion, tmp_path: Path) -> None:
    base, _ = one_champion
    settings = harness.state_settings(harness.copy_state(base, tmp_path / "state"))
    conn = sqlite3.connect(settings.db_path)
    ingest_id = conn.execute("INSERT INTO ingests (file_name, sha256, kind, started, status) "
                             "VALUES ('big.csv', 'x', 'mobilisations', '2026-01-01', 'running')").lastrowid
    conn.commit()
    conn.close()
    assert harness.interrupted_ingest_problems(settings, [ingest_id]) == [
        f"ingests [{ingest_id}] are still 'running' after the next start",
        f"the killed ingest #{ingest_id} is ('running', None), not marked failed as interrupted"]
    harness.next_start(settings)
    assert harness.interrupted_ingest_problems(settings, [ingest_id]) == []
    conn = sqlite3.connect(settings.db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    with settings.db_path.open("r+b") as fh:  # overwrite the second half of the file's pages
        fh.seek(4096 * (pages // 2))
        fh.write(b"\x13" * 4096 * (pages - pages // 2))
    [problem] = harness.integrity_problems(settings)
    assert problem.startswith("integrity_check of lfb.db: ")
