"""Admin console, Jobs: what the scheduler sidecar plans next, the requests waiting for it, what runs now, and the
history with outcomes and logs; refreshed while something waits or runs."""
from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from lfb.config import get_settings
from lfb.service.requests import PENDING, RUNNING, SidecarStatus
from ui import admin
from ui.navigation import page_guard

HISTORY = 50  # jobs listed
LOGS = 10  # ended jobs whose log excerpt is offered
LOG_CHARS = 4000


def _words(value: Any) -> str:
    """Return a value the sidecar wrote (text, a number, a mapping) as one line of text."""
    return value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)


def _plans(status: SidecarStatus | None) -> None:
    """Show the sidecar's next planned runs and its current job, as its heartbeat last said."""
    info = status.info if status else {}
    runs = info.get("next_runs") or {}
    current = info.get("current")
    if current:
        st.markdown(f"Running now: `{_words(current)}`")
    if isinstance(runs, dict) and runs:
        st.dataframe(pd.DataFrame([{"Run": str(name), "Next (UTC)": _words(when)} for name, when in runs.items()]),
                     hide_index=True, width="stretch")
    elif runs:
        st.markdown(f"`{_words(runs)}`")
    else:
        st.caption("The sidecar has said nothing about its next runs: it has not run with this data folder, or plans "
                   "none." if not (status and status.alive) else "The sidecar plans no run at the moment.")


def _duration(seconds: float | None) -> str:
    """Return a job's duration as text ('' before it starts)."""
    return "" if seconds is None else admin.ago(seconds)


def _history(found: list[dict[str, Any]]) -> None:
    """Show the requests that wait, those that run (with progress), and the latest jobs with outcome and log."""
    waiting = [j for j in found if j["status"] == PENDING]
    running = [j for j in found if j["status"] == RUNNING]
    st.markdown(f"**Waiting for the sidecar** ({len(waiting)})" if waiting else "**Waiting for the sidecar**: none")
    for job in reversed(waiting):  # oldest first: the order the sidecar takes them
        admin.job_progress(job)
    st.markdown(f"**Running** ({len(running)})" if running else "**Running**: none")
    for job in running:
        admin.job_progress(job)
    st.markdown("**History**")
    if not found:
        st.caption("No job has been requested or scheduled yet.")
        return
    st.dataframe(pd.DataFrame([{
        "#": j["id"], "Kind": j["kind"], "Arguments": ", ".join(f"{k}={v}" for k, v in sorted(j["args"].items())),
        "Status": j["status"], "Asked by": j["requested_by"], "Asked (UTC)": j["requested_at"],
        "Started": j["started"] or "", "Finished": j["finished"] or "", "Took": _duration(j["seconds"]),
        "Outcome": j["outcome"] or j["progress"] or ""} for j in found]), hide_index=True, width="stretch")
    for job in [j for j in found if j.get("log")][:LOGS]:
        with st.expander(f"Log of {admin.plain(admin.job_title(job))} ({job['status']})"):
            st.code(job["log"][-LOG_CHARS:], language=None, wrap_lines=True)


def main() -> None:
    """Lay out the page."""
    settings = get_settings()
    status = admin.header("Jobs", settings)
    st.subheader("Next planned runs", anchor=False)
    _plans(status)
    st.subheader("Requests and runs", anchor=False)
    admin.live_jobs(settings, _history, limit=HISTORY)


page_guard(__file__)
main()
