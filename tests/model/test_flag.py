"""The live underestimation flag: threshold chosen on validation, reasons from drivers, served as measured."""
import numpy as np
import pandas as pd
import pytest

from lfb.model.estimator import Prediction
from lfb.model.flag import (LATE_S, fit_flag, flag_figures, held_out_figures, probability_late, served_figures,
                            served_flags)
from lfb.model.risk import activate, find_risks


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
