"""The dispatcher's pages in a real browser: an estimate from a full postcode with its map and ranking; the station
map with London's coverage and a what-if. Each test leaves a screenshot in tests/browser/screenshots/."""
from __future__ import annotations

from tests.browser.conftest import PASSWORDS, READY, unavailable
from tests.browser.test_signin import signed_in, sign_in

try:
    from playwright.sync_api import Page, expect
except ImportError:
    unavailable("the playwright package is not installed")

WHEN_DATE, WHEN_TIME = "16/09/2024", "14:30"  # inside the small demo store's model window


def _idle(page: Page) -> None:
    """Wait until the app's script has finished its run."""
    page.wait_for_selector(READY)


def _open_station_map(page: Page) -> None:
    """Open the station map from the sidebar once the page is idle (a click that lands while the sign-in's first
    run is still drawing can be lost with the elements it redraws: then the link is clicked once more)."""
    _idle(page)
    heading = page.locator("h1", has_text="Station map")
    page.locator('[data-testid="stSidebarNavLink"]', has_text="Station map").click()
    try:
        expect(heading).to_be_visible(timeout=15_000)
    except AssertionError:
        _idle(page)
        page.locator('[data-testid="stSidebarNavLink"]', has_text="Station map").click()
        expect(heading).to_be_visible(timeout=30_000)


def _estimate(page: Page, location: str) -> None:
    """Fill the estimate form with a location and a time the model knows, and press Estimate."""
    page.get_by_role("textbox", name="Location").fill(location)
    page.get_by_role("spinbutton", name="day, Date").click()  # a date typed as a Londoner writes it, day first
    page.keyboard.type(WHEN_DATE.replace("/", ""))
    page.get_by_role("spinbutton", name="hour, Time (London)").click()
    page.keyboard.type(WHEN_TIME.replace(":", ""))
    page.get_by_role("button", name="Estimate").click()


def test_a_dispatcher_gets_an_estimate_from_a_full_postcode_with_map_and_ranking(app, page):
    sign_in(page, app.url, "disp1", PASSWORDS["disp1"])
    signed_in(page, "Dee Spatcher (disp1)")
    _idle(page)
    _estimate(page, "SE1 7PB")
    expect(page.get_by_text("→ SE1 7PB").first).to_be_visible(timeout=30_000)
    _idle(page)
    expect(page.get_by_text("Chance over 6 minutes")).to_be_visible()
    expect(page.locator('[data-testid="stDeckGlJsonChart"]').first).to_be_visible()
    ranking = page.locator('[data-testid="stDataFrame"]').first
    expect(ranking).to_be_visible()
    expect(page.get_by_text("Same route, every hour of the day")).to_be_visible()
    expect(page.get_by_text("Borough boundaries").first).to_be_visible()  # the map's own layers, credited
    assert "Traceback" not in page.inner_text('[data-testid="stApp"]')


def test_a_place_outside_london_gets_a_message_not_an_estimate(app, page):
    sign_in(page, app.url, "disp1", PASSWORDS["disp1"])
    signed_in(page, "Dee Spatcher (disp1)")
    _idle(page)
    _estimate(page, "CB2 1TN")
    expect(page.get_by_text("is not in Greater London").first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Chance over 6 minutes")).to_have_count(0)


def test_the_station_map_shows_coverage_and_a_what_if(app, page):
    sign_in(page, app.url, "disp1", PASSWORDS["disp1"])
    signed_in(page, "Dee Spatcher (disp1)")
    _open_station_map(page)
    _idle(page)
    expect(page.locator('[data-testid="stDeckGlJsonChart"]')).to_have_count(1, timeout=30_000)  # the stations
    page.get_by_role("radio", name="London's coverage").click()
    expect(page.get_by_text("cells (").first).to_be_visible(timeout=30_000)
    _idle(page)
    unavailable_box = page.get_by_label("Station made unavailable")
    unavailable_box.click()
    page.keyboard.type("Paddington")
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page.get_by_text("Without Paddington").first).to_be_visible(timeout=30_000)
    _idle(page)
    expect(page.get_by_text("cells get slower").first).to_be_visible()
    assert "Traceback" not in page.inner_text('[data-testid="stApp"]')
