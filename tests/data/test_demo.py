"""Demo data generator (lfb/demo.py) and calibration report (lfb/calibration.py)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lfb.data.calibration import calibration_report, run_report
from lfb.data.demo import (FIRST_MOBILISATION_ID, MAX_ATTENDANCE_S, README_NAME, DemoResult, default_start, demo_files,
                      generate_demo, month_range)
from lfb.data.ingest import ingest_file
from lfb.data.reference import load_stations, stations
from lfb.data.store import connect, count

SMALL = {"start": "2023-11", "months": 3, "incidents_per_year": 5000}  # crosses a year end: two files of each
SEED = 7
# the published headers, byte for byte (2023 incident sample; 2020 mobilisation file)
INCIDENT_HEADER = (
    "IncidentNumber,DateOfCall,CalYear,TimeOfCall,HourOfCall,IncidentGroup,StopCodeDescription,SpecialServiceType,"
    "PropertyCategory,PropertyType,AddressQualifier,Postcode_full,Postcode_district,UPRN,USRN,IncGeo_BoroughCode,"
    "IncGeo_BoroughName,ProperCase,IncGeo_WardCode,IncGeo_WardName,IncGeo_WardNameNew,Easting_m,Northing_m,"
    "Easting_rounded,Northing_rounded,Latitude,Longitude,FRS,IncidentStationGround,FirstPumpArriving_AttendanceTime,"
    "FirstPumpArriving_DeployedFromStation,SecondPumpArriving_AttendanceTime,SecondPumpArriving_DeployedFromStation,"
    "NumStationsWithPumpsAttending,NumPumpsAttending,PumpCount,PumpMinutesRounded,Notional Cost (£),NumCalls")
MOBILISATION_HEADER = (
    "IncidentNumber,CalYear,HourOfCall,ResourceMobilisationId,Resource_Code,PerformanceReporting,"
    "DateAndTimeMobilised,DateAndTimeMobile,DateAndTimeArrived,TurnoutTimeSeconds,TravelTimeSeconds,"
    "AttendanceTimeSeconds,DateAndTimeLeft,DateAndTimeReturned,DeployedFromStation_Code,DeployedFromStation_Name,"
    "DeployedFromLocation,PumpOrder,PlusCode_Code,PlusCode_Description,DelayCodeId,DelayCode_Description")
# the published files blank the exact location of dwellings and of these private non-residential buildings
PRIVATE_TYPES = {"Private Garden Shed", "Private garage", "Private Summer house",
                 "Other private non-residential building"}


def _read(paths: list[Path]) -> pd.DataFrame:
    """Read demo files as raw text cells."""
    return pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False) for p in paths], ignore_index=True)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoResult]:
    """Three months of small-scale demo data, generated once for the module."""
    out = tmp_path_factory.mktemp("demo")
    return out, generate_demo(out, seed=SEED, **SMALL)


@pytest.fixture(scope="module")
def incidents(demo: tuple[Path, DemoResult]) -> pd.DataFrame:
    """The demo incident rows as text."""
    return _read([p for p in demo[1].paths if "incidents" in p.name])


@pytest.fixture(scope="module")
def mobilisations(demo: tuple[Path, DemoResult]) -> pd.DataFrame:
    """The demo mobilisation rows as text."""
    return _read([p for p in demo[1].paths if "mobilisations" in p.name])


def test_one_file_of_each_kind_per_year_and_a_readme(demo: tuple[Path, DemoResult]) -> None:
    out, result = demo
    assert [p.name for p in result.paths] == [
        "lfb-demo-incidents-2023.csv", "lfb-demo-mobilisations-2023.csv",
        "lfb-demo-incidents-2024.csv", "lfb-demo-mobilisations-2024.csv"]
    assert result.months == ["2023-11", "2023-12", "2024-01"]
    assert demo_files(out) == result.paths
    assert 1000 < result.incidents < 1600  # 5,000 a year for three months
    assert result.mobilisations > result.incidents
    assert sum(1 for p in result.paths if "incidents" in p.name for _ in p.open()) - 2 == result.incidents
    readme = (out / README_NAME).read_text()
    assert "SYNTHETIC" in readme and "-DEMO" in readme
    assert not list(out.glob("*.partial"))


def test_same_seed_gives_identical_bytes_and_another_seed_differs(demo: tuple[Path, DemoResult],
                                                                  tmp_path: Path) -> None:
    _, first = demo
    again = generate_demo(tmp_path / "again", seed=SEED, **SMALL)
    other = generate_demo(tmp_path / "other", seed=SEED + 1, **SMALL)
    for a, b, c in zip(first.paths, again.paths, other.paths):
        assert a.read_bytes() == b.read_bytes(), a.name
        assert a.read_bytes() != c.read_bytes(), a.name


def test_exact_published_headers(demo: tuple[Path, DemoResult]) -> None:
    for path in demo[1].paths:
        header = path.read_bytes().split(b"\n", 1)[0].decode("utf-8")
        assert header == (INCIDENT_HEADER if "incidents" in path.name else MOBILISATION_HEADER), path.name


def test_headers_are_those_of_the_real_files(demo: tuple[Path, DemoResult], shared_data: Path) -> None:
    real_incidents = (shared_data / "incidents_2023_sample_jan_sep.csv").read_bytes().split(b"\n", 1)[0]
    real_mobilisations = (shared_data / "raw_format_samples" / "mobilisations_2020_first_rows.csv").read_bytes()
    assert real_incidents.decode("utf-8").strip() == INCIDENT_HEADER
    assert real_mobilisations.split(b"\n", 1)[0].decode("utf-8").strip() == MOBILISATION_HEADER


def test_incident_formats(incidents: pd.DataFrame) -> None:
    df = incidents
    date = pd.to_datetime(df.DateOfCall, format="%Y-%m-%d")
    assert pd.to_datetime(df.TimeOfCall, format="%H:%M:%S").notna().all()
    assert (df.HourOfCall.astype(int) == df.TimeOfCall.str[:2].astype(int)).all()
    assert (df.CalYear.astype(int) == date.dt.year).all()
    assert df.IncidentNumber.str.fullmatch(r"\d{6}-\d{8}-DEMO").all()
    assert (df.IncidentNumber.str[7:15] == date.dt.strftime("%d%m%Y")).all()
    assert df.IncidentNumber.is_unique
    assert (df.FRS == "London").all()
    for col in ("Easting_rounded", "Northing_rounded"):
        assert df[col].str.fullmatch(r"\d{6}").all() and df[col].str.endswith("50").all()
    exact = df.Easting_m != ""
    assert (df.Easting_m[exact].astype(float) // 100 * 100 + 50 == df.Easting_rounded[exact].astype(float)).all()
    assert df.Easting_m[exact].str.fullmatch(r"\d{6}\.0").all()
    # exact position, postcode and UPRN blanked together, for dwellings and private non-residential buildings
    for col in ("Northing_m", "Latitude", "Longitude", "Postcode_full"):
        assert ((df[col] == "") == ~exact).all(), col
    assert ((df.UPRN == "0") == ~exact).all()
    dwelling = df.PropertyCategory == "Dwelling"
    assert not exact[dwelling].any()
    assert (dwelling | df.PropertyType.str.strip().isin(PRIVATE_TYPES))[~exact].all()
    assert exact[~dwelling].mean() > 0.95
    lat, lon = df.Latitude[exact].astype(float), df.Longitude[exact].astype(float)
    assert lat.between(51.25, 51.72).all() and lon.between(-0.56, 0.34).all()
    assert df.Postcode_full[exact].str.fullmatch(r"[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}").all()
    assert (df.Postcode_full[exact].str.split(" ").str[0] == df.Postcode_district[exact]).all()
    timed = df.FirstPumpArriving_AttendanceTime != ""
    assert df.FirstPumpArriving_AttendanceTime[timed].str.fullmatch(r"\d+\.0").all()
    assert df.NumCalls.str.fullmatch(r"\d+\.0").all() and df.PumpCount.str.fullmatch(r"\d+").all()
    assert (df.PumpMinutesRounded.astype(int) >= 60).all()
    assert set(df.IncidentGroup) == {"False Alarm", "Fire", "Special Service"}
    assert ((df.SpecialServiceType != "") == (df.IncidentGroup == "Special Service")).mean() > 0.99
    assert set(df.IncidentStationGround) <= set(stations().station_name)


def test_mobilisation_formats(mobilisations: pd.DataFrame) -> None:
    df = mobilisations
    stamp = r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d"
    for col in ("DateAndTimeMobilised", "DateAndTimeArrived"):
        assert df[col].str.fullmatch(stamp).all(), col
    for col in ("DateAndTimeMobile", "DateAndTimeLeft"):
        assert df[col][df[col] != ""].str.fullmatch(stamp).all(), col
        assert (df[col] != "").mean() > 0.98, col
    assert (df.DateAndTimeReturned == "").all()
    ids = df.ResourceMobilisationId.astype(int)
    assert ids.is_unique and ids.min() == FIRST_MOBILISATION_ID
    assert df.Resource_Code.str.fullmatch(r"[A-Z]\d\d[12]").all()
    assert set(df.DeployedFromStation_Code) <= set(stations().station_code)
    names = stations().set_index("station_code").station_name
    assert (df.DeployedFromStation_Code.map(names) == df.DeployedFromStation_Name).all()
    home = df.DeployedFromLocation == "Home Station"
    assert set(df.DeployedFromLocation) == {"Home Station", "Other Station"}
    assert (df.Resource_Code.str[:3] == df.DeployedFromStation_Code)[home].all()
    assert 0.05 < (~home).mean() < 0.16
    codes = {"": "", "12.0": "Not held up", "9.0": "Traffic, roadworks, etc", "5.0": "Address incomplete/wrong"}
    assert set(df.DelayCodeId) <= set(codes)
    assert (df.DelayCodeId.map(codes) == df.DelayCode_Description).all()
    assert 0.6 < (df.DelayCodeId == "").mean() < 0.95
    mobilised = pd.to_datetime(df.DateAndTimeMobilised, format="%d/%m/%Y %H:%M:%S")
    arrived = pd.to_datetime(df.DateAndTimeArrived, format="%d/%m/%Y %H:%M:%S")
    assert ((arrived - mobilised).dt.total_seconds() == df.AttendanceTimeSeconds.astype(float)).all()
    full = df.DateAndTimeMobile != ""
    mobile = pd.to_datetime(df.DateAndTimeMobile[full], format="%d/%m/%Y %H:%M:%S")
    assert ((mobile - mobilised[full]).dt.total_seconds() == df.TurnoutTimeSeconds[full].astype(float)).all()
    total = df.TurnoutTimeSeconds[full].astype(float) + df.TravelTimeSeconds[full].astype(float)
    assert (total == df.AttendanceTimeSeconds[full].astype(float)).all()
    assert (df.TurnoutTimeSeconds[~full] == "").all() and (df.TravelTimeSeconds[~full] == "").all()
    assert (df.PumpOrder.astype(int) >= 1).all()
    reporting = np.where(df.PumpOrder == "1", "1", np.where(df.PumpOrder == "2", "2", "Not Used"))
    assert (df.PerformanceReporting == reporting).all()


def test_incidents_agree_with_their_mobilisations(incidents: pd.DataFrame, mobilisations: pd.DataFrame) -> None:
    mob = mobilisations.assign(
        arrived=pd.to_datetime(mobilisations.DateAndTimeArrived, format="%d/%m/%Y %H:%M:%S"),
        attendance=mobilisations.AttendanceTimeSeconds.astype(float), order=mobilisations.PumpOrder.astype(int))
    assert set(mob.IncidentNumber) <= set(incidents.IncidentNumber)
    # PumpOrder is the order of arrival
    ranked = mob.sort_values(["IncidentNumber", "arrived", "order"])
    assert (ranked.groupby("IncidentNumber").cumcount() + 1 == ranked.order).all()
    inc = incidents.set_index("IncidentNumber")
    by = mob.groupby("IncidentNumber")
    first = mob[mob.order == 1].set_index("IncidentNumber")
    second = mob[mob.order == 2].set_index("IncidentNumber")
    timed = inc[inc.FirstPumpArriving_AttendanceTime != ""]
    assert set(timed.index) == set(first.index)  # no mobilisation rows without a first-pump time, as published
    earliest = by.arrived.min()
    assert (first.loc[timed.index, "arrived"] == earliest.loc[timed.index]).all()
    assert (timed.FirstPumpArriving_AttendanceTime.astype(float) == first.loc[timed.index, "attendance"]).all()
    assert (timed.FirstPumpArriving_DeployedFromStation == first.loc[timed.index, "DeployedFromStation_Name"]).all()
    two = inc[inc.SecondPumpArriving_AttendanceTime != ""]
    assert set(two.index) == set(second.index)
    assert (two.SecondPumpArriving_AttendanceTime.astype(float) == second.loc[two.index, "attendance"]).all()
    assert (two.SecondPumpArriving_DeployedFromStation == second.loc[two.index, "DeployedFromStation_Name"]).all()
    assert (timed.NumPumpsAttending.astype(float) == by.size().loc[timed.index]).all()
    assert (timed.PumpCount.astype(int) == by.size().loc[timed.index]).all()
    assert (timed.NumStationsWithPumpsAttending.astype(float)
            == by.DeployedFromStation_Code.nunique().loc[timed.index]).all()
    untimed = inc[inc.FirstPumpArriving_AttendanceTime == ""]
    assert 0.02 < len(untimed) / len(inc) < 0.09  # the real 5.4%: mostly lift releases
    assert (untimed.PumpCount == "1").all() and set(untimed.NumPumpsAttending) <= {"", "1.0"}


def test_no_attendance_over_the_published_cap(incidents: pd.DataFrame, mobilisations: pd.DataFrame) -> None:
    for col in ("FirstPumpArriving_AttendanceTime", "SecondPumpArriving_AttendanceTime"):
        values = incidents[col][incidents[col] != ""].astype(float)
        assert values.max() <= MAX_ATTENDANCE_S and values.min() >= 0
    assert mobilisations.AttendanceTimeSeconds.astype(float).max() <= MAX_ATTENDANCE_S


def test_first_pump_mostly_from_the_own_station_ground(incidents: pd.DataFrame) -> None:
    timed = incidents[incidents.FirstPumpArriving_DeployedFromStation != ""]
    own = (timed.FirstPumpArriving_DeployedFromStation == timed.IncidentStationGround).mean()
    assert 0.6 <= own <= 0.8
    first = timed.FirstPumpArriving_AttendanceTime.astype(float)
    assert 250 < first.mean() < 380 and 240 < first.median() < 360


def test_ingests_with_no_rejects_and_all_rows_marked_demo(demo: tuple[Path, DemoResult], tmp_path: Path) -> None:
    _, result = demo
    db = connect(tmp_path / "t.db")
    load_stations(db)
    for path in result.paths:
        report = ingest_file(db, path)
        assert report.status == "ok", report.message
        assert report.rows_rejected == 0, report.message
        assert report.is_demo
    assert count(db, "incidents") == result.incidents
    assert count(db, "mobilisations", "derived = 0") == result.mobilisations
    assert count(db, "incidents", "is_demo = 0") == 0 and count(db, "mobilisations", "is_demo = 0") == 0
    assert count(db, "rejects") == 0
    unknown = "station_code NOT IN (SELECT station_code FROM stations)"
    assert count(db, "mobilisations", unknown) == 0
    db.close()


def test_default_start_is_the_months_ending_last_complete_month(tmp_path: Path) -> None:
    assert default_start(36, dt.date(2026, 11, 22)) == "2023-11"
    assert default_start(1, dt.date(2024, 1, 5)) == "2023-12"
    assert default_start(12, dt.date(2024, 12, 31)) == "2023-12"
    assert month_range("2023-11", 3) == [(2023, 11), (2023, 12), (2024, 1)]
    today = dt.date.today()
    last = dt.date(today.year, today.month, 1) - dt.timedelta(days=1)
    result = generate_demo(tmp_path, months=2, incidents_per_year=1200)
    before = dt.date(last.year, last.month, 1) - dt.timedelta(days=1)
    assert result.months == [f"{before:%Y-%m}", f"{last:%Y-%m}"]


def test_bad_arguments_and_stale_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        generate_demo(tmp_path, start="2023-13", months=1)
    with pytest.raises(ValueError, match="months"):
        generate_demo(tmp_path, start="2023-01", months=0)
    stale = tmp_path / "lfb-demo-incidents-1999.csv"
    keep = tmp_path / "notes.csv"
    stale.write_text("old")
    keep.write_text("mine")
    generate_demo(tmp_path, start="2023-01", months=1, incidents_per_year=1200)
    assert not stale.exists() and keep.exists()


# ---- calibration report ---------------------------------------------------------------------------

def test_report_without_real_data_shows_the_demo_alone(demo: tuple[Path, DemoResult], tmp_path: Path) -> None:
    text = run_report(demo[0], tmp_path / "no-real-data")
    assert "ABSENT" in text and str(tmp_path / "no-real-data") in text
    assert "FIRST PUMP ATTENDANCE" in text and "TRAVEL TIME BY DISTANCE" in text
    rows = calibration_report(demo[0], tmp_path / "no-real-data")
    assert all(r.real is None for r in rows)
    figures = {r.metric: r.demo for r in rows if r.section.startswith("first pump")}
    assert 250 < figures["mean"] < 380


def test_report_from_the_database(demo: tuple[Path, DemoResult], tmp_path: Path) -> None:
    db = connect(tmp_path / "t.db")
    load_stations(db)
    assert "no demo rows" in run_report(db, tmp_path / "none")
    for path in demo[1].paths:
        ingest_file(db, path)
    from_db = {(r.section, r.metric): r.demo for r in calibration_report(db, tmp_path / "none")}
    from_files = {(r.section, r.metric): r.demo for r in calibration_report(demo[0], tmp_path / "none")}
    assert from_db.keys() == from_files.keys()
    for key, value in from_files.items():
        assert from_db[key] == pytest.approx(value, nan_ok=True), key
    db.close()


def test_report_against_the_real_sample(demo: tuple[Path, DemoResult], shared_data: Path) -> None:
    rows = calibration_report(demo[0], shared_data)
    text = run_report(demo[0], shared_data)
    assert "ABSENT" not in text and "README figure" in text
    real = {(r.section, r.metric): r for r in rows}
    mean = real[("first pump attendance (mobilised to arrived)", "mean")]
    assert mean.real == pytest.approx(312.3, abs=1)  # the 2023 sample's figure
    assert mean.demo == pytest.approx(mean.real, rel=0.12)
    own = real[("pumps", "first pump from the incident's own station ground")]
    assert own.demo == pytest.approx(own.real, abs=8)
    for r in rows:
        if r.section.startswith("travel time") and r.metric.endswith("median") and "over 6" not in r.metric:
            assert r.demo == pytest.approx(r.real, rel=0.15), r.metric
    corr = real[("hour of call", "hourly profile: correlation demo vs real")]
    assert corr.demo > 0.8
