"""Fixtures of the browser tests: a data folder with demo data, a model and users; the app started with
`streamlit run app.py`; Debian's Chromium driven by Playwright; a screenshot of every test.

Without Chromium (or Playwright) these tests are skipped with a message saying how to install it, except in CI
(CI=true), where that is a failure.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from lfb.config import PROJECT_ROOT, Settings, get_settings
from lfb.service import users

READY = '[data-testid="stApp"][data-test-script-state="notRunning"]'  # Streamlit 1.67: the app between runs
CHROMIUM_NAMES = ("/usr/bin/chromium", "chromium", "chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).parent / "screenshots"
START_TIMEOUT_S = 60
PASSWORDS = {"chief": "chief-password", "disp1": "disp1-password", "temp1": "temp1-password"}
INSTALL_HINT = ("install Debian's Chromium (`apt-get install -y chromium`, which ./test.sh does when run as root) and "
                "the test requirements (`pip install -r requirements-dev.txt`)")


def unavailable(reason: str) -> NoReturn:
    """Skip the browser tests with how to install what is missing; in CI (CI=true), fail them instead."""
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(f"browser tests cannot run in CI: {reason}; {INSTALL_HINT}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}; {INSTALL_HINT}", allow_module_level=True)


def find_chromium() -> str | None:
    """Return the path of a Chromium executable, or None."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass(frozen=True)
class RunningApp:
    """A started app: its address, its settings and the file its terminal output goes to."""

    url: str
    settings: Settings
    log: Path
    process: subprocess.Popen


def free_port() -> int:
    """Return a TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _app_environment(settings: Settings) -> dict[str, str]:
    """Return the app's environment: this one without LFB_* settings, plus the test's data and models folders."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LFB_")}
    env.update(LFB_DATA_DIR=str(settings.data_dir), LFB_MODELS_DIR=str(settings.models_dir),
               PYTHONPATH=str(PROJECT_ROOT), PYTHONUNBUFFERED="1")
    return env


def start_app(settings: Settings, log: Path) -> RunningApp:
    """Start `streamlit run app.py` on a free port and wait until it answers (fail with its output if it does not)."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
               str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=_app_environment(settings), stdout=out,
                                   stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the app stopped at start (exit {process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.read() == b"ok":
                    return RunningApp(url, settings, log, process)
        except OSError:
            time.sleep(0.2)
    stop_app(process)
    pytest.fail(f"the app did not answer within {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


def stop_app(process: subprocess.Popen) -> None:
    """Stop the app's process (terminate, then kill if it lingers)."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


def make_users(settings: Settings) -> None:
    """Create the test users (admin chief, dispatchers disp1 and temp1) with cheap bcrypt hashes."""
    rounds, users.BCRYPT_ROUNDS = users.BCRYPT_ROUNDS, 4
    try:
        users.add_user(settings, "chief", PASSWORDS["chief"], "admin", name="Chief Officer")
        users.add_user(settings, "disp1", PASSWORDS["disp1"], "dispatcher", name="Dee Spatcher")
        users.add_user(settings, "temp1", PASSWORDS["temp1"], "dispatcher", name="Tem Porary")
    finally:
        users.BCRYPT_ROUNDS = rounds


@pytest.fixture(scope="session")
def chromium() -> str:
    """Return Chromium's path and make sure Playwright is installed (else skip, or fail in CI)."""
    path = find_chromium()
    if path is None:
        unavailable("Chromium is not installed (looked for " + ", ".join(CHROMIUM_NAMES) + ")")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("the playwright package is not installed")
    return path


@pytest.fixture(scope="session")
def browser(chromium: str) -> Iterator:
    """Chromium, started once for the session through Playwright's sync API."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def app_data(trained, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A fresh data folder: a copy of the small demo store and its trained model, and the test users."""
    source, _result = trained
    root = tmp_path_factory.mktemp("browser")
    settings = get_settings().relocated(root / "data", root / "models")
    shutil.copytree(source.models_dir, settings.models_dir)
    settings.data_dir.mkdir(parents=True)
    for suffix in ("", "-wal", "-shm"):
        path = source.db_path.with_name(source.db_path.name + suffix)
        if path.exists():
            shutil.copy(path, settings.db_path.with_name(settings.db_path.name + suffix))
    make_users(settings)
    return settings


@pytest.fixture(scope="session")
def app(app_data: Settings, browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The app running on the test data, after a first visit (a fresh server's first request has its own test)."""
    running = start_app(app_data, tmp_path_factory.mktemp("app-log") / "app.log")
    try:
        context = browser.new_context()
        context.new_page().goto(running.url)
        context.pages[0].wait_for_selector(READY, timeout=30_000)
        context.close()
        yield running
    finally:
        stop_app(running.process)


@pytest.fixture
def page(browser, request: pytest.FixtureRequest) -> Iterator:
    """A new browser tab with no cookies; a screenshot of it is saved when the test ends, pass or fail."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(20_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        SCREENSHOTS.mkdir(exist_ok=True)
        tab.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
        context.close()
