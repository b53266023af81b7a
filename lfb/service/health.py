"""Health checks for containers and scripts: is the app answering, is the scheduler sidecar alive."""
from __future__ import annotations

from lfb.config import Settings


def app_health(settings: Settings, timeout: float = 3.0) -> tuple[bool, str]:
    """Return whether the app answers on its health URL (on this machine, LFB_PORT), and that in words."""
    from lfb.service.supervisor import http_ok

    url = f"http://127.0.0.1:{settings.port}/_stcore/health"
    if http_ok(url, timeout=timeout):
        return True, f"the app answers on {url}"
    return False, f"the app does not answer on {url}"


def sidecar_health(settings: Settings) -> tuple[bool, str]:
    """Return whether the scheduler sidecar's heartbeat is recent, and its status in words."""
    from lfb.service.requests import sidecar_status

    status = sidecar_status(settings)
    return status.alive, status.words()
