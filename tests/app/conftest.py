"""Fixtures of the page tests: a data folder with one admin and one dispatcher, and the app opened as either."""
from __future__ import annotations

from collections.abc import Callable

import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import script_runner
from streamlit.testing.v1 import AppTest

from lfb.config import PROJECT_ROOT, Settings
from lfb.service import users

APP = PROJECT_ROOT / "app.py"
PASSWORDS = {"chief": "chief-password", "disp1": "disp1-password"}


@pytest.fixture(autouse=True)
def fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap bcrypt hashes: the tests check behaviour, not hashing cost."""
    monkeypatch.setattr(users, "BCRYPT_ROUNDS", 4)


class _SteadyStatePages(PagesManager):
    """Streamlit's pages manager as a server process has it once any session has called st.navigation."""

    uses_pages_directory = False


@pytest.fixture(autouse=True)
def steady_state_navigation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every AppTest run through app.py's st.navigation, as a running server does."""
    # AppTest resets Streamlit's "app with a pages/ folder" flag before every run, so each run would take the route a
    # server takes only until the first st.navigation call of its process (pages/ files run directly by URL). That
    # route is covered by the page guard's tests and by the browser test of a fresh server's first request.
    monkeypatch.setattr(script_runner, "PagesManager", _SteadyStatePages)


@pytest.fixture
def app_settings(settings: Settings) -> Settings:
    """Settings of a fresh data folder whose credentials hold an admin (chief) and a dispatcher (disp1)."""
    users.add_user(settings, "chief", PASSWORDS["chief"], "admin", name="Chief Officer")
    users.add_user(settings, "disp1", PASSWORDS["disp1"], "dispatcher", name="Dee Spatcher")
    return settings


def new_app() -> AppTest:
    """Return the app, not yet run."""
    return AppTest.from_file(str(APP), default_timeout=30)


def preset(at: AppTest, username: str, roles: list[str]) -> AppTest:
    """Put a signed-in session into the app's state, as streamlit-authenticator leaves it after a sign-in."""
    at.session_state["authentication_status"] = True
    at.session_state["username"] = username
    at.session_state["name"] = username
    at.session_state["roles"] = roles
    return at


@pytest.fixture
def open_as(app_settings: Settings) -> Callable[..., AppTest]:
    """Return a function that opens the app signed in as a user (run once)."""
    def open_app(username: str, roles: list[str] | None = None) -> AppTest:
        """Open the app signed in as `username` (with `roles` in the session, default: the file's), run once."""
        user = users.get_user(app_settings, username)
        at = preset(new_app(), username, roles if roles is not None else list(user.roles if user else []))
        return at.run()
    return open_app


def nav_titles(at: AppTest) -> list[str]:
    """Return the titles of the pages the last run's st.navigation registered (AppTest keeps them privately)."""
    return [page["page_name"] for page in at._registered_pages.values()]


def texts(at: AppTest) -> str:
    """Return every title, header, markdown, caption, info, warning and error of the last run, as one text."""
    parts = [e.value for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error")
             for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)
