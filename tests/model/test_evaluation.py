"""Evaluation metrics on hand-computed cases, baselines and breakdowns."""
import math

import numpy as np
import pandas as pd
import pytest

from lfb.model.evaluation import Baselines, evaluation_report, grouped_metrics, lift, metrics
from lfb.model.estimator import DistanceCurve


def test_metrics_hand_computed():
    m = metrics(y=[100, 200, 400], median=[110, 190, 300], p90=[150, 250, 350])
    assert m["n"] == 3
    assert m["mae"] == pytest.approx(40.0)
    assert m["rmse"] == pytest.approx(math.sqrt((100 + 100 + 10000) / 3))
    var = np.var([100, 200, 400])
    assert m["r2"] == pytest.approx(1 - (10200 / 3) / var)
    assert m["median_ae"] == 10
    assert m["within_60s"] == pytest.approx(2 / 3)
    assert m["over_360_accuracy"] == pytest.approx(2 / 3)  # 400 s was late, estimated 300 s: one wrong call
    assert m["p90_coverage"] == pytest.approx(2 / 3)


def test_metrics_of_nothing():
    assert metrics([], [], [])["mae"] is None


def test_lift():
    assert lift(90, 100) == pytest.approx(0.10) and lift(110, 100) == pytest.approx(-0.10)


def test_distance_curve_is_monotone_and_fits_medians():
    d = np.repeat(np.arange(1, 11) * 500.0, 50)
    y = d * 0.1 + 100 + np.tile(np.arange(-25, 25), 10)
    curve = DistanceCurve.fit(d, y, bins=10)
    assert np.all(np.diff(curve.seconds) >= 0)
    assert curve.predict(np.array([500.0, 5000.0])) == pytest.approx([149.5, 599.5], abs=1.0)
    assert curve.predict(np.array([0.0, 1e6])).tolist() == [curve.seconds[0], curve.seconds[-1]]


def test_report_has_baselines_lift_and_breakdowns():
    rng = np.random.default_rng(0)
    d = rng.uniform(100, 5000, 400)
    y = 120 + d * 0.08 + rng.normal(0, 30, 400)
    base = Baselines.fit(d, y)
    scored = pd.DataFrame({"y": y, "median": 120 + d * 0.08, "p90": 120 + d * 0.08 + 40, "distance_m": d,
                           "month": np.where(np.arange(400) < 200, "2024-01", "2024-02"),
                           "station_code": np.where(np.arange(400) % 2, "A21", "A23"),
                           "pump_order": np.where(np.arange(400) % 3, 1, 2)})
    report = evaluation_report(scored, base, min_station_rows=10)
    assert report["n"] == 400 and set(report["baselines"]) == {"median", "distance"}
    assert report["lift"]["vs_median"] > 0.5
    assert [m["month"] for m in report["by_month"]] == ["2024-01", "2024-02"]
    assert {m["pump_order"] for m in report["by_pump_order"]} == {1, 2}
    assert report["first_pump"]["n"] == sum(np.arange(400) % 3 != 0)
    assert Baselines.from_dict(base.as_dict()).predict("distance", d[:3])[0].tolist() == \
        base.predict("distance", d[:3])[0].tolist()


def test_grouped_metrics_respects_minimum_rows():
    frame = pd.DataFrame({"y": [1.0, 2, 3], "median": [1.0, 2, 3], "p90": [2.0, 3, 4], "k": ["a", "a", "b"]})
    assert [g["k"] for g in grouped_metrics(frame, "k", min_rows=2)] == ["a"]


def test_grouped_metrics_carry_the_bias_of_each_group():
    frame = pd.DataFrame({"y": [100.0, 200, 300, 50], "median": [90.0, 230, 300, 80], "p90": [200.0, 300, 400, 100],
                          "k": ["a", "a", "b", "b"]})
    groups = {g["k"]: g for g in grouped_metrics(frame, "k")}
    assert groups["a"]["bias"] == pytest.approx((10 - 30) / 2)  # one pump 10 s late, one 30 s early
    assert groups["b"]["bias"] == pytest.approx(-15.0)
    assert groups["a"]["mae"] == pytest.approx(20.0)  # the metrics are still there
