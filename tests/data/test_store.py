"""The store: WAL mode, schema migrations, concurrent readers, transactions."""
import pytest

from lfb.data.store import SCHEMA_VERSION, StoreError, connect, count, delete_demo_rows, migrate, schema_version, \
    transaction


def test_new_database_is_at_latest_schema_in_wal_mode(tmp_path):
    db = connect(tmp_path / "x.db")
    assert schema_version(db) == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {"incidents", "mobilisations", "stations", "ingests", "rejects", "downloads"} <= set(db.table_names())


def test_version_1_database_upgrades_in_place_keeping_its_rows(tmp_path):
    path = tmp_path / "old.db"
    old = connect(path, migrate_now=False)
    migrate(old, target=1)
    old.execute("INSERT INTO ingests (file_name, sha256, started, status) VALUES ('a.csv', 'abc', 'now', 'ok')")
    old.execute("INSERT INTO incidents (incident_number, call_datetime, month) VALUES ('1', '2023-01-01', '2023-01')")
    assert "size_bytes" not in old["ingests"].columns_dict
    old.close()

    db = connect(path)
    assert schema_version(db) == SCHEMA_VERSION
    assert db.execute("SELECT file_name, rows_derived, is_demo FROM ingests").fetchall() == [("a.csv", 0, 0)]
    assert count(db, "incidents") == 1
    assert "idx_incidents_month" in {i.name for i in db["incidents"].indexes}


def test_database_newer_than_the_code_is_refused(tmp_path):
    db = connect(tmp_path / "x.db")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer than this code"):
        connect(tmp_path / "x.db")


def test_corrupt_database_file_gives_a_clear_error(tmp_path):
    (tmp_path / "x.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open database"):
        connect(tmp_path / "x.db")


def test_reader_sees_committed_state_while_a_writer_is_in_a_transaction(tmp_path):
    writer, reader = connect(tmp_path / "x.db"), connect(tmp_path / "x.db")
    with transaction(writer):
        writer.execute("INSERT INTO incidents (incident_number, call_datetime, month) VALUES ('1', 'x', 'x')")
        assert count(reader, "incidents") == 0  # WAL: the reader is not blocked and sees no half-written data
    assert count(reader, "incidents") == 1


def test_transaction_rolls_back_on_error(tmp_path):
    db = connect(tmp_path / "x.db")
    with pytest.raises(ValueError):
        with transaction(db):
            db.execute("INSERT INTO incidents (incident_number, call_datetime, month) VALUES ('1', 'x', 'x')")
            raise ValueError("boom")
    assert count(db, "incidents") == 0


def test_delete_demo_rows_only_removes_demo_and_allows_reingest(tmp_path):
    db = connect(tmp_path / "x.db")
    for number, demo in (("1-DEMO", 1), ("2", 0)):
        db.execute("INSERT INTO incidents (incident_number, call_datetime, month, is_demo) VALUES (?, 'x', 'x', ?)",
                   [number, demo])
    db.execute("INSERT INTO ingests (file_name, sha256, started, status, is_demo) VALUES ('d', 's', 'n', 'ok', 1)")
    assert delete_demo_rows(db) == {"incidents": 1, "mobilisations": 0}
    assert db.execute("SELECT incident_number FROM incidents").fetchall() == [("2",)]
    assert db.execute("SELECT status FROM ingests").fetchone() == ("removed",)
