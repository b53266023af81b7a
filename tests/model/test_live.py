"""Live accuracy: the champion's error on the months after its data, drift beyond the tolerance, and the estimates
dispatchers received matched with what happened."""
from __future__ import annotations

import dataclasses

import pytest

from lfb.data.ingest import ingest_file
from lfb.model.live import CHOSEN, FIRST, judge, live_accuracy, matched_estimates
from lfb.model.registry import NoChampion, read_metadata
from lfb.model.scoring import score_version
from lfb.service.predictions import LoggedEstimate, log_estimate
from tests.builders import incident_row, write_csv


@pytest.fixture
def store(trained_copy):
    """The trained demo store (data 2024-01..2024-10, champion trained on data up to 2024-08), a private copy."""
    settings, db, result = trained_copy
    yield settings, db, result.version
    db.close()


def _month(live, month):
    return next(m for m in live.months if m.month == month)


def test_the_champion_is_judged_on_the_months_it_never_saw(store):
    settings, db, version = store
    live = live_accuracy(db, settings)
    meta = read_metadata(settings.models_dir, version)
    assert meta["data_until"] == "2024-08" and [m.month for m in live.months] == ["2024-09", "2024-10"]
    assert live.version == version and live.demo and live.test_mae == meta["evaluation"]["mae"]
    assert live.test_window == "2024-07..2024-08" and live.limit == pytest.approx(live.test_mae * 1.15)
    evaluated = {m["month"]: m for m in score_version(db, settings, since="2024-09")["by_month"]}  # `evaluate`
    for month in live.months:
        assert month.pumps == evaluated[month.month]["n"] and month.pumps >= settings.drift_min_pumps == 500
        assert month.mae == pytest.approx(evaluated[month.month]["mae"])
        assert month.ratio == pytest.approx(month.mae / live.test_mae, abs=1e-3)
        assert month.judged and not month.drift  # the demo generator does not drift
    assert live.drifting == [] and live.words().startswith("No drift")


def test_a_month_beyond_the_tolerance_is_drift(store):
    settings, db, _version = store
    db.execute("UPDATE mobilisations SET attendance_seconds = MIN(1200, attendance_seconds * 1.6) "
               "WHERE month = '2024-10'")  # a constructed case: pumps arrive much later than the model learned
    live = live_accuracy(db, settings)
    october = _month(live, "2024-10")
    assert october.judged and october.drift and october.mae > live.limit and october.bias > 0
    assert not _month(live, "2024-09").drift
    assert live.drifting == ["2024-10"] and live.words().startswith("Drift:") and "2024-10" in live.words()
    looser = live_accuracy(db, dataclasses.replace(settings, drift_tolerance=october.ratio))  # tolerance is a setting
    assert looser.drifting == []


def test_a_month_with_too_few_pumps_is_shown_but_not_judged(store):
    settings, db, _version = store
    db.execute("DELETE FROM mobilisations WHERE month = '2024-10' AND rowid NOT IN "
               "(SELECT rowid FROM mobilisations WHERE month = '2024-10' LIMIT 40)")
    db.execute("UPDATE mobilisations SET attendance_seconds = 1200 WHERE month = '2024-10'")
    october = _month(live_accuracy(db, settings), "2024-10")
    assert october.pumps <= 40 and october.mae > 300 and not october.judged and not october.drift
    assert judge(500.0, 199, 100.0, 0.15, 200) == (False, False) and judge(116.0, 200, 100.0, 0.15, 200) == (True, True)
    assert judge(114.9, 200, 100.0, 0.15, 200) == (True, False)
    none_judged = live_accuracy(db, dataclasses.replace(settings, drift_min_pumps=10**6))
    assert none_judged.words().startswith("Too few pumps to judge")


def test_once_real_months_are_ingested_only_they_count(store, tmp_path):
    settings, db, _version = store
    rows = [incident_row(f"9{i:05d}-05112024", DateOfCall="2024-11-05", CalYear="2024", TimeOfCall="14:30:00",
                         HourOfCall="14") for i in range(30)]
    ingest_file(db, write_csv(tmp_path / "november.csv", rows))
    live = live_accuracy(db, settings)
    assert [m.month for m in live.months] == ["2024-11"] and not live.demo
    assert live.months[0].pumps == 60  # first and second pumps, derived from the incident records


def test_nothing_after_the_champion_s_data_says_so(store):
    settings, db, _version = store
    db.execute("DELETE FROM mobilisations WHERE month > '2024-08'")
    live = live_accuracy(db, settings)
    assert live.months == [] and live.words().startswith("No pump attendances after 2024-08")


def test_without_a_model_there_is_nothing_to_judge(settings):
    from lfb.service import jobs

    db = jobs.open_store(settings)
    with pytest.raises(NoChampion):
        live_accuracy(db, settings)


def _log(settings, number, station, median, p90, flag=False, version="v1"):
    """Log an estimate as the estimate page does."""
    return log_estimate(settings, LoggedEstimate(username="disp1", station_code=station, location_text="SE1 7PB",
                                                 call_time="2024-09-16 14:30", incident_group="Fire", median_s=median,
                                                 p90_s=p90, model_version=version, flag=flag, incident_number=number))


def test_logged_estimates_are_matched_with_what_happened(store):
    settings, db, _version = store
    (a_number, a_station, a_seconds), (b_number, _b_station, _b_seconds) = db.execute(
        "SELECT m.incident_number, m.station_code, m.attendance_seconds FROM mobilisations m "
        "JOIN incidents i USING (incident_number) WHERE i.month = '2024-09' AND m.derived = 0 AND m.pump_order = 1 "
        "AND i.first_pump_seconds > 0 ORDER BY m.incident_number LIMIT 2").fetchall()
    b_first, b_first_station = db.execute("SELECT first_pump_seconds, first_pump_station FROM incidents "
                                          "WHERE incident_number = ?", [b_number]).fetchone()
    other = next(code for (code,) in db.execute("SELECT station_code FROM stations WHERE is_lfb = 1")
                 if not db.execute("SELECT 1 FROM mobilisations WHERE incident_number = ? AND station_code = ?",
                                   [b_number, code]).fetchone())
    _log(settings, a_number, a_station, a_seconds + 500, a_seconds + 900)  # superseded by the next estimate
    _log(settings, f"  {a_number.lower()} ", a_station, a_seconds - 100, a_seconds - 10, flag=True)  # late, flagged
    _log(settings, b_number, other, b_first + 20, b_first + 120)  # the chosen station did not go: its first pump
    _log(settings, "999999-01012099", "A21", 300, 400)  # not in the store
    frame, summary = matched_estimates(db, settings)
    assert len(frame) == 2 and list(frame["incident_number"].str.strip().str.upper()) == [b_number, a_number]
    a, b = frame.iloc[1], frame.iloc[0]
    assert (a["actual_s"], a["source"], a["error_s"]) == (a_seconds, CHOSEN, 100)
    assert a["late"] and a["flag"] and not a["within_p90"]
    assert (b["actual_s"], b["source"], b["error_s"]) == (b_first, f"{FIRST} ({b_first_station})", -20)
    assert b["within_p90"] and not b["late"] and not b["flag"]
    assert (summary.logged, summary.matched, summary.flagged, summary.flagged_late, summary.late) == (3, 2, 1, 1, 1)
    assert summary.mae == pytest.approx(60.0) and summary.bias == pytest.approx(40.0)
    assert summary.within_p90 == 0.5
    assert summary.words().startswith("2 of 3 estimates matched: MAE 60.0 s, 50% within their P90 bound, 1 late")
    assert "1 were flagged as likely too low, 1 of them late (100%), against 0% of the others" in summary.words()


def test_no_logged_incident_numbers_says_how_to_get_them(store):
    settings, db, _version = store
    _log(settings, None, "A21", 300, 400)
    frame, summary = matched_estimates(db, settings)
    assert frame.empty and summary.logged == 0 and "incident number" in summary.words()
    _log(settings, "999999-01012099", "A21", 300, 400)
    assert "None of the 1 estimates" in matched_estimates(db, settings)[1].words()
