"""Which pages each role may open: the navigation is built from this on every run."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import NamedTuple

import streamlit as st
from streamlit.errors import StreamlitAPIException
from streamlit.navigation.page import StreamlitPage

from lfb.config import get_settings
from lfb.service import users
from lfb.service.users import ADMIN, DISPATCHER
from ui.session import SignedIn
from ui.widgets import show_error

ROUTER = "app.py"  # the main script, relative to which page files are named
ADMIN_SECTION = "Admin"
EVERYONE, ADMINS = frozenset({DISPATCHER, ADMIN}), frozenset({ADMIN})


class PageSpec(NamedTuple):
    """A page of the app: its file, title, icon, the roles that may open it and its navigation section."""

    path: str
    title: str
    icon: str
    roles: frozenset[str]
    section: str = ""  # '' = the top of the navigation, without a heading


# The first is the landing page. Every file of pages/ is listed here (a test checks it).
PAGES: tuple[PageSpec, ...] = (
    PageSpec("pages/estimate.py", "Estimate", ":material/timer:", EVERYONE),
    PageSpec("pages/stations.py", "Station map", ":material/map:", EVERYONE),
    PageSpec("pages/admin_data.py", "Data", ":material/database:", ADMINS, ADMIN_SECTION),
    PageSpec("pages/admin_models.py", "Models", ":material/model_training:", ADMINS, ADMIN_SECTION),
    PageSpec("pages/admin_accuracy.py", "Live accuracy", ":material/monitoring:", ADMINS, ADMIN_SECTION),
    PageSpec("pages/admin_jobs.py", "Jobs", ":material/schedule:", ADMINS, ADMIN_SECTION),
    PageSpec("pages/admin_users.py", "Users", ":material/group:", ADMINS, ADMIN_SECTION),
)


def _sign_in_page() -> None:
    """The only page before sign-in: the form above it is all there is."""
    with st.columns([1, 2, 1])[1]:
        st.caption("No account? Ask an admin of the app to add you.")


def _no_role_page() -> None:
    """The only page of a user whose roles open nothing."""
    st.warning("Your account has no role that opens a page: ask an admin to give you one.")


def pages_for(user: SignedIn | None) -> dict[str, list[StreamlitPage]]:
    """Return the pages this user may open by navigation section (only the sign-in page when nobody is signed in)."""
    if user is None:
        return {"": [st.Page(_sign_in_page, title="Sign in", icon=":material/login:", url_path="sign-in")]}
    sections: dict[str, list[StreamlitPage]] = {}
    for spec in PAGES:
        if spec.roles & set(user.roles):
            sections.setdefault(spec.section, []).append(st.Page(spec.path, title=spec.title, icon=spec.icon))
    return sections or {"": [st.Page(_no_role_page, title="No access", icon=":material/block:", url_path="no-access")]}


def _page_roles(page_file: str) -> frozenset[str]:
    """Return the roles that may open the page in `page_file` (none for a file the router does not know)."""
    name = Path(page_file).name
    return next((spec.roles for spec in PAGES if Path(spec.path).name == name), frozenset())


def page_guard(page_file: str) -> None:
    """Stop a page unless the session's user holds, in the credentials file now, a role that may open it."""
    # The router never runs a page a role may not open; this guard covers the one way round it: until the first
    # st.navigation call of a server process, Streamlit still runs a file of pages/ requested by its URL directly.
    # Such a request is sent through the router (app.py) instead, which shows the sign-in form.
    allowed = _page_roles(page_file)
    username = st.session_state.get("username") if st.session_state.get("authentication_status") else None
    try:
        user = users.get_user(get_settings(), username) if username else None
    except users.UserError:
        user = None
    if user is None or not allowed & set(user.roles):
        with contextlib.suppress(StreamlitAPIException):  # raised where app.py is not a page: run outside the app
            st.switch_page(ROUTER)
        show_error("This page needs a signed-in user with the right role: open the app's main address and sign in.")
        st.stop()
