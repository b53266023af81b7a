"""Small shared pieces of the app's layout: the DEMO banner, one-line errors, running a page safely."""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from lfb.config import Settings
from lfb.data.status import store_holds_demo

log = logging.getLogger("lfb.app")
MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:])")
DEMO_CHECK_TTL_S = 30  # every rerun draws the banner; the store is asked at most this often per process
DEMO_TEXT = ("**DEMO DATA** — the store holds synthetic demo records, not real LFB incidents: estimates are for "
             "trying the app out. An admin replaces them with real data (`python -m lfb fetch`, then `clear-demo`).")


@st.cache_data(ttl=DEMO_CHECK_TTL_S, show_spinner=False)
def _holds_demo(db_path: str) -> bool:
    """Return whether the store holds demo records (cached per process for a short while)."""
    return store_holds_demo(Path(db_path))


def demo_banner(settings: Settings) -> None:
    """Show the DEMO banner while the store holds demo data (a failed check shows nothing and is logged)."""
    try:
        demo = _holds_demo(str(settings.db_path))
    except Exception as exc:  # noqa: BLE001 - the banner must never break a page
        log.warning("could not tell whether the store holds demo data: %s", exc)
        return
    if demo:
        st.warning(DEMO_TEXT, icon=":material/science:")


COMPACT_CSS = """<style>
[data-testid="stMainBlockContainer"] { padding-top: 2.2rem; padding-bottom: 2rem; }
</style>"""


def compact_layout() -> None:
    """Use less space above the page, so a 1366x768 screen shows the answer without scrolling."""
    st.markdown(COMPACT_CSS, unsafe_allow_html=True)


def plain(text: Any) -> str:
    """Return text (a file name, a user's words) escaped so that markdown shows it as it is, never as markup."""
    return MARKDOWN_SPECIALS.sub(r"\\\1", str(text)).replace("\n", " ")


def show_error(message: str) -> None:
    """Show one clear line saying what went wrong and what to do (never a traceback)."""
    st.error(message, icon=":material/error:")


def run_page(page: StreamlitPage) -> None:
    """Run the selected page; an unexpected error shows one line, its details go to the app's log."""
    try:
        page.run()
    except Exception as exc:  # noqa: BLE001 - Streamlit's own reruns and stops are not Exceptions and pass through
        log.exception("page %s failed", page.title)
        reason = (str(exc).splitlines() or [""])[0][:200]
        show_error(f"This page stopped on an unexpected error ({type(exc).__name__}{': ' + reason if reason else ''})."
                   " Reload the page; if it happens again, tell an admin (the details are in the app's log).")
