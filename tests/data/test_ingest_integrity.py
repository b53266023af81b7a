"""No bad row overwrites a good one: rows of the wrong width and impossible values are rejects, never updates."""
import csv
import io

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


def test_files_with_only_the_required_columns_are_still_checked_and_read(db, tmp_path):
    from lfb.data.formats import INCIDENT_COLUMNS, MOBILISATION_COLUMNS

    incident_header = [c.headers[0] for c in INCIDENT_COLUMNS if c.required]
    mobilisation_header = [c.headers[0] for c in MOBILISATION_COLUMNS if c.required]
    rows = [incident_row("A"), incident_row("B", DateOfCall="someday")]
    report = ingest_file(db, write_csv(tmp_path / "i.csv", rows, incident_header))
    assert (report.status, report.rows_inserted, report.rows_rejected) == ("ok", 1, 1)
    rows = [mobilisation_row("A", "1"), mobilisation_row("B", "2", DateAndTimeMobilised="someday")]
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
