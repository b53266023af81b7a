"""A training (`python -m lfb train`) killed with SIGKILL at random moments, half of them drawn in the last 40%
of its run where it saves, registers and promotes the new version, loses nothing: no registered version is
incomplete, there is exactly one champion (the previous one, or the new version only if it was registered and the
rule promoted it), the next start removes the scratch folder and sets aside an unregistered version, the train lock
is free, and training again succeeds."""
from __future__ import annotations

import time
from pathlib import Path

from tests.faults import harness

TRAIN = ("train", "--test-months", "2")


def _stage(settings, kill: harness.Kill, old: set[str], champion_before: str) -> str:
    """Return how far the killed training got, read from what it left behind."""
    from lfb.service.locks import holder

    if not kill.interrupted:
        return "finished"
    new = set(harness.registered(settings)) - old
    folders = [p.name for p in settings.models_dir.iterdir()]
    if new:
        if harness.champions(settings) != [champion_before]:
            return "registered and promoted"
        return ("registered, killed before its promotion" if harness.decision_promotes(settings, min(new)) else
                "registered (the rule did not promote it)")
    if any(name.startswith("v") and name not in old for name in folders):
        return "saved, not registered"
    if any(name.startswith(".incoming-") for name in folders):
        return "saving the version"
    return "training" if holder(settings, "train") is not None else "start-up"


def test_a_training_killed_at_random_moments_leaves_no_half_version(one_champion, fault_trials: int,
                                                                   fault_report: Path, tmp_path: Path) -> None:
    base, first = one_champion
    scenario = harness.new_scenario("training + registration", fault_trials)
    clean_root = harness.copy_state(base, tmp_path / "clean")
    code, seconds, output = harness.run_to_end(harness.lfb(*TRAIN), clean_root, "clean.log")
    assert code == 0, output
    scenario.observe(seconds)
    assert len(harness.registered(harness.state_settings(clean_root))) == 2

    def trial(index: int) -> None:
        """Kill one training at a random moment, check the invariants, train again."""
        root = harness.copy_state(base, tmp_path / f"trial-{index}")
        settings = harness.state_settings(root)
        delay = scenario.moment(index, tail=0.6)  # odd trials: in the last 40% (saving, registering, promoting)
        started = time.perf_counter()
        kill = harness.kill_after(harness.start(harness.lfb(*TRAIN), root, "killed.log"), started, delay)
        stage = _stage(settings, kill, {first}, first)
        new = [v for v in harness.registered(settings) if v != first]
        allowed = {first} | {v for v in new if harness.decision_promotes(settings, v)}
        problems = harness.integrity_problems(settings)
        problems += harness.registry_problems(settings, allowed, tidied=False)  # as served before any tidy
        if len(new) > 1:
            problems.append(f"one training registered {len(new)} versions: {new}")
        harness.next_start(settings)
        problems += harness.registry_problems(settings, allowed, tidied=True)
        problems += harness.lock_problems(settings)
        problems += harness.integrity_problems(settings)
        before_rerun = set(harness.registered(settings))
        code, seconds, output = harness.run_to_end(harness.lfb(*TRAIN), root, "rerun.log")
        scenario.observe(seconds)
        if code != 0:
            problems.append(f"the rerun failed ({code}): {output[-500:]}")
        added = set(harness.registered(settings)) - before_rerun
        if len(added) != 1:
            problems.append(f"the rerun registered {sorted(added)}, not one new version")
        problems += harness.registry_problems(settings, allowed | added, tidied=True)
        problems += harness.lock_problems(settings)
        scenario.record(index, kill, stage, problems, root)

    harness.run_trials(scenario, trial)
    scenario.finish(fault_report)
