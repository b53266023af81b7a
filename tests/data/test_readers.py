"""Reading CSV and XLSX record files in chunks."""
import datetime as dt

import openpyxl
import pytest

from lfb.data.formats import FormatError
from lfb.data.readers import RecordFile
from lfb.data.records import parse_chunk
from tests.builders import INCIDENT_HEADER, MOBILISATION_HEADER, incident_row, mobilisation_row, write_csv


def test_csv_chunks_cover_every_row_with_row_numbers(tmp_path):
    rows = [mobilisation_row(f"{i:06d}-01012023", str(i)) for i in range(25)]
    rf = RecordFile(write_csv(tmp_path / "m.csv", rows, MOBILISATION_HEADER))
    chunks = list(rf.chunks(10))
    assert rf.kind == "mobilisations"
    assert [len(c.frame) for c in chunks] == [10, 10, 5]
    assert [c.first_row for c in chunks] == [2, 12, 22]
    assert chunks[-1].done == chunks[-1].total


def test_cp1252_file_is_read(tmp_path):
    path = write_csv(tmp_path / "i.csv", [incident_row(PropertyType="Caf\u00e9")], INCIDENT_HEADER, encoding="cp1252")
    rf = RecordFile(path)
    frame = next(rf.chunks()).frame
    assert frame["PropertyType"][0] == "Caf\u00e9"
    assert "Notional Cost (\u00a3)" in rf.headers


def test_xlsx_with_excel_date_cells(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(MOBILISATION_HEADER)
    row = mobilisation_row()
    row["DateAndTimeMobilised"] = dt.datetime(2023, 1, 1, 10, 16, 0)
    row["AttendanceTimeSeconds"] = 300
    ws.append([row[h] if row[h] != "" else None for h in MOBILISATION_HEADER])
    wb.save(tmp_path / "m.xlsx")
    rf = RecordFile(tmp_path / "m.xlsx")
    parsed = parse_chunk(rf.kind, next(rf.chunks()).frame, 2)
    assert not parsed.rejects
    assert parsed.records["mobilised_at"][0] == "2023-01-01 10:16:00"
    assert parsed.records["attendance_seconds"][0] == 300


def test_xlsx_picks_the_sheet_holding_records(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.append(["About this dataset"])
    data = wb.create_sheet("data")
    data.append(INCIDENT_HEADER)
    data.append([incident_row()[h] for h in INCIDENT_HEADER])
    wb.save(tmp_path / "i.xlsx")
    rf = RecordFile(tmp_path / "i.xlsx")
    assert rf.kind == "incidents" and rf.sheet == "data"


@pytest.mark.parametrize(("name", "content", "message"), [
    ("empty.csv", b"", "empty"),
    ("notes.pdf", b"%PDF", "unsupported file type"),
    ("broken.xlsx", b"not a zip", "not a readable XLSX"),
    ("other.csv", b"a,b\n1,2\n", "lacks IncidentNumber"),
])
def test_unreadable_files_get_clear_errors(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(FormatError, match=message):
        RecordFile(tmp_path / name)


def test_row_of_the_wrong_width_is_set_aside_as_malformed(tmp_path):
    path = write_csv(tmp_path / "m.csv", [mobilisation_row()], MOBILISATION_HEADER)
    with path.open("a") as fh:
        fh.write("x," * 40 + "\n")
    chunks = list(RecordFile(path).chunks())
    assert [len(c.frame) for c in chunks] == [1]
    assert chunks[0].malformed == [(3, "row has 41 fields, the header has 22 (cut off or malformed)", "x," * 40)]


def test_a_quote_never_closed_is_a_format_error(tmp_path):
    path = write_csv(tmp_path / "m.csv", [mobilisation_row()], MOBILISATION_HEADER)
    with path.open("a") as fh:
        fh.write('1,"' + "x" * (3 << 20) + "\n")  # longer than the parser's block: it cannot tell where the row ends
    with pytest.raises(FormatError, match="never ends .*a quote"):
        list(RecordFile(path).chunks())


def test_missing_file(tmp_path):
    with pytest.raises(FormatError, match="no such file"):
        RecordFile(tmp_path / "nope.csv")
