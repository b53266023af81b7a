"""Backups: one owner-only file with both databases, the registered models and the users; restored whole."""
import dataclasses
import io
import json
import os
import stat
import tarfile

import pytest

from lfb.cli import EXIT_OK, EXIT_USAGE, main
from lfb.model.registry import champion, list_versions
from lfb.model.serving import Predictor
from lfb.service import users
from lfb.service.backup import BackupError, list_backups, make_backup, restore_backup
from lfb.service.jobs import open_store
from lfb.service.predictions import LoggedEstimate, log_estimate, recent_estimates


@pytest.fixture
def full(trained_copy, tmp_path, monkeypatch):
    """A trained store with a user and a logged estimate, all under tmp_path."""
    monkeypatch.setattr(users, "BCRYPT_ROUNDS", 4)
    settings, db, result = trained_copy
    settings = dataclasses.replace(settings, data_dir=tmp_path / "data", credentials_path=tmp_path / "cred.yaml",
                                   cookie_key_path=tmp_path / "cookie_key")
    users.add_user(settings, "chief", "chief-password", "admin")
    users.cookie_key(settings)
    log_estimate(settings, LoggedEstimate("chief", "A21", "W2", "2024-09-01 10:00", "Fire", 300.0, 400.0,
                                          result.version, incident_number="42-DEMO"))
    return settings, db, result


def test_a_backup_restored_into_a_fresh_folder_holds_everything(full, tmp_path):
    settings, db, result = full
    report = make_backup(settings, log=lambda _m: None)
    assert report.versions == [result.version] and report.path.parent == settings.data_dir / "backups"
    assert stat.S_IMODE(report.path.stat().st_mode) == 0o600
    fresh_root = tmp_path / "fresh"
    fresh = dataclasses.replace(settings.relocated(fresh_root / "data", fresh_root / "models"),
                                credentials_path=fresh_root / "cred.yaml", cookie_key_path=fresh_root / "cookie_key")
    restore_backup(fresh, report.path, log=lambda _m: None)
    store = open_store(fresh)
    assert store.execute("SELECT COUNT(*) FROM incidents").fetchone() == db.execute(
        "SELECT COUNT(*) FROM incidents").fetchone()
    assert champion(store) == result.version and [v["version"] for v in list_versions(store)] == [result.version]
    assert Predictor.from_registry(store, fresh).predict_one("A21", "W2", "2024-09-01 10:00", "Fire").median_s > 0
    assert users.get_user(fresh, "chief").roles == ("admin",)
    assert users.cookie_key(fresh) == users.cookie_key(settings)
    assert recent_estimates(fresh, "chief")[0]["incident_number"] == "42-DEMO"


def test_old_backups_beyond_the_retention_are_removed(full):
    settings = dataclasses.replace(full[0], backup_keep=2)
    names = [make_backup(settings, log=lambda _m: None).path.name for _ in range(3)]
    kept = [p.name for p in list_backups(settings)]
    assert len(kept) <= 2 and names[-1] in kept


def test_a_damaged_backup_is_refused_and_changes_nothing(full, tmp_path):
    settings, db, _ = full
    good = make_backup(settings, log=lambda _m: None).path
    with tarfile.open(good, "r:gz") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    members["credentials.yaml"] = b"usernames: {}\n"  # edited after the manifest was written
    bad = tmp_path / "lfb-backup-edited.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(BackupError, match="credentials.yaml is missing or does not match its checksum"):
        restore_backup(settings, bad, log=lambda _m: None)
    assert users.get_user(settings, "chief") is not None


def test_a_file_that_is_not_a_backup_or_escapes_its_folder_is_refused(full, tmp_path):
    settings, _, _ = full
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tar file at all")
    with pytest.raises(BackupError, match="not a readable backup"):
        restore_backup(settings, junk, log=lambda _m: None)
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        data = json.dumps({"files": {}}).encode()
        info = tarfile.TarInfo("../../outside.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(BackupError, match="never does"):
        restore_backup(settings, evil, log=lambda _m: None)
    assert not (tmp_path.parent / "outside.txt").exists()


def test_cli_backup_and_restore_ask_first(full, monkeypatch, capsys):
    settings, _, _ = full
    for name, value in (("LFB_DATA_DIR", settings.data_dir), ("LFB_DB", settings.db_path),
                        ("LFB_SERVICE_DB", settings.service_db_path), ("LFB_MODELS_DIR", settings.models_dir),
                        ("LFB_CREDENTIALS", settings.credentials_path)):
        monkeypatch.setenv(name, str(value))
    assert main(["backup"]) == EXIT_OK
    path = list_backups(settings)[0]
    assert main(["backup", "--list"]) == EXIT_OK and path.name in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["restore", str(path)]) == EXIT_USAGE and "--yes" in capsys.readouterr().err
    assert main(["restore", str(path), "--yes"]) == EXIT_OK
    assert main(["restore", "nowhere.tar.gz", "--yes"]) == EXIT_USAGE
    assert os.path.exists(settings.db_path)
