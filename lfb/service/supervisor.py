"""A small process supervisor: what `./start.sh` runs (through `python -m lfb serve`).

It runs the set-up steps one after another, then starts the app (`streamlit run app.py`) and the scheduler sidecar
side by side, restarts a child that dies unexpectedly (after a back-off that doubles, up to a limit of restarts in a
row, each logged), and stops everything cleanly on Ctrl-C or SIGTERM: SIGTERM to every child, a wait, SIGKILL to
what is left after the timeout, exit code 0.

Each child runs in its own session (process group), so a Ctrl-C in the terminal reaches the supervisor only: the
supervisor decides the order of the stop, and a child never sees a second, stray signal while it cleans up.
"""
from __future__ import annotations

import errno
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lfb.config import Settings

Log = Callable[[str], None]
BACKOFF_MAX_S = 30.0  # the longest wait before a restart
STABLE_S = 60.0  # a child that ran this long before it died starts its count of restarts in a row afresh
EXIT_OK, EXIT_FAILED = 0, 1


def say(message: str) -> None:
    """Print one line of the supervisor's own, flushed at once (its children write to the same terminal); an error
    goes to standard error."""
    print(f"[supervisor] {message}", file=sys.stderr if message.startswith("error:") else sys.stdout, flush=True)


def shown(argv: Sequence[str]) -> str:
    """Return a command as a person would type it (this interpreter shown as `python`)."""
    return shlex.join("python" if word == sys.executable else word for word in argv)


def port_in_use(port: int) -> bool:
    """Return True when something listens on TCP `port` (any address, IPv4 or IPv6), so the app could not bind it."""
    for family, address in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError:  # no IPv6 on this machine
            continue
        with sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a closed connection waiting is no user
            try:
                sock.bind((address, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return True
    return False


def http_ok(url: str, timeout: float = 1.0) -> bool:
    """Return True when `url` answers 200 'ok' (Streamlit's health URL does)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status == 200 and answer.read().strip() == b"ok"
    except (OSError, ValueError):
        return False


def describe_exit(code: int) -> str:
    """Return a process's exit status in words: 'exit code 1', 'killed by SIGKILL'."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class Child:
    """A long-running process to keep alive: its name in messages, its command, and how to tell it is ready."""

    name: str
    argv: Sequence[str]
    ready: Callable[[], bool] | None = None  # polled after each start until it says True
    ready_message: str = ""  # printed when `ready` first says True after a start
    process: subprocess.Popen | None = field(default=None, repr=False)
    started_at: float = 0.0
    failures: int = 0  # deaths in a row, each after less than STABLE_S of running
    restart_at: float | None = None  # when a restart is due (None: running, or not waiting to restart)
    is_ready: bool = False


class Supervisor:
    """Start set-up steps and children, keep the children alive, stop them all on a signal."""

    def __init__(self, children: Sequence[Child], *, restart_limit: int = 5, backoff_s: float = 1.0,
                 backoff_max_s: float = BACKOFF_MAX_S, stable_s: float = STABLE_S, stop_timeout_s: float = 10.0,
                 cwd: Path | None = None, env: dict[str, str] | None = None, poll_s: float = 0.2,
                 log: Log = say) -> None:
        self.children = list(children)
        self.restart_limit = restart_limit
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.stable_s = stable_s
        self.stop_timeout_s = stop_timeout_s
        self.cwd = cwd
        self.env = env
        self.poll_s = poll_s
        self.log = log
        self.stop_requested = threading.Event()
        self.stop_signal: str | None = None
        self._hurry = False  # a second stop signal: kill what is still running without waiting

    # -- signals ----------------------------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        """Make SIGTERM and SIGINT (Ctrl-C) ask for a clean stop; a second one during the stop kills at once."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def request_stop(self, signum: int | None = None, _frame: object = None) -> None:
        """Ask the supervisor to stop everything (the signal handler, or a caller in another thread)."""
        if self.stop_requested.is_set():
            self._hurry = True
            return
        self.stop_signal = signal.Signals(signum).name if signum else "a request"
        self.stop_requested.set()

    # -- processes --------------------------------------------------------------------------------------------
    def _spawn(self, argv: Sequence[str]) -> subprocess.Popen:
        """Start a command in its own session, sharing the supervisor's terminal output."""
        return subprocess.Popen(list(argv), cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                                start_new_session=True)

    @staticmethod
    def _signal_group(process: subprocess.Popen, sig: signal.Signals) -> None:
        """Send `sig` to the process's group (the child and anything it started); ignore one already gone."""
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _wait_all(self, processes: dict[str, subprocess.Popen], timeout: float) -> list[str]:
        """Wait up to `timeout` s for the processes to end; return the names of those still running."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._hurry:
            if all(p.poll() is not None for p in processes.values()):
                break
            time.sleep(0.05)
        return [name for name, p in processes.items() if p.poll() is None]

    def _end(self, processes: dict[str, subprocess.Popen], sig: signal.Signals) -> None:
        """Send `sig`, wait for the processes, kill those that outlive the timeout, and clean up their groups."""
        for process in processes.values():
            if process.poll() is None:
                self._signal_group(process, sig)
        for name in self._wait_all(processes, self.stop_timeout_s):
            why = "a second stop signal came" if self._hurry else f"it did not stop within {self.stop_timeout_s:g} s"
            self.log(f"{name}: {why}: killing it")
            self._signal_group(processes[name], signal.SIGKILL)
        for process in processes.values():
            process.wait()
            self._signal_group(process, signal.SIGKILL)  # whatever it started and left behind

    # -- set-up steps -----------------------------------------------------------------------------------------
    def run_step(self, name: str, argv: Sequence[str]) -> int | None:
        """Run a set-up step to its end; return its exit code, or None when a stop was asked for meanwhile (the
        step is interrupted like a Ctrl-C would, and killed if it does not end within the timeout)."""
        if self.stop_requested.is_set():
            return None
        process = self._spawn(argv)
        while process.poll() is None:
            if self.stop_requested.wait(self.poll_s):
                self.log(f"stopping: {name} interrupted ({self.stop_signal})")
                self._end({name: process}, signal.SIGINT)
                return None
        return process.returncode

    # -- children ---------------------------------------------------------------------------------------------
    def _start(self, child: Child) -> None:
        """Start a child (a failure to start counts as a death)."""
        child.restart_at, child.is_ready, child.started_at = None, False, time.monotonic()
        try:
            child.process = self._spawn(child.argv)
        except OSError as exc:
            child.process = None
            self.log(f"error: could not start the {child.name} ({shown(child.argv)}): {exc.strerror or exc}")

    def _died(self, child: Child, status: str) -> bool:
        """Handle a child that ended by itself: plan its restart; return False when the limit is reached."""
        ran = time.monotonic() - child.started_at
        child.failures = 1 if ran >= self.stable_s else child.failures + 1
        child.process = None
        if child.failures > self.restart_limit:
            self.log(f"error: the {child.name} stopped {child.failures} times in a row (last: {status} after "
                     f"{ran:.0f} s); giving up after {self.restart_limit} restarts: stopping everything. Its output "
                     "above says why.")
            return False
        delay = min(self.backoff_s * 2 ** (child.failures - 1), self.backoff_max_s)
        self.log(f"the {child.name} stopped unexpectedly ({status} after {ran:.0f} s): restarting it in {delay:g} s "
                 f"(restart {child.failures} of at most {self.restart_limit} in a row)")
        child.restart_at = time.monotonic() + delay
        return True

    def _watch(self) -> int:
        """Watch the children until a stop is asked for (0) or one of them dies too often (1)."""
        while not self.stop_requested.wait(self.poll_s):
            for child in self.children:
                if child.restart_at is not None:
                    if time.monotonic() >= child.restart_at:
                        self._start(child)
                        if child.process is None and not self._died(child, "could not start"):
                            return EXIT_FAILED
                    continue
                if child.process is None:
                    continue
                code = child.process.poll()
                if code is not None:
                    self._signal_group(child.process, signal.SIGKILL)  # what it started dies with it
                    if not self._died(child, describe_exit(code)):
                        return EXIT_FAILED
                elif child.ready is not None and not child.is_ready and child.ready():
                    child.is_ready = True
                    if child.ready_message:
                        self.log(child.ready_message)
        return EXIT_OK

    def run(self) -> int:
        """Start every child, keep them alive, and stop them all at the end; return the exit code (0 on a stop)."""
        if self.stop_requested.is_set():
            return EXIT_OK
        for child in self.children:
            self._start(child)
            self.log(f"started the {child.name}: {shown(child.argv)}"
                     + (f" (process {child.process.pid})" if child.process else ""))
            if child.process is None and not self._died(child, "could not start"):
                return EXIT_FAILED
        code = self._watch()
        running = {c.name: c.process for c in self.children if c.process is not None and c.process.poll() is None}
        if code == EXIT_OK:
            self.log(f"stopping ({self.stop_signal}): " + (", ".join(running) or "nothing runs") + " ...")
        self._end(running, signal.SIGTERM)
        for child in self.children:
            child.process = None
        if code == EXIT_OK:
            self.log("stopped")
        return code


def python_command(command: Sequence[str]) -> list[str]:
    """Return `command` with a leading `python` replaced by this interpreter (the project's virtualenv)."""
    words = list(command)
    if words and words[0] in ("python", "python3"):
        words[0] = sys.executable
    return words


def _script_missing(command: Sequence[str], cwd: Path) -> str | None:
    """Return the script a `python SCRIPT.py ...` command names when that file does not exist (else None)."""
    words = list(command)
    is_script = len(words) >= 2 and Path(words[0]).name.startswith("python") and words[1].endswith(".py")
    return words[1] if is_script and not (cwd / words[1]).is_file() else None


def app_url(settings: Settings, host: str = "localhost") -> str:
    """Return the app's address on this machine."""
    return f"http://{host}:{settings.port}"


def serve(settings: Settings, *, setup: bool = True, sidecar: bool = True, log: Log = say) -> int:
    """Set up (demo data and a first model when missing, the first admin) and run the app and the sidecar until
    stopped; return the exit code (0 after a requested stop)."""
    from lfb.config import PROJECT_ROOT
    from lfb.service import users

    if port_in_use(settings.port):
        print(port_busy_message(settings.port), file=sys.stderr, flush=True)
        return EXIT_FAILED
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    children = [Child("app", [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                              "--server.port", str(settings.port), "--browser.gatherUsageStats", "false"],
                      ready=lambda: http_ok(f"{app_url(settings, '127.0.0.1')}/_stcore/health"))]
    if sidecar:
        command = python_command(shlex.split(settings.sidecar_cmd))
        missing = _script_missing(command, PROJECT_ROOT)
        if missing:
            log(f"note: the scheduler sidecar is not in this checkout ({missing} is missing): the app runs alone, "
                "and requests to the sidecar wait")
        else:
            children.append(Child("sidecar", command))
    supervisor = Supervisor(children, restart_limit=settings.restart_limit, backoff_s=settings.restart_backoff_s,
                            stop_timeout_s=settings.stop_timeout_s, cwd=PROJECT_ROOT, env=env, log=log)
    supervisor.install_signal_handlers()
    steps = [("setup", [sys.executable, "-m", "lfb", "setup"])] if setup else []
    steps.append(("users init", [sys.executable, "-m", "lfb", "users", "init"]))
    for step, argv in steps:
        log(f"{step}: {shown(argv)}")
        code = supervisor.run_step(step, argv)
        if code is None:
            log("stopped before the app started; the next start carries on from what is done")
            return EXIT_OK
        if code != 0:
            print(f"error: `{shown(argv)}` failed ({describe_exit(code)}): the app was not started; its message "
                  "is above", file=sys.stderr, flush=True)
            return code if code > 0 else EXIT_FAILED
    if port_in_use(settings.port):  # taken while the set-up ran
        print(port_busy_message(settings.port), file=sys.stderr, flush=True)
        return EXIT_FAILED
    admins = [u.username for u in users.list_users(settings) if u.is_admin]
    who = (f" as {' or '.join(admins)} (the password printed once at the first start, or LFB_ADMIN_PASSWORD; "
           f"forgotten: `python -m lfb users passwd {admins[0]}`)") if admins else ""
    children[0].ready_message = (f"the app is ready: open {app_url(settings)} and sign in{who}. Ctrl-C stops "
                                 + ("the app and the sidecar." if len(children) > 1 else "the app."))
    log(f"starting the app on {app_url(settings)}" + (" and the scheduler sidecar" if len(children) > 1 else "")
        + " ...")
    return supervisor.run()


def port_busy_message(port: int) -> str:
    """Return the one-line error for a port that something else listens on."""
    return (f"error: port {port} is already in use (is the app already running, e.g. another ./start.sh?): stop what "
            f"uses it, or start on another port, e.g. LFB_PORT={port + 1 if port < 65535 else 8501} ./start.sh")
