"""Whether the store holds demo data, asked cheaply and without creating a store."""
from __future__ import annotations

from lfb.data.status import store_holds_demo
from lfb.data.store import connect, delete_demo_rows


def test_a_store_with_demo_data_says_so(trained):
    settings, _result = trained
    assert store_holds_demo(settings.db_path)


def test_no_demo_once_clear_demo_has_run(trained_copy):
    settings, db, _result = trained_copy
    delete_demo_rows(db)
    db.close()
    assert not store_holds_demo(settings.db_path)


def test_an_empty_or_missing_store_holds_no_demo(tmp_path):
    assert not store_holds_demo(tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists()
    connect(tmp_path / "empty.db").close()
    assert not store_holds_demo(tmp_path / "empty.db")
    (tmp_path / "blank.db").touch()
    assert not store_holds_demo(tmp_path / "blank.db")
