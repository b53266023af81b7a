"""The training job: honest report, first model becomes champion, the promotion rule, one job at a time."""
import dataclasses

import pandas as pd
import pytest

from lfb.model import registry
from lfb.service.locks import JobBusy, job_lock, list_locks
from lfb.model.estimator import ModelSettings
from lfb.data.store import connect
from lfb.model.training import train
from tests.builders import FAST_MODEL


@pytest.fixture
def store(trained_copy):
    """A private copy of the trained store."""
    return trained_copy


def test_first_training_reports_honestly_and_becomes_champion(trained):
    settings, result = trained
    meta = result.metadata
    assert result.promoted and meta["decision"]["text"].startswith("no champion yet")
    assert meta["windows"]["test_from"] == "2024-07" and meta["windows"]["test_until"] == "2024-08"
    assert meta["windows"]["train_until"] < meta["windows"]["valid_from"] <= meta["windows"]["valid_until"] < \
        meta["windows"]["test_from"]
    ev = meta["evaluation"]
    for key in ("mae", "rmse", "r2", "median_ae", "within_60s", "over_360_accuracy", "p90_coverage"):
        assert key in ev and key in ev["baselines"]["median"] and key in ev["baselines"]["distance"]
    assert ev["mae"] < ev["baselines"]["median"]["mae"]
    assert meta["refit"]["applied"] and meta["data_until"] == "2024-08"
    assert meta["is_demo"] and meta["rows"]["test"] == ev["n"] > 0
    assert len(meta["data_fingerprint"]) == 16 and meta["code_version"]
    assert set(meta["files"]) >= {"model-0.cbm", "model.json"}


def test_a_worse_candidate_is_refused_with_its_reason(store):
    settings, db, result = store
    weak = ModelSettings(max_iterations=1, depth=1, learning_rate=0.01, early_stopping_rounds=1, ensemble=1,
                         threads=1)
    # the champion saw data up to 2024-08; the candidate's test window 2024-09..10 is new to both
    candidate = train(db, settings, test_months=2, model_settings=weak, log=lambda _m: None)
    decision = candidate.metadata["decision"]
    assert not candidate.promoted and decision["text"].startswith("not promoted: MAE not lower")
    assert decision["window"] == ["2024-09", "2024-10"]
    assert decision["candidate"]["mae"] > decision["champion_metrics"]["mae"]
    assert registry.champion(db) == result.version
    row = [r for r in registry.list_versions(db) if r["version"] == candidate.version][0]
    assert row["decision"] == decision["text"] and not row["champion"]


def test_a_better_candidate_is_promoted(store):
    settings, db, result = store
    candidate = train(db, settings, test_months=2, model_settings=ModelSettings(**FAST_MODEL), log=lambda _m: None)
    decision = candidate.metadata["decision"]
    if decision["candidate"]["mae"] <= decision["champion_metrics"]["mae"] * 0.99:
        assert candidate.promoted and registry.champion(db) == candidate.version
    else:  # the rule, not luck, decides: a near-tie stays with the champion
        assert not candidate.promoted and registry.champion(db) == result.version


def test_no_new_months_means_no_fair_comparison(store):
    settings, db, result = store
    again = train(db, settings, until="2024-08", test_months=2, model_settings=ModelSettings(**FAST_MODEL),
                  log=lambda _m: None)
    assert not again.promoted and "nothing fair to compare on" in again.metadata["decision"]["text"]


def test_a_second_training_while_one_runs_is_refused(store):
    settings, db, _ = store
    with job_lock(settings, "train", owner="scheduler"):
        with pytest.raises(JobBusy, match="already running .* by scheduler"):
            train(connect(settings.db_path), settings, model_settings=ModelSettings(**FAST_MODEL),
                  log=lambda _m: None)
    assert list_locks(settings) == []


def test_evaluate_on_a_file_reads_it_like_ingestion_without_storing_it(store, tmp_path):
    from lfb.model.scoring import score_version

    settings, db, result = store
    demo_file = sorted((settings.data_dir / "demo").glob("lfb-demo-incidents-*.csv"))[-1]
    before = db.execute("SELECT COUNT(*) FROM ingests").fetchone()
    report = score_version(db, settings, file=demo_file)
    assert report["n"] > 100 and "mae" in report["baselines"]["distance"]
    assert report["by_pump_order"] and "were in this model's training data" in report["warning"]
    assert db.execute("SELECT COUNT(*) FROM ingests").fetchone() == before
    stored = score_version(db, settings)
    assert stored["source"].startswith("test window") and stored["mae"] == result.metadata["evaluation"]["mae"]


def test_evaluate_on_a_mobilisation_file_takes_incidents_from_the_store(store, tmp_path):
    from lfb.model.scoring import score_version
    from tests.builders import MOBILISATION_HEADER, mobilisation_row, write_csv

    settings, db, _ = store
    rows = db.execute("SELECT incident_number, call_datetime FROM incidents ORDER BY call_datetime DESC "
                      "LIMIT 40").fetchall()
    mobs = [mobilisation_row(number, str(900_000 + i), AttendanceTimeSeconds=str(200 + i),
                             DateAndTimeMobilised=pd.Timestamp(when).strftime("%d/%m/%Y %H:%M:%S"))
            for i, (number, when) in enumerate(rows)]
    mobs.append(mobilisation_row("NOT-STORED", "999999"))
    report = score_version(db, settings, file=write_csv(tmp_path / "m.csv", mobs, MOBILISATION_HEADER))
    assert report["n"] == 40 and report["dropped"]["no matching incident or time out of range"] == 1


def test_the_model_beats_the_distance_curve_on_real_incidents(real_trained):
    """The acceptance figure: the 2023 sample, trained January-June, tested July-September."""
    _settings, result = real_trained
    ev = result.metadata["evaluation"]
    assert result.metadata["windows"]["test_from"] == "2023-07"
    assert ev["lift"]["vs_distance"] >= 0.05
    assert 0.85 <= ev["p90_coverage"] <= 0.95


def test_training_leaves_demo_rows_out_once_real_data_is_in(store, tmp_path):
    from lfb.data.ingest import ingest_file
    from tests.builders import INCIDENT_HEADER, incident_row, write_csv

    settings, db, _ = store
    rows = [incident_row(f"{i:06d}-01{m:02d}2024", DateOfCall=f"2024-{m:02d}-{1 + i % 27:02d}",
                         FirstPumpArriving_AttendanceTime=str(200 + 7 * i),
                         SecondPumpArriving_AttendanceTime=str(330 + 5 * i))
            for m in range(1, 11) for i in range(40)]
    ingest_file(db, write_csv(tmp_path / "real.csv", rows, INCIDENT_HEADER))
    messages = []
    result = train(db, settings, test_months=2, model_settings=ModelSettings(**FAST_MODEL), log=messages.append)
    assert "real data only" in messages[0]
    assert not result.metadata["is_demo"]
    total = result.metadata["rows"]["train"] + result.metadata["rows"]["valid"] + result.metadata["rows"]["test"]
    assert total == 800  # 400 real incidents, two pumps each


def test_the_rule_does_not_compare_against_a_champion_whose_metadata_was_edited(store):
    import json

    settings, db, result = store
    path = settings.models_dir / result.version / "metadata.json"
    meta = json.loads(path.read_text())
    meta["evaluation"]["mae"] = 1.0  # complete, valid JSON, but not what was registered
    path.write_text(json.dumps(meta))
    candidate = train(db, settings, test_months=2, model_settings=ModelSettings(**FAST_MODEL), log=lambda _m: None)
    assert candidate.promoted and "cannot serve" in candidate.metadata["decision"]["text"]
