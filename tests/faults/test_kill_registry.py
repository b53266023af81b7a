"""A promotion (`python -m lfb models promote V`) or a rollback (`python -m lfb models rollback`) killed with SIGKILL
at random moments of its run, start-up included, loses nothing: there is exactly one champion, either the one
before or the one asked for, the promotions log agrees with it (one new entry exactly when the champion changed),
every version still loads, no lock is left, and running the command again succeeds. These commands are short, so
some kills come after the process has ended: the report counts the trials the kill actually interrupted. Once
kills both before and after the change landed have been seen, odd trials are drawn within 50 ms of the boundary
between them, where the change is written."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.faults import harness


@pytest.mark.parametrize("action", ["promote", "rollback"])
def test_a_champion_change_killed_at_random_moments_is_all_or_nothing(action: str, two_champions, fault_trials: int,
                                                                     fault_report: Path, tmp_path: Path) -> None:
    base, first, second = two_champions
    command = harness.lfb("models", "promote", first) if action == "promote" else harness.lfb("models", "rollback")
    scenario = harness.new_scenario(action, fault_trials)
    log_before = harness.promotions(harness.state_settings(base))
    assert harness.champions(harness.state_settings(base)) == [second]
    clean_root = harness.copy_state(base, tmp_path / "clean")
    code, seconds, output = harness.run_to_end(command, clean_root, "clean.log")
    assert code == 0 and harness.champions(harness.state_settings(clean_root)) == [first], output
    scenario.observe(seconds)
    seen: dict[bool, list[float]] = {False: [], True: []}  # kill moments that left the change not applied / applied

    def moment(index: int) -> float:
        """Return a kill moment: anywhere in the run, or (odd trials) near where the change lands, once kills on
        both sides of it were seen (before that, in the last 30% of the run)."""
        if index % 2 == 0 or not (seen[False] and seen[True]):
            return scenario.moment(index, tail=0.7)
        middle = (max(seen[False]) + min(seen[True])) / 2
        return scenario.draw(max(middle - 0.05, 0.0), middle + 0.05)

    def trial(index: int) -> None:
        """Kill one champion change at a random moment, check the invariants, run it again if it did not happen."""
        root = harness.copy_state(base, tmp_path / f"trial-{index}")
        settings = harness.state_settings(root)
        delay = moment(index)
        started = time.perf_counter()
        kill = harness.kill_after(harness.start(command, root, "killed.log"), started, delay)
        problems = harness.integrity_problems(settings)
        problems += harness.registry_problems(settings, {first, second}, tidied=True)
        now = harness.champions(settings)
        log = harness.promotions(settings)
        applied = now == [first]
        if kill.interrupted:
            seen[applied].append(delay)
        stage = "finished" if not kill.interrupted else "applied, not yet exited" if applied else "not applied yet"
        if log != log_before + ([log[-1]] if applied else []) or (applied and log[-1][1] != first):
            problems.append(f"the promotions log went from {log_before} to {log} with the champion {now}")
        harness.next_start(settings)
        problems += harness.lock_problems(settings)
        if applied:  # done before the kill: a new process sees it
            code, _, output = harness.run_to_end(harness.lfb("models", "list", "--json"), root, "list.log")
            rows = json.loads(output) if code == 0 else []
            if [r["version"] for r in rows if r["champion"]] != [first]:
                problems.append(f"`models list` does not show {first} as the only champion ({code}): {output[-300:]}")
        else:
            code, seconds, output = harness.run_to_end(command, root, "rerun.log")
            scenario.observe(seconds)
            if code != 0 or harness.champions(settings) != [first]:
                problems.append(f"the rerun failed ({code}, champion {harness.champions(settings)}): {output[-300:]}")
            if len(harness.promotions(settings)) != len(log_before) + 1:
                problems.append(f"after the rerun the promotions log is {harness.promotions(settings)}")
        problems += harness.registry_problems(settings, {first}, tidied=True)
        problems += harness.integrity_problems(settings)
        scenario.record(index, kill, stage, problems, root)

    harness.run_trials(scenario, trial)
    scenario.finish(fault_report)
