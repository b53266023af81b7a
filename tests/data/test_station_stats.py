"""Station figures: the attendances the view counts, by period, group and pump order; cheap queries."""
import dataclasses

import numpy as np
import pandas as pd
import pytest

from lfb.data import station_stats
from lfb.data.ingest import ingest_file
from lfb.data.reference import stations
from lfb.data.station_stats import StatsFilter
from lfb.data.store import connect
from lfb.model.dataset import MAX_TARGET_S
from lfb.model.estimator import TARGET_S
from tests.builders import INCIDENT_HEADER, MOBILISATION_HEADER, incident_row, mobilisation_row, write_csv


@pytest.fixture
def small(db, tmp_path):
    """Three incidents: one with real mobilisations (derived rows must not count), two known only from incidents."""
    incidents = [
        incident_row("000001-05012023", DateOfCall="2023-01-05", IncidentGroup="Fire",
                     FirstPumpArriving_AttendanceTime="300", SecondPumpArriving_AttendanceTime="420"),
        incident_row("000002-06012023", DateOfCall="2023-01-06", IncidentGroup="Special Service",
                     StopCodeDescription="Special Service", FirstPumpArriving_AttendanceTime="200",
                     SecondPumpArriving_AttendanceTime="500"),
        incident_row("000003-07022023", DateOfCall="2023-02-07", IncidentGroup="Fire",
                     FirstPumpArriving_AttendanceTime="350", SecondPumpArriving_AttendanceTime=""),
    ]
    mobilisations = [
        mobilisation_row("000001-05012023", "1", DateAndTimeMobilised="05/01/2023 10:16:00",
                         AttendanceTimeSeconds="310", PumpOrder="1"),
        mobilisation_row("000001-05012023", "2", DateAndTimeMobilised="05/01/2023 10:16:00",
                         AttendanceTimeSeconds="400", DeployedFromStation_Code="A23",
                         DeployedFromStation_Name="Euston", PumpOrder="2"),
    ]
    assert ingest_file(db, write_csv(tmp_path / "inc.csv", incidents, INCIDENT_HEADER)).status == "ok"
    assert ingest_file(db, write_csv(tmp_path / "mob.csv", mobilisations, MOBILISATION_HEADER)).status == "ok"
    return db


def _figures(db, **kw) -> dict[str, tuple]:
    """Station -> (pumps, median, share within 6 minutes) for a filter over 2023-01..2023-02."""
    flt = StatsFilter("2023-01", "2023-02", **kw)
    table = station_stats.station_summary(db, flt)
    return {code: (int(r.pumps), float(r.median_s), round(float(r.within_target), 4)) for code, r in table.iterrows()}


def test_real_mobilisations_replace_the_pumps_derived_from_their_incident(small):
    # A21: real 310 (incident 1), derived 200 (incident 2) and 350 (incident 3); A23: real 400, derived 500
    assert _figures(small) == {"A21": (3, 310.0, 1.0), "A23": (2, 450.0, 0.0)}


def test_incident_group_month_range_and_first_pumps_filter_the_pumps(small):
    assert _figures(small, incident_group="Fire") == {"A21": (2, 330.0, 1.0), "A23": (1, 400.0, 0.0)}
    assert _figures(small, incident_group="False Alarm") == {}
    assert _figures(small, first_pump_only=True) == {"A21": (3, 310.0, 1.0)}
    jan = station_stats.station_summary(small, StatsFilter("2023-01", "2023-01"))
    assert jan.loc["A21", "pumps"] == 2 and jan.loc["A21", "median_s"] == 255.0


def test_real_only_leaves_demo_rows_out(small):
    small.execute("UPDATE mobilisations SET is_demo = 1 WHERE incident_number = '000003-07022023'")
    assert _figures(small, real_only=True)["A21"] == (2, 255.0, 1.0)
    months = station_stats.month_table(small)
    assert months.to_dict("list") == {"month": ["2023-01", "2023-02"], "real": [True, False]}
    assert station_stats.default_filter(small) == StatsFilter("2023-01", "2023-02", real_only=True)


def test_an_all_demo_store_counts_its_demo_rows(small):
    small.execute("UPDATE mobilisations SET is_demo = 1")
    assert station_stats.default_filter(small, months=1) == StatsFilter("2023-02", "2023-02", real_only=False)


def test_an_empty_store_has_no_months_and_no_figures(db):
    assert station_stats.month_table(db).empty and station_stats.default_filter(db) is None
    assert station_stats.station_summary(db, StatsFilter("2023-01", "2023-12")).empty


def test_one_station_distribution(small):
    seconds = station_stats.attendance_seconds(small, "A21", StatsFilter("2023-01", "2023-02"))
    assert sorted(seconds.tolist()) == [200.0, 310.0, 350.0]
    bins = station_stats.histogram(seconds)
    counts = dict(zip(bins["start_s"], bins["pumps"]))
    assert sum(counts.values()) == 3 and counts[180] == counts[300] == counts[330] == 1
    assert bins["start_s"].iloc[0] == 0 and bins["end_s"].iloc[-1] == MAX_TARGET_S


def test_histogram_keeps_the_bounds():
    bins = station_stats.histogram(np.array([0.5, 359.0, 360.0, 1200.0]))
    assert bins.loc[bins["start_s"] == 330, "pumps"].item() == 1  # 359 s is within the 6 minutes' last bin
    assert bins.loc[bins["start_s"] == 360, "pumps"].item() == 1
    assert bins["pumps"].iloc[-1] == 1  # the cap itself is counted


def test_station_table_lists_every_lfb_station_once(small):
    table = station_stats.station_table(station_stats.station_summary(small, StatsFilter("2023-01", "2023-02")))
    lfb = stations()[stations()["is_lfb"] == 1]
    assert sorted(table["station_code"]) == sorted(lfb["station_code"])
    assert table.set_index("station_code").loc["A21", "pumps"] == 3
    assert (table["pumps"] == 0).sum() == len(lfb) - 2 and table["median_s"].isna().sum() == len(lfb) - 2


def test_incident_groups(small):
    assert station_stats.incident_groups(small) == ["Fire", "Special Service"]


def test_thresholds_are_the_models():
    assert station_stats.TARGET_S == TARGET_S and station_stats.MAX_ATTENDANCE_S == MAX_TARGET_S


def _view_figures(db, flt: StatsFilter) -> pd.DataFrame:
    """The same figures computed the slow, obvious way: from the attendances view, in pandas."""
    rows = pd.read_sql_query(
        "SELECT a.station_code, a.attendance_seconds AS s, a.pump_order, a.month, a.is_demo, i.incident_group "
        "FROM attendances a LEFT JOIN incidents i ON i.incident_number = a.incident_number "
        "WHERE a.attendance_seconds > 0 AND a.attendance_seconds <= 1200", db.conn)
    keep = (rows["month"] >= flt.first_month) & (rows["month"] <= flt.last_month)
    if flt.incident_group:
        keep &= rows["incident_group"] == flt.incident_group
    if flt.first_pump_only:
        keep &= rows["pump_order"] == 1
    g = rows[keep].groupby("station_code")["s"]
    return pd.DataFrame({"pumps": g.size(), "median_s": g.median(), "p90_s": g.quantile(0.9),
                         "within_target": g.apply(lambda s: float((s <= 360).mean()))})


@pytest.mark.parametrize("change", [{}, {"incident_group": "Fire"}, {"first_pump_only": True},
                                    {"first_month": "2024-03", "last_month": "2024-05"}])
def test_figures_agree_with_the_attendances_view(trained, change):
    settings, _ = trained
    db = connect(settings.db_path)
    flt = dataclasses.replace(StatsFilter("2024-01", "2024-10"), **change)
    ours = station_stats.station_summary(db, flt)
    expected = _view_figures(db, flt)
    assert len(ours) > 50 and ours.index.tolist() == expected.index.tolist()
    pd.testing.assert_frame_equal(ours, expected.astype(ours.dtypes.to_dict()), check_names=False)


def test_the_summary_reads_indexes_only(trained):
    settings, _ = trained
    db = connect(settings.db_path)
    for flt in (StatsFilter("2024-01", "2024-10"), StatsFilter("2024-01", "2024-10", "Fire", True, True)):
        sql, params = station_stats._query(flt)
        plan = " | ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params))
        assert "SCAN" not in plan, plan  # every table is searched through an index, none read whole
        assert "COVERING INDEX idx_mobilisations_month_stats" in plan and "COVERING INDEX idx_mobilisations_real" in plan
