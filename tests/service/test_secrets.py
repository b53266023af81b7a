"""Secrets stay secret: never tracked by git, never printed, never in the settings' printed form."""
import subprocess

from lfb.cli import EXIT_OK, main
from lfb.config import PROJECT_ROOT, get_settings

KEY, PASSWORD = "k" * 40 + "-secret-cookie-key", "Very-Secret-Admin-Password-1"


def test_state_and_secret_files_are_ignored_by_git():
    paths = ["data/credentials.yaml", "data/cookie_key", "data/lfb.db", "data/service.db", "data/errors.log",
             "data/backups/lfb-backup-20260101-000000.tar.gz", "data/uploads/x.csv", "models/v1/model-0.cbm", ".env"]
    done = subprocess.run(["git", "-C", str(PROJECT_ROOT), "check-ignore", "--no-index", *paths], capture_output=True,
                          text=True, check=False)
    assert sorted(done.stdout.split()) == sorted(paths)


def test_no_secret_is_tracked_in_git():
    tracked = subprocess.run(["git", "-C", str(PROJECT_ROOT), "ls-files"], capture_output=True, text=True,
                             check=True).stdout.split()
    assert not [p for p in tracked if p.endswith(("cookie_key", "credentials.yaml", ".env")) or p.startswith("data/")
                and not p.endswith("README.md")]


def test_the_settings_never_show_the_cookie_key_or_the_admin_password(monkeypatch):
    monkeypatch.setenv("LFB_COOKIE_KEY", KEY)
    monkeypatch.setenv("LFB_ADMIN_PASSWORD", PASSWORD)
    shown = repr(get_settings()) + str(get_settings())
    assert KEY not in shown and PASSWORD not in shown


def test_creating_the_first_admin_from_the_environment_prints_no_password(settings, monkeypatch, capsys):
    from lfb.service import users

    monkeypatch.setattr(users, "BCRYPT_ROUNDS", 4)
    monkeypatch.setenv("LFB_ADMIN_PASSWORD", PASSWORD)
    assert main(["users", "init"]) == EXIT_OK
    out = capsys.readouterr()
    assert PASSWORD not in out.out + out.err and "admin" in out.out
    assert PASSWORD not in (get_settings().credentials_path).read_text()  # a bcrypt hash only
