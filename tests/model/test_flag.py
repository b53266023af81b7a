"""The live underestimation flag: threshold chosen on validation, reasons from drivers, served as measured."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from lfb.model import registry
from lfb.model.estimator import ModelSettings, Prediction
from lfb.model.flag import (LATE_S, fit_flag, flag_figures, held_out_figures, probability_late, served_figures,
                            served_flags)
from lfb.model.risk import activate, find_risks
from tests.builders import FAST_MODEL

FLAG_KEYS = ("flagged_share", "late_share_flagged", "late_share_unflagged")


def _requests(n, distance=1500.0, hour=12.0, own_ground=1.0, rank=1.0, home=1.0, group="Fire", station="S1"):
    """Return feature columns of `n` identical requests."""
    return {"distance_m": np.full(n, distance), "hour": np.full(n, hour), "own_ground": np.full(n, own_ground),
            "distance_rank": np.full(n, rank), "home_station": np.full(n, home),
            "incident_group": np.array([group] * n, dtype=object), "station_code": np.array([station] * n)}


def _join(*parts):
    """Return the columns of several request blocks, one after the other."""
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _prediction(median, p90):
    median, p90 = np.asarray(median, float), np.asarray(p90, float)
    return Prediction(median, p90, np.zeros(len(median)))


def _validation(seed=0):
    """Return validation requests, outcomes and estimates: long runs at peak are late 60% of the time, others 15%."""
    rng = np.random.default_rng(seed)
    plain, long_peak = _requests(400), _requests(60, distance=4000.0, hour=17.0, own_ground=0.0, rank=2.0)
    features = _join(plain, long_peak)
    late = np.concatenate([rng.random(400) < 0.15, np.arange(60) < 36])
    median = np.concatenate([np.full(400, 300.0), np.full(60, 500.0)])
    spread = np.concatenate([rng.uniform(80, 160, 400), rng.uniform(150, 250, 60)])
    y = median + np.where(late, LATE_S + 30, -20)
    return features, y, _prediction(median, median + spread)


def test_the_chance_of_a_minute_late_comes_from_the_models_median_and_p90():
    p = probability_late(np.array([300.0, 300.0, 300.0]), np.array([360.0, 420.0, 600.0]))
    assert p[0] == pytest.approx(0.10, abs=1e-9)  # P90 a minute above the median: one in ten is a minute late
    assert p[0] < p[1] < p[2] < 0.5


def test_the_threshold_is_chosen_on_validation_to_flag_the_target_share():
    features, y, prediction = _validation()
    rule = fit_flag(features, y, prediction, share=0.2, min_rows=30, window="validation 2024-06")
    p = probability_late(prediction.median, prediction.p90)
    assert rule["threshold"] == pytest.approx(np.quantile(p, 0.8), abs=1e-6)
    assert rule["validation"]["flagged_share"] == pytest.approx(0.2, abs=0.01)
    late = y > prediction.median + LATE_S
    flagged = p >= rule["threshold"]
    assert rule["validation"]["late_share_flagged"] == pytest.approx(late[flagged].mean(), abs=1e-4)
    assert rule["validation"]["late_share_unflagged"] == pytest.approx(late[~flagged].mean(), abs=1e-4)
    assert "20% of its estimates" in rule["text"] and "validation 2024-06" in rule["text"]


def test_flag_figures_count_late_pumps_among_flagged_and_unflagged():
    figures = flag_figures(np.array([1, 1, 0, 0, 1, 0, 0, 0], bool), np.array([1, 1, 1, 0, 0, 0, 0, 0], bool),
                           np.full(8, 0.3))
    assert figures["flagged_share"] == 0.375 and figures["late_share_flagged"] == pytest.approx(0.6667, abs=1e-4)
    assert figures["late_share_unflagged"] == 0.2 and figures["late_ratio"] == pytest.approx(3.333, abs=1e-3)
    assert flag_figures(np.zeros(3, bool), np.zeros(3, bool), np.zeros(3))["late_share_flagged"] is None


def test_the_reason_names_the_driver_with_the_late_share_of_such_validation_pumps():
    features, y, prediction = _validation()
    rule = fit_flag(features, y, prediction, share=0.15, min_rows=30, window="validation 2024-06")
    request = _requests(1, distance=4200.0, hour=17.5, own_ground=0.0, rank=2.0)
    flags = served_flags(rule, {"groups": []}, request, _prediction([520.0], [800.0]))
    assert flags.flag[0] and not flags.by_station_rule[0]
    assert flags.reason[0].startswith("a long run (3-5 km)")
    assert "60% of such pumps arrived over a minute later than the estimate (36 of 60 in validation 2024-06" in \
        flags.reason[0]


def test_unknown_request_details_make_no_driver_group():
    from lfb.model.flag import driver_groups

    groups = driver_groups(_join(_requests(1, group="(none)", home=np.nan, hour=np.nan), _requests(1, home=0.0)))
    assert groups["incident"].tolist() == ["", "Fire incidents"]
    assert groups["time"].tolist() == ["", "in the day (10-16)"]
    assert groups["home"].tolist() == ["", "a pump away from its home station"]
    assert groups["distance_time"].tolist() == ["", "a 1-2 km run in the day (10-16)"]


def test_groups_under_the_minimum_size_give_no_reason():
    features, y, prediction = _validation()
    rule = fit_flag(features, y, prediction, share=0.15, min_rows=61, window="validation 2024-06")
    assert all("long run" not in g for groups in rule["drivers"].values() for g in groups)
    flags = served_flags(rule, {"groups": []}, _requests(1, distance=4200.0, hour=17.5, own_ground=0.0, rank=2.0),
                         _prediction([520.0], [800.0]))
    assert flags.flag[0] and flags.reason[0].startswith("wide range for this estimate: its P90 is 280 s above")


def test_the_station_rule_and_the_chance_combine_as_served():
    features, y, prediction = _validation()
    rule = fit_flag(features, y, prediction, share=0.15, min_rows=30, window="validation 2024-06")
    risks = {"active": True, "overall_late_share": 0.2, "groups": [
        {"level": "station", "key": "SLOW", "rows": 40, "late_share": 0.5, "lower_bound": 0.3,
         "mean_residual_s": 40.0}]}
    requests = _join(_requests(1, station="SLOW"), _requests(1, distance=4200.0, hour=17.0, own_ground=0.0, rank=2),
                     _requests(1))
    estimates = _prediction([300.0, 520.0, 300.0], [380.0, 800.0, 380.0])
    flags = served_flags(rule, risks, requests, estimates)
    assert flags.flag.tolist() == [True, True, False]
    assert flags.by_station_rule.tolist() == [True, False, False]
    assert "station SLOW" in flags.reason[0] and "long run" in flags.reason[1] and flags.reason[2] == ""
    assert flags.p_late.tolist() == pytest.approx(probability_late(estimates.median, estimates.p90).tolist())
    off = served_flags(rule, {**risks, "active": False}, requests, estimates)
    assert off.flag.tolist() == [False, True, False]


def test_a_version_without_a_flag_rule_flags_by_the_station_rule_only():
    risks = {"active": True, "overall_late_share": 0.2, "groups": [
        {"level": "station", "key": "SLOW", "rows": 40, "late_share": 0.5, "lower_bound": 0.3,
         "mean_residual_s": 40.0}]}
    requests = _join(_requests(1, station="SLOW"), _requests(1, distance=4200.0))
    flags = served_flags(None, risks, requests, _prediction([300.0, 520.0], [380.0, 900.0]))
    assert flags.flag.tolist() == [True, False] and flags.p_late[1] > flags.p_late[0] > 0
    figures = served_figures(None, risks, requests, _prediction([300.0, 520.0], [380.0, 900.0]),
                             np.array([400.0, 700.0]))
    assert figures["flagged_share"] == 0.5 and figures["threshold"] is None
    assert figures["served"].startswith("station rule only")


def _scored_months(late_by_month):
    """Return scored pumps: station SLOW late in the months given (80 of its 100 pumps), other stations 10%."""
    rows = []
    for month, slow_late in late_by_month.items():
        for i in range(600):
            late = (i // 6) % 10 == 0  # 10% of every station
            rows.append({"station_code": f"S{i % 6}", "hour": 12.0, "month": month, "median": 300.0, "p90": 380.0,
                         "y": 300.0 + (90 if late else 0)})
        for i in range(100):
            late = slow_late and i % 5 != 0
            rows.append({"station_code": "SLOW", "hour": 12.0, "month": month, "median": 300.0, "p90": 380.0,
                         "y": 300.0 + (90 if late else 0)})
    return pd.DataFrame(rows)


def test_the_test_window_flags_each_month_with_station_groups_found_before_it():
    """The served station groups come from the test window; measured there, each month uses earlier months only."""
    earlier = _scored_months({"2024-06": False})
    scored = _scored_months({"2024-07": False, "2024-08": True, "2024-09": True})
    risks = activate(find_risks(scored), {"late_share_flagged": 0.8, "late_share_unflagged": 0.1})
    assert [g["key"] for g in risks["groups"] if g["level"] == "station"] == ["SLOW"]  # found on the test window
    rule = {"threshold": 0.99, "text": "chance at least 99%"}  # nothing is flagged by its chance here
    figures = held_out_figures(rule, risks, earlier, scored)
    assert figures["flagged_rows"] == figures["flagged_by_station_rule"] == 100  # September only: August found it
    assert figures["late_share_flagged"] == 0.8
    in_sample = served_figures(rule, risks, scored, Prediction(scored["median"].to_numpy(), scored["p90"].to_numpy(),
                                                               np.zeros(len(scored))), scored["y"].to_numpy())
    assert in_sample["flagged_rows"] == 300  # what the served groups would claim on the months they came from
    off = held_out_figures(rule, {**risks, "active": False}, earlier, scored)
    assert off["flagged_rows"] == 0 and "not in service" in off["served"]


# ---- on a trained demo store ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def predictor(trained):
    from lfb.data.store import connect
    from lfb.model.serving import Predictor

    settings, _ = trained
    return Predictor.from_registry(connect(settings.db_path), settings)


def test_training_stores_the_rule_chosen_on_the_validation_window(trained):
    settings, result = trained
    rule, windows = result.metadata["flag_rule"], result.metadata["windows"]
    assert rule["window"] == f"validation {windows['valid_from']}" and rule["target_share"] == settings.flag_share
    assert rule["validation"]["flagged_share"] == pytest.approx(settings.flag_share, abs=0.02)
    assert 0 < rule["threshold"] < 1 and rule["drivers"]["distance"]
    figures = result.metadata["evaluation"]["flag"]
    assert figures["rows"] == result.metadata["evaluation"]["n"]
    assert all(0 <= figures[k] <= 1 for k in FLAG_KEYS) and figures["threshold"] == rule["threshold"]


def test_the_validation_estimates_are_made_before_the_model_saw_validation(trained):
    """The flag's threshold is chosen on estimates of the model trained without the validation month."""
    from lfb.data.store import connect
    from lfb.model.dataset import TARGET, load_examples
    from lfb.model.estimator import ResponseModel
    from lfb.model.split import time_split
    from lfb.model.training import feature_table

    settings, _ = trained
    split = time_split(feature_table(load_examples(connect(settings.db_path), until="2024-08")), test_months=2)
    y = lambda t: t[TARGET].to_numpy(float)  # noqa: E731
    fit = lambda refit: ResponseModel.fit(split.train, y(split.train), split.valid, y(split.valid),  # noqa: E731
                                          ModelSettings(**FAST_MODEL), refit=refit)
    before, refitted = fit(False), fit(True)
    assert refitted.holdout.median == pytest.approx(before.predict(split.valid).median)
    assert refitted.holdout.p90 == pytest.approx(before.predict(split.valid).p90)
    assert refitted.predict(split.valid).median != pytest.approx(refitted.holdout.median)


def test_the_test_window_figures_are_those_of_the_flag_as_served(trained):
    """Fit like training does, then serve the evaluated model: the flags on the test window match the figures."""
    from lfb.data.store import connect
    from lfb.model.dataset import TARGET, load_examples
    from lfb.model.serving import Predictor
    from lfb.model.split import time_split
    from lfb.model.training import feature_table, fit_and_evaluate

    settings, result = trained
    split = time_split(feature_table(load_examples(connect(settings.db_path), until="2024-08")), test_months=2)
    model, figures = fit_and_evaluate(split, ModelSettings(**FAST_MODEL), lambda _m: None, flag_share=0.2,
                                      flag_driver_rows=30)
    served = Predictor(model, {**result.metadata, "flag_rule": figures["flag_rule"], "risks": figures["risks"]})
    table = served.estimate_table(split.test)
    late = split.test[TARGET].to_numpy(float) > table["median_s"].to_numpy(float) + LATE_S
    flag = figures["evaluation"]["flag"]
    assert flag["flagged_by_station_rule"] == 0  # this small store has no station with enough pumps for the rule
    assert flag["flagged_rows"] == int(table["flag"].sum()) and flag["rows"] == len(split.test)
    assert flag["late_share_flagged"] == pytest.approx(late[table["flag"].to_numpy(bool)].mean(), abs=2e-3)
    assert figures["flag_rule"]["validation"]["flagged_share"] == pytest.approx(0.2, abs=0.02)


def test_served_flags_follow_the_threshold_with_a_reason(predictor):
    ranked = predictor.rank_stations("51.5210,-0.1900", "2024-09-15 17:30", "Fire", nearest=0)
    threshold = predictor.flag_rule["threshold"]
    for e in ranked:
        assert bool(e.flag_reason) == e.flag
        if abs(e.p_late - threshold) > 1e-4 and not e.flag_reason.startswith("estimates for station"):
            assert e.flag == (e.p_late > threshold)  # (p_late is shown rounded; the station rule flags by station)
        assert e.p_late == pytest.approx(probability_late(np.array([e.median_s]), np.array([e.p90_s]))[0],
                                         abs=2e-3)
    assert any(e.flag for e in ranked) and not all(e.flag for e in ranked)
    assert all("of such pumps arrived over a minute later" in e.flag_reason or "wide range" in e.flag_reason
               for e in ranked if e.flag)


def test_the_chance_of_a_minute_late_is_in_estimates_and_batches(predictor, tmp_path):
    from lfb.model.serving import predict_batch
    from tests.builders import write_csv

    e = predictor.predict_one("A21", "51.5210,-0.1900", "2024-09-15 14:00", "Fire")
    assert 0 < e.as_dict()["p_late"] < 1
    path = write_csv(tmp_path / "r.csv", [{"station": "A21", "location": "51.52,-0.19", "time": "2024-09-15 14:00",
                                           "incident_group": "Fire"}])
    predict_batch(predictor, path, tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv")
    assert out["p_late"].iloc[0] == pytest.approx(e.p_late, abs=0.02)


def test_evaluate_on_stored_data_measures_the_flag_as_served(trained, predictor):
    from lfb.data.store import connect
    from lfb.model.dataset import load_examples
    from lfb.model.scoring import score_version

    settings, result = trained
    db = connect(settings.db_path)
    report = score_version(db, settings, since="2024-06")
    served = predictor.estimate_table(load_examples(db, since="2024-06").frame)
    assert report["flag"]["rows"] == report["n"] == len(served)
    assert report["flag"]["flagged_rows"] == int(served["flag"].sum())
    assert report["flag"]["threshold"] == result.metadata["flag_rule"]["threshold"]
    test_window = score_version(db, settings)
    assert test_window["flag"] == result.metadata["evaluation"]["flag"]


def test_an_older_version_without_the_flag_rule_keeps_working(trained_copy):
    from lfb.model.scoring import score_version
    from lfb.model.serving import Predictor

    settings, db, result = trained_copy
    old = f"{result.version}-old"
    shutil.copytree(settings.models_dir / result.version, settings.models_dir / old)
    path = settings.models_dir / old / "metadata.json"
    metadata = json.loads(path.read_text())
    metadata.pop("flag_rule")
    metadata["evaluation"].pop("flag")
    metadata["version"] = old
    metadata["risks"] |= {"active": True, "groups": [{"level": "station", "key": "A21", "rows": 40, "late_share": 0.5,
                                                      "lower_bound": 0.3, "mean_residual_s": 40.0}]}
    path.write_text(json.dumps(metadata))
    registry.register(db, registry.read_metadata(settings.models_dir, old), settings.models_dir / old)
    registry.set_champion(db, settings.models_dir, old, who="t", action="manual promote", reason="test")
    predictor = Predictor.from_registry(db, settings)
    ranked = predictor.rank_stations("W2", "2024-09-15 17:30", "Fire", nearest=0)
    assert predictor.version == old and [e.station_code for e in ranked if e.flag] == ["A21"]
    assert all(0 < e.p_late < 1 for e in ranked)
    assert "note" in score_version(db, settings)["flag"]
    since = score_version(db, settings, since="2024-06")["flag"]
    assert since["flagged_rows"] == since["flagged_by_station_rule"] > 0 and since["threshold"] is None


def test_find_risks_still_feeds_the_served_flag():
    """The station rule found on scored pumps flags its station through served_flags."""
    scored = pd.DataFrame({"station_code": ["SLOW"] * 60 + ["S1"] * 600, "hour": 3.0, "median": 300.0,
                           "y": [420.0] * 40 + [290.0] * 20 + [300.0] * 600})
    risks = find_risks(scored)
    flags = served_flags(None, risks, _join(_requests(1, station="SLOW"), _requests(1)), _prediction([300, 300],
                                                                                                   [400, 400]))
    assert flags.flag.tolist() == [True, False]


def test_the_flag_meets_its_goals_on_held_out_real_months(real_trained):
    """The acceptance figures: on July-September 2023, 10-25% flagged, flagged late at least 1.5 times as often."""
    _settings, result = real_trained
    flag = result.metadata["evaluation"]["flag"]
    assert result.metadata["flag_rule"]["window"] == "validation 2023-06"
    assert 0.10 <= flag["flagged_share"] <= 0.25
    assert flag["late_share_flagged"] >= 1.5 * flag["late_share_unflagged"]
