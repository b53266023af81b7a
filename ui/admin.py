"""What the admin console's pages share: the sidecar's status at the top, the admin re-check at the moment of acting,
requests queued for the sidecar, confirmation steps, a job's progress, and the store opened only when it exists."""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

import streamlit as st

from lfb.config import Settings
from lfb.data.store import Store, StoreError
from lfb.service import jobs, users
from lfb.service.requests import PENDING, RUNNING, RequestRefused, SidecarStatus, list_jobs, sidecar_status, submit
from ui.widgets import plain, show_error

log = logging.getLogger("lfb.app")
NO_LONGER_ADMIN = ("You are no longer an admin (checked in the credentials file just now): nothing was done. Ask an "
                   "admin if you need the role back.")
NOT_RUNNING = "The scheduler sidecar is not running: requests wait until it starts (`python scheduler.py`)"
FLASH = "_lfb_admin_done"  # what the last action did, shown once under the page's header after the rerun it asks
REFRESH_S = 3.0  # how often a page showing a pending or running job refreshes it


def ago(seconds: float) -> str:
    """Return a duration in seconds as a short text (45 s, 12 min, 3 h, 2 days)."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def sidecar_words(status: SidecarStatus) -> str:
    """Return the sidecar's status for people: running, or not running and what that means for requests."""
    if status.alive:
        return status.words()
    seen = ("never seen with this data folder" if status.seen_s_ago is None else
            f"last seen {ago(status.seen_s_ago)} ago")
    return f"{NOT_RUNNING}; {seen}."


def sidecar_banner(settings: Settings) -> SidecarStatus | None:
    """Show at the top of the page whether the scheduler sidecar is alive; return its status (None if unreadable)."""
    try:
        status = sidecar_status(settings)
    except (StoreError, OSError) as exc:
        show_error(f"Cannot read the scheduler sidecar's status from {settings.service_db_path.name}: {exc}")
        return None
    if status.alive:
        st.success(sidecar_words(status), icon=":material/check_circle:")
    else:
        st.warning(sidecar_words(status), icon=":material/pause_circle:")
    return status


def header(title: str, settings: Settings) -> SidecarStatus | None:
    """Show an admin page's title, under it the sidecar's status, then what the last action did (if anything)."""
    st.title(title, anchor=False)
    status = sidecar_banner(settings)
    if done := st.session_state.pop(FLASH, None):
        st.success(done, icon=":material/task_alt:")
    return status


def done(message: str) -> None:
    """Rerun the page so that everything on it shows the change just made, with `message` under its header."""
    st.session_state[FLASH] = message
    st.rerun()


def require_admin(settings: Settings) -> str | None:
    """Return the signed-in user's name if the credentials file says, now, that they are an admin; else say so."""
    username = st.session_state.get("username") if st.session_state.get("authentication_status") else None
    try:
        user = users.get_user(settings, username) if username else None
    except users.UserError:
        user = None
    if user is None or not user.is_admin:
        show_error(NO_LONGER_ADMIN)
        return None
    return user.username


def try_submit(settings: Settings, who: str, kind: str, args: dict[str, Any] | None) -> int | None:
    """Queue a request for the sidecar on behalf of `who`; return its id, or say in one line why it was refused."""
    try:
        return submit(settings, kind, args, who=who)
    except RequestRefused as exc:
        show_error(f"Not queued: {plain(exc)}.")
        return None


def queued_words(settings: Settings, what: str, job_id: int, who: str) -> str:
    """Return what happened to a queued request, and when the sidecar will take it."""
    try:
        alive = sidecar_status(settings).alive
    except (StoreError, OSError):
        alive = False
    return (f"{what}: request #{job_id} queued by {who}. " + (
        "The sidecar takes it within seconds; follow it here or under Jobs." if alive else
        "It waits until the scheduler sidecar starts (`python scheduler.py`)."))


def queue_request(settings: Settings, kind: str, args: dict[str, Any] | None, what: str) -> None:
    """Queue a request for the sidecar as the signed-in admin (checked now), then rerun the page saying so; a
    refusal is one line where the action was."""
    who = require_admin(settings)
    if who is None:
        return
    job_id = try_submit(settings, who, kind, args)
    if job_id is not None:
        done(queued_words(settings, what, job_id, who))


def ask(key: str, value: Any = True) -> None:
    """Open a confirmation step, remembering what it is about (a button callback)."""
    st.session_state[key] = value


def confirmed(key: str, question: str, yes: str) -> tuple[bool, Any]:
    """Show an open confirmation step; return (True, what it was about) once confirmed, else (False, None)."""
    if key not in st.session_state:
        return False, None
    st.warning(question, icon=":material/help:")
    left, right = st.columns(2)
    if left.button(yes, key=f"{key}_yes", type="primary", width="stretch"):
        return True, st.session_state.pop(key)
    if right.button("Cancel", key=f"{key}_cancel", width="stretch"):
        st.session_state.pop(key)
        st.rerun()
    return False, None


@contextlib.contextmanager
def existing_store(settings: Settings) -> Iterator[Store | None]:
    """Yield the records store, or None when there is none yet (looking never creates one)."""
    if not settings.db_path.exists():
        yield None
        return
    db = jobs.open_store(settings)
    try:
        yield db
    finally:
        db.close()


def is_active(job: dict[str, Any]) -> bool:
    """Return True for a job that waits for the sidecar or runs now."""
    return job["status"] in (PENDING, RUNNING)


def refresh_every(job_list: list[dict[str, Any]]) -> float | None:
    """Return how often a view of these jobs should refresh itself: only while one is pending or running."""
    return REFRESH_S if any(is_active(j) for j in job_list) else None


def job_title(job: dict[str, Any]) -> str:
    """Return a job in a few plain words: its number, kind and arguments."""
    args = ", ".join(f"{k} {v}" for k, v in sorted(job["args"].items()))
    return f"#{job['id']} {job['kind']}" + (f" ({args})" if args else "")


def job_progress(job: dict[str, Any]) -> None:
    """Show how far a pending or running job has got (a progress bar when the sidecar reports a fraction)."""
    if job["status"] == PENDING:
        st.caption(f"{plain(job_title(job))}: waiting for the sidecar (asked by {plain(job['requested_by'])} at "
                   f"{job['requested_at']} UTC)")
        return
    text = f"{plain(job_title(job))}: {plain(job.get('progress') or 'running')}"
    if job.get("progress_pct") is not None:
        st.progress(min(max(float(job["progress_pct"]) / 100, 0.0), 1.0), text=text)
    else:
        st.progress(0.0, text=f"{text} (started {job['started']} UTC)")


def live_jobs(settings: Settings, draw: Callable[[list[dict[str, Any]]], None], kinds: set[str] | None = None,
              limit: int = 50) -> None:
    """Draw the latest jobs (of `kinds`) with `draw`, refreshed every REFRESH_S only while one is pending or running.

    When they have all ended, the whole page reruns once, to show their outcome and stop refreshing.
    """
    def latest() -> list[dict[str, Any]]:
        """Return the latest jobs of the kinds shown."""
        return [j for j in list_jobs(settings, limit=limit) if kinds is None or j["kind"] in kinds]

    every = refresh_every(latest())

    @st.fragment(run_every=every)
    def view() -> None:
        """The refreshed part of the page."""
        found = latest()
        draw(found)
        if every and refresh_every(found) is None:
            st.rerun()

    view()
