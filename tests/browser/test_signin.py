"""Sign-in in a real browser: the login form, the cookie across reloads, sign-out, roles and page URLs."""
from __future__ import annotations

import time

from lfb.config import get_settings
from lfb.service import users
from tests.browser.conftest import PASSWORDS, READY, make_users, start_app, stop_app, unavailable

try:
    from playwright.sync_api import Locator, Page, expect
except ImportError:
    unavailable("the playwright package is not installed")

APP = '[data-testid="stApp"]'
ADMIN_MARK = "scheduler sidecar"  # every admin page says whether it runs; no other page mentions it
ADMIN_PAGES = ["Data", "Models", "Live accuracy", "Jobs", "Users"]
COOKIE = "lfb_signin"


def open_app(page: Page, url: str) -> None:
    """Open a URL of the app and wait until its script has run."""
    page.goto(url)
    page.wait_for_selector(READY)


def sign_in(page: Page, url: str, username: str, password: str) -> None:
    """Sign in through the app's login form."""
    open_app(page, url)
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def signed_in(page: Page, who: str) -> None:
    """Wait until the sidebar says who is signed in, and the sign-in cookie is in the browser."""
    expect(shown(page, f"Signed in as {who}")).to_be_visible()
    deadline = time.monotonic() + 10
    while COOKIE not in cookies(page) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert COOKIE in cookies(page)


def cookies(page: Page) -> set[str]:
    """Return the names of the browser's cookies."""
    return {c["name"] for c in page.context.cookies()}


def nav_titles(page: Page) -> list[str]:
    """Return the titles of the sidebar's navigation links (without their icons)."""
    links = page.locator('[data-testid="stSidebarNavLink"]').all_inner_texts()
    return [text.strip().splitlines()[-1] for text in links]


PAGE_HEADINGS = {"Estimate": "When will the pump arrive?"}  # pages whose heading is not their navigation title


def heading(page: Page, text: str) -> Locator:
    """Return the page headings of the page titled `text` (a run may briefly show its predecessor's elements too)."""
    return page.locator("h1, h2", has_text=PAGE_HEADINGS.get(text, text))


def shown(page: Page, text: str) -> Locator:
    """Return the first element showing this text."""
    return page.get_by_text(text).first


def test_dispatcher_signs_in_and_sees_the_estimate_page_without_admin(app, page):
    sign_in(page, app.url, "disp1", PASSWORDS["disp1"])
    signed_in(page, "Dee Spatcher (disp1)")
    expect(heading(page, "Estimate").first).to_be_visible()
    expect(shown(page, "Role: dispatcher")).to_be_visible()
    expect(shown(page, "DEMO DATA")).to_be_visible()
    assert nav_titles(page) == ["Estimate", "Station map"]
    assert "Traceback" not in page.inner_text(APP)


def test_a_reload_keeps_the_user_signed_in(app, page):
    sign_in(page, app.url, "disp1", PASSWORDS["disp1"])
    signed_in(page, "Dee Spatcher (disp1)")
    page.reload()
    page.wait_for_selector(READY)
    expect(heading(page, "Estimate").first).to_be_visible()
    expect(shown(page, "Signed in as Dee Spatcher (disp1)")).to_be_visible()
    expect(page.get_by_role("textbox", name="Password")).to_have_count(0)


def test_sign_out_ends_the_session_even_after_a_reload(app, page):
    sign_in(page, app.url, "disp1", PASSWORDS["disp1"])
    signed_in(page, "Dee Spatcher (disp1)")
    page.get_by_role("button", name="Sign out").click()
    expect(shown(page, "You have signed out.")).to_be_visible()
    expect(page.get_by_role("textbox", name="Password").first).to_be_visible()
    deadline = time.monotonic() + 10
    while COOKIE in cookies(page) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert COOKIE not in cookies(page)
    page.reload()
    page.wait_for_selector(READY)
    expect(page.get_by_role("textbox", name="Password").first).to_be_visible()
    expect(heading(page, "Estimate")).to_have_count(0)
    assert nav_titles(page) == []


def test_a_dispatcher_opening_the_admin_url_does_not_get_it(app, page):
    sign_in(page, app.url, "disp1", PASSWORDS["disp1"])
    signed_in(page, "Dee Spatcher (disp1)")
    open_app(page, f"{app.url}/admin_users")
    expect(heading(page, "Estimate").first).to_be_visible()
    expect(shown(page, "Signed in as Dee Spatcher (disp1)")).to_be_visible()
    expect(heading(page, "Users")).to_have_count(0)
    assert ADMIN_MARK not in page.inner_text(APP)


def test_an_admin_signs_in_and_opens_the_users_page(app, page):
    sign_in(page, app.url, "chief", PASSWORDS["chief"])
    signed_in(page, "Chief Officer (chief)")
    assert nav_titles(page) == ["Estimate", "Station map", *ADMIN_PAGES]
    page.locator('[data-testid="stSidebarNavLink"]', has_text="Users").click()
    expect(heading(page, "Users").first).to_be_visible()
    expect(shown(page, ADMIN_MARK)).to_be_visible()
    table = page.locator('[data-testid="stTable"]').first
    expect(table).to_contain_text("disp1")
    expect(table).to_contain_text("dispatcher")
    assert "$2b$" not in page.inner_text(APP)
    open_app(page, f"{app.url}/admin_users")  # and by its URL
    expect(heading(page, "Users").first).to_be_visible()


def test_a_wrong_password_shows_a_clear_error(app, page):
    sign_in(page, app.url, "disp1", "not-the-password")
    expect(shown(page, "Wrong username or password. Try again")).to_be_visible()
    expect(heading(page, "Estimate")).to_have_count(0)
    assert COOKIE not in cookies(page)


def test_a_removed_user_with_a_sign_in_cookie_is_signed_out(app, page):
    sign_in(page, app.url, "temp1", PASSWORDS["temp1"])
    signed_in(page, "Tem Porary (temp1)")
    users.remove_user(app.settings, "temp1")
    page.reload()
    page.wait_for_selector(READY)
    expect(shown(page, "Your account no longer exists")).to_be_visible()
    expect(page.get_by_role("textbox", name="Password").first).to_be_visible()
    expect(heading(page, "Estimate")).to_have_count(0)


def test_the_first_request_of_a_fresh_server_for_a_page_url_goes_through_sign_in(browser, page, tmp_path):
    settings = get_settings().relocated(tmp_path / "data", tmp_path / "models")
    make_users(settings)
    fresh = start_app(settings, tmp_path / "app.log")
    try:
        open_app(page, f"{fresh.url}/admin_users")  # Streamlit would run pages/admin_users.py directly: the guard
        expect(page.get_by_role("textbox", name="Password").first).to_be_visible()  # reroutes it to sign-in
        expect(heading(page, "Users")).to_have_count(0)
        assert ADMIN_MARK not in page.inner_text(APP)
    finally:
        stop_app(fresh.process)
