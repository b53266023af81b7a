"""Measure the app in a real browser (Playwright driving Debian's Chromium), on a warm server.

    python tools/bench_app.py [--rounds 5] [--port 8599]

It starts `streamlit run app.py` on the store and models of the current settings (by default the demo store
that ./start.sh makes), with a throw-away user in a temporary credentials file (the real users are untouched),
visits every page once to warm the server, then times, per round, in a new browser session (with 2 s between a
person's actions, the least time to read an answer and type the next postcode):
  - sign-in: from pressing "Sign in" to the estimate page usable (its form drawn, the script idle);
  - estimate: from pressing "Estimate" to the answer shown (and to the page idle);
  - station map: from its link to the stations drawn and the page idle;
  - coverage: from pressing "London's coverage" to the layer and its summary shown;
  - what-if: from pressing "Show" with a station made unavailable to its summary shown.
Needs the test requirements (requirements-dev.txt) and Chromium (/usr/bin/chromium).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lfb.config import get_settings  # noqa: E402

READY = '[data-testid="stApp"][data-test-script-state="notRunning"]'
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
USER, PASSWORD = "bench-dispatcher", "bench-password-1"
LOCATIONS = ("SE1 7PB", "W2 1NY", "E1 6AN", "N1 9GU", "SW1A 1AA", "SE10 9NF", "NW1 2DB", "E14 5AB")
THINK_S = 2.0  # the least time a person takes between two actions (reading, typing a postcode)
WHAT_IF = ("Paddington", "Euston", "Lambeth", "Soho", "Whitechapel")


def _when() -> tuple[str, str]:
    """Return a date (DDMMYYYY) and time (HHMM) inside the serving model's data: its last day, 14:30."""
    from lfb.model.serving import Predictor
    from lfb.service.jobs import open_store

    settings = get_settings()
    predictor = Predictor.from_registry(open_store(settings), settings)
    return f"{predictor.time_range[1]:%d%m%Y}", "1430"


def _start(port: int, credentials: Path) -> subprocess.Popen:
    """Start the app on `port` with the bench user's credentials file; wait until it answers."""
    env = dict(os.environ, LFB_CREDENTIALS=str(credentials), PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                                "--server.port", str(port), "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as answer:
                if answer.read() == b"ok":
                    return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the app did not start within 60 s")


def _sign_in(page, url: str) -> float:
    """Sign in; return the seconds from pressing the button to the estimate page usable."""
    page.goto(url)
    page.wait_for_selector(READY)
    page.get_by_role("textbox", name="Username").fill(USER)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    started = time.perf_counter()
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("textbox", name="Location").first.wait_for()
    page.get_by_role("button", name="Estimate").first.wait_for()
    page.wait_for_selector(READY)
    return time.perf_counter() - started


def _estimate(page, location: str, day: str, clock: str) -> tuple[float, float]:
    """Ask for an estimate; return seconds to the answer shown and to the page idle."""
    time.sleep(THINK_S)  # a dispatcher reads the answer and types the next place
    page.get_by_role("textbox", name="Location").fill(location)
    page.get_by_role("spinbutton", name="day, Date").click()
    page.keyboard.type(day)
    page.get_by_role("spinbutton", name="hour, Time (London)").click()
    page.keyboard.type(clock)
    started = time.perf_counter()
    page.get_by_role("button", name="Estimate").click()
    page.get_by_text(f"→ {location}").first.wait_for()
    shown = time.perf_counter() - started
    page.wait_for_selector(READY)
    return shown, time.perf_counter() - started


def _station_map(page) -> float:
    """Open the station map; return seconds to the stations drawn and the page idle."""
    started = time.perf_counter()
    page.locator('[data-testid="stSidebarNavLink"]', has_text="Station map").click()
    page.locator('[data-testid="stDeckGlJsonChart"]').first.wait_for(timeout=60_000)
    page.wait_for_selector(READY)
    return time.perf_counter() - started


def _coverage(page) -> float:
    """Switch the station map to London's coverage; return seconds to the layer and its summary shown."""
    time.sleep(THINK_S)
    started = time.perf_counter()
    page.get_by_role("radio", name="London's coverage").click()
    page.get_by_text("cells (").first.wait_for(timeout=60_000)
    page.locator('[data-testid="stDeckGlJsonChart"]').first.wait_for(timeout=60_000)
    page.wait_for_selector(READY)
    return time.perf_counter() - started


def _what_if(page, station: str) -> float:
    """Make a station unavailable; return seconds to the what-if's summary shown."""
    time.sleep(THINK_S)
    page.get_by_label("Station made unavailable").click()
    page.keyboard.type(station)
    page.keyboard.press("Enter")
    started = time.perf_counter()
    page.get_by_role("button", name="Show", exact=True).click()
    page.get_by_text(f"Without {station}").first.wait_for(timeout=60_000)
    page.wait_for_selector(READY)
    return time.perf_counter() - started


def _line(name: str, values: list[float], goal: float) -> str:
    """Return one result line: median, worst and the goal."""
    return (f"{name:<34} median {statistics.median(values):5.2f} s, worst {max(values):5.2f} s "
            f"(goal {goal:.0f} s) over {len(values)} runs")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--port", type=int, default=8599)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from lfb.service import users

    day, clock = _when()
    with tempfile.TemporaryDirectory(prefix="lfb-bench-app-") as tmp:
        credentials = Path(tmp) / "credentials.yaml"
        os.environ["LFB_CREDENTIALS"] = str(credentials)
        users.add_user(get_settings(), "bench-admin", "bench-password-0", "admin")
        users.add_user(get_settings(), USER, PASSWORD, "dispatcher")
        app = _start(args.port, credentials)
        url = f"http://127.0.0.1:{args.port}"
        sign_ins, shown, idle, station_map, coverage, what_if = [], [], [], [], [], []
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                first = browser.new_context()  # a fresh server's first visit settles its page routing
                first.new_page().goto(url)
                first.pages[0].wait_for_selector(READY, timeout=60_000)
                first.close()
                for rnd in range(args.rounds + 1):  # round 0 warms the server up and is not counted
                    context = browser.new_context(viewport={"width": 1366, "height": 768})
                    context.set_default_timeout(60_000)
                    page = context.new_page()
                    s = _sign_in(page, url)
                    times = [_estimate(page, loc, day, clock) for loc in LOCATIONS[:3]]
                    m = _station_map(page)
                    c = _coverage(page)
                    w = _what_if(page, WHAT_IF[rnd % len(WHAT_IF)])
                    context.close()
                    if rnd:
                        sign_ins.append(s)
                        shown += [t[0] for t in times]
                        idle += [t[1] for t in times]
                        station_map.append(m)
                        coverage.append(c)
                        what_if.append(w)
                browser.close()
        finally:
            app.terminate()
            app.wait(timeout=30)
    print(_line("sign-in to estimate page usable", sign_ins, 3))
    print(_line("estimate shown after the button", shown, 1))
    print(_line("  (page idle again)", idle, 1))
    print(_line("station map open (stations drawn)", station_map, 3))
    print(_line("coverage shown after its button", coverage, 2))
    print(_line("what-if shown after the button", what_if, 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
