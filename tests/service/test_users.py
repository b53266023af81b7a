"""Users of the app: bcrypt hashes in an owner-only file, atomic writes, one writer at a time, roles and the last admin,
the first admin, the cookie key."""
from __future__ import annotations

import dataclasses
import multiprocessing
import os
import stat

import bcrypt
import pytest
import yaml

from lfb.service import users


@pytest.fixture(autouse=True)
def fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap bcrypt hashes (4 rounds instead of 12): the tests check behaviour, not hashing cost."""
    monkeypatch.setattr(users, "BCRYPT_ROUNDS", 4)


def _mode(path) -> int:
    """Return a file's permission bits."""
    return stat.S_IMODE(os.stat(path).st_mode)


def _file(settings) -> dict:
    """Return the credentials file as YAML data."""
    return yaml.safe_load(settings.credentials_path.read_text())


def test_credentials_file_holds_bcrypt_hashes_only_in_the_authenticator_layout(settings):
    users.add_user(settings, "Chief", "first-password", "admin", name="Chief Officer", email="c@lfb.example")
    users.add_user(settings, "disp1", "second-password", "dispatcher")
    text = settings.credentials_path.read_text()
    assert "first-password" not in text and "second-password" not in text
    entry = _file(settings)["credentials"]["usernames"]["chief"]
    assert entry["name"] == "Chief Officer" and entry["roles"] == ["admin"] and entry["email"] == "c@lfb.example"
    assert bcrypt.checkpw(b"first-password", entry["password"].encode())
    assert users.read_credentials(settings)["usernames"]["disp1"]["roles"] == ["dispatcher"]


def test_credentials_file_and_cookie_key_are_owner_only(settings):
    settings.credentials_path.parent.mkdir(parents=True)
    settings.credentials_path.write_text("credentials:\n  usernames: {}\n")
    os.chmod(settings.credentials_path, 0o644)
    users.add_user(settings, "chief", "first-password", "admin")
    assert _mode(settings.credentials_path) == 0o600
    users.cookie_key(settings)
    assert _mode(settings.cookie_key_path) == 0o600


def test_writes_replace_the_file_whole_and_leave_no_temporary_file(settings, monkeypatch):
    users.add_user(settings, "chief", "first-password", "admin")
    before = settings.credentials_path.read_text()

    def fail(*_args, **_kwargs) -> None:
        """Fail as a full disk does."""
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(users.os, "replace", fail)
    with pytest.raises(users.CredentialsFileError, match="No space left"):
        users.add_user(settings, "disp1", "second-password", "dispatcher")
    assert settings.credentials_path.read_text() == before
    assert sorted(p.name for p in settings.credentials_path.parent.iterdir()) == ["credentials.yaml",
                                                                                 "credentials.yaml.lock"]


def _add_many(settings, prefix: str, count: int) -> None:
    """Add `count` dispatchers named prefix0, prefix1... (run in a child process)."""
    for i in range(count):
        users.add_user(settings, f"{prefix}{i}", "a-long-password", "dispatcher")


def test_two_writers_at_once_lose_no_user(settings):
    users.add_user(settings, "chief", "first-password", "admin")
    context = multiprocessing.get_context("fork")  # the child keeps the cheap bcrypt setting
    workers = [context.Process(target=_add_many, args=(settings, prefix, 25)) for prefix in ("aa", "bb")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0, 0]
    assert len(users.list_users(settings)) == 51


def test_usernames_are_checked_and_unique_whatever_their_case(settings):
    users.add_user(settings, "Chief", "first-password", "admin")
    with pytest.raises(users.Refused, match="already exists"):
        users.add_user(settings, "CHIEF", "first-password", "dispatcher")
    for bad in ("x", "a" * 33, "has space", "semi;colon", "", "émile"):
        with pytest.raises(users.BadInput, match="not a valid username"):
            users.add_user(settings, bad, "first-password", "dispatcher")
    assert users.get_user(settings, "CHIEF").username == "chief"


@pytest.mark.parametrize("password, why", [("", "empty"), ("seven77", "too short"), ("x" * 73, "too long"),
                                           (" spaced-password", "space")])
def test_bad_passwords_are_refused(settings, password, why):
    with pytest.raises(users.BadInput, match=why):
        users.add_user(settings, "chief", password, "admin")
    assert not settings.credentials_path.exists()


def test_roles_are_dispatcher_or_admin(settings):
    users.add_user(settings, "chief", "first-password", "admin")
    with pytest.raises(users.BadInput, match="not a role"):
        users.add_user(settings, "disp1", "first-password", "supervisor")
    assert users.set_role(settings, "chief", "ADMIN").roles == ("admin",)


def test_the_first_user_is_an_admin(settings):
    with pytest.raises(users.Refused, match="first user must be an admin"):
        users.add_user(settings, "disp1", "first-password", "dispatcher")


def test_the_last_admin_is_never_removed_or_demoted(settings):
    users.add_user(settings, "chief", "first-password", "admin")
    users.add_user(settings, "disp1", "first-password", "dispatcher")
    with pytest.raises(users.Refused, match="last admin"):
        users.remove_user(settings, "chief")
    with pytest.raises(users.Refused, match="last admin"):
        users.set_role(settings, "chief", "dispatcher")
    users.set_role(settings, "disp1", "admin")
    assert users.set_role(settings, "chief", "dispatcher").roles == ("dispatcher",)
    users.remove_user(settings, "chief")
    assert [u.username for u in users.list_users(settings)] == ["disp1"]


def test_passwords_change_and_unknown_users_are_named(settings):
    users.add_user(settings, "chief", "first-password", "admin")
    users.set_password(settings, "chief", "second-password")
    stored = users.read_credentials(settings)["usernames"]["chief"]["password"].encode()
    assert bcrypt.checkpw(b"second-password", stored) and not bcrypt.checkpw(b"first-password", stored)
    with pytest.raises(users.Refused, match="no user 'ghost'"):
        users.set_password(settings, "ghost", "second-password")


def test_a_damaged_credentials_file_is_a_clear_error(settings):
    settings.credentials_path.parent.mkdir(parents=True)
    for text, why in [("credentials: [1, 2", "not valid YAML"), ("credentials:\n  usernames: [a]\n", "usernames"),
                      ("credentials:\n  usernames:\n    chief: {password: plain, roles: [admin]}\n", "bcrypt")]:
        settings.credentials_path.write_text(text)
        with pytest.raises(users.CredentialsFileError, match=why):
            users.list_users(settings)


def test_ensure_admin_generates_a_password_once_and_stores_only_its_hash(settings):
    username, password = users.ensure_admin(settings)
    assert username == "admin" and len(password) >= 16
    assert password not in settings.credentials_path.read_text()
    stored = users.read_credentials(settings)["usernames"]["admin"]
    assert stored["roles"] == ["admin"] and bcrypt.checkpw(password.encode(), stored["password"].encode())
    assert users.ensure_admin(settings) == (None, None)


def test_ensure_admin_takes_the_account_from_the_environment(settings):
    configured = dataclasses.replace(settings, admin_user="Station.Manager", admin_password="from-the-env")
    assert users.ensure_admin(configured) == ("station.manager", None)
    stored = users.read_credentials(settings)["usernames"]["station.manager"]["password"]
    assert bcrypt.checkpw(b"from-the-env", stored.encode())


def test_ensure_admin_refuses_a_weak_configured_password(settings):
    with pytest.raises(users.BadInput, match="LFB_ADMIN_PASSWORD.*too short"):
        users.ensure_admin(dataclasses.replace(settings, admin_password="short"))
    assert users.list_users(settings) == []


def test_ensure_admin_does_nothing_when_users_exist(settings):
    users.add_user(settings, "chief", "first-password", "admin")
    before = settings.credentials_path.read_text()
    assert users.ensure_admin(settings) == (None, None)
    assert settings.credentials_path.read_text() == before


def test_cookie_key_is_generated_once_and_kept(settings):
    key = users.cookie_key(settings)
    assert len(key) >= 32 and users.cookie_key(settings) == key
    assert settings.cookie_key_path.read_text().strip() == key


def test_cookie_key_from_the_environment_wins_and_must_be_long(settings):
    assert users.cookie_key(dataclasses.replace(settings, cookie_key="k" * 40)) == "k" * 40
    assert not settings.cookie_key_path.exists()
    with pytest.raises(users.BadInput, match="LFB_COOKIE_KEY is too short"):
        users.cookie_key(dataclasses.replace(settings, cookie_key="short"))


def test_a_damaged_cookie_key_is_a_clear_error(settings):
    settings.cookie_key_path.parent.mkdir(parents=True)
    settings.cookie_key_path.write_text("\n")
    with pytest.raises(users.CredentialsFileError, match="delete it and restart"):
        users.cookie_key(settings)


def test_credentials_and_cookie_key_paths_come_from_the_settings(settings, tmp_path, monkeypatch):
    from lfb.config import get_settings

    assert settings.credentials_path == tmp_path / "data" / "credentials.yaml"
    assert settings.cookie_key_path == tmp_path / "data" / "cookie_key"
    monkeypatch.setenv("LFB_CREDENTIALS", str(tmp_path / "etc" / "users.yaml"))
    assert get_settings().credentials_path == tmp_path / "etc" / "users.yaml"
    moved = settings.relocated(tmp_path / "elsewhere")
    assert moved.credentials_path == tmp_path / "elsewhere" / "credentials.yaml"
    assert "from-the-env" not in repr(dataclasses.replace(settings, admin_password="from-the-env"))
