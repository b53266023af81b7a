"""The monthly pipeline and the model's life cycle on small demo data: ingest, train, a refused candidate, fetch
from the London Datastore, train, score both on the same newest months, promote or keep by the rule."""
import dataclasses
import json
import shutil
import threading
from http.server import ThreadingHTTPServer

import pytest

from lfb.config import get_settings
from lfb.data.demo import INCIDENT_FILE, MOBILISATION_FILE, generate_demo
from lfb.model import registry
from lfb.model.estimator import ModelSettings
from lfb.model.scoring import score_version
from lfb.model.training import COVERAGE_GOAL
from lfb.service import jobs
from lfb.service.pipeline import OFFLINE, decision_words, run_pipeline
from lfb.service.requests import DONE, claim_next, get_job, list_jobs, submit
from lfb.service.runner import run_job
from tests.builders import FAST_MODEL
from tests.data.test_datastore import INCIDENT_SLUG, MOBILISATION_SLUG, Site, _handler

WORSE_MODEL = dict(max_iterations=1, learning_rate=0.01, early_stopping_rounds=1, ensemble=1, threads=1)


@pytest.fixture
def site():
    """A fake London Datastore on a free local port."""
    state = Site()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _request(settings, kind, args=None, model=FAST_MODEL):
    """Ask for a job and run it as the sidecar does; return it as recorded."""
    job_id = submit(settings, kind, args or {}, who="chief")
    run_job(settings, claim_next(settings, "sidecar:1"), lambda _line: None, model_settings=ModelSettings(**model))
    return get_job(settings, job_id)


def _decision(db, version):
    """Return the promotion decision recorded for a version."""
    text, blob = db.execute("SELECT decision, decision_json FROM model_versions WHERE version = ?",
                            [version]).fetchone()
    return text, json.loads(blob)


def _rule(settings, decision) -> bool:
    """Apply the promotion rule to a decision's own figures."""
    cand, champ = decision["candidate"], decision["champion_metrics"]
    mae_ok = cand["mae"] <= champ["mae"] * (1 - settings.promote_margin)
    gap = abs(cand["p90_coverage"] - COVERAGE_GOAL) - abs(champ["p90_coverage"] - COVERAGE_GOAL)
    return mae_ok and gap <= settings.coverage_tolerance


def test_the_life_cycle_on_small_demo_data(tmp_path, site):
    settings = dataclasses.replace(get_settings().relocated(tmp_path / "data", tmp_path / "models"),
                                   datastore_url=site.base, http_timeout=5.0, http_retries=1)
    # 15 demo months (2024-01..2025-03) as published, and the same with a 16th month (2025-04) a month later
    first, later = tmp_path / "first", tmp_path / "later"
    generate_demo(first, start="2024-01", months=15, incidents_per_year=20_000)
    generate_demo(later, start="2024-01", months=16, incidents_per_year=20_000)
    uploads = settings.data_dir / "uploads"
    uploads.mkdir(parents=True)
    for name in (INCIDENT_FILE, MOBILISATION_FILE):
        shutil.copy(first / name.format(year=2024), uploads)
        shutil.copy(first / name.format(year=2025), uploads)

    # months 1-12 ingested, v1 trained: the first model goes into service
    for name in (INCIDENT_FILE, MOBILISATION_FILE):
        assert _request(settings, "ingest", {"path": f"uploads/{name.format(year=2024)}"})["status"] == DONE
    first_training = _request(settings, "train")
    db = jobs.open_store(settings)
    v1 = registry.champion(db)
    assert first_training["outcome"] == f"{v1} promoted: no champion yet: the first model goes into service"
    assert registry.read_metadata(settings.models_dir, v1)["data_until"] == "2024-12"

    # months 13-15 ingested; a deliberately worse candidate (one tree) is refused by the rule, and it says so
    for name in (INCIDENT_FILE, MOBILISATION_FILE):
        assert _request(settings, "ingest", {"path": f"uploads/{name.format(year=2025)}"})["status"] == DONE
    refused = _request(settings, "train", model=WORSE_MODEL)
    worse = next(v["version"] for v in registry.list_versions(db) if v["version"] != v1)
    text, decision = _decision(db, worse)
    assert refused["status"] == DONE and registry.champion(db) == v1
    assert text.startswith("not promoted: MAE not lower by at least 1% (on 2025-01..2025-03 (")
    assert decision["candidate"]["mae"] > decision["champion_metrics"]["mae"] * (1 - settings.promote_margin)
    assert refused["outcome"] == f"{worse} kept as candidate: {text.removeprefix('not promoted: ')}; the champion " \
                                 f"stays {v1}"

    # the Datastore publishes a 16th month: the pipeline fetches and ingests it, trains v2 and decides by the rule
    site.publish(INCIDENT_SLUG, INCIDENT_FILE.format(year=2025), (later / INCIDENT_FILE.format(year=2025)).read_bytes())
    site.publish(MOBILISATION_SLUG, MOBILISATION_FILE.format(year=2025),
                 (later / MOBILISATION_FILE.format(year=2025)).read_bytes())
    run = _request(settings, "pipeline")
    v2 = registry.list_versions(db)[0]["version"]
    text, decision = _decision(db, v2)
    assert run["status"] == DONE, run["outcome"]
    assert run["outcome"].startswith("fetched: 2 downloaded, 0 unchanged, 0 failed")
    assert run["outcome"].endswith(decision_words(v2, decision)) and v2 not in (v1, worse)
    assert decision["champion"] == v1 and decision["window"] == ["2025-02", "2025-04"]  # months v1 never saw
    assert decision["promote"] == _rule(settings, decision)
    assert registry.champion(db) == (v2 if decision["promote"] else v1)
    champion_scored = score_version(db, settings, version=v1, since="2025-02")  # the champion's side, re-scored
    assert champion_scored["n"] == decision["rows"]
    assert champion_scored["mae"] == pytest.approx(decision["champion_metrics"]["mae"], abs=1e-3)

    # nothing new next month: no training; the whole history is in the jobs table
    quiet = _request(settings, "pipeline")
    assert quiet["status"] == DONE and "fetched: 0 downloaded, 2 unchanged" in quiet["outcome"]
    assert "nothing new to learn from" in quiet["outcome"] and len(registry.list_versions(db)) == 3
    history = list_jobs(settings)
    assert [(j["kind"], j["status"]) for j in reversed(history)] == [
        ("ingest", DONE), ("ingest", DONE), ("train", DONE), ("ingest", DONE), ("ingest", DONE), ("train", DONE),
        ("pipeline", DONE), ("pipeline", DONE)]
    assert all(j["started"] and j["finished"] and j["seconds"] is not None and j["outcome"] and j["log"]
               for j in history)
    db.close()


@pytest.fixture
def offline_store(trained_copy, tmp_path):
    """A private trained store (champion trained up to 2024-08, data to 2024-10) with no London Datastore."""
    settings, db, result = trained_copy
    settings = dataclasses.replace(settings, data_dir=tmp_path / "data", datastore_url="http://127.0.0.1:9")
    return settings, db, result.version


def test_offline_the_pipeline_trains_on_what_is_stored_then_finds_nothing_new(offline_store):
    settings, db, champion = offline_store
    lines = []
    result = run_pipeline(db, settings, log=lines.append, model_settings=ModelSettings(**FAST_MODEL))
    assert result.ok and result.version and result.version != champion  # 2024-09..10 were in no model yet
    assert result.outcome == f"{OFFLINE}; {decision_words(result.version, _decision(db, result.version)[1])}"
    assert OFFLINE in lines and registry.champion(db) == (result.version if result.promoted else champion)
    again = run_pipeline(db, settings, log=lines.append, model_settings=ModelSettings(**FAST_MODEL))
    assert again.ok and again.version is None
    assert again.outcome == f"{OFFLINE}; nothing new to learn from: {result.version} was trained on exactly the " \
                            "data stored now, so no candidate was trained (ask for a `train` to train one anyway)"
    assert len(registry.list_versions(db)) == 2


def test_decision_words():
    assert decision_words("v2", {"promote": True, "text": "promoted: on 2026-09..2026-11 (9 pumps): MAE 61.2 s vs "
                                 "champion 63.0 s"}) == "v2 promoted: on 2026-09..2026-11 (9 pumps): MAE 61.2 s vs " \
                                                        "champion 63.0 s"
    assert decision_words("v1", {"promote": True, "text": "no champion yet: the first model goes into service"}) == \
        "v1 promoted: no champion yet: the first model goes into service"
    assert decision_words("v3", {"promote": False, "champion": "v2", "text": "not promoted: no test month is newer"}) \
        == "v3 kept as candidate: no test month is newer; the champion stays v2"
