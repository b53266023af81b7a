"""Shared fixtures: a throw-away store and small record files built by the tests themselves."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lfb.config import get_settings
from lfb.reference import load_stations
from lfb.store import connect


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Settings whose data and models folders are inside the test's tmp_path."""
    monkeypatch.setenv("LFB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LFB_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LFB_DATASTORE_URL", "http://127.0.0.1:9")
    return dataclasses.replace(get_settings(), chunk_rows=1000)


@pytest.fixture
def db(tmp_path: Path):
    """A fresh, migrated store with the reference stations loaded."""
    database = connect(tmp_path / "store.db")
    load_stations(database)
    yield database
    database.close()


@pytest.fixture
def shared_data() -> Path:
    """The real LFB sample beside the checkout; tests using it skip where it is absent."""
    path = get_settings().shared_data_dir
    if not path.is_dir():
        pytest.skip(f"needs the real LFB sample data in {path} (set LFB_SHARED_DATA); absent on this machine")
    return path
