"""Uploaded record files: kept under data/uploads/ with a generated name, refused by name, size and content."""
from __future__ import annotations

import dataclasses
import io
import stat
import zipfile

import pytest

from lfb.data.ingest import ingest_file
from lfb.data.store import connect
from lfb.service.uploads import UploadRefused, remove_upload, safe_name, store_upload
from tests.builders import incident_row, write_csv


def _csv_bytes(tmp_path) -> bytes:
    """Return a small incident-records CSV in the published format."""
    return write_csv(tmp_path / "records.csv", [incident_row("000001-01012023"), incident_row("000002-01012023")]
                     ).read_bytes()


def _xlsx_bytes() -> bytes:
    """Return a minimal workbook as openpyxl writes it."""
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["IncidentNumber", "DateOfCall"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_csv_is_kept_under_uploads_with_a_generated_name_and_reads_as_records(settings, tmp_path):
    data = _csv_bytes(tmp_path)
    kept = store_upload(settings, "LFB Incident data (2024).csv", io.BytesIO(data), len(data))
    assert kept.path.parent == settings.uploads_dir and kept.path.read_bytes() == data
    assert kept.path.name.endswith("-LFB_Incident_data_2024.csv") and kept.size_bytes == len(data)
    assert stat.S_IMODE(kept.path.stat().st_mode) == 0o600  # never executable
    assert kept.original_name == "LFB Incident data (2024).csv"
    report = ingest_file(connect(tmp_path / "store.db"), kept.path)
    assert report.status == "ok" and report.rows_inserted == 2


def test_two_uploads_of_the_same_name_never_overwrite_each_other(settings, tmp_path):
    data = _csv_bytes(tmp_path)
    first = store_upload(settings, "a.csv", io.BytesIO(data))
    second = store_upload(settings, "a.csv", io.BytesIO(data))
    assert first.path != second.path and first.path.exists() and second.path.exists()
    assert first.sha256 == second.sha256


@pytest.mark.parametrize("name", ["../../etc/passwd.csv", "..\\..\\windows\\evil.csv", "/etc/cron.d/x.csv",
                                  "<b>bold</b> *x*.csv", "..%2F..%2Fpasswd.csv"])
def test_a_name_with_a_path_is_stored_safely_inside_uploads(settings, tmp_path, name):
    kept = store_upload(settings, name, io.BytesIO(_csv_bytes(tmp_path)))
    assert kept.path.parent == settings.uploads_dir
    assert set(kept.path.name) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
    assert ".." not in kept.path.name and [p.name for p in settings.uploads_dir.iterdir()] == [kept.path.name]
    assert not (tmp_path / "etc").exists()


def test_the_generated_name_keeps_only_letters_digits_and_dashes_of_the_original():
    assert safe_name("../../etc/passwd.csv", ".csv").endswith("-passwd.csv")
    assert safe_name("***.csv", ".csv").endswith("-upload.csv")
    assert len(safe_name("x" * 500 + ".csv", ".csv")) < 100


@pytest.mark.parametrize(("name", "data", "why"), [
    ("records.txt", b"IncidentNumber,DateOfCall\n", "is not a .csv or .xlsx file"),
    ("records", b"IncidentNumber,DateOfCall\n", "is not a .csv or .xlsx file"),
    ("run.sh", b"#!/bin/sh\nrm -rf /\n", "is not a .csv or .xlsx file"),
    ("records.csv", b"", "the file is empty"),
    ("records.csv", b"\x7fELF\x02\x01\x01" + b"\x00" * 100, "is not text"),
    ("records.csv", b"PK\x03\x04" + b"\x00" * 100, "is not text"),
    ("records.csv", b"just one column\nand another line\n", "not a header of comma-separated columns"),
    ("records.csv", b"a,b\x00c\n", "not text in a known encoding"),
    ("records.xlsx", b"IncidentNumber,DateOfCall\n1,2\n", "is not an Excel workbook"),
    ("records.xlsx", b"PK\x03\x04 not really a zip", "not a readable Excel workbook"),
])
def test_a_file_that_is_not_records_is_refused_and_nothing_is_kept(settings, name, data, why):
    with pytest.raises(UploadRefused, match=why):
        store_upload(settings, name, io.BytesIO(data), len(data))
    assert not settings.uploads_dir.exists() or not list(settings.uploads_dir.iterdir())


def test_a_zip_that_is_no_workbook_is_refused(settings):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("payload.exe", b"MZ")
    with pytest.raises(UploadRefused, match="holds no Excel workbook"):
        store_upload(settings, "records.xlsx", io.BytesIO(out.getvalue()))
    assert not list(settings.uploads_dir.iterdir())


def test_an_excel_workbook_is_kept(settings):
    data = _xlsx_bytes()
    kept = store_upload(settings, "records.xlsx", io.BytesIO(data), len(data))
    assert kept.path.suffix == ".xlsx" and kept.path.read_bytes() == data


def test_utf16_and_windows_1252_csvs_are_text(settings):
    for data in ("IncidentNumber,Notional Cost (£)\n1,2\n".encode("utf-16"),
                 "IncidentNumber,Notional Cost (£)\n1,2\n".encode("cp1252")):
        assert store_upload(settings, "r.csv", io.BytesIO(data)).size_bytes == len(data)


def test_a_file_over_the_limit_is_refused_by_its_size_and_while_copying(settings):
    small = dataclasses.replace(settings, upload_max_mb=1)
    big = b"IncidentNumber,DateOfCall\n" + b"1,2\n" * 300_000  # about 1.2 MB
    with pytest.raises(UploadRefused, match="over the limit of 1 MB"):
        store_upload(small, "big.csv", io.BytesIO(big), len(big))
    with pytest.raises(UploadRefused, match="over the limit of 1 MB"):
        store_upload(small, "big.csv", io.BytesIO(big))  # a size the caller did not know (or lied about)
    assert not list(small.uploads_dir.iterdir())  # the partial copy is gone


def test_remove_upload_deletes_only_files_inside_uploads(settings, tmp_path):
    kept = store_upload(settings, "a.csv", io.BytesIO(_csv_bytes(tmp_path)))
    outside = tmp_path / "keep.csv"
    outside.write_text("x")
    remove_upload(settings, outside)
    remove_upload(settings, kept.path)
    assert outside.exists() and not kept.path.exists()
