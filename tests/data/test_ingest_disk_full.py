"""A disk-full failure during ingest says the disk is full and keeps nothing of the file."""
import sqlite3

from lfb.data import ingest as ingest_module
from lfb.data.ingest import ingest_file
from lfb.data.store import count
from tests.builders import MOBILISATION_HEADER, mobilisation_row, write_csv

DISK_FULL = "the disk is full (database or temp folder); free space and ingest the file again"


def _mobs(n, start=0):
    return [mobilisation_row(f"{i:06d}-01012023", str(i)) for i in range(start, start + n)]


def test_disk_full_after_sqlite_ended_the_transaction_is_reported_as_disk_full(db, tmp_path, monkeypatch):
    ingest_file(db, write_csv(tmp_path / "ok.csv", _mobs(5), MOBILISATION_HEADER))
    calls = {"n": 0}
    real = ingest_module.upsert_rows

    def full(database, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            database.execute("ROLLBACK")  # SQLite rolls the transaction back itself on SQLITE_FULL
            raise sqlite3.OperationalError("database or disk is full")
        return real(database, *args, **kwargs)

    monkeypatch.setattr(ingest_module, "upsert_rows", full)
    report = ingest_file(db, write_csv(tmp_path / "m.csv", _mobs(30, start=100), MOBILISATION_HEADER), chunk_rows=10)
    assert report.status == "failed"
    assert report.message.startswith(DISK_FULL) and "nothing from this file was kept" in report.message
    assert count(db, "mobilisations") == 5 and count(db, "rejects") == 0
    assert db.execute("SELECT status, message FROM ingests ORDER BY id DESC").fetchone() == ("failed", report.message)


def test_a_really_full_database_is_reported_as_disk_full(db, tmp_path):
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + 8}")
    report = ingest_file(db, write_csv(tmp_path / "m.csv", _mobs(3000), MOBILISATION_HEADER), chunk_rows=500)
    assert report.status == "failed" and report.message.startswith(DISK_FULL)
    assert count(db, "mobilisations") == 0


def test_when_even_the_failure_cannot_be_recorded_the_report_still_says_why(db, tmp_path, monkeypatch):
    def full(database, *args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(ingest_module, "upsert_rows", full)
    db.execute("CREATE TEMP TRIGGER no_room BEFORE UPDATE ON main.ingests WHEN NEW.status = 'failed' "
               "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    report = ingest_file(db, write_csv(tmp_path / "m.csv", _mobs(3), MOBILISATION_HEADER))
    assert report.status == "failed"
    assert report.message.startswith(DISK_FULL)
    assert report.message.endswith("(the failure could not be recorded in the database: the disk is full)")
    # the file's ingest row still says 'running'; the next ingest job marks it failed (see mark_interrupted)
    assert db.execute("SELECT status FROM ingests").fetchall() == [("running",)]
    assert count(db, "mobilisations") == 0
