"""Splits in time: the newest months are the test window; no incident straddles a split."""
import pandas as pd
import pytest

from lfb.model.split import month_add, time_split


def _frame():
    rows = []
    for m in range(1, 11):
        for i in range(3):
            for pump in (1, 2):  # two pumps per incident, same incident month
                rows.append({"incident_number": f"{m}-{i}", "month": f"2024-{m:02d}", "pump": pump})
    return pd.DataFrame(rows)


def test_month_add():
    assert month_add("2024-01", -1) == "2023-12" and month_add("2024-11", 3) == "2025-02"


def test_windows_and_no_straddling():
    split = time_split(_frame(), test_months=3)
    w = split.windows
    assert (w.train_from, w.train_until, w.valid_from, w.valid_until, w.test_from, w.test_until) == (
        "2024-01", "2024-06", "2024-07", "2024-07", "2024-08", "2024-10")
    parts = [set(p.incident_number) for p in (split.train, split.valid, split.test)]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert len(split.test) == 18


def test_until_moves_the_test_window_back():
    split = time_split(_frame(), test_months=2, until="2024-05-31")
    assert (split.windows.test_from, split.windows.test_until) == ("2024-04", "2024-05")
    assert split.test.month.max() == "2024-05" and split.train.month.max() == "2024-02"


def test_not_enough_history_is_a_clear_error():
    with pytest.raises(ValueError, match="not enough history"):
        time_split(_frame(), test_months=10)
    with pytest.raises(ValueError, match="no examples"):
        time_split(_frame().iloc[0:0])


def test_until_after_the_data_takes_the_newest_months_that_have_data():
    split = time_split(_frame(), test_months=3, until="2024-12-31")
    assert (split.windows.test_from, split.windows.test_until) == ("2024-08", "2024-10")
    assert len(split.test) == 18 and split.valid.month.unique().tolist() == ["2024-07"]


def test_until_inside_a_gap_takes_the_last_month_with_data_before_it():
    frame = _frame()
    frame = frame[frame.month != "2024-06"]
    split = time_split(frame, test_months=2, until="2024-06")
    assert (split.windows.test_from, split.windows.test_until) == ("2024-04", "2024-05")


def test_until_before_the_data_is_a_clear_error():
    with pytest.raises(ValueError, match="no data up to 2023-05: the data starts 2024-01"):
        time_split(_frame(), until="2023-05")
