"""What the admin console's Data page reads: rows per month by kind and origin, ingests, their refused rows."""
from __future__ import annotations

from lfb.data.ingest import ingest_file
from lfb.data.status import data_marker, ingest_rejects, recent_ingests, rows_by_month
from lfb.data.store import count
from tests.builders import incident_row, write_csv


def test_rows_by_month_split_by_kind_and_origin(trained_copy, tmp_path):
    _settings, db, _result = trained_copy
    before = rows_by_month(db)
    assert {r["origin"] for r in before} == {"demo"}
    assert {r["kind"] for r in before} == {"incidents", "mobilisations", "derived attendances"}
    assert sum(r["rows"] for r in before if r["kind"] == "incidents") == count(db, "incidents")
    assert sum(r["rows"] for r in before if r["kind"] != "incidents") == count(db, "mobilisations")
    ingest_file(db, write_csv(tmp_path / "real.csv", [incident_row("900001-01112024", DateOfCall="2024-11-01",
                                                                   CalYear="2024")]))
    real = [r for r in rows_by_month(db) if r["origin"] == "real"]
    assert real == [{"month": "2024-11", "kind": "derived attendances", "origin": "real", "rows": 2},
                    {"month": "2024-11", "kind": "incidents", "origin": "real", "rows": 1}]


def test_an_ingest_keeps_its_reasons_and_a_sample_of_the_rows_it_refused(db, tmp_path):
    rows = [incident_row("000001-01012023"), incident_row("000002-01012023", DateOfCall="not a date"),
            incident_row("000003-01012023", DateOfCall="31/02/2023"), incident_row("", IncidentGroup="Fire")]
    report = ingest_file(db, write_csv(tmp_path / "mixed.csv", rows))
    assert report.rows_rejected == 3
    found = ingest_rejects(db, report.ingest_id, sample=2)
    assert sum(r["rows"] for r in found["reasons"]) == 3
    assert len(found["sample"]) == 2 and found["sample"][0]["line"] < found["sample"][1]["line"]
    assert "not a date" in found["sample"][0]["raw"]  # the row as read, for the admin to see
    assert ingest_rejects(db, report.ingest_id + 100) == {"reasons": [], "sample": []}


def test_ingest_history_and_the_marker_follow_every_ingest(db, tmp_path):
    empty = data_marker(db)
    report = ingest_file(db, write_csv(tmp_path / "a.csv", [incident_row()]))
    (latest,) = recent_ingests(db)
    assert latest["id"] == report.ingest_id and latest["file_name"] == "a.csv" and latest["started"]
    assert latest["size_bytes"] == (tmp_path / "a.csv").stat().st_size
    assert data_marker(db) != empty
