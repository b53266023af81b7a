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
    assert registry.rollback(db, settings.models_dir, who="ana").version == version
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


# ---- whole-version checks: metadata schema, metadata checksum, every file covered ---------------------------------

def _edit_metadata(settings, version, change):
    """Rewrite a version's metadata.json after applying `change` to it (a dict -> None function)."""
    import json

    path = settings.models_dir / version / "metadata.json"
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize(("change", "named"), [
    (lambda m: m.pop("evaluation"), "evaluation"),
    (lambda m: m["windows"].pop("train_from"), "windows.train_from"),
    (lambda m: m.pop("time_range"), "time_range"),
    (lambda m: m.update(time_range=["2024-01-01"]), "time_range"),
    (lambda m: m.update(time_range=["2024-01-01", None]), "time_range"),
    (lambda m: m.update(windows=["2024-01", "2024-08"]), "windows should be dict"),
    (lambda m: m.update(data_until=202408), "data_until"),
    (lambda m: m["baselines"].pop("distance_median"), "baselines.distance_median"),
    (lambda m: m["risks"].pop("groups"), "risks.groups"),
    (lambda m: m.pop("files"), "files"),
])
def test_incomplete_metadata_is_refused_naming_what_is_missing(reg, change, named):
    settings, db, version = reg
    _edit_metadata(settings, version, change)
    with pytest.raises(ModelFileError, match=f"metadata.json is incomplete.*{named.replace('.', '[.]')}") as err:
        registry.load_registered(db, settings.models_dir, version)
    assert f"{named.split(' ')[0]}." not in str(err.value)  # a missing or wrong parent is named, not its children


def test_register_keeps_the_metadata_checksum_and_load_checks_it(reg):
    import hashlib

    settings, db, version = reg
    path = settings.models_dir / version / "metadata.json"
    stored = db.execute("SELECT metadata_sha256 FROM model_versions WHERE version = ?", [version]).fetchone()[0]
    assert stored == hashlib.sha256(path.read_bytes()).hexdigest()
    registry.load_registered(db, settings.models_dir, version)
    # a model file and the checksum its metadata holds, edited together: only the stored checksum tells
    cbm = settings.models_dir / version / "model-0.cbm"
    cbm.write_bytes(cbm.read_bytes() + b"\0")
    _edit_metadata(settings, version, lambda m: m["files"].update({"model-0.cbm": hashlib.sha256(
        cbm.read_bytes()).hexdigest()}))
    with pytest.raises(ModelFileError, match="metadata.json has changed since it was registered"):
        registry.load_registered(db, settings.models_dir, version)


def test_a_model_file_left_out_of_the_checksums_is_detected(reg):
    settings, db, version = reg
    db.execute("UPDATE model_versions SET metadata_sha256 = NULL")  # as registered before schema v4
    _edit_metadata(settings, version, lambda m: m["files"].pop("model-0.cbm"))
    with pytest.raises(ModelFileError, match="model-0.cbm has no checksum"):
        registry.load_registered(db, settings.models_dir, version)


def test_versions_registered_before_v4_still_load_and_are_still_checked(reg):
    settings, db, version = reg
    db.execute("UPDATE model_versions SET metadata_sha256 = NULL")
    model, meta = registry.load_registered(db, settings.models_dir, version)
    assert meta["version"] == version and model.boosters
    (settings.models_dir / version / "model.json").write_text("{}")
    with pytest.raises(ModelFileError, match="model.json is damaged"):
        registry.load_registered(db, settings.models_dir, version)


def test_an_unregistered_folder_is_not_served(reg):
    settings, db, version = reg
    shutil.copytree(settings.models_dir / version, settings.models_dir / "v-stray")
    with pytest.raises(RegistryError, match="unknown model version 'v-stray'"):
        registry.load_registered(db, settings.models_dir, "v-stray")


def test_list_marks_damaged_versions(reg):
    settings, db, version = reg
    other = _second_version(settings, db, version)
    (settings.models_dir / other / "model-0.cbm").unlink()
    rows = {r["version"]: r for r in registry.list_versions(db, settings.models_dir)}
    assert rows[version]["damaged"] is None
    assert rows[other]["damaged"].startswith("file model-0.cbm is missing")


# ---- rollback: promote pushes, rollback pops -----------------------------------------------------------------------

@pytest.fixture
def three(reg):
    """Champions v1 -> v2 -> v3 (v2 and v3 are copies of v1 under new ids)."""
    settings, db, v1 = reg
    v2, v3 = _second_version(settings, db, v1, "2"), _second_version(settings, db, v1, "3")
    for v in (v2, v3):
        registry.set_champion(db, settings.models_dir, v, who="t", action="manual promote", reason="test")
    return settings, db, (v1, v2, v3)


def test_rollback_walks_back_through_the_promotions(three):
    settings, db, (v1, v2, v3) = three
    assert registry.rollback(db, settings.models_dir, who="t").version == v2
    assert registry.rollback(db, settings.models_dir, who="t").version == v1
    assert registry.champion(db) == v1
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        registry.rollback(db, settings.models_dir, who="t")


def test_a_promotion_after_a_rollback_is_undone_by_the_next_rollback(three):
    settings, db, (v1, v2, v3) = three
    registry.rollback(db, settings.models_dir, who="t")  # v2
    registry.set_champion(db, settings.models_dir, v1, who="t", action="manual promote", reason="test")
    assert registry.rollback(db, settings.models_dir, who="t").version == v2
    assert registry.rollback(db, settings.models_dir, who="t").version == v1


def test_rollback_skips_a_damaged_version_with_a_note(three):
    settings, db, (v1, v2, v3) = three
    (settings.models_dir / v2 / "model-0.cbm").write_bytes(b"garbage")
    done = registry.rollback(db, settings.models_dir, who="t")
    assert done.version == v1 and registry.champion(db) == v1
    assert len(done.skipped) == 1 and done.skipped[0].startswith(f"model {v2}: file model-0.cbm is damaged")
    (settings.models_dir / v1 / "model.json").unlink()
    registry.set_champion(db, settings.models_dir, v3, who="t", action="manual promote", reason="test")
    with pytest.raises(RegistryError, match=f"nothing to roll back to that loads: model {v1}: file model.json"):
        registry.rollback(db, settings.models_dir, who="t")
    assert registry.champion(db) == v3


def test_the_rollback_target_is_what_a_rollback_would_do_and_changes_nothing(three):
    settings, db, (v1, v2, v3) = three
    (settings.models_dir / v2 / "model-0.cbm").write_bytes(b"garbage")
    log = registry.promotions_log(db)
    preview = registry.rollback_target(db, settings.models_dir)
    assert preview.version == v1 and preview.skipped[0].startswith(f"model {v2}: file model-0.cbm is damaged")
    assert registry.champion(db) == v3 and registry.promotions_log(db) == log
    assert registry.rollback(db, settings.models_dir, who="t") == preview
    with pytest.raises(RegistryError, match="is the first champion"):
        registry.rollback_target(db, settings.models_dir)


def test_serving_falls_back_down_the_rollback_stack_not_to_a_rolled_back_version(three):
    from lfb.model.serving import Predictor

    settings, db, (v1, v2, v3) = three
    registry.rollback(db, settings.models_dir, who="t")  # v3 was rolled back from: it must not serve again
    (settings.models_dir / v2 / "model-0.cbm").unlink()
    predictor = Predictor.from_registry(db, settings)
    assert predictor.version == v1
    assert f"the champion {v2} cannot be loaded" in predictor.warning and v1 in predictor.warning


def test_time_range_is_read_as_serving_reads_it(reg):
    settings, db, version = reg
    meta = registry.read_metadata(settings.models_dir, version)
    assert registry.metadata_problems(meta | {"time_range": ["2024-01-01 00:14:44.123456789",
                                                             "2024-08-31 23:37:44"]}) == []
    assert registry.metadata_problems(meta | {"time_range": ["2024-08-31", "2024-01-01"]}) == [
        "time_range should be two times, the first one first"]
    assert registry.metadata_problems(meta | {"time_range": ["2024-01-01T00:00:00+00:00", "2024-08-31"]}) == [
        "time_range should be two times (without time zones)"]


def test_metadata_of_another_version_is_refused(reg):
    settings, db, version = reg
    db.execute("UPDATE model_versions SET metadata_sha256 = NULL")
    _edit_metadata(settings, version, lambda m: m.update(version="v-other"))
    with pytest.raises(ModelFileError, match="metadata.json describes version 'v-other'"):
        registry.load_registered(db, settings.models_dir, version)
