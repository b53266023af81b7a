"""Load test, "twenty dispatchers at once": N browser sessions against one app process, sidecar idle then busy.

    python tools/bench_load.py [--users 20] [--duration 180] [--phase idle|busy|both] [--think-s 2]
                               [--map-every 4] [--sidecar-threads N] [--webgl] [--demo] [--json PATH] [--keep]
    LFB_DATA_DIR=/path/data LFB_MODELS_DIR=/path/models python tools/bench_load.py   # another store

It copies the store and models of the current settings (LFB_DATA_DIR, LFB_MODELS_DIR; or, with --demo, builds a
demo store) into a temporary folder, so your data, models and users are untouched. There it creates N throw-away
dispatchers, starts one `streamlit run app.py` and the real sidecar (`python scheduler.py`), launches ONE Chromium
(/usr/bin/chromium, Playwright's async API) with N browser contexts (N separate sessions, as N people at N
desks), signs each in, then, per phase, for --duration seconds, each dispatcher loops: types a London postcode (a
different one each time), a date and time the model knows, presses Estimate and times it until the answer for
that postcode is shown; every --map-every-th time it also opens the Station map (timed until the stations are
drawn and the page idle) and goes back; between two actions it thinks --think-s seconds (randomised ±50 %).
  - idle phase: the sidecar runs but has nothing to do;
  - busy phase: an `ingest` request of a large generated file (--ingest-incidents-per-year incidents over 12
    months) and a `train` request are queued at the start and queued again as soon as each is done, so the sidecar
    ingests or trains (with LFB_SIDECAR_THREADS threads, or --sidecar-threads) during the whole phase.
Per phase it reports the estimates (count, p50/p95/max seconds from the button to the answer shown), the station
maps (count, p95), the errors (a Streamlit exception box, "Traceback" in the page, an action timed out after
--timeout-s, a wrong answer), the peak resident memory (RSS, its children included, sampled every second) and mean
CPU of the app, the sidecar and the browser, and the sidecar's jobs done and failed in the phase. It exits 1 if any
error happened or any sidecar job failed. The maps are not drawn (no WebGL) unless --webgl: a real dispatcher's
own computer draws them, while here N software-drawn maps would take the cores from the app. The browser runs on
the same machine as the app: its CPU is in the table, so that a starved app can be told from a slow one.
Needs the test requirements (requirements-dev.txt) and Chromium.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lfb.config import Settings, get_settings

READY = '[data-testid="stApp"][data-test-script-state="notRunning"]'  # Streamlit 1.67: the app between runs
EXCEPTION = '[data-testid="stException"]'
NAV_LINK = '[data-testid="stSidebarNavLink"]'
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
NO_WEBGL = ["--disable-3d-apis"]  # the maps' elements and data still come; only their drawing is left out
PASSWORD = "load-password-1"
COOKIE = "lfb_signin"  # the app's sign-in cookie
LOCATIONS = ("SE1 7PB", "W2 1NY", "E1 6AN", "N1 9GU", "SW1A 1AA", "SE10 9NF", "NW1 2DB", "E14 5AB", "SW19 5AE",
             "N17 0AP", "W6 9YD", "SE9 6EE", "E17 4PP", "NW10 7NY", "SW11 1JQ", "HA0 1EA", "CR0 1NX", "BR1 1EW",
             "RM1 3BB", "UB8 1JY", "KT1 1EU", "TW9 1DN", "EN1 3XA", "IG1 1DD", "SE18 6HQ")
START_TIMEOUT_S = 90


@dataclasses.dataclass
class LoadConfig:
    """What to run: how many dispatchers, for how long, in which phases, how they behave."""

    users: int = 20
    duration_s: float = 180.0
    phases: tuple[str, ...] = ("idle", "busy")
    think_s: float = 2.0
    map_every: int = 4
    timeout_s: float = 30.0
    sidecar_threads: int | None = None  # None: the settings' LFB_SIDECAR_THREADS
    ingest_incidents_per_year: int = 120_000
    seed: int = 2024
    webgl: bool = False  # draw the maps (in software: N maps drawn on the test machine's own cores)
    chromium: str = CHROMIUM


@dataclasses.dataclass
class PhaseStats:
    """What the dispatchers measured in one phase."""

    estimates: list[float] = dataclasses.field(default_factory=list)
    estimates_idle: list[float] = dataclasses.field(default_factory=list)
    maps: list[float] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)
    per_user: dict[int, int] = dataclasses.field(default_factory=dict)


class Sampler(threading.Thread):
    """Every second, the resident memory (RSS, children included) and CPU time of the app, the sidecar and the
    browser (Chromium and Playwright's driver: this process's other children)."""

    def __init__(self, processes: dict[str, int]):
        super().__init__(daemon=True, name="rss-sampler")
        import psutil

        self.processes = {name: psutil.Process(pid) for name, pid in processes.items()}
        self.names = [*self.processes, "browser"]
        self.phase: str | None = None
        self.peaks: dict[str, dict[str, float]] = {}  # phase -> name -> peak RSS in MB
        self.samples: dict[str, int] = {}
        self.cpu_marks: dict[str, dict[str, tuple[float, float]]] = {}  # phase -> name -> (cpu s, wall s) at start
        self.cpu_share: dict[str, dict[str, float]] = {}  # phase -> name -> mean CPU in cores
        self._stop = threading.Event()

    def _tree(self, name: str) -> list:
        """Return the processes of a name: the process and its children, or the browser's processes."""
        import psutil

        try:
            if name == "browser":
                mine = {p.pid for root in self.processes.values() for p in [root, *root.children(recursive=True)]}
                return [p for p in psutil.Process().children(recursive=True) if p.pid not in mine]
            process = self.processes[name]
            return [process, *process.children(recursive=True)]
        except psutil.Error:
            return []

    def rss_mb(self, name: str) -> float:
        """Return the resident memory of a process and its children, in MB."""
        import psutil

        total = 0
        for p in self._tree(name):
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total / 1e6

    def cpu_s(self, name: str) -> float:
        """Return the CPU seconds used so far by a process and its children."""
        import psutil

        total = 0.0
        for p in self._tree(name):
            try:
                t = p.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
            except psutil.Error:
                pass
        return total

    def start_phase(self, phase: str) -> None:
        """Begin attributing samples to a phase."""
        self.cpu_marks[phase] = {n: (self.cpu_s(n), time.monotonic()) for n in self.names}
        self.peaks[phase] = {n: self.rss_mb(n) for n in self.names}
        self.samples[phase] = 1
        self.phase = phase

    def end_phase(self) -> None:
        """Stop attributing samples to the current phase; note its mean CPU use."""
        phase, self.phase = self.phase, None
        if phase is not None:
            now = time.monotonic()
            self.cpu_share[phase] = {n: (self.cpu_s(n) - cpu) / max(now - wall, 1e-9)
                                     for n, (cpu, wall) in self.cpu_marks[phase].items()}

    def run(self) -> None:
        """Sample until stopped."""
        while not self._stop.wait(1.0):
            phase = self.phase
            if phase is None:
                continue
            for name in self.names:
                self.peaks[phase][name] = max(self.peaks[phase][name], self.rss_mb(name))
            self.samples[phase] += 1

    def stop(self) -> None:
        """End the sampling thread."""
        self._stop.set()


def copy_store(source: Settings, root: Path) -> Settings:
    """Copy the store (with its WAL) and the models into `root`; return settings pointing there."""
    settings = source.relocated(root / "data", root / "models")
    settings.data_dir.mkdir(parents=True)
    for suffix in ("", "-wal", "-shm"):
        path = source.db_path.with_name(source.db_path.name + suffix)
        if path.exists():
            shutil.copy(path, settings.db_path.with_name(settings.db_path.name + suffix))
    shutil.copytree(source.models_dir, settings.models_dir)
    return settings


def build_demo(root: Path, months: int, incidents_per_year: int, log: Callable[[str], None]) -> Settings:
    """Build a demo store in `root` (demo months up to last month, a first model at the quick demo settings)."""
    from lfb.model.estimator import ModelSettings
    from lfb.model.training import train
    from lfb.service import jobs

    settings = get_settings().relocated(root / "data", root / "models")
    db = jobs.open_store(settings)
    jobs.load_demo(db, settings, months=months, incidents_per_year=incidents_per_year, log=log)
    train(db, settings, who="bench-load", log=log,
          model_settings=ModelSettings(threads=settings.model_threads, **jobs.QUICK_DEMO_MODEL))
    db.close()
    return settings


def model_day(settings: Settings) -> tuple[str, str]:
    """Return a date (DDMMYYYY) and a time (HHMM) inside the serving model's data: its last month, 14:30."""
    from lfb.model.serving import Predictor
    from lfb.service.jobs import open_store

    db = open_store(settings)
    try:
        predictor = Predictor.from_registry(db, settings)
    finally:
        db.close()
    last = predictor.time_range[1]
    # typed day first into a field holding today's month, a 29th-31st may not exist there: take at most the 28th
    return f"{last.replace(day=min(last.day, 28)):%d%m%Y}", "1430"


def make_users(settings: Settings, count: int) -> list[str]:
    """Create `count` throw-away dispatchers (cheap password hashes) in the settings' credentials file."""
    from lfb.service import users

    rounds, users.BCRYPT_ROUNDS = users.BCRYPT_ROUNDS, 4
    try:
        names = [f"load{i:02d}" for i in range(count)]
        users.add_user(settings, "load-admin", PASSWORD + "-admin", "admin")  # the first user must be an admin
        for name in names:
            users.add_user(settings, name, PASSWORD, "dispatcher", name=f"Load Dispatcher {name[4:]}")
    finally:
        users.BCRYPT_ROUNDS = rounds
    return names


def environment(settings: Settings, threads: int | None) -> dict[str, str]:
    """Return the environment of the app and the sidecar: paths into the copy, the Datastore unreachable."""
    env = {k: v for k, v in os.environ.items() if k not in ("LFB_DB", "LFB_SERVICE_DB", "LFB_DOWNLOADS_DIR")}
    env.update(LFB_DATA_DIR=str(settings.data_dir), LFB_MODELS_DIR=str(settings.models_dir),
               LFB_CREDENTIALS=str(settings.credentials_path), LFB_DATASTORE_URL="http://127.0.0.1:9",
               LFB_POLL_S="1", PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    if threads is not None:
        env["LFB_SIDECAR_THREADS"] = str(threads)
    return env


def free_port() -> int:
    """Return a TCP port nobody listens on now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    """Start `streamlit run app.py` on `port`; wait until it answers."""
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
               str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app stopped at start (exit {process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as answer:
                if answer.read() == b"ok":
                    return process
        except OSError:
            time.sleep(0.2)
    stop(process)
    raise RuntimeError(f"the app did not answer within {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


def start_sidecar(env: dict[str, str], settings: Settings, log: Path) -> subprocess.Popen:
    """Start the real sidecar (`python scheduler.py`); wait until its heartbeat says it is alive."""
    from lfb.service.requests import sidecar_status

    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, str(ROOT / "scheduler.py")], cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the sidecar stopped at start:\n{log.read_text()[-3000:]}")
        if sidecar_status(settings).alive:
            return process
        time.sleep(0.2)
    stop(process)
    raise RuntimeError(f"the sidecar did not start within {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen, wait_s: float = 60) -> None:
    """Stop a process we started (terminate, then kill if it lingers)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


class Busy:
    """Keeps the sidecar busy: a train and an ingest request queued, each queued again once done."""

    def __init__(self, settings: Settings, folder: Path, incidents_per_year: int, seed: int):
        self.settings, self.folder = settings, folder
        self.incidents_per_year, self.seed = incidents_per_year, seed
        self.source: Path | None = None
        self.copies = 0
        self.waiting: dict[str, int] = {}  # kind -> id of its request not yet finished
        self.first_id: int | None = None

    def prepare(self, log: Callable[[str], None]) -> None:
        """Generate the large incidents file to ingest (12 months of the store's kind of demo data)."""
        from lfb.data.demo import generate_demo

        out = self.folder / "generated"
        made = generate_demo(out, start="2024-01", months=12, seed=self.seed,
                             incidents_per_year=self.incidents_per_year)
        self.source = next(p for p in made.paths if "incidents" in p.name)
        log(f"generated {self.source.name} for the ingest requests: {made.by_file[self.source.name]:,} incidents, "
            f"{self.source.stat().st_size / 1e6:,.0f} MB")

    def _file(self) -> Path:
        """Return a fresh copy of the file to ingest (a different final blank line, so it is not skipped as known)."""
        self.copies += 1
        target = self.folder / f"load-incidents-{self.copies:03d}.csv"
        shutil.copy(self.source, target)
        with target.open("a") as fh:
            fh.write("\n" * self.copies)
        return target

    def top_up(self) -> None:
        """Queue a train or an ingest request wherever the previous one of its kind has finished."""
        from lfb.service.requests import get_job, submit

        for kind in ("ingest", "train"):  # the sidecar takes the oldest first: the ingest, then a long training
            job_id = self.waiting.get(kind)
            if job_id is not None and get_job(self.settings, job_id)["status"] in ("pending", "running"):
                continue
            args = {"path": str(self._file())} if kind == "ingest" else {}
            self.waiting[kind] = submit(self.settings, kind, args, who="bench-load")
            if self.first_id is None:
                self.first_id = self.waiting[kind]

    def running(self) -> bool:
        """Return whether the sidecar has started one of the requests."""
        from lfb.service.requests import list_jobs

        return any(j["status"] != "pending" for j in list_jobs(self.settings, limit=10)
                   if self.first_id is not None and j["id"] >= self.first_id)


def finished_jobs(settings: Settings, since_id: int, started: str, ended: str) -> dict[str, list[dict[str, Any]]]:
    """Return the sidecar's jobs finished between two UTC times, done and failed."""
    from lfb.service.requests import list_jobs

    out: dict[str, list[dict[str, Any]]] = {"done": [], "failed": []}
    for job in list_jobs(settings, limit=1000):
        if job["id"] >= since_id and job["finished"] and started <= job["finished"] <= ended:
            out.setdefault(job["status"], []).append(job)
    return out


def _utc() -> str:
    """Return the current UTC time as the jobs table writes it."""
    import datetime as dt

    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


# ---- the dispatchers (Playwright's async API: one Chromium, one context per dispatcher) ----

async def _problem(page) -> str | None:
    """Return what is wrong on the page (an exception box, a traceback), or None."""
    if await page.locator(EXCEPTION).count():
        text = (await page.locator(EXCEPTION).first.inner_text())[:300]
        return f"exception box: {text!r}"
    if await page.get_by_text("Traceback").count():
        return "'Traceback' in the page"
    return None


async def _sign_in(page, url: str, user: str, timeout_ms: float) -> None:
    """Open the app and sign in; return when the estimate form is usable."""
    await page.goto(url)
    await page.wait_for_selector(READY, timeout=timeout_ms)
    username = page.get_by_role("textbox", name="Username")
    estimate = page.get_by_role("button", name="Estimate")
    await username.or_(estimate).first.wait_for(timeout=timeout_ms)  # the form, or the page if still signed in
    if await username.count():
        await username.fill(user)
        await page.get_by_role("textbox", name="Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("button", name="Estimate").first.wait_for(timeout=timeout_ms)
    deadline = time.monotonic() + min(timeout_ms / 1000, 15.0)
    while COOKIE not in {c["name"] for c in await page.context.cookies()}:  # its writing ends with a run of its own
        if time.monotonic() > deadline:
            break  # (a starved browser may be slow to write it: the session works without it, go on)
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    await page.wait_for_selector(READY, timeout=timeout_ms)


async def _arrive(page, url: str, user: str, shots: Path, tries: int = 3) -> None:
    """Sign a dispatcher in (untimed), trying again on a slow start; save a screenshot if it never works."""
    for attempt in range(1, tries + 1):
        try:
            await _sign_in(page, url, user, 90_000)
            return
        except Exception:  # noqa: BLE001 - a slow start times out: try again from a fresh page
            if attempt == tries:
                await page.screenshot(path=str(shots / f"sign-in-{user}.png"))
                text = (await page.inner_text("body"))[:500].replace("\n", " | ")
                raise RuntimeError(f"{user} could not sign in ({tries} tries); the page says: {text}") from None


async def _estimate(page, location: str, day: str, clock: str, timeout_ms: float) -> tuple[float, float]:
    """Ask for an estimate (typing the date and time each time, as a run just after signing in may reset them);
    return seconds from the button to the answer shown, and to the page idle."""
    from playwright.async_api import expect

    box = page.get_by_role("textbox", name="Location")
    await expect(box).to_have_count(1, timeout=timeout_ms)  # a run's end may briefly show its predecessor's form too
    await box.fill(location)
    await page.get_by_role("spinbutton", name="day, Date").click()
    await page.keyboard.type(day)
    await page.get_by_role("spinbutton", name="hour, Time (London)").click()
    await page.keyboard.type(clock)
    started = time.perf_counter()
    await page.get_by_role("button", name="Estimate").click()
    await page.locator(f"text=→ {location} >> visible=true").first.wait_for(timeout=timeout_ms)
    shown = time.perf_counter() - started
    await page.wait_for_selector(READY, timeout=timeout_ms)
    return shown, time.perf_counter() - started


async def _station_map_and_back(page, timeout_ms: float) -> float:
    """Open the station map (timed until the stations are drawn and the page idle), then go back to Estimate."""
    started = time.perf_counter()
    await page.locator(NAV_LINK, has_text="Station map").click()
    await page.locator("h1", has_text="Station map").first.wait_for(timeout=timeout_ms)
    await page.locator('[data-testid="stDeckGlJsonChart"]').first.wait_for(timeout=timeout_ms)
    await page.wait_for_selector(READY, timeout=timeout_ms)
    seconds = time.perf_counter() - started
    await page.locator(NAV_LINK, has_text="Estimate").first.click()
    await page.get_by_role("button", name="Estimate").first.wait_for(timeout=timeout_ms)
    await page.wait_for_selector(READY, timeout=timeout_ms)
    return seconds


async def _complete(page, timeout_ms: float) -> bool:
    """Return whether the answer shows its chance over 6 minutes (drawn just after its heading)."""
    try:  # a run's end may briefly keep a hidden copy of the previous answer: look at visible ones only
        await page.locator("text=Chance over 6 minutes >> visible=true").first.wait_for(timeout=timeout_ms)
        return True
    except Exception:  # noqa: BLE001 - a timeout: the answer is incomplete
        return False


async def _note_error(stats: PhaseStats, page, text: str, shots: Path) -> None:
    """Count an error; keep a screenshot of the first few (in the work folder, kept with --keep)."""
    stats.errors.append(text)
    if len(stats.errors) <= 5:
        try:
            await page.screenshot(path=str(shots / f"error-{len(stats.errors)}-{time.time():.0f}.png"))
        except Exception:  # noqa: BLE001, S110 - a page too broken for a screenshot still counts as an error
            pass


async def _dispatcher(number: int, page, url: str, user: str, day: str, clock: str, config: LoadConfig,
                      stats: PhaseStats, until: float, rng: random.Random, shots: Path) -> None:
    """One dispatcher's loop until `until`: estimates, sometimes the station map, thinking between actions."""
    timeout_ms = config.timeout_s * 1000
    done = 0
    stats.per_user.setdefault(number, 0)
    await asyncio.sleep(rng.uniform(0, config.think_s))  # people do not all press at the same instant
    while time.monotonic() < until:
        location = LOCATIONS[(number * 7 + done) % len(LOCATIONS)]
        what = f"{user}: estimate for {location}"
        try:
            if config.map_every and done % config.map_every == config.map_every - 1:
                what = f"{user}: station map"
                stats.maps.append(await _station_map_and_back(page, timeout_ms))
                if problem := await _problem(page):
                    await _note_error(stats, page, f"{what}: {problem}", shots)
                await asyncio.sleep(config.think_s * rng.uniform(0.5, 1.5))
                if time.monotonic() >= until:
                    break
                what = f"{user}: estimate for {location}"
            shown, idle = await _estimate(page, location, day, clock, timeout_ms)
            if problem := await _problem(page):
                await _note_error(stats, page, f"{what}: {problem}", shots)
            elif not await _complete(page, timeout_ms):
                await _note_error(stats, page, f"{what}: the answer has no 'Chance over 6 minutes'", shots)
            else:
                stats.estimates.append(shown)
                stats.estimates_idle.append(idle)
                stats.per_user[number] += 1
        except Exception as exc:  # noqa: BLE001 - a timeout or a broken page is an error to count, then go on
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            await _note_error(stats, page, f"{what}: {type(exc).__name__}: {first[:200]}", shots)
            try:
                await _sign_in(page, url, user, timeout_ms)  # start again from a fresh page (the cookie signs in)
            except Exception as again:  # noqa: BLE001
                stats.errors.append(f"{user}: could not reopen the app: {type(again).__name__}")
        done += 1
        await asyncio.sleep(max(0.0, min(config.think_s * rng.uniform(0.5, 1.5), until - time.monotonic())))


async def _drive(url: str, users: list[str], day: str, clock: str, config: LoadConfig, shots: Path,
                 phase_hook: Callable[[str], Any], phase_end: Callable[[str], Any],
                 log: Callable[[str], None]) -> dict[str, PhaseStats]:
    """Open one Chromium with a context per dispatcher, sign them in, and run each phase; return the stats."""
    from playwright.async_api import async_playwright

    results: dict[str, PhaseStats] = {}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=config.chromium,
                                                   args=CHROMIUM_ARGS + ([] if config.webgl else NO_WEBGL))
        first = await browser.new_context()  # a fresh server's first visit settles its page routing
        await (await first.new_page()).goto(url)
        await first.pages[0].wait_for_selector(READY, timeout=120_000)
        await first.close()
        warm = await browser.new_context(viewport={"width": 1280, "height": 800})  # warm the caches, untimed
        page = await warm.new_page()
        await _sign_in(page, url, users[0], 120_000)
        await _estimate(page, LOCATIONS[0], day, clock, 120_000)
        await _station_map_and_back(page, 120_000)
        await warm.close()
        pages = []
        for _user in users:
            context = await browser.new_context(viewport={"width": 1280, "height": 800})
            context.set_default_timeout(config.timeout_s * 1000)
            pages.append(await context.new_page())
        started = time.perf_counter()
        await asyncio.gather(*[_arrive(page, url, user, shots) for page, user in zip(pages, users)])
        log(f"{len(users)} dispatchers signed in ({time.perf_counter() - started:.0f} s)")
        for phase in config.phases:
            await asyncio.to_thread(phase_hook, phase)
            stats = results[phase] = PhaseStats()
            until = time.monotonic() + config.duration_s
            log(f"phase {phase}: {len(users)} dispatchers for {config.duration_s:g} s ...")
            await asyncio.gather(*[_dispatcher(i, page, url, user, day, clock, config, stats, until,
                                               random.Random(config.seed + i), shots)
                                   for i, (page, user) in enumerate(zip(pages, users))])
            await asyncio.to_thread(phase_end, phase)
        await browser.close()
    return results


def _percentile(values: list[float], q: float) -> float | None:
    """Return the q-th percentile (nearest rank), or None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def _run_in_own_loop(coroutine: Any) -> Any:
    """Run a coroutine to its end in a new event loop on its own thread (a caller may already run a loop: pytest
    with Playwright's sync API open, a notebook) and return its result or raise its error."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        """Run the coroutine and keep what it gave."""
        try:
            outcome["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="bench-load-browsers")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def run_load(settings: Settings, config: LoadConfig, workdir: Path,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the load test on a throw-away store (`settings`); return the figures per phase."""
    threads = config.sidecar_threads or get_settings().sidecar_threads
    users = make_users(settings, config.users)
    day, clock = model_day(settings)
    env = environment(settings, threads)
    busy = Busy(settings, workdir, config.ingest_incidents_per_year, config.seed)
    if "busy" in config.phases:
        busy.prepare(log)
    port = free_port()
    app = start_app(env, port, workdir / "app.log")
    sidecar = None
    sampler = None
    marks: dict[str, tuple[str, str]] = {}
    stop_busy = threading.Event()
    try:
        sidecar = start_sidecar(env, settings, workdir / "sidecar.log")
        sampler = Sampler({"app": app.pid, "sidecar": sidecar.pid})
        sampler.start()
        keeper: threading.Thread | None = None

        def keep_busy() -> None:
            """Top the sidecar's queue up every second until the busy phase ends."""
            while not stop_busy.wait(1.0):
                busy.top_up()

        def phase_start(phase: str) -> None:
            """Queue the sidecar's work (busy) and start the phase's sampling."""
            nonlocal keeper
            if phase == "busy":
                busy.top_up()
                deadline = time.monotonic() + 60
                while not busy.running() and time.monotonic() < deadline:
                    time.sleep(0.2)
                keeper = threading.Thread(target=keep_busy, daemon=True, name="keep-busy")
                keeper.start()
            sampler.start_phase(phase)
            marks[phase] = (_utc(), "")

        def phase_end(phase: str) -> None:
            """End the phase's sampling (and stop topping the sidecar's queue up)."""
            sampler.end_phase()
            marks[phase] = (marks[phase][0], _utc())
            if phase == "busy":
                stop_busy.set()
                if keeper is not None:
                    keeper.join(timeout=30)

        stats = _run_in_own_loop(_drive(f"http://127.0.0.1:{port}", users, day, clock, config, workdir, phase_start,
                                        phase_end, log))
    finally:
        stop_busy.set()
        if sampler is not None:
            sampler.stop()
        stop(app)
        if sidecar is not None:
            stop(sidecar)
    figures: dict[str, Any] = {"users": config.users, "duration_s": config.duration_s, "think_s": config.think_s,
                               "map_every": config.map_every, "timeout_s": config.timeout_s,
                               "sidecar_threads": threads, "cores": os.cpu_count(), "webgl": config.webgl,
                               "phases": {}}
    for phase, st in stats.items():
        jobs = finished_jobs(settings, busy.first_id or 0, *marks[phase]) if busy.first_id else {"done": [],
                                                                                                   "failed": []}
        figures["phases"][phase] = {
            "estimates": len(st.estimates),
            "estimates_per_user": [st.per_user.get(i, 0) for i in range(config.users)],
            "estimate_p50_s": _percentile(st.estimates, 50), "estimate_p95_s": _percentile(st.estimates, 95),
            "estimate_max_s": max(st.estimates, default=None),
            "estimate_idle_p95_s": _percentile(st.estimates_idle, 95),
            "maps": len(st.maps), "map_p50_s": _percentile(st.maps, 50), "map_p95_s": _percentile(st.maps, 95),
            "map_max_s": max(st.maps, default=None),
            "errors": len(st.errors), "error_samples": st.errors[:20],
            "app_peak_rss_mb": sampler.peaks[phase]["app"], "sidecar_peak_rss_mb": sampler.peaks[phase]["sidecar"],
            "rss_samples": sampler.samples[phase],
            "app_cpu_cores": sampler.cpu_share[phase]["app"], "sidecar_cpu_cores": sampler.cpu_share[phase]["sidecar"],
            "browser_peak_rss_mb": sampler.peaks[phase]["browser"],
            "browser_cpu_cores": sampler.cpu_share[phase]["browser"],
            "sidecar_jobs_done": [f"#{j['id']} {j['kind']}" for j in jobs["done"]],
            "sidecar_jobs_failed": [f"#{j['id']} {j['kind']}: {j['outcome']}" for j in jobs["failed"]],
        }
    return figures


def _s(value: float | None) -> str:
    """Return seconds for the table."""
    return "-" if value is None else f"{value:.2f}"


def table(figures: dict[str, Any]) -> str:
    """Return the figures as a table with a legend."""
    head = (f"{'phase':<6} {'estimates':>9} {'p50 s':>6} {'p95 s':>6} {'max s':>6} {'maps':>5} {'map p95':>8} "
            f"{'errors':>6} {'app RSS':>8} {'app CPU':>8} {'side RSS':>9} {'side CPU':>9} {'jobs done/failed':>17} "
            f"{'browser CPU':>11}")
    lines = [head, "-" * len(head)]
    for phase, f in figures["phases"].items():
        jobs = f"{len(f['sidecar_jobs_done'])}/{len(f['sidecar_jobs_failed'])}"
        lines.append(f"{phase:<6} {f['estimates']:>9} {_s(f['estimate_p50_s']):>6} {_s(f['estimate_p95_s']):>6} "
                     f"{_s(f['estimate_max_s']):>6} {f['maps']:>5} {_s(f['map_p95_s']):>8} {f['errors']:>6} "
                     f"{f['app_peak_rss_mb']:>5.0f} MB {f['app_cpu_cores']:>8.2f} {f['sidecar_peak_rss_mb']:>6.0f} MB "
                     f"{f['sidecar_cpu_cores']:>9.2f} {jobs:>17} {f['browser_cpu_cores']:>11.2f}")
    lines += [
        "",
        f"{figures['users']} dispatchers (one Chromium, one context each) against ONE app process, "
        f"{figures['duration_s']:g} s per phase, thinking {figures['think_s']:g} s (±50 %) between actions, the "
        f"station map every {figures['map_every']}th estimate; {figures['cores']} cores; sidecar "
        f"{figures['sidecar_threads']} thread(s); maps " + ("drawn (WebGL, in software)." if figures["webgl"] else
                                                             "not drawn (no WebGL: their data still come)."),
        ("estimates: answers measured; p50/p95/max: seconds from pressing Estimate to the answer for that postcode "
        "shown; maps: station map openings, p95 seconds to the stations drawn and the page idle;"),
        (f"errors: exception boxes, 'Traceback' in the page, wrong answers and actions over {figures['timeout_s']:g} s; "
        "RSS: peak resident memory (children included, sampled every second); CPU: mean cores used in the phase"),
        "(browser: Chromium and Playwright on the same machine, competing with the app for the cores);",
        ("idle: the sidecar runs with nothing to do; busy: it trains and ingests (a train and an ingest request "
        "queued again as soon as each is done); jobs: sidecar jobs finished in the phase."),
    ]
    for phase, f in figures["phases"].items():
        for text in f["error_samples"][:5] + f["sidecar_jobs_failed"][:5]:
            lines.append(f"  {phase}: {text}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the load test and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20, help="browser sessions at once (default 20)")
    parser.add_argument("--duration", type=float, default=180.0, help="seconds per phase (default 180)")
    parser.add_argument("--phase", choices=("idle", "busy", "both"), default="both", help="default both")
    parser.add_argument("--think-s", type=float, default=2.0, help="mean seconds between a person's actions")
    parser.add_argument("--map-every", type=int, default=4, help="open the station map every Nth estimate (0: never)")
    parser.add_argument("--timeout-s", type=float, default=30.0, help="an action slower than this is an error")
    parser.add_argument("--sidecar-threads", type=int, default=None,
                        help="the sidecar's training threads (default: the LFB_SIDECAR_THREADS setting, 1)")
    parser.add_argument("--ingest-incidents-per-year", type=int, default=120_000,
                        help="size of the generated file each ingest request reads (default 120000: London, ~40 MB)")
    parser.add_argument("--webgl", action="store_true",
                        help="draw the maps in the browsers (by default not: each dispatcher draws on their own "
                             "computer, while here N software-drawn maps would take the cores from the app)")
    parser.add_argument("--demo", action="store_true", help="build a demo store in the temporary folder instead of "
                                                            "copying the current settings' store")
    parser.add_argument("--demo-months", type=int, default=36, help="months of the --demo store (default 36)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs of the app, sidecar)")
    args = parser.parse_args(argv)
    config = LoadConfig(users=args.users, duration_s=args.duration,
                        phases=("idle", "busy") if args.phase == "both" else (args.phase,), think_s=args.think_s,
                        map_every=args.map_every, timeout_s=args.timeout_s, sidecar_threads=args.sidecar_threads,
                        ingest_incidents_per_year=args.ingest_incidents_per_year, webgl=args.webgl)
    tmp = Path(tempfile.mkdtemp(prefix="lfb-bench-load-"))
    try:
        if args.demo:
            print(f"building a demo store in {tmp} ...")
            settings = build_demo(tmp, args.demo_months, 120_000, log=lambda _m: None)
        else:
            source = get_settings()
            print(f"copying the store {source.db_path} and models {source.models_dir} into {tmp} ...")
            settings = copy_store(source, tmp)
        figures = run_load(settings, config, tmp)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(table(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
        print(f"figures written to {args.json}")
    failed = sum(f["errors"] + len(f["sidecar_jobs_failed"]) for f in figures["phases"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
