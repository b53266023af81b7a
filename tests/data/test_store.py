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


def _hold_write_lock(path):
    """Open a second connection that holds the write lock (an uncommitted write), as a long ingest does."""
    import sqlite3

    other = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO incidents (incident_number, call_datetime, month) VALUES ('w', 'x', 'x')")
    return other


def _finishes_within(seconds, fn):
    """Run fn in a thread; return (finished in time, its result or exception)."""
    import threading

    box = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            box["value"] = exc
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return not thread.is_alive(), box.get("value")


def test_opening_the_store_and_reading_never_wait_for_a_writer(settings):
    from lfb.data.status import data_status
    from lfb.model.registry import list_versions
    from lfb.service.jobs import open_store

    open_store(settings).close()  # created, migrated, stations written
    writer = _hold_write_lock(settings.db_path)
    try:
        done, value = _finishes_within(5, lambda: (data_status(open_store(settings)), list_versions(open_store(settings))))
        assert done, "opening the store or reading waited for the writer"
        assert not isinstance(value, BaseException), value
        assert value[0]["incidents"] == 0  # the uncommitted row is not seen
    finally:
        writer.execute("ROLLBACK")


def test_reference_stations_are_written_only_when_they_change(tmp_path):
    from lfb.data.reference import sync_stations

    db = connect(tmp_path / "x.db")
    assert sync_stations(db) is True
    assert count(db, "stations") > 100
    assert sync_stations(db) is False  # nothing to write: opening the store again writes nothing
    db.execute("UPDATE meta SET value = 'old' WHERE key = 'stations_sha256'")
    assert sync_stations(db) is True


def test_a_writer_waits_with_a_message_and_then_refuses_clearly(tmp_path, caplog):
    from lfb.data.store import StoreBusy

    db = connect(tmp_path / "x.db", write_wait_s=1.0)
    db.execute("INSERT INTO ingests (file_name, sha256, started, status) VALUES ('big.csv', 's', '2024-01-01 10:00', "
               "'running')")
    writer = _hold_write_lock(tmp_path / "x.db")
    try:
        with pytest.raises(StoreBusy, match=r"still busy after 1 s: the ingest of big.csv .* try again"):
            with transaction(db):
                pass
        assert "waiting for the database: the ingest of big.csv" in caplog.text
    finally:
        writer.execute("ROLLBACK")
    with transaction(db):  # free again: the write goes through
        db.execute("INSERT INTO incidents (incident_number, call_datetime, month) VALUES ('1', 'x', 'x')")
    assert count(db, "incidents") == 1


def test_a_writer_that_waited_goes_on_when_the_other_commits(tmp_path, caplog):
    import threading

    db = connect(tmp_path / "x.db", write_wait_s=30.0)
    writer = _hold_write_lock(tmp_path / "x.db")
    threading.Timer(0.8, lambda: writer.execute("COMMIT")).start()
    with transaction(db):
        db.execute("INSERT INTO incidents (incident_number, call_datetime, month) VALUES ('1', 'x', 'x')")
    assert count(db, "incidents") == 2
    assert "free again" in caplog.text
