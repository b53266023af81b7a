"""The admin console in a real browser: an admin sees its pages under their own section, each saying that the scheduler
sidecar is not running (the test app has none); an uploaded CSV becomes an ingest request; a dispatcher reaches no
admin page by its URL. Each test leaves a screenshot in tests/browser/screenshots/."""
from __future__ import annotations

from pathlib import Path

from lfb.service import requests
from tests.browser.conftest import PASSWORDS, READY, unavailable
from tests.browser.test_signin import APP, heading, nav_titles, open_app, sign_in, signed_in
from tests.builders import incident_row, write_csv

try:
    from playwright.sync_api import Page, expect
except ImportError:
    unavailable("the playwright package is not installed")

ADMIN_PAGES = {"Data": "admin_data", "Models": "admin_models", "Live accuracy": "admin_accuracy", "Jobs": "admin_jobs",
               "Users": "admin_users"}
NOT_RUNNING = "The scheduler sidecar is not running: requests wait until it starts"


def _admin(page: Page, url: str) -> None:
    """Sign in as the admin chief."""
    sign_in(page, url, "chief", PASSWORDS["chief"])
    signed_in(page, "Chief Officer (chief)")
    page.wait_for_selector(READY)


def _open(page: Page, title: str) -> None:
    """Open an admin page from the sidebar and wait until it has run."""
    page.locator('[data-testid="stSidebarNavLink"]', has_text=title).click()
    expect(heading(page, title).first).to_be_visible(timeout=30_000)
    page.wait_for_selector(READY)


def test_an_admin_sees_the_admin_pages_under_their_section_with_the_sidecar_status(app, page):
    _admin(page, app.url)
    assert nav_titles(page) == ["Estimate", "Station map", *ADMIN_PAGES]
    expect(page.locator('[data-testid="stNavSectionHeader"]', has_text="Admin")).to_be_visible()
    for title in ADMIN_PAGES:
        _open(page, title)
        expect(page.get_by_text(NOT_RUNNING).first).to_be_visible()
        assert "Traceback" not in page.inner_text(APP)


def test_an_uploaded_csv_becomes_an_ingest_request(app, page, tmp_path):
    records = write_csv(tmp_path / "LFB incidents Nov 2024.csv", [
        incident_row("910001-05112024", DateOfCall="2024-11-05", CalYear="2024")])
    _admin(page, app.url)
    _open(page, "Data")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(records))
    button = page.get_by_role("button", name="Ingest this file")
    expect(button).to_be_visible(timeout=30_000)
    page.wait_for_selector(READY)
    button.click()
    expect(page.get_by_text("queued by chief").first).to_be_visible(timeout=30_000)
    waiting = [j for j in requests.list_jobs(app.settings, status=requests.PENDING) if j["kind"] == "ingest"]
    kept = [j["args"]["path"] for j in waiting if j["args"]["path"].endswith("-LFB_incidents_Nov_2024.csv")]
    assert len(kept) == 1 and kept[0].startswith(str(app.settings.uploads_dir))
    assert Path(kept[0]).read_bytes() == records.read_bytes()
    expect(page.get_by_text("waiting for the sidecar").first).to_be_visible()


def test_a_dispatcher_reaches_no_admin_page_by_its_url(app, page):
    sign_in(page, app.url, "disp1", PASSWORDS["disp1"])
    signed_in(page, "Dee Spatcher (disp1)")
    for title, path in ADMIN_PAGES.items():
        open_app(page, f"{app.url}/{path}")
        expect(heading(page, "Estimate").first).to_be_visible()
        expect(heading(page, title)).to_have_count(0)
        assert "scheduler sidecar" not in page.inner_text(APP)
        assert nav_titles(page) == ["Estimate", "Station map"]


def _drain(settings) -> None:
    """Take every request still waiting (left by earlier tests sharing the app) as the sidecar would, and end it."""
    while (waiting := requests.claim_next(settings, "test-runner")) is not None:
        requests.finish(settings, waiting["id"], False, "ended by the test runner")


def test_the_jobs_page_shows_a_job_s_end_without_a_reload(app, page):
    _drain(app.settings)
    job_id = requests.submit(app.settings, "evaluate", {"since": "2024-09"}, who="chief")
    _admin(page, app.url)
    _open(page, "Jobs")
    expect(page.get_by_text(f"#{job_id} evaluate (since 2024-09): waiting for the sidecar")).to_be_visible()
    assert requests.claim_next(app.settings, "test-runner")["id"] == job_id  # as the sidecar takes it
    requests.finish(app.settings, job_id, True, f"scored the champion since 2024-09 (job {job_id})", log="done")
    # the page refreshes itself while a job waits or runs: the outcome appears without touching the page
    expect(page.get_by_text(f"Log of #{job_id} evaluate")).to_be_visible(timeout=30_000)
    expect(page.get_by_text(f"#{job_id} evaluate (since 2024-09): waiting for the sidecar")).to_have_count(0)
