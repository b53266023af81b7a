"""Underestimation risk from the model's own errors, by the stated rule."""
import numpy as np
import pandas as pd
import pytest

from lfb.model.risk import RiskRule, activate, find_risks, flag_mask, flag_usefulness, time_band, wilson_lower


def _scored(late_station_rows=60, late_share=0.6, others=600, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(others):
        late = rng.random() < 0.15
        rows.append({"station_code": f"S{i % 6}", "hour": 12, "month": "2024-0" + str(1 + i % 3),
                     "median": 300.0, "y": 300.0 + (90 if late else 0)})
    for i in range(late_station_rows):
        late = i < late_share * late_station_rows
        rows.append({"station_code": "SLOW", "hour": 3, "month": "2024-0" + str(1 + i % 3), "median": 300.0,
                     "y": 300.0 + (120 if late else -10)})
    return pd.DataFrame(rows)


def test_wilson_lower_bound():
    assert wilson_lower(np.array([0]), np.array([10]), 0.9)[0] == pytest.approx(0.0, abs=1e-9)
    low = wilson_lower(np.array([50]), np.array([100]), 0.9)[0]
    assert 0.43 < low < 0.5


def test_station_late_far_more_often_is_flagged_with_its_figures():
    risks = find_risks(_scored())
    keys = {(g["level"], g["key"]) for g in risks["groups"]}
    assert ("station", "SLOW") in keys and ("station_band", "SLOW | night 00-07") in keys
    assert not any(k[1].startswith("S0") for k in keys)
    slow = next(g for g in risks["groups"] if g["key"] == "SLOW")
    assert slow["rows"] == 60 and slow["late_share"] == pytest.approx(0.6)
    assert "at least 30" in risks["rule_text"]


def test_too_few_rows_are_never_flagged():
    assert find_risks(_scored(late_station_rows=20, late_share=1.0), RiskRule(min_rows=30))["groups"] == []


def test_flag_mask_gives_reasons():
    risks = find_risks(_scored())
    mask, reasons = flag_mask(risks, np.array(["SLOW", "S1"]), np.array([3, 12]))
    assert mask.tolist() == [True, False]
    assert "SLOW at night 00-07" in reasons[0] and reasons[1] == ""


def test_usefulness_is_measured_on_a_later_month():
    result = flag_usefulness(_scored())
    assert result["checked_on"] == "2024-03" and result["learned_on"] == "2024-01..2024-02"
    assert result["late_share_flagged"] > result["late_share_unflagged"]


def test_time_bands():
    assert time_band(np.array([0, 8, 12, 17, 23])).tolist() == [
        "night 00-07", "morning 07-10", "day 10-16", "peak 16-19", "evening 19-24"]


def test_the_flag_serves_only_when_it_showed_value():
    scored = _scored()
    useful = activate(find_risks(scored), flag_usefulness(scored))
    assert useful["active"] and useful["active_reason"].startswith("in service")
    useless = activate(find_risks(scored), {"checked_on": "2024-03", "late_share_flagged": 0.1,
                                            "late_share_unflagged": 0.2})
    assert not useless["active"] and "no shown value" in useless["active_reason"]
    mask, reasons = flag_mask(useless, np.array(["SLOW"]), np.array([3]))
    assert not mask.any() and reasons == [""]
