"""`python -m lfb users`: add, list, remove, passwd, role, init; exit 2 on usage errors, 1 on refused actions."""
from __future__ import annotations

import io
import subprocess
import sys

import bcrypt
import pytest

from lfb.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from lfb.config import PROJECT_ROOT, Settings
from lfb.service import users


@pytest.fixture(autouse=True)
def fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap bcrypt hashes: the tests check behaviour, not hashing cost."""
    monkeypatch.setattr(users, "BCRYPT_ROUNDS", 4)


class _Stdin(io.StringIO):
    """Standard input that is, or is not, a terminal."""

    def __init__(self, text: str = "", tty: bool = False):
        """Hold `text`; say `tty` when asked whether this is a terminal."""
        super().__init__(text)
        self.tty = tty

    def isatty(self) -> bool:
        """Return whether this input pretends to be a terminal."""
        return self.tty


def run(monkeypatch, capsys, *argv: str, stdin: str = "", tty: bool = False) -> tuple[int, str, str]:
    """Run `python -m lfb users ...` in-process with the given standard input; return (code, stdout, stderr)."""
    monkeypatch.setattr(sys, "stdin", _Stdin(stdin, tty))
    code = main(["users", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _hash(settings, username: str) -> bytes:
    """Return the stored password hash of a user."""
    return users.read_credentials(settings)["usernames"][username]["password"].encode()


@pytest.fixture
def chief(settings) -> Settings:
    """Settings whose credentials file holds one admin, 'chief'."""
    users.add_user(settings, "chief", "chief-password", "admin", name="Chief Officer")
    return settings


def test_init_creates_the_first_admin_and_prints_its_password_once(settings, monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "init")
    assert code == EXIT_OK and "username: admin" in out
    password = out.split("password: ")[1].split()[0]
    assert bcrypt.checkpw(password.encode(), _hash(settings, "admin"))
    assert settings.cookie_key_path.exists()
    code, out, _ = run(monkeypatch, capsys, "init")
    assert code == EXIT_OK and password not in out and "admin: admin" in out


def test_add_reads_the_password_from_standard_input(chief, monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "add", "Disp1", "--role", "dispatcher", "--name", "Dee Spatcher",
                       stdin="disp1-password\n")
    assert code == EXIT_OK and "added disp1 (dispatcher)" in out
    assert bcrypt.checkpw(b"disp1-password", _hash(chief, "disp1"))
    assert users.get_user(chief, "disp1").name == "Dee Spatcher"


def test_add_on_a_terminal_asks_twice(chief, monkeypatch, capsys):
    answers = iter(["disp1-password", "disp1-password", "disp2-password", "not-the-same"])
    monkeypatch.setattr("getpass.getpass", lambda _prompt="": next(answers))
    code, _, _ = run(monkeypatch, capsys, "add", "disp1", "--role", "dispatcher", tty=True)
    assert code == EXIT_OK and bcrypt.checkpw(b"disp1-password", _hash(chief, "disp1"))
    code, _, err = run(monkeypatch, capsys, "add", "disp2", "--role", "dispatcher", tty=True)
    assert code == EXIT_USAGE and "differ" in err and users.get_user(chief, "disp2") is None


def test_list_shows_names_and_roles_never_hashes(chief, monkeypatch, capsys):
    run(monkeypatch, capsys, "add", "disp1", "--role", "dispatcher", stdin="disp1-password\n")
    code, out, _ = run(monkeypatch, capsys, "list")
    assert code == EXIT_OK and "$2" not in out
    lines = out.splitlines()
    assert lines[1].split()[:2] == ["chief", "admin"] and lines[2].split()[:2] == ["disp1", "dispatcher"]
    code, out, _ = run(monkeypatch, capsys, "list", "--json")
    assert "$2" not in out and '"roles": [\n      "dispatcher"' in out


@pytest.mark.parametrize("argv, stdin, message", [
    (("add", "x", "--role", "dispatcher"), "disp1-password\n", "not a valid username"),
    (("add", "disp1", "--role", "dispatcher"), "short\n", "too short"),
    (("add", "disp1", "--role", "dispatcher"), "", "empty"),
    (("remove", "chief"), "", "add --yes"),
])
def test_usage_errors_exit_2_with_a_message(chief, monkeypatch, capsys, argv, stdin, message):
    code, _, err = run(monkeypatch, capsys, *argv, stdin=stdin)
    assert code == EXIT_USAGE and message in err and "Traceback" not in err
    assert [u.username for u in users.list_users(chief)] == ["chief"]


@pytest.mark.parametrize("argv", [("add",), ("add", "disp1"), ("add", "disp1", "--role", "boss"), ("role", "chief"),
                                  ("frobnicate",)])
def test_missing_or_wrong_arguments_exit_2(settings, monkeypatch, capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        run(monkeypatch, capsys, *argv)
    assert exit_info.value.code == EXIT_USAGE


@pytest.mark.parametrize("argv, stdin, message", [
    (("add", "CHIEF", "--role", "dispatcher"), "other-password\n", "already exists"),
    (("remove", "chief", "--yes"), "", "last admin"),
    (("role", "chief", "--role", "dispatcher"), "", "last admin"),
    (("passwd", "ghost"), "ghost-password\n", "no user 'ghost'"),
    (("remove", "ghost", "--yes"), "", "no user 'ghost'"),
])
def test_refused_actions_exit_1_with_a_message(chief, monkeypatch, capsys, argv, stdin, message):
    before = chief.credentials_path.read_text()
    code, _, err = run(monkeypatch, capsys, *argv, stdin=stdin)
    assert code == EXIT_FAILED and message in err and "Traceback" not in err
    assert chief.credentials_path.read_text() == before


def test_the_first_user_added_must_be_an_admin(settings, monkeypatch, capsys):
    code, _, err = run(monkeypatch, capsys, "add", "disp1", "--role", "dispatcher", stdin="disp1-password\n")
    assert code == EXIT_FAILED and "first user must be an admin" in err


def test_remove_asks_on_a_terminal_and_with_yes_does_not(chief, monkeypatch, capsys):
    run(monkeypatch, capsys, "add", "disp1", "--role", "dispatcher", stdin="disp1-password\n")
    monkeypatch.setattr("builtins.input", lambda _prompt="": "n")
    code, out, _ = run(monkeypatch, capsys, "remove", "disp1", tty=True)
    assert code == EXIT_OK and "left as it is" in out and users.get_user(chief, "disp1")
    monkeypatch.setattr("builtins.input", lambda _prompt="": "y")
    assert run(monkeypatch, capsys, "remove", "disp1", tty=True)[0] == EXIT_OK
    assert users.get_user(chief, "disp1") is None
    run(monkeypatch, capsys, "add", "disp2", "--role", "dispatcher", stdin="disp2-password\n")
    code, out, _ = run(monkeypatch, capsys, "remove", "disp2", "--yes")
    assert code == EXIT_OK and "removed disp2" in out and users.get_user(chief, "disp2") is None


def test_passwd_and_role_change_the_user(chief, monkeypatch, capsys):
    run(monkeypatch, capsys, "add", "disp1", "--role", "dispatcher", stdin="disp1-password\n")
    assert run(monkeypatch, capsys, "passwd", "disp1", stdin="new-disp1-password\n")[0] == EXIT_OK
    assert bcrypt.checkpw(b"new-disp1-password", _hash(chief, "disp1"))
    code, out, _ = run(monkeypatch, capsys, "role", "disp1", "--role", "admin")
    assert code == EXIT_OK and "disp1 is now: admin" in out
    assert run(monkeypatch, capsys, "role", "chief", "--role", "dispatcher")[0] == EXIT_OK
    assert users.get_user(chief, "chief").roles == ("dispatcher",)


def test_a_damaged_credentials_file_exits_1_with_a_message(settings, monkeypatch, capsys):
    settings.credentials_path.parent.mkdir(parents=True)
    settings.credentials_path.write_text("credentials: [1, 2")
    code, _, err = run(monkeypatch, capsys, "list")
    assert code == EXIT_FAILED and "not valid YAML" in err and "Traceback" not in err


def test_the_real_command_reads_the_password_from_a_pipe(settings, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "LFB_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(PROJECT_ROOT)}
    subprocess.run([sys.executable, "-m", "lfb", "users", "init"], env=env, check=True, capture_output=True)
    done = subprocess.run([sys.executable, "-m", "lfb", "users", "add", "disp1", "--role", "dispatcher"],
                          input="piped-password\n", text=True, env=env, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert bcrypt.checkpw(b"piped-password", _hash(settings, "disp1"))
