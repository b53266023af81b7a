"""The registry: immutable versions, atomic champion switch, corrupt files, rollback, append-only log."""
import shutil
import sqlite3

import pytest

from lfb.model import registry
from lfb.model.registry import ModelFileError, RegistryError


@pytest.fixture
def reg(trained_copy):
    """The copied store and the champion's version id."""
    settings, db, result = trained_copy
    return settings, db, result.version


def _second_version(settings, db, version, tag="b"):
    """Register a copy of a version under a new id (same files), as a second candidate."""
    new = f"{version}-{tag}"
    shutil.copytree(settings.models_dir / version, settings.models_dir / new)
    meta = registry.read_metadata(settings.models_dir, new) | {"version": new}
    (settings.models_dir / new / "metadata.json").write_text(__import__("json").dumps(meta))
    registry.register(db, meta, settings.models_dir / new)
    return new


def test_first_model_is_champion_and_listed_with_metrics(reg):
    settings, db, version = reg
    assert registry.champion(db) == version
    rows = registry.list_versions(db)
    assert rows[0]["version"] == version and rows[0]["champion"] and rows[0]["mae"] > 0
    log = registry.promotions_log(db)
    assert log[0]["to_version"] == version and log[0]["from_version"] is None


def test_versions_are_written_atomically(reg, monkeypatch):
    settings, db, version = reg
    model, meta = registry.load_version(settings.models_dir, version)

    def broken(folder):
        folder.mkdir(parents=True)
        (folder / "half.cbm").write_bytes(b"x")
        raise OSError("disk full")

    monkeypatch.setattr(model, "save", broken)
    with pytest.raises(OSError):
        registry.save_version(settings.models_dir, "v-broken", model, meta)
    assert not (settings.models_dir / "v-broken").exists()
    assert not list(settings.models_dir.glob(".incoming-*"))


def test_damaged_or_missing_files_are_detected(reg):
    settings, db, version = reg
    cbm = settings.models_dir / version / "model-0.cbm"
    data = bytearray(cbm.read_bytes())
    data[len(data) // 2] ^= 0xFF
    cbm.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="damaged"):
        registry.load_version(settings.models_dir, version)
    cbm.unlink()
    with pytest.raises(ModelFileError, match="missing"):
        registry.load_version(settings.models_dir, version)
    (settings.models_dir / version / "metadata.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="unreadable"):
        registry.load_version(settings.models_dir, version)


def test_promote_refuses_a_damaged_version_and_keeps_the_champion(reg):
    settings, db, version = reg
    other = _second_version(settings, db, version)
    (settings.models_dir / other / "model-0.cbm").write_bytes(b"garbage")
    with pytest.raises(ModelFileError):
        registry.set_champion(db, settings.models_dir, other, who="t", action="manual promote", reason="x")
    assert registry.champion(db) == version


def test_manual_promote_and_one_step_rollback(reg):
    settings, db, version = reg
    other = _second_version(settings, db, version)
    assert registry.set_champion(db, settings.models_dir, other, who="ana", action="manual promote",
                                 reason="test") == version
    assert registry.champion(db) == other
    assert registry.rollback(db, settings.models_dir, who="ana") == version
    assert registry.champion(db) == version
    actions = [(r["action"], r["who"], r["from_version"], r["to_version"]) for r in registry.promotions_log(db)]
    assert actions[:2] == [("rollback", "ana", other, version), ("manual promote", "ana", version, other)]
    with pytest.raises(RegistryError, match="unknown model version"):
        registry.set_champion(db, settings.models_dir, "v-nope", who="t", action="x", reason="x")


def test_nothing_to_roll_back_to(reg):
    settings, db, _ = reg
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        registry.rollback(db, settings.models_dir, who="t")


def test_promotions_log_is_append_only(reg):
    _, db, _ = reg
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE promotions SET who = 'mallory'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM promotions")


def test_serving_falls_back_to_the_previous_champion_when_files_are_damaged(reg):
    from lfb.model.serving import NoModel, Predictor

    settings, db, version = reg
    other = _second_version(settings, db, version)
    registry.set_champion(db, settings.models_dir, other, who="t", action="manual promote", reason="x")
    (settings.models_dir / other / "model-0.cbm").write_bytes(b"garbage")
    predictor = Predictor.from_registry(db, settings)
    assert predictor.version == version and "cannot be loaded" in predictor.warning
    (settings.models_dir / version / "model.json").unlink()
    with pytest.raises(NoModel, match="no model can serve"):
        Predictor.from_registry(db, settings)
