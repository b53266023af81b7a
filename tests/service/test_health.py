"""`python -m lfb health app|sidecar`: the containers' health checks, exit 0 when alive and 1 when not, one line."""
from __future__ import annotations

import http.server
import os
import threading
import time

import pytest

from lfb.cli import main
from lfb.service import requests
from tests.browser.conftest import free_port


class _Health(http.server.BaseHTTPRequestHandler):
    """Answer like Streamlit's health URL."""

    def do_GET(self) -> None:  # the name http.server calls
        ok = self.path == "/_stcore/health"
        self.send_response(200 if ok else 404)
        self.end_headers()
        self.wfile.write(b"ok" if ok else b"no")

    def log_message(self, *_args) -> None:
        """Keep the test's output quiet."""


@pytest.fixture
def app_on_port(monkeypatch):
    """A stand-in app answering on a free port, LFB_PORT pointing at it."""
    server = http.server.HTTPServer(("127.0.0.1", free_port()), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("LFB_PORT", str(server.server_port))
    yield server.server_port
    server.shutdown()
    server.server_close()


def test_health_app_exits_0_when_the_app_answers(settings, app_on_port, capsys):
    assert main(["health", "app"]) == 0
    assert capsys.readouterr().out.strip() == f"the app answers on http://127.0.0.1:{app_on_port}/_stcore/health"


def test_health_app_exits_1_when_nothing_answers(settings, monkeypatch, capsys):
    port = free_port()
    monkeypatch.setenv("LFB_PORT", str(port))
    assert main(["health", "app"]) == 1
    assert capsys.readouterr().out.strip() == f"the app does not answer on http://127.0.0.1:{port}/_stcore/health"


def test_health_sidecar_follows_the_heartbeat(settings, capsys):
    assert main(["health", "sidecar"]) == 1
    assert "has never run with this data folder" in capsys.readouterr().out
    requests.beat(settings, "host1", os.getpid(), "2026-01-01 00:00:00", {})
    assert main(["health", "sidecar"]) == 0
    assert "The scheduler sidecar is running" in capsys.readouterr().out


def test_health_sidecar_exits_1_when_the_heartbeat_is_old(settings, monkeypatch, capsys):
    requests.beat(settings, "host1", 123, "2026-01-01 00:00:00", {})
    later = time.time() + requests.ALIVE_WITHIN_S + 5
    monkeypatch.setattr(requests.time, "time", lambda: later)
    assert main(["health", "sidecar"]) == 1
    assert "is not running (last seen" in capsys.readouterr().out
