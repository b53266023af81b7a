"""Users of the app, their roles and passwords, and the sign-in cookie's signing key (no Streamlit here).

The users live in one YAML file (`LFB_CREDENTIALS`, default `data/credentials.yaml`) laid out as
streamlit-authenticator reads it: `credentials -> usernames -> NAME -> {name, password, roles, email}`. Passwords are
kept only as bcrypt hashes.
The file is owner-only (0600), always replaced whole (temp file + os.replace, so a reader never sees half of it) and
changed by one writer at a time (an exclusive lock on a lock file beside it), so the app, the CLI and the start script
can all use it. There is always an admin once there is any user: the first user is an admin, and the last admin can be
neither removed nor demoted.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import yaml

from lfb.config import Settings
from lfb.text import quoted

DISPATCHER, ADMIN = "dispatcher", "admin"
ROLES = (DISPATCHER, ADMIN)
DEFAULT_ADMIN = "admin"
USERNAME_PATTERN = re.compile(r"[a-z0-9._-]{2,32}")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_BYTES = 72  # bcrypt ignores (bcrypt 5 refuses) anything longer
MAX_NAME_LENGTH = 80
MAX_EMAIL_LENGTH = 254
EMAIL_PATTERN = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")
MIN_COOKIE_KEY_LENGTH = 16
BCRYPT_ROUNDS = 12
LOCK_WAIT_S = 10.0  # writes hold the lock for milliseconds; waiting longer means something is stuck
FILE_HEADER = ("# Users of the LFB app, managed with `python -m lfb users`. Passwords are bcrypt hashes.\n"
               "# Layout read by streamlit-authenticator: credentials -> usernames -> NAME -> name, password, roles.\n")


class UserError(ValueError):
    """A users action that cannot be done; the message says what to do instead."""


class BadInput(UserError):
    """A malformed username, password, name or role."""


class Refused(UserError):
    """An action refused given the current users (unknown or existing user, the last admin)."""


class CredentialsFileError(UserError):
    """The credentials file or the cookie key cannot be read or written."""


@dataclass(frozen=True)
class User:
    """One user of the app as the credentials file describes it (never its password)."""

    username: str
    name: str
    roles: tuple[str, ...]
    email: str | None = None

    @property
    def is_admin(self) -> bool:
        """Return True when the user has the admin role."""
        return ADMIN in self.roles


def normalise_username(text: str) -> str:
    """Return the username in its stored form (lower case), or raise BadInput saying what a username may be."""
    username = (text or "").strip().lower()
    if not USERNAME_PATTERN.fullmatch(username):
        raise BadInput(f"{quoted(text)} is not a valid username: use 2 to 32 characters among a-z, 0-9, '.', '_' and '-'")
    return username


def check_password(password: str) -> None:
    """Raise BadInput unless the password is long enough, not too long for bcrypt and has no surrounding spaces."""
    if not password:
        raise BadInput("the password is empty: give one of at least 8 characters")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadInput(f"the password is too short ({len(password)} characters): use at least {MIN_PASSWORD_LENGTH}")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise BadInput(f"the password is too long: use at most {MAX_PASSWORD_BYTES} bytes")
    if password != password.strip():
        raise BadInput("the password starts or ends with a space, which the sign-in form drops: remove it")
    if not password.isprintable():
        raise BadInput("the password holds a line break or an invisible character, which the sign-in form cannot "
                       "take: remove it")


def check_role(role: str) -> str:
    """Return the role in its stored form, or raise BadInput naming the roles there are."""
    value = (role or "").strip().lower()
    if value not in ROLES:
        raise BadInput(f"{quoted(role)} is not a role: use one of {', '.join(ROLES)}")
    return value


def check_name(name: str) -> str:
    """Return the full name stripped, or raise BadInput if it is too long or spans lines."""
    value = (name or "").strip()
    if len(value) > MAX_NAME_LENGTH or not value.isprintable():
        raise BadInput(f"the name must be one line of at most {MAX_NAME_LENGTH} characters: give a shorter one")
    return value


def check_email(email: str | None) -> str | None:
    """Return an e-mail address stripped (None when blank), or raise BadInput unless it looks like one."""
    value = (email or "").strip()
    if not value:
        return None
    if len(value) > MAX_EMAIL_LENGTH or not EMAIL_PATTERN.fullmatch(value):
        raise BadInput(f"the e-mail address {quoted(value)} is not one: give one like name@example.org (at most "
                       f"{MAX_EMAIL_LENGTH} characters), or none")
    return value


def hash_password(password: str) -> str:
    """Return the bcrypt hash of a password that passes check_password."""
    check_password(password)
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode()


def _entry_problem(username: Any, entry: Any) -> str:
    """Return what is wrong with one user's entry in the file ('' when nothing)."""
    if not isinstance(username, str) or not USERNAME_PATTERN.fullmatch(username):
        return f"{username!r} is not a valid username"
    if not isinstance(entry, dict):
        return f"user {username} is not a mapping"
    if not isinstance(entry.get("password"), str) or not entry["password"].startswith("$2"):
        return f"user {username} has no bcrypt password hash"
    roles = entry.get("roles")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        return f"user {username} has no list of roles"
    return ""


def _parse(path: Path, text: str) -> dict[str, dict[str, Any]]:
    """Return the usernames mapping of a credentials file's text, or raise CredentialsFileError."""
    def broken(why: str) -> CredentialsFileError:
        """Return the error saying the file is not usable, and why."""
        return CredentialsFileError(f"the credentials file {path} is not usable ({why}); fix it, or move it away and "
                                    "restart to create a new admin")
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise broken(f"not valid YAML: {str(exc).splitlines()[0]}") from None
    credentials = (data or {}).get("credentials", {}) if isinstance(data, dict) else None
    usernames = credentials.get("usernames") if isinstance(credentials, dict) else None
    if usernames is None and isinstance(credentials, dict):
        usernames = {}
    if not isinstance(usernames, dict):
        raise broken("expected credentials: usernames: NAME: ...")
    for username, entry in usernames.items():
        if problem := _entry_problem(username, entry):
            raise broken(problem)
    return usernames


def read_credentials(settings: Settings) -> dict[str, Any]:
    """Return the credentials as streamlit-authenticator takes them ({'usernames': {...}}), read from the file now."""
    path = settings.credentials_path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {"usernames": {}}
    except OSError as exc:
        raise CredentialsFileError(f"cannot read the credentials file {path}: {exc.strerror}") from None
    return {"usernames": _parse(path, text)}


def _user(username: str, entry: dict[str, Any]) -> User:
    """Return the User described by one entry of the file."""
    return User(username=username, name=str(entry.get("name") or username), roles=tuple(entry.get("roles") or ()),
                email=entry.get("email") or None)


def list_users(settings: Settings) -> list[User]:
    """Return every user, sorted by username."""
    usernames = read_credentials(settings)["usernames"]
    return [_user(name, usernames[name]) for name in sorted(usernames)]


def get_user(settings: Settings, username: str) -> User | None:
    """Return the user with this username (any case), or None."""
    entry = read_credentials(settings)["usernames"].get((username or "").strip().lower())
    return None if entry is None else _user(username.strip().lower(), entry)


@contextlib.contextmanager
def _writer_lock(path: Path) -> Iterator[None]:
    """Hold the exclusive lock of the credentials file `path` (one writer at a time, across processes)."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise CredentialsFileError(f"cannot lock the credentials file {path}: {exc.strerror}") from None
    try:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise CredentialsFileError(f"another process has been changing {path} for over "
                                               f"{LOCK_WAIT_S:.0f} s; try again in a moment") from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def write_private(path: Path, text: str) -> None:
    """Replace `path` atomically with `text`, readable and writable by its owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # mkstemp makes it 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _editing(settings: Settings) -> Iterator[dict[str, dict[str, Any]]]:
    """Yield the usernames mapping under the writer lock; write it back when the block ends without an error."""
    path = settings.credentials_path
    with _writer_lock(path):
        usernames = read_credentials(settings)["usernames"]
        yield usernames
        text = FILE_HEADER + yaml.safe_dump({"credentials": {"usernames": usernames}}, sort_keys=False,
                                            allow_unicode=True)
        try:
            write_private(path, text)
        except OSError as exc:
            raise CredentialsFileError(f"cannot write the credentials file {path}: {exc.strerror}") from None


def _admins(usernames: dict[str, dict[str, Any]]) -> list[str]:
    """Return the usernames that have the admin role."""
    return [name for name, entry in usernames.items() if ADMIN in (entry.get("roles") or [])]


def _existing(usernames: dict[str, dict[str, Any]], username: str) -> dict[str, Any]:
    """Return the entry of `username`, or raise Refused naming how to see the users."""
    if username not in usernames:
        raise Refused(f"there is no user {quoted(username)} (see `python -m lfb users list`)")
    return usernames[username]


def add_user(settings: Settings, username: str, password: str, role: str, name: str = "",
             email: str | None = None) -> User:
    """Add a user with one role; the first user must be an admin."""
    username, role, name = normalise_username(username), check_role(role), check_name(name)
    email = check_email(email)
    hashed = hash_password(password)
    with _editing(settings) as usernames:
        if username in usernames:
            raise Refused(f"user {username!r} already exists: change it with `python -m lfb users passwd|role`")
        if not usernames and role != ADMIN:
            raise Refused("the first user must be an admin (add one with --role admin, or start the app once to "
                          "create it)")
        entry = {"name": name or username, "password": hashed, "roles": [role]}
        if email:
            entry["email"] = email
        usernames[username] = entry
    return _user(username, entry)


def remove_user(settings: Settings, username: str) -> User:
    """Remove a user; the last admin is never removed."""
    username = normalise_username(username)
    with _editing(settings) as usernames:
        entry = _existing(usernames, username)
        if _admins(usernames) == [username]:
            raise Refused(f"{username!r} is the last admin and cannot be removed: make another user admin first "
                          "(`python -m lfb users role NAME --role admin`)")
        del usernames[username]
    return _user(username, entry)


def set_password(settings: Settings, username: str, password: str) -> None:
    """Give a user a new password."""
    username = normalise_username(username)
    hashed = hash_password(password)
    with _editing(settings) as usernames:
        _existing(usernames, username)["password"] = hashed


def set_role(settings: Settings, username: str, role: str) -> User:
    """Give a user one role instead of their current ones; the last admin is never demoted."""
    username, role = normalise_username(username), check_role(role)
    with _editing(settings) as usernames:
        entry = _existing(usernames, username)
        if role != ADMIN and _admins(usernames) == [username]:
            raise Refused(f"{username!r} is the last admin and cannot stop being one: make another user admin first")
        entry["roles"] = [role]
    return _user(username, entry)


def ensure_admin(settings: Settings) -> tuple[str | None, str | None]:
    """Create the first admin if there is no user: return (username, generated password or None), else (None, None)."""
    # LFB_ADMIN_USER/LFB_ADMIN_PASSWORD name it; without a password one is generated, for the caller to show once
    # (it is stored only as a hash).
    if list_users(settings):
        return None, None
    try:
        username = normalise_username(settings.admin_user or DEFAULT_ADMIN)
        generated = None if settings.admin_password else secrets.token_urlsafe(12)
        hashed = hash_password(settings.admin_password or generated)
    except BadInput as exc:
        raise BadInput(f"LFB_ADMIN_USER/LFB_ADMIN_PASSWORD: {exc}") from None
    with _editing(settings) as usernames:
        if usernames:  # another process created the first users meanwhile
            return None, None
        usernames[username] = {"name": "Administrator", "password": hashed, "roles": [ADMIN]}
    return username, generated


def _create_cookie_key(path: Path) -> None:
    """Write a new random signing key to `path` (0600) unless another process wrote one first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # appears whole or not at all; the first process wins
    finally:
        os.unlink(tmp)


def cookie_key(settings: Settings) -> str:
    """Return the sign-in cookie's signing key: LFB_COOKIE_KEY, else the key kept in data/cookie_key (made once)."""
    if settings.cookie_key:
        if len(settings.cookie_key) < MIN_COOKIE_KEY_LENGTH:
            raise BadInput(f"LFB_COOKIE_KEY is too short: use a random secret of at least {MIN_COOKIE_KEY_LENGTH} "
                           "characters, or unset it to have one generated")
        return settings.cookie_key
    path = settings.cookie_key_path
    try:
        if not path.exists():
            _create_cookie_key(path)
        key = path.read_text().strip()
    except OSError as exc:
        raise CredentialsFileError(f"cannot read or create the cookie key {path}: {exc.strerror}") from None
    if len(key) < MIN_COOKIE_KEY_LENGTH:
        raise CredentialsFileError(f"the cookie key {path} is damaged: delete it and restart the app (everyone signs "
                                   "in again)")
    return key
