"""The model's errors and flag marks per station, read from a version's metadata."""
import numpy as np
import pandas as pd
import pytest

from lfb.model.station_errors import flag_in_service, station_errors, with_errors

METADATA = {
    "evaluation": {"by_station": [
        {"station_code": "A21", "n": 40, "mae": 61.5, "bias": 12.25},
        {"station_code": "A23", "n": 25, "mae": 80.0},  # reported before bias was
    ]},
    "risks": {"active": False, "active_reason": "not in service (no shown value): checked on 2024-10",
              "groups": [
                  {"level": "station", "key": "A23", "rows": 60, "late_share": 0.31},
                  {"level": "station_band", "key": "A23 | night 00-07", "rows": 35, "late_share": 0.4},
                  {"level": "station_band", "key": "E42 | peak 16-19", "rows": 30, "late_share": 0.5},
                  {"level": "borough", "key": "CAMDEN", "rows": 99, "late_share": 0.9},  # not a station level
              ]},
}


def test_errors_and_flags_per_station():
    table = station_errors(METADATA)
    assert table.index.tolist() == ["A21", "A23", "E42"]
    assert table.loc["A21", ["test_pumps", "mae_s", "bias_s"]].tolist() == [40, 61.5, 12.25]
    assert np.isnan(table.loc["A23", "bias_s"]) and table.loc["A23", "mae_s"] == 80.0
    assert np.isnan(table.loc["E42", "mae_s"]) and table.loc["E42", "test_pumps"] == 0  # flagged, not reported
    assert table["flagged"].tolist() == [False, True, True]
    assert table.loc["A23", "flag_scope"] == "all day" and table.loc["E42", "flag_scope"] == "peak 16-19"
    assert "40% of 35 test pumps" in table.loc["A23", "flag_text"]


def test_a_version_without_reports_gives_an_empty_table():
    table = station_errors({})
    assert table.empty and list(table.columns) == ["test_pumps", "mae_s", "bias_s", "flagged", "flag_scope",
                                                   "flag_text"]


def test_whether_the_flag_serves():
    assert flag_in_service(METADATA) == (False, METADATA["risks"]["active_reason"])
    assert flag_in_service({"risks": {"groups": []}})[0] is True  # versions from before the check: in service


def test_the_trained_champion_reports_bias_by_station(trained):
    _, result = trained
    report = result.metadata["evaluation"]["by_station"]
    table = station_errors(result.metadata)
    assert report and all("bias" in r for r in report)
    for r in report:
        assert table.loc[r["station_code"], "mae_s"] == pytest.approx(r["mae"])
        assert table.loc[r["station_code"], "bias_s"] == pytest.approx(r["bias"])
        assert abs(r["bias"]) <= r["mae"] + 1e-6  # |mean error| never exceeds the mean absolute error
    flagged = {g["key"].split(" | ")[0] for g in result.metadata["risks"]["groups"]}
    assert set(table.index[table["flagged"]]) == flagged


def test_errors_join_a_station_table_and_nothing_is_flagged_without_a_model():
    table = pd.DataFrame({"station_code": ["A21", "E42", "F40"], "pumps": [10, 20, 0]})
    joined = with_errors(table, METADATA)
    assert joined["station_code"].tolist() == ["A21", "E42", "F40"] and joined["pumps"].tolist() == [10, 20, 0]
    assert joined["flagged"].tolist() == [False, True, False] and joined["flag_text"].iloc[2] == ""
    assert joined["mae_s"].iloc[0] == 61.5 and np.isnan(joined["mae_s"].iloc[2]) and joined["test_pumps"].iloc[2] == 0
    bare = with_errors(table, None)
    assert not bare["flagged"].any() and bare["mae_s"].isna().all() and len(bare) == 3
