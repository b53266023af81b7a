"""Ingestion: idempotent, atomic per file, rejects kept, real formats read correctly."""
import pandas as pd
import pytest

from lfb.data import ingest as ingest_module
from lfb.data.ingest import ingest_file
from lfb.data.store import count
from tests.builders import INCIDENT_HEADER, MOBILISATION_HEADER, incident_row, mobilisation_row, write_csv


def _mobs(n, start=0, attendance="300"):
    return [mobilisation_row(f"{i:06d}-01012023", str(i), AttendanceTimeSeconds=attendance)
            for i in range(start, start + n)]


def test_same_file_twice_adds_nothing(db, tmp_path):
    path = write_csv(tmp_path / "m.csv", _mobs(30), MOBILISATION_HEADER)
    first = ingest_file(db, path)
    second = ingest_file(db, path)
    forced = ingest_file(db, path, force=True)
    assert (first.status, first.rows_inserted, first.rows_updated) == ("ok", 30, 0)
    assert second.status == "skipped" and second.ingest_id == first.ingest_id
    assert (forced.status, forced.rows_inserted, forced.rows_updated) == ("ok", 0, 30)
    assert count(db, "mobilisations") == 30
    assert count(db, "ingests") == 2


def test_overlapping_files_update_never_duplicate(db, tmp_path):
    ingest_file(db, write_csv(tmp_path / "a.csv", _mobs(20), MOBILISATION_HEADER))
    report = ingest_file(db, write_csv(tmp_path / "b.csv", _mobs(20, start=10, attendance="333"),
                                       MOBILISATION_HEADER))
    assert (report.rows_inserted, report.rows_updated) == (10, 10)
    assert count(db, "mobilisations") == 30
    assert count(db, "mobilisations", "attendance_seconds = 333") == 20


def test_failure_half_way_leaves_the_database_as_it_was(db, tmp_path):
    ingest_file(db, write_csv(tmp_path / "ok.csv", _mobs(5), MOBILISATION_HEADER))
    path = write_csv(tmp_path / "bad.csv", _mobs(2500, start=100), MOBILISATION_HEADER)
    with path.open("a") as fh:  # an unreadable row after 2,500 good rows: chunks 1-2 are already written
        fh.write('1,"' + "x" * (3 << 20) + "\n")
    report = ingest_file(db, path, chunk_rows=1000)
    assert report.status == "failed" and "not a readable CSV" in report.message
    assert count(db, "mobilisations") == 5
    row = db.execute("SELECT status, message, rows_read FROM ingests WHERE id = ?", [report.ingest_id]).fetchone()
    assert row[0] == "failed" and "not a readable CSV" in row[1] and row[2] == 0


def test_database_error_mid_file_rolls_back(db, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = ingest_module.upsert_rows

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk on fire")
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest_module, "upsert_rows", flaky)
    report = ingest_file(db, write_csv(tmp_path / "m.csv", _mobs(50), MOBILISATION_HEADER), chunk_rows=10)
    assert report.status == "failed" and "disk on fire" in report.message
    assert count(db, "mobilisations") == 0 and count(db, "rejects") == 0
    assert db.execute("SELECT status FROM ingests").fetchall() == [("failed",)]


def test_rejected_rows_are_kept_and_good_rows_still_go_in(db, tmp_path):
    rows = _mobs(10) + [mobilisation_row("bad-1", "900", AttendanceTimeSeconds="soon"),
                        mobilisation_row("bad-2", "901", DateAndTimeMobilised="yesterday")]
    report = ingest_file(db, write_csv(tmp_path / "m.csv", rows, MOBILISATION_HEADER))
    assert (report.status, report.rows_read, report.rows_inserted, report.rows_rejected) == ("ok", 12, 10, 2)
    rejects = db.execute("SELECT line, reason, raw FROM rejects ORDER BY line").fetchall()
    assert [r[0] for r in rejects] == [12, 13]
    assert "AttendanceTimeSeconds" in rejects[0][1] and '"soon"' in rejects[0][2]


def test_file_of_unknown_kind_is_recorded_as_failed(db, tmp_path):
    path = tmp_path / "stations.csv"
    path.write_text("station_code,station_name\nA21,Paddington\n")
    report = ingest_file(db, path)
    assert report.status == "failed" and "IncidentNumber" in report.message
    assert db.execute("SELECT status, file_name FROM ingests").fetchall() == [("failed", "stations.csv")]


def test_incident_only_file_gives_attendances_and_real_mobilisations_take_precedence(db, tmp_path):
    ingest_file(db, write_csv(tmp_path / "i.csv", [incident_row("A"), incident_row("B")], INCIDENT_HEADER))
    assert db.execute("SELECT COUNT(*), SUM(derived) FROM attendances").fetchone() == (4, 4)
    ingest_file(db, write_csv(tmp_path / "m.csv", [mobilisation_row("A", "7")], MOBILISATION_HEADER))
    rows = db.execute("SELECT incident_number, mobilisation_id FROM attendances ORDER BY 1, 2").fetchall()
    assert rows == [("A", "7"), ("B", "derived-1"), ("B", "derived-2")]


def test_progress_is_reported_to_the_end(db, tmp_path):
    seen = []
    ingest_file(db, write_csv(tmp_path / "m.csv", _mobs(35), MOBILISATION_HEADER), chunk_rows=10,
                progress=lambda done, total: seen.append((done, total)))
    assert len(seen) == 4 and seen[-1][0] == seen[-1][1] > 0


@pytest.mark.parametrize("name", ["incidents_2009_first_rows.csv", "incidents_2020_first_rows.csv",
                                  "mobilisations_2009_first_rows.csv", "mobilisations_2020_first_rows.csv"])
def test_raw_format_samples_are_read_without_rejects(db, shared_data, name):
    path = shared_data / "raw_format_samples" / name
    report = ingest_file(db, path)
    assert report.status == "ok" and report.rows_rejected == 0
    assert report.rows_read == len(pd.read_csv(path))


def test_2009_samples_values(db, shared_data):
    for name in ("incidents_2009_first_rows.csv", "mobilisations_2009_first_rows.csv"):
        ingest_file(db, shared_data / "raw_format_samples" / name)
    inc = db.execute("SELECT call_datetime, property_type, second_pump_station, uprn, latitude FROM incidents "
                     "WHERE incident_number = '235138081'").fetchone()
    assert inc == ("2009-01-01 00:00:37", "Car", "Clapham", None, pytest.approx(51.4758117319))
    mob = db.execute("SELECT mobilised_at, mobile_at, turnout_seconds, attendance_seconds, station_code, pump_order "
                     "FROM mobilisations WHERE mobilisation_id = '38426'").fetchone()
    assert mob == ("2009-01-01 00:02:27", None, None, 319.0, "H27", 1)


def test_2020_samples_values(db, shared_data):
    for name in ("incidents_2020_first_rows.csv", "mobilisations_2020_first_rows.csv"):
        ingest_file(db, shared_data / "raw_format_samples" / name)
    inc = db.execute("SELECT call_datetime, pump_hours, pump_minutes, easting_m, easting_rounded FROM incidents "
                     "WHERE incident_number = '000003-01012020'").fetchone()
    assert inc == ("2020-01-01 00:06:30", 1.0, None, None, 506750)
    mob = db.execute("SELECT turnout_seconds, travel_seconds, delay_code_id, delay_code_description FROM "
                     "mobilisations WHERE mobilisation_id = '5547478'").fetchone()
    assert mob == (60.0, 135.0, None, None)
    delayed = db.execute("SELECT delay_code_id, delay_code_description FROM mobilisations "
                         "WHERE incident_number = '000009-01012020' AND derived = 0").fetchone()
    assert delayed == (9, "Traffic, roadworks, etc")


def test_2023_incident_sample(db, shared_data):
    path = shared_data / "incidents_2023_sample_jan_sep.csv"
    report = ingest_file(db, path)
    src = pd.read_csv(path, low_memory=False)
    assert report.status == "ok" and report.rows_inserted == len(src) and report.rows_rejected == 0
    assert report.rows_derived == src.FirstPumpArriving_AttendanceTime.notna().sum() + \
        src.SecondPumpArriving_AttendanceTime.notna().sum()
    row = db.execute("SELECT call_datetime, special_service_type, postcode_full, easting_m, first_pump_seconds, "
                     "first_pump_station, second_pump_seconds, num_calls FROM incidents "
                     "WHERE incident_number = '038967-19032023'").fetchone()
    assert row == ("2023-03-19 14:11:51", None, "NW7 4LL", 521277.0, 416.0, "Mill Hill", None, 1)
    months = [m for (m,) in db.execute("SELECT DISTINCT month FROM incidents ORDER BY 1")]
    assert months == [f"2023-{m:02d}" for m in range(1, 10)]
    unknown = db.execute("SELECT COUNT(*) FROM mobilisations WHERE derived = 1 AND station_code IS NULL").fetchone()
    assert unknown == (0,)  # every deploying station name of 2023 resolves to a reference station
