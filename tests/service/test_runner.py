"""The job runner: every kind of job through the same lfb functions, with progress, a log excerpt and an outcome in
words; errors become failed jobs with a one-line reason, never an exception out of the runner."""
import dataclasses
import json
import re
import shutil

import pytest

from lfb.data.store import count
from lfb.model import registry
from lfb.model.estimator import ModelSettings
from lfb.service import requests, runner
from lfb.service.locks import holder, job_lock
from lfb.service.requests import DONE, FAILED, claim_next, get_job, submit
from lfb.service.runner import LOG_LINES, OFFLINE, JobContext, run_job
from lfb.service.servicedb import open_service_db
from tests.builders import FAST_MODEL, big_mobilisation_file, incident_row, write_csv


@pytest.fixture
def store(trained_copy, tmp_path):
    """A private trained store (champion trained up to 2024-08, data to 2024-10), its data folder in tmp_path,
    the London Datastore unreachable."""
    settings, db, result = trained_copy
    settings = dataclasses.replace(settings, data_dir=tmp_path / "data", datastore_url="http://127.0.0.1:9")
    return settings, db, result.version


def _run(settings, kind, args=None, *, lines=None, **options):
    """Queue a request, claim it as the sidecar does, run it; return the job as recorded afterwards."""
    job_id = submit(settings, kind, args or {}, who="chief")
    job = claim_next(settings, "test-host:1")
    assert job["id"] == job_id
    options.setdefault("model_settings", ModelSettings(**FAST_MODEL))
    result = run_job(settings, job, (lines if lines is not None else []).append, **options)
    recorded = get_job(settings, job_id)
    assert (result.ok, result.outcome) == (recorded["status"] == DONE, recorded["outcome"])
    assert recorded["finished"] and recorded["seconds"] is not None and recorded["progress"] is None
    return recorded


def _versions(db):
    """Return the registered versions."""
    return sorted(v["version"] for v in registry.list_versions(db))


def test_a_training_reports_its_stages_and_ends_with_the_rules_verdict(store, monkeypatch):
    settings, db, champion = store
    seen = []
    original = requests.report_progress
    monkeypatch.setattr(requests, "report_progress", lambda s, job_id, text, fraction=None: (
        seen.append((text, fraction)), original(s, job_id, text, fraction)))
    job = _run(settings, "train")
    assert job["status"] == DONE, job["outcome"]
    new = [v for v in _versions(db) if v != champion]
    assert len(new) == 1
    decision = db.execute("SELECT decision FROM model_versions WHERE version = ?", new).fetchone()[0]
    verdict = "promoted: on " if registry.champion(db) == new[0] else "kept as candidate: "
    assert job["outcome"].startswith(f"{new[0]} {verdict}")
    assert decision.removeprefix("not promoted: ").removeprefix("promoted: ") in job["outcome"]
    assert any(text.startswith("fitting model 1/1") for text, _ in seen)
    fractions = [f for _, f in seen if f is not None]
    assert fractions == sorted(fractions) and fractions[-1] >= 0.75
    assert "registered " + new[0] in job["log"] and job["log"].splitlines()[-1].endswith(job["outcome"])


def test_an_ingest_says_what_it_read_and_a_second_one_that_nothing_was_new(store):
    settings, _, _ = store
    (settings.data_dir / "uploads").mkdir(parents=True)
    rows = [incident_row(f"00000{i}-01092024", DateOfCall="2024-09-01", CalYear="2024") for i in range(3)]
    write_csv(settings.data_dir / "uploads" / "september.csv", rows + [dict(rows[0], IncidentNumber="")])
    job = _run(settings, "ingest", {"path": "uploads/september.csv"})  # relative to the data folder
    assert (job["status"], job["outcome"]) == (DONE, "ingested september.csv: 4 incidents rows read (3 new, "
                                                     "0 updated), 1 rejected")
    again = _run(settings, "ingest", {"path": str(settings.data_dir / "uploads" / "september.csv")})
    assert again["status"] == DONE and "already ingested unchanged" in again["outcome"]


def test_an_ingest_of_a_missing_file_fails_with_a_reason_and_changes_nothing(store):
    settings, db, _ = store
    before = count(db, "ingests")
    job = _run(settings, "ingest", {"path": "uploads/gone.csv"})
    assert job["status"] == FAILED
    assert job["outcome"] == f"no such file: {settings.data_dir / 'uploads' / 'gone.csv'} (upload it again); " \
                             "nothing changed"
    assert count(db, "ingests") == before


def test_a_training_while_another_holds_the_train_lock_is_refused_politely(store):
    settings, db, _ = store
    before = _versions(db)
    with job_lock(settings, "train", owner="cli"):
        job = _run(settings, "train")
    assert job["status"] == FAILED
    assert re.fullmatch(r"not run: a train job is already running \(started .* UTC by cli, process \d+ on .*\); "
                        r"try again when it ends, or see `python -m lfb locks`", job["outcome"])
    assert _versions(db) == before and holder(settings, "train") is None


def test_evaluate_scores_the_champion_on_its_test_window_or_on_stored_months(store):
    settings, _, champion = store
    test = _run(settings, "evaluate")
    assert test["status"] == DONE
    assert re.fullmatch(rf"{champion} on test window 2024-07\.\.2024-08 \(held out at training\): MAE \d+\.\d s, "
                        r"P90 coverage \d+\.\d%, within ±60 s \d+\.\d% \([\d,]+ pumps\)", test["outcome"])
    since = _run(settings, "evaluate", {"since": "2024-09"})
    assert since["status"] == DONE and since["outcome"].startswith(f"{champion} on stored data since 2024-09: MAE")


def test_promote_records_the_rules_verdict_and_rollback_puts_the_previous_champion_back(store):
    settings, db, champion = store
    other = f"{champion}-copy"
    shutil.copytree(settings.models_dir / champion, settings.models_dir / other)
    path = settings.models_dir / other / "metadata.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | {"version": other}))
    registry.register(db, registry.read_metadata(settings.models_dir, other), settings.models_dir / other)
    verdict = db.execute("SELECT decision FROM model_versions WHERE version = ?", [other]).fetchone()[0]
    promoted = _run(settings, "promote", {"version": other, "reason": "trial"})
    assert promoted["status"] == DONE
    assert promoted["outcome"] == f"{other} put into service by chief (was {champion}); the rule had said at " \
                                  f"training: {verdict}"
    assert registry.promotions_log(db, 1)[0]["reason"] == f"trial; the rule had said at training: {verdict}"
    back = _run(settings, "rollback", {"reason": "worse on the floor"})
    assert back["outcome"] == f"rolled back: {champion} is the champion again (was {other})"
    assert registry.champion(db) == champion and registry.promotions_log(db, 1)[0]["who"] == "chief"
    unknown = _run(settings, "promote", {"version": "v19990101-000000"})
    assert unknown["status"] == FAILED and unknown["outcome"].startswith("there is no model version 'v19990101")


def test_a_fetch_while_offline_fails_saying_so_and_changes_nothing(store):
    settings, db, _ = store
    before = count(db, "ingests")
    job = _run(settings, "fetch")
    assert (job["status"], job["outcome"]) == (FAILED, OFFLINE)
    assert count(db, "ingests") == before


def test_an_unexpected_error_is_a_failed_job_with_one_line_and_the_traceback_in_the_error_log(store, monkeypatch):
    settings, _, _ = store

    def broken(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")
    monkeypatch.setattr("lfb.model.training.train", broken)
    job = _run(settings, "train")
    assert job["status"] == FAILED
    assert job["outcome"] == f"unexpected RuntimeError: boom second line (the traceback is in {settings.error_log})"
    assert "Traceback" in settings.error_log.read_text() and f"job #{job['id']} train" in \
        settings.error_log.read_text()


def test_a_stop_before_a_training_fits_keeps_nothing_and_frees_the_lock(store):
    settings, db, _ = store
    before = _versions(db)
    job = _run(settings, "train", should_stop=lambda: True)
    assert job["status"] == FAILED and job["outcome"].startswith("stopped: the sidecar was asked to stop")
    assert _versions(db) == before and holder(settings, "train") is None
    assert not list(settings.models_dir.glob(".incoming-*"))


def test_a_stop_in_the_middle_of_an_ingest_keeps_nothing_of_the_file(store, tmp_path):
    settings, db, _ = store
    settings = dataclasses.replace(settings, chunk_rows=2000)
    big = big_mobilisation_file(tmp_path / "big.csv", 20_000)
    before = count(db, "mobilisations")
    calls = []

    def second_chunk() -> bool:
        calls.append(1)
        return len(calls) > 1
    job = _run(settings, "ingest", {"path": str(big)}, should_stop=second_chunk)
    assert job["status"] == FAILED and job["outcome"].startswith("stopped:")
    assert count(db, "mobilisations") == before
    status, message = db.execute("SELECT status, message FROM ingests WHERE file_name = 'big.csv'").fetchone()
    assert status == "failed" and message.startswith("interrupted")
    assert holder(settings, "ingest") is None


def test_library_warnings_during_a_job_go_into_its_log(store):
    settings, _, _ = store
    service = open_service_db(settings)
    service.execute("INSERT INTO locks (name, owner, pid, host, token, started, renewed, expires) VALUES "
                    "('ingest', 'ghost', 1, 'gone-container', 't', '2026-01-01 02:00:00', 0, 0)")
    service.close()
    job = _run(settings, "ingest", {"path": "uploads/gone.csv"})
    assert job["status"] == FAILED  # the missing file is found before any lock is taken
    (settings.data_dir / "uploads").mkdir(parents=True)
    write_csv(settings.data_dir / "uploads" / "one.csv", [incident_row("000009-01092024", DateOfCall="2024-09-01")])
    job = _run(settings, "ingest", {"path": "uploads/one.csv"})
    assert job["status"] == DONE and "note: taking over the ingest lock of ghost" in job["log"]


def test_the_log_kept_is_the_end_of_it(store):
    settings, _, _ = store
    echoed = []
    context = JobContext(settings, 1, echoed.append, lambda: False)
    for i in range(LOG_LINES + 500):
        context.log(f"line {i}")
    kept = context.excerpt().splitlines()
    assert len(kept) == LOG_LINES and kept[-1].endswith(f"line {LOG_LINES + 499}") and len(echoed) == LOG_LINES + 500


def test_progress_is_written_at_most_twice_a_second_but_new_stages_at_once(store, monkeypatch):
    settings, _, _ = store
    job_id = submit(settings, "ingest", {"path": "x.csv"})
    claim_next(settings, "r")
    writes = []
    monkeypatch.setattr(requests, "report_progress", lambda *a, **k: writes.append(a))
    now = [100.0]
    context = JobContext(settings, job_id, lambda _l: None, lambda: False, clock=lambda: now[0])
    update = context.progress("x.csv")
    for done in range(1, 101):  # a hundred updates within 0.2 s, then one more stage later
        update(done, 100)
        now[0] += 0.002
    assert [w[2] for w in writes] == ["x.csv: 1%", "x.csv: 100%"]
    now[0] += runner.PROGRESS_EVERY_S
    update(1, 2)
    assert writes[-1][2] == "x.csv: 50%"
    context.log("fitting model 1/2 with early stopping on 10 validation rows ...")
    assert writes[-1][2].startswith("fitting model 1/2") and context.fraction == pytest.approx(0.10)
