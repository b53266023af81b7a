"""The pages and shared widgets: every page guards itself, the admin pages are for admins only, the DEMO banner,
one-line errors."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from lfb.config import PROJECT_ROOT
from tests.app.conftest import nav_titles, texts

PAGE_FILES = sorted((PROJECT_ROOT / "pages").glob("*.py"))
GUARD_REFUSAL = "This page needs a signed-in user with the right role: open the app's main address and sign in."

ESTIMATE_HEADING = "When will the pump arrive?"  # the estimate page's heading


def _page(path, username: str | None = None) -> AppTest:
    """Run one page file on its own (as Streamlit does for a pages/ URL before any st.navigation call)."""
    at = AppTest.from_file(str(path), default_timeout=30)
    if username:
        at.session_state["authentication_status"] = True
        at.session_state["username"] = username
    return at.run()


def test_the_router_knows_every_page_file():
    from ui.navigation import PAGES

    assert sorted(PROJECT_ROOT / path for path, *_ in PAGES) == PAGE_FILES


@pytest.mark.parametrize("path", PAGE_FILES, ids=lambda p: p.name)
def test_every_page_run_on_its_own_refuses_a_visitor(app_settings, path):
    at = _page(path)
    assert not at.exception
    assert [e.value for e in at.error] == [GUARD_REFUSAL]
    assert not at.title and not at.header and not at.table


@pytest.mark.parametrize("path", PAGE_FILES, ids=lambda p: p.name)
def test_every_page_run_on_its_own_opens_for_an_admin(app_settings, path):
    at = _page(path, "chief")  # an empty data folder: a page may say what is missing, but it opens
    assert not at.exception and GUARD_REFUSAL not in [e.value for e in at.error] and (at.title or at.header)


ADMIN_FILES = sorted((PROJECT_ROOT / "pages").glob("admin_*.py"))


def test_there_are_five_admin_pages_for_admins_only():
    from ui.navigation import ADMINS, PAGES

    assert [PROJECT_ROOT / spec.path for spec in PAGES if spec.roles == ADMINS] == [
        PROJECT_ROOT / "pages" / f"admin_{name}.py" for name in ("data", "models", "accuracy", "jobs", "users")]
    assert len(ADMIN_FILES) == 5


@pytest.mark.parametrize("path", ADMIN_FILES, ids=lambda p: p.name)
def test_an_admin_page_on_its_own_refuses_a_dispatcher(app_settings, path):
    at = _page(path, "disp1")
    assert [e.value for e in at.error] == [GUARD_REFUSAL] and not at.table and not at.dataframe and not at.title
    assert not at.button and not at.get("file_uploader")


def test_the_estimate_page_on_its_own_opens_for_a_dispatcher(app_settings):
    assert _page(PROJECT_ROOT / "pages" / "estimate.py", "disp1").header[0].value == ESTIMATE_HEADING


def test_the_demo_banner_shows_while_the_store_holds_demo_data(app_settings, trained, monkeypatch, open_as):
    monkeypatch.setenv("LFB_DB", str(trained[0].db_path))
    at = open_as("disp1")
    assert [w.value for w in at.warning][0].startswith("**DEMO DATA**")


def test_no_demo_banner_without_demo_data(open_as, app_settings):
    at = open_as("disp1")
    assert "DEMO" not in texts(at)
    assert not app_settings.db_path.exists()  # asking created no store


def test_no_demo_banner_before_sign_in(app_settings, trained, monkeypatch):
    from tests.app.conftest import new_app

    monkeypatch.setenv("LFB_DB", str(trained[0].db_path))
    at = new_app().run()
    assert nav_titles(at) == ["Sign in"] and "DEMO" not in texts(at)


def _broken_page_app() -> None:
    """An app whose only page fails with a two-line message."""
    import streamlit as st

    from ui.widgets import run_page

    def broken() -> None:
        """Fail."""
        raise RuntimeError("the disk is on fire\nsecond line of detail")

    run_page(st.navigation([st.Page(broken, title="Broken")]))


def test_an_unexpected_page_error_is_one_line_without_a_traceback(caplog):
    at = AppTest.from_function(_broken_page_app, default_timeout=30).run()
    assert not at.exception
    assert [e.value for e in at.error] == ["This page stopped on an unexpected error (RuntimeError: the disk is on "
                                           "fire). Reload the page; if it happens again, tell an admin (the details "
                                           "are in the app's log)."]
    assert "Traceback" in caplog.text  # the details go to the server's log
