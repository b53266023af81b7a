"""A transaction that SQLite itself already ended reports the original error, not the failed ROLLBACK."""
import sqlite3

import pytest

from lfb.data.store import connect, count, transaction


def test_original_error_is_raised_when_sqlite_already_rolled_back(tmp_path):
    db = connect(tmp_path / "x.db")
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
        with transaction(db):
            db.execute("INSERT INTO incidents (incident_number, call_datetime, month) VALUES ('1', 'x', 'x')")
            db.execute("ROLLBACK")  # what SQLite does by itself on SQLITE_FULL
            raise sqlite3.OperationalError("database or disk is full")
    assert count(db, "incidents") == 0 and not db.conn.in_transaction


def test_a_failed_commit_rolls_back(tmp_path):
    db = connect(tmp_path / "x.db")
    db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    db.execute("CREATE TABLE child (pid INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)")
    with pytest.raises(sqlite3.IntegrityError):
        with transaction(db):
            db.execute("INSERT INTO child VALUES (1)")  # checked only at COMMIT
    assert not db.conn.in_transaction and count(db, "child") == 0
    with transaction(db):  # the connection is usable again
        db.execute("INSERT INTO parent VALUES (1)")
    assert count(db, "parent") == 1
