"""Shared fixtures: a throw-away store and small record files built by the tests themselves."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lfb.config import get_settings
from lfb.data.reference import load_stations
from lfb.data.store import connect
from tests.builders import FAST_MODEL


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


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real LFB sample beside the checkout; tests using it skip where it is absent."""
    path = get_settings().shared_data_dir
    if not path.is_dir():
        pytest.skip(f"needs the real LFB sample data in {path} (set LFB_SHARED_DATA); absent on this machine")
    return path




@pytest.fixture(scope="session")
def real_trained(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """The real 2023 sample trained as in the README (test July-September); skips where the sample is absent."""
    from lfb.data.ingest import ingest_file
    from lfb.model.training import train
    from lfb.service import jobs

    root = tmp_path_factory.mktemp("real")
    settings = get_settings().relocated(root / "data", root / "models")
    db = jobs.open_store(settings)
    ingest_file(db, shared_data / "incidents_2023_sample_jan_sep.csv")
    result = train(db, settings, test_months=3, log=lambda _m: None)
    db.close()
    return settings, result


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """Small demo data (10 months) in a store with one trained champion; shared by the model tests."""
    from lfb.service import jobs
    from lfb.model.estimator import ModelSettings
    from lfb.model.training import train

    root = tmp_path_factory.mktemp("trained")
    settings = get_settings().relocated(root / "data", root / "models")
    db = jobs.open_store(settings)
    jobs.load_demo(db, settings, start="2024-01", months=10, incidents_per_year=5000, log=lambda _m: None)
    result = train(db, settings, until="2024-08", test_months=2, model_settings=ModelSettings(**FAST_MODEL),
                   log=lambda _m: None)
    db.close()
    return settings, result


@pytest.fixture
def trained_copy(trained, tmp_path):
    """A private copy of the trained store and models, which a test may change or damage."""
    import shutil

    settings, result = trained
    shutil.copytree(settings.models_dir, tmp_path / "models")
    for suffix in ("", "-wal", "-shm"):
        src = settings.db_path.with_name(settings.db_path.name + suffix)
        if src.exists():
            shutil.copy(src, tmp_path / ("lfb.db" + suffix))
    copy = dataclasses.replace(settings, models_dir=tmp_path / "models", db_path=tmp_path / "lfb.db",
                               service_db_path=tmp_path / "service.db")
    return copy, connect(copy.db_path), result
