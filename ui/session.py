"""Sign-in with roles: streamlit-authenticator draws the form and keeps the sign-in cookie; the credentials file says
who may do what, read afresh on every run, so a changed role or a removed user takes effect on the next rerun.

Session state follows streamlit-authenticator: `authentication_status`, `username`, `name`, `roles`. A session that
already says it is signed in (as page tests set it) is trusted only for the username: the user must still be in the
credentials file, and their roles are taken from there.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import streamlit as st
import streamlit_authenticator as stauth
from streamlit_authenticator.utilities import LoginError

from lfb.config import Settings
from lfb.service import signin, users
from ui.widgets import plain, show_error

COOKIE_NAME = "lfb_signin"
SIGN_OUT_REQUEST = "_lfb_sign_out"
FIRST_ADMIN = "_lfb_first_admin"
NOTICE = "_lfb_sign_in_notice"
FAILURES = "_lfb_failed_sign_ins"  # failed sign-ins in this session: each slows the next try
LAST_SEEN = "_lfb_last_seen"  # the time of this session's latest run (an idle session is signed out)  # why the sign-in form is back (signed out, account removed); kept until a sign-in
GONE = "Your account no longer exists: ask an admin if you need one."
ROLE_LOST = ("Your account no longer has the {roles} role (changed in the credentials file): its pages are closed to "
             "you, and nothing you pressed on them was done.")
LOGIN_FIELDS = {"Form name": "Sign in to LFB response times", "Username": "Username", "Password": "Password",
                "Login": "Sign in"}
SIGN_IN_PRESSED = f"FormSubmitter:Login-{LOGIN_FIELDS['Login']}"  # the sign-in form's button, as Streamlit keys it
BLANK_SIGN_IN = "Give your username and your password, then press Sign in."
WRONG_PASSWORD = ("Wrong username or password. Try again; if you have forgotten your password, ask an admin to set a "
                  "new one.")


@dataclass(frozen=True)
class SignedIn:
    """The signed-in user, with the roles the credentials file gives them now."""

    username: str
    name: str
    roles: tuple[str, ...]


def _first_admin(settings: Settings) -> None:
    """On a fresh data folder, create the first admin and print a generated password once in the app's terminal."""
    username, password = users.ensure_admin(settings)
    if username is None:
        return
    st.session_state[FIRST_ADMIN] = username
    if password:
        print(f"\nLFB app: created the first admin account.\n  username: {username}\n  password: {password}\n"
              "This password is shown only this once: sign in with it and change it with "
              f"`python -m lfb users passwd {username}`.\n", flush=True)


def _authenticator(settings: Settings, credentials: dict[str, Any]) -> stauth.Authenticate:
    """Return the authenticator for this run, given the credentials as read now (it never writes our file)."""
    return stauth.Authenticate(credentials, cookie_name=COOKIE_NAME, cookie_key=users.cookie_key(settings),
                               cookie_expiry_days=settings.cookie_expiry_days, auto_hash=False, login_sleep_time=0)


def _request_sign_out() -> None:
    """Ask the next run to sign out (a button callback: it runs before the script)."""
    st.session_state[SIGN_OUT_REQUEST] = True


def _sign_out(auth: stauth.Authenticate) -> None:
    """Forget the signed-in user in this session and delete the sign-in cookie in the browser."""
    if st.session_state.get("authentication_status"):
        auth.logout(location="unrendered")


def _from_credentials(credentials: dict[str, Any]) -> SignedIn | None:
    """Return the session's user as the credentials file describes them now (None if not signed in or unknown)."""
    if not st.session_state.get("authentication_status"):
        return None
    username = str(st.session_state.get("username") or "").strip().lower()
    entry = credentials["usernames"].get(username)
    if entry is None:
        return None
    user = SignedIn(username, str(entry.get("name") or username), tuple(entry.get("roles") or ()))
    lost = sorted(set(st.session_state.get("roles") or ()) - set(user.roles))
    if lost:  # the pages of those roles are gone from the navigation: say why, once
        st.warning(ROLE_LOST.format(roles=" and ".join(lost)), icon=":material/lock:")
    st.session_state["roles"], st.session_state["name"] = list(user.roles), user.name
    return user


def _resume(auth: stauth.Authenticate, credentials: dict[str, Any]) -> SignedIn | None:
    """Resume a signed-in session or a sign-in cookie; return the user, or None (with a notice kept for the form)."""
    if st.session_state.pop(SIGN_OUT_REQUEST, False):
        _sign_out(auth)
        st.session_state[NOTICE] = "You have signed out."
    try:
        auth.login(location="unrendered")  # signs in from a valid cookie; draws nothing
    except LoginError:  # a valid cookie of a user no longer in the credentials file
        st.session_state["logout"] = True  # ignore the cookie for the rest of this session
        auth.cookie_controller.delete_cookie()
        st.session_state[NOTICE] = GONE
    user = _from_credentials(credentials)
    if user is None and st.session_state.get("authentication_status"):
        _sign_out(auth)
        st.session_state[NOTICE] = GONE
    return user


def pause(seconds: float) -> None:
    """Wait this session's run for a while (after a failed sign-in)."""
    time.sleep(seconds)


def _failed(settings: Settings, credentials: dict[str, Any]) -> str:
    """Count a failed sign-in (the account's, kept; the session's, which slows its next try); return a lock notice."""
    tried = [name for name, entry in credentials["usernames"].items() if entry.get("failed_login_attempts")]
    for name in tried:  # a known account with a wrong password (an unknown name counts for the session only)
        signin.record_failure(settings, name)
    count = st.session_state[FAILURES] = int(st.session_state.get(FAILURES, 0)) + 1
    pause(signin.delay_after(count))
    return next((lock.words() for lock in (signin.lockout(settings, n) for n in tried) if lock.locked_until), "")


def _locked_out(settings: Settings, user: SignedIn) -> bool:
    """Refuse a sign-in to an account locked by failed sign-ins (saying until when); True if refused."""
    lock = signin.lockout(settings, user.username)
    if lock.locked_until is None:
        signin.clear_failures(settings, user.username)
        return False
    st.session_state["authentication_status"] = None
    st.session_state["username"] = None
    st.session_state[NOTICE] = lock.words()
    return True


def _login_form(settings: Settings, auth: stauth.Authenticate, credentials: dict[str, Any]) -> SignedIn | None:
    """Draw the sign-in form; return the user if they have just signed in with it (and the account is not locked)."""
    with st.columns([1, 2, 1])[1]:
        if notice := st.session_state.get(NOTICE):
            st.info(notice)
        if first := st.session_state.get(FIRST_ADMIN):
            st.info(f"First start: the admin account **{first}** was created. Its password is printed in the "
                    "terminal that started the app (or set with LFB_ADMIN_PASSWORD).")
        auth.login(location="main", fields=LOGIN_FIELDS)
        if st.session_state.get("authentication_status") is False:
            show_error(_failed(settings, credentials) or WRONG_PASSWORD)
        elif st.session_state.get("authentication_status") is None and st.session_state.get(SIGN_IN_PRESSED):
            show_error(BLANK_SIGN_IN)  # the form ignores a blank field silently
    user = _from_credentials(credentials)
    if user is not None and _locked_out(settings, user):
        auth.cookie_controller.delete_cookie()
        st.rerun()
    if user is not None:
        st.session_state.pop(FIRST_ADMIN, None)
        st.session_state.pop(NOTICE, None)
        st.session_state.pop(FAILURES, None)
    return user


def _idle_too_long(settings: Settings, auth: stauth.Authenticate) -> None:
    """Sign out a session left idle longer than LFB_SESSION_IDLE_S; note this run as its latest activity."""
    now = time.time()
    last = st.session_state.get(LAST_SEEN)
    st.session_state[LAST_SEEN] = now
    if last is not None and now - float(last) > settings.session_idle_s and st.session_state.get("authentication_status"):
        _sign_out(auth)
        st.session_state[NOTICE] = (f"You were signed out after {settings.session_idle_s / 3600:g} h without activity:"
                                    " sign in again.")


def sign_in(settings: Settings) -> SignedIn | None:
    """Return the signed-in user with their current roles, or draw the sign-in form and return None."""
    try:
        if not users.read_credentials(settings)["usernames"]:
            _first_admin(settings)
        credentials = users.read_credentials(settings)
        auth = _authenticator(settings, credentials)
        _idle_too_long(settings, auth)
        return _resume(auth, credentials) or _login_form(settings, auth, credentials)
    except users.UserError as exc:  # a damaged credentials file or cookie key: nobody can sign in until fixed
        show_error(f"Sign-in is unavailable: {exc}")
        return None


def sidebar(user: SignedIn) -> None:
    """Show who is signed in, with their role, and the sign-out button in the sidebar."""
    with st.sidebar:
        st.markdown(f"Signed in as **{plain(user.name)}** (`{user.username}`)")
        st.caption(f"Role: {', '.join(user.roles) or 'none'}")
        st.button("Sign out", key="lfb_sign_out_button", on_click=_request_sign_out, icon=":material/logout:")

