"""Files that are not what their name says get a message saying what they are; UTF-16 CSVs are read."""
import gzip
import zipfile

import openpyxl
import pytest

from lfb.data.formats import FormatError
from lfb.data.ingest import ingest_file
from lfb.data.readers import RecordFile
from lfb.data.store import count
from tests.builders import INCIDENT_HEADER, MOBILISATION_HEADER, incident_row, mobilisation_row, write_csv


def _csv_text(rows, header):
    """Return rows as CSV text with Windows line ends (values hold no commas)."""
    return "\r\n".join([",".join(header)] + [",".join(r[h] for h in header) for r in rows]) + "\r\n"


def test_a_zip_archive_named_csv_says_to_unzip_it(tmp_path):
    inner = write_csv(tmp_path / "inner.csv", [mobilisation_row()], MOBILISATION_HEADER)
    with zipfile.ZipFile(tmp_path / "LFB.csv", "w") as zf:
        zf.write(inner, "inner.csv")
    with pytest.raises(FormatError) as err:
        RecordFile(tmp_path / "LFB.csv")
    assert str(err.value) == "LFB.csv is a ZIP archive, not a CSV: unzip it and ingest the CSV inside"


def test_an_excel_workbook_named_csv_is_read_as_a_workbook(db, tmp_path):
    wb = openpyxl.Workbook()
    wb.active.append(MOBILISATION_HEADER)
    wb.active.append([mobilisation_row()[h] or None for h in MOBILISATION_HEADER])
    wb.save(tmp_path / "m.csv")
    rf = RecordFile(tmp_path / "m.csv")
    assert (rf.format, rf.kind) == ("xlsx", "mobilisations")
    report = ingest_file(db, tmp_path / "m.csv")
    assert (report.status, report.rows_inserted) == ("ok", 1)


@pytest.mark.parametrize(("content", "message"), [
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "is an old Excel .xls workbook"),
    (gzip.compress(b"IncidentNumber,x\n"), "is gzip-compressed"),
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "is not a text CSV file"),
])
def test_binary_files_named_csv_say_what_they_are(tmp_path, content, message):
    (tmp_path / "f.csv").write_bytes(content)
    with pytest.raises(FormatError, match=message) as err:
        RecordFile(tmp_path / "f.csv")
    assert str(err.value).startswith("f.csv ") and "lacks" not in str(err.value)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_csv_is_read(db, tmp_path, encoding):
    text = _csv_text([incident_row("A", PropertyType="Caf\u00e9"), incident_row("B")], INCIDENT_HEADER)
    data = text.encode(encoding)  # "utf-16" writes a BOM; -le / -be write none
    (tmp_path / "i.csv").write_bytes(data)
    rf = RecordFile(tmp_path / "i.csv")
    assert rf.kind == "incidents" and "Notional Cost (\u00a3)" in rf.headers
    report = ingest_file(db, tmp_path / "i.csv")
    assert (report.status, report.rows_inserted, report.rows_rejected) == ("ok", 2, 0)
    assert db.execute("SELECT property_type FROM incidents WHERE incident_number = 'A'").fetchone() == ("Caf\u00e9",)


def test_utf16_big_endian_with_bom(db, tmp_path):
    text = _csv_text([mobilisation_row()], MOBILISATION_HEADER)
    (tmp_path / "m.csv").write_bytes(b"\xfe\xff" + text.encode("utf-16-be"))
    assert ingest_file(db, tmp_path / "m.csv").rows_inserted == 1


@pytest.mark.parametrize("content", [b"", b"\n\r\n  \n", b"\xef\xbb\xbf"])
def test_an_empty_file_says_so(tmp_path, content):
    (tmp_path / "e.csv").write_bytes(content)
    with pytest.raises(FormatError) as err:
        RecordFile(tmp_path / "e.csv")
    assert str(err.value).startswith("e.csv: the file is empty (no header row, no records)")


@pytest.mark.parametrize("end", ["\n", ""])
def test_a_header_only_file_is_ingested_as_holding_no_records(db, tmp_path, end):
    (tmp_path / "h.csv").write_text(",".join(MOBILISATION_HEADER) + end)
    report = ingest_file(db, tmp_path / "h.csv")
    assert (report.status, report.rows_read) == ("ok", 0)
    assert report.message == "the file holds the mobilisations header but no records; nothing to add"
    assert count(db, "mobilisations") == 0


def test_a_workbook_row_with_values_beyond_the_header_is_a_reject(db, tmp_path):
    wb = openpyxl.Workbook()
    wb.active.append(MOBILISATION_HEADER)
    wb.active.append([mobilisation_row("A", "1")[h] or None for h in MOBILISATION_HEADER])
    wb.active.append([mobilisation_row("B", "2")[h] or None for h in MOBILISATION_HEADER] + [None, "stray"])
    wb.save(tmp_path / "m.xlsx")
    report = ingest_file(db, tmp_path / "m.xlsx")
    assert (report.rows_read, report.rows_inserted, report.rows_rejected) == (2, 1, 1)
    line, reason, raw = db.execute("SELECT line, reason, raw FROM rejects").fetchone()
    assert (line, reason) == (3, "row has 24 fields, the header has 22 (cut off or malformed)")
    assert raw.startswith("B,") and raw.endswith(",stray")


def test_a_utf8_file_with_one_damaged_byte_is_read_with_a_replacement_character(db, tmp_path):
    text = _csv_text([incident_row("A", PropertyType="Caf\u00e9"), incident_row("B", PropertyType="Shop X")],
                     INCIDENT_HEADER)
    (tmp_path / "i.csv").write_bytes(text.encode("utf-8").replace(b"Shop X", b"Shop \xff"))
    report = ingest_file(db, tmp_path / "i.csv")
    assert (report.status, report.rows_inserted, report.rows_rejected) == ("ok", 2, 0)
    assert db.execute("SELECT property_type FROM incidents ORDER BY incident_number").fetchall() == \
        [("Caf\u00e9",), ("Shop \ufffd",)]
