"""Admin console, Users: who may sign in and with which role; add or remove a user, set a role, reset a password."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from lfb.config import Settings, get_settings
from lfb.service import users
from ui import admin
from ui.navigation import page_guard
from ui.widgets import show_error

REMOVE = "users_remove_pending"  # the user an admin asked to remove, until confirmed or cancelled


def _table(settings: Settings) -> list[users.User]:
    """Show every user with their role (never a password); return them."""
    listed = users.list_users(settings)
    st.table(pd.DataFrame([{"Username": u.username, "Name": u.name, "Role": ", ".join(u.roles) or "none"}
                           for u in listed]).set_index("Username"))
    return listed


def _same_twice(password: str, again: str) -> bool:
    """Return True when both passwords are the same, else say so."""
    if password != again:
        show_error("The two passwords differ: type the same password twice.")
        return False
    return True


def _add(settings: Settings) -> None:
    """The form that adds a user."""
    with st.form("users_add_form", border=True):
        st.markdown("**Add a user**")
        username = st.text_input("Username", key="users_add_username",
                                 help="2 to 32 characters among a-z, 0-9, '.', '_' and '-'")
        name = st.text_input("Full name", key="users_add_name")
        role = st.selectbox("Role", users.ROLES, key="users_add_role")
        password = st.text_input("Password", type="password", key="users_add_password",
                                 help="At least 8 characters; give it to the user, who cannot change it themselves")
        again = st.text_input("Repeat the password", type="password", key="users_add_again")
        if not st.form_submit_button("Add user", key="users_add"):
            return
    if not _same_twice(password, again) or admin.require_admin(settings) is None:
        return
    try:
        user = users.add_user(settings, username, password, role, name=name)
    except users.UserError as exc:
        show_error(f"Not added: {admin.plain(exc)}.")
        return
    admin.done(f"Added {user.username} ({role}).")


def _set_role(settings: Settings, names: list[str]) -> None:
    """The form that gives a user another role."""
    with st.form("users_role_form", border=True):
        st.markdown("**Set a role**")
        username = st.selectbox("User whose role changes", names, index=None, key="users_role_user")
        role = st.selectbox("New role", users.ROLES, key="users_role_role")
        if not st.form_submit_button("Set role", key="users_role"):
            return
    if username is None:
        show_error("Pick the user whose role changes.")
        return
    if admin.require_admin(settings) is None:
        return
    try:
        users.set_role(settings, username, role)
    except users.UserError as exc:
        show_error(f"Not changed: {admin.plain(exc)}.")
        return
    admin.done(f"{username} is now {role}.")


def _reset_password(settings: Settings, names: list[str]) -> None:
    """The form that gives a user a new password."""
    with st.form("users_password_form", border=True):
        st.markdown("**Reset a password**")
        username = st.selectbox("User whose password is reset", names, index=None, key="users_password_user")
        password = st.text_input("New password", type="password", key="users_password_new")
        again = st.text_input("Repeat the new password", type="password", key="users_password_again")
        if not st.form_submit_button("Set password", key="users_password"):
            return
    if username is None:
        show_error("Pick the user whose password is reset.")
        return
    if not _same_twice(password, again) or admin.require_admin(settings) is None:
        return
    try:
        users.set_password(settings, username, password)
    except users.UserError as exc:
        show_error(f"Not changed: {admin.plain(exc)}.")
        return
    admin.done(f"{username} has a new password: give it to them.")


def _remove(settings: Settings, names: list[str]) -> None:
    """Remove a user, after a confirmation."""
    with st.container(border=True):
        st.markdown("**Remove a user**")
        username = st.selectbox("User to remove", names, index=None, key="users_remove_user")
        st.button("Remove user", key="users_remove", on_click=admin.ask, args=(REMOVE, username),
                  disabled=username is None)
        pending = st.session_state.get(REMOVE)
        own = " This is your own account: you will be signed out." if pending == st.session_state.get(
            "username") else ""
        ok, target = admin.confirmed(REMOVE, f"Remove **{admin.plain(pending)}**? They can no longer sign in.{own}",
                                     "Yes, remove")
    if not ok or admin.require_admin(settings) is None:
        return
    try:
        users.remove_user(settings, target)
    except users.UserError as exc:
        show_error(f"Not removed: {admin.plain(exc)}.")
        return
    admin.done(f"Removed {target}.")


def main() -> None:
    """Lay out the page."""
    settings = get_settings()
    admin.header("Users", settings)
    try:
        names = [u.username for u in _table(settings)]
    except users.UserError as exc:
        show_error(f"Cannot read the users: {admin.plain(exc)}")
        return
    st.caption("Passwords are kept only as bcrypt hashes. The last admin can be neither removed nor demoted. The same "
               "can be done from the command line: `python -m lfb users`.")
    left, middle, right = st.columns(3)
    with left:
        _add(settings)
    with middle:
        _set_role(settings, names)
        _remove(settings, names)
    with right:
        _reset_password(settings, names)


page_guard(__file__)
main()
