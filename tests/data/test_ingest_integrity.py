"""No bad row overwrites a good one: rows of the wrong width and impossible values are rejects, never updates."""
import csv
import datetime as dt
import io
import json

import pytest

from lfb.data.ingest import ingest_file
from lfb.data.store import count
from tests.builders import INCIDENT_HEADER, MOBILISATION_HEADER, incident_row, mobilisation_row, write_csv

WIDTH = len(INCIDENT_HEADER)


def _line(row: dict) -> str:
    """Return one incident row as a CSV line (no line end), quoted like the published files."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([row[h] for h in INCIDENT_HEADER])
    return out.getvalue()


def _file(path, lines: list[str], end: str = "\n"):
    """Write the incident header and the given raw lines."""
    path.write_text(",".join(INCIDENT_HEADER) + "\n" + "\n".join(lines) + end, encoding="utf-8")
    return path


def _first_pump(db, number):
    return db.execute("SELECT first_pump_seconds, first_pump_station, station_ground FROM incidents "
                      "WHERE incident_number = ?", [number]).fetchone()


def test_a_line_cut_in_the_middle_is_rejected_and_leaves_the_stored_record_alone(db, tmp_path):
    ingest_file(db, write_csv(tmp_path / "full.csv", [incident_row("A", FirstPumpArriving_AttendanceTime="370")],
                              INCIDENT_HEADER))
    whole = _line(incident_row("A", FirstPumpArriving_AttendanceTime="370"))
    cut = whole[:whole.index(",370,") + 3]  # the download stopped after "37"
    report = ingest_file(db, _file(tmp_path / "cut.csv", [_line(incident_row("C")), cut], end=""))
    assert (report.status, report.rows_read, report.rows_inserted, report.rows_updated, report.rows_rejected) == \
        ("ok", 2, 1, 0, 1)
    assert _first_pump(db, "A") == (370.0, "Paddington", "Paddington")
    fields = cut.count(",") + 1
    line, reason, raw = db.execute("SELECT line, reason, raw FROM rejects").fetchone()
    assert (line, reason) == (3, f"row has {fields} fields, the header has {WIDTH} (cut off or malformed)")
    assert raw == cut
    assert count(db, "incidents", "incident_number = 'C'") == 1


def test_a_short_row_in_the_middle_is_rejected_and_later_rows_keep_their_numbers(db, tmp_path):
    ingest_file(db, write_csv(tmp_path / "full.csv", [incident_row("B")], INCIDENT_HEADER))
    short = ",".join(_line(incident_row("B")).split(",")[:12])
    lines = [_line(incident_row("C")), short, _line(incident_row("D")), _line(incident_row("E", DateOfCall="soon"))]
    report = ingest_file(db, _file(tmp_path / "short.csv", lines))
    assert (report.rows_read, report.rows_inserted, report.rows_updated, report.rows_rejected) == (4, 2, 0, 2)
    assert _first_pump(db, "B") == (300.0, "Paddington", "Paddington")
    rejects = db.execute("SELECT line, reason FROM rejects ORDER BY line").fetchall()
    assert rejects == [(3, f"row has 12 fields, the header has {WIDTH} (cut off or malformed)"),
                       (5, "DateOfCall: unreadable value")]


def test_a_row_with_more_fields_than_the_header_is_a_reject_not_a_failed_file(db, tmp_path):
    lines = [_line(incident_row("C")), "x," * 40, _line(incident_row("D"))]
    report = ingest_file(db, _file(tmp_path / "long.csv", lines))
    assert (report.status, report.rows_inserted, report.rows_rejected) == ("ok", 2, 1)
    assert db.execute("SELECT line, reason, raw FROM rejects").fetchone() == \
        (3, f"row has 41 fields, the header has {WIDTH} (cut off or malformed)", "x," * 40)


def test_quoted_commas_and_line_breaks_are_still_one_field(db, tmp_path):
    ward = "MOTTINGHAM, COLDHARBOUR & NEW ELTHAM"
    rows = [incident_row("A", IncGeo_WardName=ward), incident_row("B", AddressQualifier="Within\nsame building")]
    report = ingest_file(db, write_csv(tmp_path / "q.csv", rows, INCIDENT_HEADER))
    assert (report.rows_inserted, report.rows_rejected) == (2, 0)
    assert db.execute("SELECT ward_name FROM incidents WHERE incident_number = 'A'").fetchone() == (ward,)
    assert db.execute("SELECT address_qualifier FROM incidents WHERE incident_number = 'B'").fetchone() == \
        ("Within\nsame building",)


def test_blank_lines_are_skipped_not_rejected(db, tmp_path):
    report = ingest_file(db, _file(tmp_path / "b.csv", [_line(incident_row("C")), "", "   ", _line(incident_row("D"))]))
    assert (report.rows_read, report.rows_inserted, report.rows_rejected) == (2, 2, 0)


def _in(days: int) -> str:
    return (dt.date.today() + dt.timedelta(days=days)).isoformat()


@pytest.mark.parametrize(("overrides", "column", "what"), [
    ({"DateOfCall": "2008-12-31"}, "DateOfCall", "before 2009"),
    ({"DateOfCall": "2099-01-01"}, "DateOfCall", "after today"),
    ({"Latitude": "15.5", "Longitude": "-0.1"}, "Latitude", "outside Britain"),
    ({"Latitude": "51.5", "Longitude": "12.5"}, "Longitude", "outside Britain"),
    ({"Easting_rounded": "-50"}, "Easting_rounded", "outside"),
    ({"Northing_m": "1400000"}, "Northing_m", "outside"),
    ({"Easting_m": "750000"}, "Easting_m", "outside"),
    ({"IncidentGroup": "Explosion"}, "IncidentGroup", "not Fire, Special Service or False Alarm"),
])
def test_impossible_incident_values_are_rejected_naming_the_column(db, tmp_path, overrides, column, what):
    ingest_file(db, write_csv(tmp_path / "good.csv", [incident_row("A")], INCIDENT_HEADER))
    report = ingest_file(db, write_csv(tmp_path / "bad.csv", [incident_row("A", **overrides), incident_row("B")],
                                       INCIDENT_HEADER))
    assert (report.rows_inserted, report.rows_updated, report.rows_rejected) == (1, 0, 1)
    reason, raw = db.execute("SELECT reason, raw FROM rejects").fetchone()
    assert reason.startswith(f"{column}: ") and what in reason
    assert json.loads(raw)[column] == overrides[column]
    assert db.execute("SELECT call_datetime, incident_group FROM incidents WHERE incident_number = 'A'").fetchone() \
        == ("2023-01-01 10:15:00", "Fire")


def test_dates_just_after_today_pass_within_the_margin_setting(db, tmp_path, monkeypatch):
    rows = [incident_row("A", DateOfCall=_in(1)), incident_row("B", DateOfCall=_in(3))]
    report = ingest_file(db, write_csv(tmp_path / "a.csv", rows, INCIDENT_HEADER))
    assert (report.rows_inserted, report.rows_rejected) == (1, 1)  # default margin: 2 days
    monkeypatch.setenv("LFB_DATE_MARGIN_DAYS", "0")
    report = ingest_file(db, write_csv(tmp_path / "b.csv", [incident_row("C", DateOfCall=_in(1))], INCIDENT_HEADER))
    assert report.rows_rejected == 1


def test_incident_group_is_matched_ignoring_case_and_stored_canonically(db, tmp_path):
    rows = [incident_row("A", IncidentGroup="false alarm"), incident_row("B", IncidentGroup="SPECIAL SERVICE "),
            incident_row("C", IncidentGroup="fire")]
    report = ingest_file(db, write_csv(tmp_path / "g.csv", rows, INCIDENT_HEADER))
    assert report.rows_rejected == 0
    assert db.execute("SELECT incident_group FROM incidents ORDER BY incident_number").fetchall() == \
        [("False Alarm",), ("Special Service",), ("Fire",)]


@pytest.mark.parametrize(("mobilised", "what"), [("01/01/2099 10:16:00", "after today"),
                                                 ("31/12/2008 23:59:00", "before 2009")])
def test_impossible_mobilisation_dates_are_rejected(db, tmp_path, mobilised, what):
    rows = [mobilisation_row("A", "1", DateAndTimeMobilised=mobilised), mobilisation_row("B", "2")]
    report = ingest_file(db, write_csv(tmp_path / "m.csv", rows, MOBILISATION_HEADER))
    assert (report.rows_inserted, report.rows_rejected) == (1, 1)
    reason = db.execute("SELECT reason FROM rejects").fetchone()[0]
    assert reason.startswith("DateAndTimeMobilised: ") and what in reason


def test_files_with_only_the_required_columns_are_still_checked_and_read(db, tmp_path):
    from lfb.data.formats import INCIDENT_COLUMNS, MOBILISATION_COLUMNS

    incident_header = [c.headers[0] for c in INCIDENT_COLUMNS if c.required]
    mobilisation_header = [c.headers[0] for c in MOBILISATION_COLUMNS if c.required]
    rows = [incident_row("A"), incident_row("B", DateOfCall="2099-01-01")]
    report = ingest_file(db, write_csv(tmp_path / "i.csv", rows, incident_header))
    assert (report.status, report.rows_inserted, report.rows_rejected) == ("ok", 1, 1)
    rows = [mobilisation_row("A", "1"), mobilisation_row("B", "2", DateAndTimeMobilised="01/01/2099 10:00:00")]
    report = ingest_file(db, write_csv(tmp_path / "m.csv", rows, mobilisation_header))
    assert (report.status, report.rows_inserted, report.rows_rejected) == ("ok", 1, 1)


def test_row_numbers_stay_right_across_chunks_around_malformed_rows(db, tmp_path):
    lines, expected = [], {}
    for number in range(2, 32):  # file rows 2..31
        if number in (6, 7, 12, 31):  # 6-7: a chunk boundary falls between them; 31: the last row
            lines.append(f"M{number},x")
            expected[number] = f"row has 2 fields, the header has {WIDTH} (cut off or malformed)"
        elif number in (8, 17):
            lines.append(_line(incident_row(f"R{number}", DateOfCall="soon")))
            expected[number] = "DateOfCall: unreadable value"
        else:
            lines.append(_line(incident_row(f"G{number}")))
    report = ingest_file(db, _file(tmp_path / "n.csv", lines), chunk_rows=5)
    assert (report.rows_read, report.rows_inserted, report.rows_rejected) == (30, 24, 6)
    assert dict(db.execute("SELECT line, reason FROM rejects")) == expected
