"""An ingest of a large file (`python -m lfb ingest FILE`) killed with SIGKILL at random moments loses nothing: the
store passes integrity_check, holds all of the file or none of it, the next start marks the killed ingest failed
and frees its lock, and ingesting the file again gives exactly a clean run's counts."""
from __future__ import annotations

import time
from pathlib import Path

from tests.faults import harness


def test_an_ingest_killed_at_random_moments_is_all_or_nothing(one_champion, big_file: Path, fault_trials: int,
                                                             fault_report: Path, tmp_path: Path) -> None:
    base, _ = one_champion
    scenario = harness.new_scenario("ingest", fault_trials)
    before = harness.counts(harness.state_settings(base))
    clean_root = harness.copy_state(base, tmp_path / "clean")
    code, seconds, output = harness.run_to_end(harness.lfb("ingest", str(big_file)), clean_root, "clean.log")
    assert code == 0, output
    scenario.observe(seconds)
    clean = harness.counts(harness.state_settings(clean_root))
    assert clean["mobilisations"] == before["mobilisations"] + 50_000 and clean != before

    def trial(index: int) -> None:
        """Kill one ingest at a random moment, check the invariants, ingest again."""
        root = harness.copy_state(base, tmp_path / f"trial-{index}")
        settings = harness.state_settings(root)
        delay = scenario.moment(index, tail=0.5)  # odd trials: in the second half, where the file is written
        started = time.perf_counter()
        kill = harness.kill_after(harness.start(harness.lfb("ingest", str(big_file)), root, "killed.log"), started,
                                  delay)
        problems = harness.integrity_problems(settings)
        left_running = harness.running_ingests(settings)
        after = harness.counts(settings)
        stage = ("finished" if not kill.interrupted else "writing the file" if left_running else
                 "committed, not yet exited" if after == clean else "start-up (nothing written)")
        if after not in (before, clean):
            problems.append(f"counts after the kill {after} are neither the state before {before} nor a clean "
                            f"run's {clean}")
        harness.next_start(settings)
        problems += harness.interrupted_ingest_problems(settings, left_running)
        problems += harness.lock_problems(settings)
        problems += harness.integrity_problems(settings)
        code, seconds, output = harness.run_to_end(harness.lfb("ingest", str(big_file)), root, "rerun.log")
        scenario.observe(seconds)
        if code != 0:
            problems.append(f"the rerun failed ({code}): {output[-500:]}")
        if (again := harness.counts(settings)) != clean:
            problems.append(f"after the rerun the counts are {again}, a clean run's are {clean}")
        problems += harness.lock_problems(settings)
        scenario.record(index, kill, stage, problems, root)

    harness.run_trials(scenario, trial)
    scenario.finish(fault_report)
