"""Sign-in with roles: streamlit-authenticator draws the form and keeps the sign-in cookie; the credentials file says
who may do what, read afresh on every run, so a changed role or a removed user takes effect on the next rerun.

Session state follows streamlit-authenticator: `authentication_status`, `username`, `name`, `roles`. A session that
already says it is signed in (as page tests set it) is trusted only for the username: the user must still be in the
credentials file, and their roles are taken from there.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st
import streamlit_authenticator as stauth
from streamlit_authenticator.utilities import LoginError

from lfb.config import Settings
from lfb.service import users
from ui.widgets import show_error

COOKIE_NAME = "lfb_signin"
SIGN_OUT_REQUEST = "_lfb_sign_out"
FIRST_ADMIN = "_lfb_first_admin"
NOTICE = "_lfb_sign_in_notice"  # why the sign-in form is back (signed out, account removed); kept until a sign-in
GONE = "Your account no longer exists: ask an admin if you need one."
ROLE_LOST = ("Your account no longer has the {roles} role (changed in the credentials file): its pages are closed to "
             "you, and nothing you pressed on them was done.")
LOGIN_FIELDS = {"Form name": "Sign in to LFB response times", "Username": "Username", "Password": "Password",
                "Login": "Sign in"}
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


def _login_form(auth: stauth.Authenticate, credentials: dict[str, Any]) -> SignedIn | None:
    """Draw the sign-in form; return the user if they have just signed in with it."""
    with st.columns([1, 2, 1])[1]:
        if notice := st.session_state.get(NOTICE):
            st.info(notice)
        if first := st.session_state.get(FIRST_ADMIN):
            st.info(f"First start: the admin account **{first}** was created. Its password is printed in the "
                    "terminal that started the app (or set with LFB_ADMIN_PASSWORD).")
        auth.login(location="main", fields=LOGIN_FIELDS)
        if st.session_state.get("authentication_status") is False:
            show_error(WRONG_PASSWORD)
    user = _from_credentials(credentials)
    if user is not None:
        st.session_state.pop(FIRST_ADMIN, None)
        st.session_state.pop(NOTICE, None)
    return user


def sign_in(settings: Settings) -> SignedIn | None:
    """Return the signed-in user with their current roles, or draw the sign-in form and return None."""
    try:
        if not users.read_credentials(settings)["usernames"]:
            _first_admin(settings)
        credentials = users.read_credentials(settings)
        auth = _authenticator(settings, credentials)
        return _resume(auth, credentials) or _login_form(auth, credentials)
    except users.UserError as exc:  # a damaged credentials file or cookie key: nobody can sign in until fixed
        show_error(f"Sign-in is unavailable: {exc}")
        return None


def sidebar(user: SignedIn) -> None:
    """Show who is signed in, with their role, and the sign-out button in the sidebar."""
    with st.sidebar:
        st.markdown(f"Signed in as **{user.name}** (`{user.username}`)")
        st.caption(f"Role: {', '.join(user.roles) or 'none'}")
        st.button("Sign out", key="lfb_sign_out_button", on_click=_request_sign_out, icon=":material/logout:")

