"""The model's life cycle steered from the browser, with the real scheduler sidecar beside the app: an admin uploads a
file and sees it ingested, trains now and watches the job to its end, sees the new version, promotes it and rolls
back. Each test leaves a screenshot in tests/browser/screenshots/."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from lfb.config import PROJECT_ROOT, get_settings
from lfb.model.registry import champion
from lfb.service import requests
from lfb.service.jobs import open_store
from tests.browser.conftest import READY, RunningApp, make_users, start_app, stop_app, unavailable
from tests.browser.test_admin import _admin, _open
from tests.builders import incident_row, write_csv

try:
    from playwright.sync_api import Page, expect
except ImportError:
    unavailable("the playwright package is not installed")

SIDECAR_ENV = {"LFB_POLL_S": "0.5", "LFB_SIDECAR_THREADS": "1", "LFB_MODEL_LEARNING_RATE": "0.3",
               "LFB_MODEL_MAX_ITERATIONS": "80"}  # quick trainings: these tests are about the life cycle
JOB_TIMEOUT_S = 240


@pytest.fixture(scope="module")
def live(trained, browser, tmp_path_factory) -> Iterator[RunningApp]:
    """The app and the scheduler sidecar on their own copy of the trained store."""
    source, _ = trained
    root = tmp_path_factory.mktemp("lifecycle")
    settings = get_settings().relocated(root / "data", root / "models")
    shutil.copytree(source.models_dir, settings.models_dir)
    settings.data_dir.mkdir(parents=True)
    for suffix in ("", "-wal", "-shm"):
        path = source.db_path.with_name(source.db_path.name + suffix)
        if path.exists():
            shutil.copy(path, settings.db_path.with_name(settings.db_path.name + suffix))
    make_users(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LFB_")}
    env.update(LFB_DATA_DIR=str(settings.data_dir), LFB_MODELS_DIR=str(settings.models_dir),
               PYTHONPATH=str(PROJECT_ROOT), **SIDECAR_ENV)
    log = (root / "sidecar.log").open("w")
    sidecar = subprocess.Popen([sys.executable, "scheduler.py"], cwd=PROJECT_ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    running = start_app(settings, root / "app.log")
    try:
        deadline = time.monotonic() + 60
        while not requests.sidecar_status(settings).alive and time.monotonic() < deadline:
            time.sleep(0.2)
        assert requests.sidecar_status(settings).alive, (root / "sidecar.log").read_text()[-2000:]
        context = browser.new_context()
        context.new_page().goto(running.url)
        context.pages[0].wait_for_selector(READY, timeout=30_000)
        context.close()
        yield running
    finally:
        stop_app(running.process)
        stop_app(sidecar)
        log.close()


def _last_job(settings, kind: str) -> dict:
    """Return the newest job of a kind."""
    return next(j for j in requests.list_jobs(settings) if j["kind"] == kind)


def _wait_done(page: Page, settings, kind: str) -> dict:
    """Wait on the Jobs page until the newest job of `kind` has ended there; return it."""
    _open(page, "Jobs")
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        job = _last_job(settings, kind)
        if job["status"] in (requests.DONE, requests.FAILED):
            break
        time.sleep(0.5)
    assert job["status"] == requests.DONE, f"{job['outcome']}\n{job['log'][-1500:]}"
    expect(page.get_by_text(f"#{job['id']} {kind}").first).to_be_visible(timeout=30_000)  # refreshed by itself
    return job


def test_the_admin_sees_the_sidecar_running(live, page):
    _admin(page, live.url)
    _open(page, "Jobs")
    expect(page.get_by_text("The scheduler sidecar is running").first).to_be_visible()


def test_an_upload_is_ingested_by_the_sidecar(live, page, tmp_path):
    records = write_csv(tmp_path / "new incidents.csv", [  # demo rows: the store holds demo data
        incident_row(f"9{i:05d}-0{5 + i % 3}112024-DEMO", DateOfCall=f"2024-11-0{5 + i % 3}", CalYear="2024")
        for i in range(12)])
    _admin(page, live.url)
    _open(page, "Data")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(records))
    page.get_by_role("button", name="Ingest this file").click()
    expect(page.get_by_text("queued by chief").first).to_be_visible(timeout=30_000)
    job = _wait_done(page, live.settings, "ingest")
    assert "12" in job["outcome"]
    count = open_store(live.settings).execute("SELECT COUNT(*) FROM incidents WHERE month = '2024-11'").fetchone()[0]
    assert count == 12


def test_train_now_then_promote_then_roll_back(live, page):
    settings = live.settings
    first = champion(open_store(settings))
    _admin(page, live.url)
    _open(page, "Models")
    page.get_by_role("button", name="Train now").click()
    expect(page.get_by_text("queued by chief").first).to_be_visible(timeout=30_000)
    job = _wait_done(page, settings, "train")
    new = next(v for v in job["outcome"].split() if v.startswith("v2"))
    _open(page, "Models")
    expect(page.get_by_text(new).filter(visible=True).first).to_be_visible()  # in the history and the comparison
    if champion(open_store(settings)) == first:  # the rule kept it as a candidate: promote it by hand
        page.get_by_role("button", name=f"Promote {new}").click()
        page.get_by_role("button", name="Yes, promote").click()
        expect(page.get_by_text("queued by chief").first).to_be_visible(timeout=30_000)
        _wait_done(page, settings, "promote")
    assert champion(open_store(settings)) == new
    _open(page, "Models")
    page.get_by_role("button", name=f"Roll back to {first}").click()
    page.get_by_role("button", name="Yes, roll back").click()
    expect(page.get_by_text("queued by chief").first).to_be_visible(timeout=30_000)
    _wait_done(page, settings, "rollback")
    assert champion(open_store(settings)) == first
    _open(page, "Models")
    expect(page.get_by_text(f"Champion {first}").filter(visible=True).first).to_be_visible()
