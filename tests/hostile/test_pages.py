"""Every free-text form field of the app's pages meets the hostile values, through Streamlit's AppTest on a copy of the
trained store: no exception reaches the page, a refusal is an error naming the field, nothing is stored when refused
(no estimate logged, no user added, no request queued, no file kept), and what a user typed (usernames, full names,
file names, job kinds) is shown as text, never as markdown or HTML. Select boxes, sliders and date pickers offer only
listed values; their far-away dates are tried here too.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import sqlite3
from collections.abc import Iterator

import bcrypt
import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import script_runner
from streamlit.testing.v1 import AppTest

from lfb.config import PROJECT_ROOT, Settings
from lfb.service import users
from lfb.service.predictions import recent_estimates
from lfb.service.requests import PENDING, list_jobs
from lfb.service.users import read_credentials
from tests.hostile.conftest import tally
from tests.hostile.values import LOCATIONS, LONG, MARKDOWN, SCRIPT, TEXTS, make_file

ESTIMATE = str(PROJECT_ROOT / "pages" / "estimate.py")
APP = str(PROJECT_ROOT / "app.py")
WHEN = dt.datetime(2024, 9, 16, 14, 30)
RAW_MARKUP = ("**bold**", "[x](javascript", "<script>")  # what must never reach a markdown element unescaped


class _SteadyStatePages(PagesManager):
    """Streamlit's pages manager as a server process has it once any session has called st.navigation."""

    uses_pages_directory = False


@pytest.fixture(autouse=True)
def steady_state_navigation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every AppTest run through app.py's st.navigation, as a running server does (see tests/app/conftest.py)."""
    monkeypatch.setattr(script_runner, "PagesManager", _SteadyStatePages)
    monkeypatch.setattr(users, "BCRYPT_ROUNDS", 4)


@pytest.fixture(scope="module")
def site(store: Settings) -> Iterator[Settings]:
    """The module's store with an admin (chief) and a dispatcher (disp1)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(users, "BCRYPT_ROUNDS", 4)
        users.add_user(store, "chief", "chief-password", "admin", name="Chief Officer")
        users.add_user(store, "disp1", "disp1-password", "dispatcher", name="Dee Spatcher")
    yield store


def _signed_in(at: AppTest, username: str, roles: list[str]) -> AppTest:
    """Put a signed-in session into the app's state."""
    at.session_state["authentication_status"] = True
    at.session_state["username"] = username
    at.session_state["name"] = username
    at.session_state["roles"] = roles
    return at


def _run(at: AppTest) -> AppTest:
    """Run once more and check no exception reached the page."""
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _shown(at: AppTest) -> list[str]:
    """Return the markdown bodies of every text element of the last run (errors, captions, markdown, ...)."""
    return [str(e.value) for kind in ("markdown", "caption", "error", "warning", "info", "success", "title", "header",
                                      "subheader") for e in getattr(at, kind)]


def _no_raw_markup(at: AppTest) -> None:
    """Check no text element carries markup a user typed, unescaped."""
    for body in _shown(at):
        assert not any(mark in body for mark in RAW_MARKUP), body[:300]


def _errors(at: AppTest) -> list[str]:
    """Return the errors of the last run as shown (markdown escapes removed)."""
    return [re.sub(r"\\(.)", r"\1", e.value) for e in at.error]


# ---- estimate -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def estimate(site: Settings) -> AppTest:
    """The estimate page signed in as dispatcher disp1, run once."""
    return _run(_signed_in(AppTest.from_file(ESTIMATE, default_timeout=60), "disp1", ["dispatcher"]))


def _ask(at: AppTest, location: str = "SE1 7PB", number: str = "", when: dt.datetime = WHEN) -> AppTest:
    """Fill the estimate form and press Estimate."""
    at.text_input(key="estimate_location").set_value(location)
    at.date_input(key="estimate_date").set_value(when.date())
    at.time_input(key="estimate_time").set_value(when.time())
    at.text_input(key="estimate_incident_number").set_value(number)
    at.button[0].click()
    return _run(at)


def _logged(settings: Settings) -> int:
    """Return how many estimates disp1 has logged."""
    return len(recent_estimates(settings, "disp1", limit=100_000))


@pytest.mark.parametrize("name, value", LOCATIONS, ids=[n for n, _ in LOCATIONS])
def test_a_hostile_location_is_refused_naming_it_or_read(estimate: AppTest, site: Settings, name: str,
                                                         value: str) -> None:
    before = _logged(site)
    at = _ask(estimate, value)
    tally("page estimate", "\n".join(_shown(at)))
    _no_raw_markup(at)
    if name == "swapped-latlon":  # read, with a note saying latitude comes first
        assert at.metric and _logged(site) == before + 1
        assert any("write latitude first" in c for c in _shown(at))
        return
    errors = _errors(at)
    assert errors and any(re.search(r"location|postcode", e, re.I) for e in errors), errors
    assert any(re.search(r"give|type", e, re.I) for e in errors), errors
    assert max(map(len, errors)) < 600 and not at.metric and _logged(site) == before


INCIDENT_NUMBERS_REFUSED = {"long", "rtl", "nul", "newline"}


@pytest.mark.parametrize("name, value", TEXTS, ids=[n for n, _ in TEXTS])
def test_a_hostile_incident_number_is_refused_naming_it_or_kept_as_text(estimate: AppTest, site: Settings, name: str,
                                                                        value: str) -> None:
    before = _logged(site)
    at = _ask(estimate, number=value)
    tally("page estimate", "\n".join(_shown(at)))
    _no_raw_markup(at)
    if name in INCIDENT_NUMBERS_REFUSED:
        assert any("incident number" in e and "give it as on the call" in e for e in _errors(at)), _errors(at)
        assert _logged(site) == before
        return
    assert not at.error and _logged(site) == before + 1, _errors(at)
    kept = recent_estimates(site, "disp1", limit=1)[0]["incident_number"]
    assert kept == (value.strip() or None)  # kept as typed, shown in a table (text, never markup)


@pytest.mark.parametrize("day", [dt.date(2016, 12, 1), dt.date(2036, 11, 1)], ids=["years-before", "years-after"])
def test_a_far_away_date_is_refused_naming_the_time(estimate: AppTest, site: Settings, day: dt.date) -> None:
    before = _logged(site)
    at = _ask(estimate, when=dt.datetime.combine(day, WHEN.time()))
    tally("page estimate", "\n".join(_shown(at)))
    assert any(e.startswith("time ") and "give a time between" in e for e in _errors(at)), _errors(at)
    assert _logged(site) == before


# ---- users ---------------------------------------------------------------------------------------------------------


def _open(page: str, username: str = "chief", roles: list[str] | None = None) -> AppTest:
    """Open a page through the router, signed in (an admin by default)."""
    at = _signed_in(AppTest.from_file(APP, default_timeout=60), username, roles or ["admin"])
    at.switch_page(f"pages/{page}.py")
    return _run(at)


@pytest.fixture(scope="module")
def users_page(site: Settings) -> AppTest:
    """The Users page as admin chief."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(script_runner, "PagesManager", _SteadyStatePages)
        return _open("admin_users")


def _add(at: AppTest, username: str, name: str = "New Person", password: str = "a-good-password",
         again: str | None = None) -> AppTest:
    """Fill the add-user form and press Add user."""
    at.text_input(key="users_add_username").set_value(username)
    at.text_input(key="users_add_name").set_value(name)
    at.selectbox(key="users_add_role").set_value("dispatcher")
    at.text_input(key="users_add_password").set_value(password)
    at.text_input(key="users_add_again").set_value(password if again is None else again)
    at.button(key="users_add").click()
    return _run(at)


VALID_USERNAMES = {"number", "nan", "inf", "negative"}  # '12345', 'nan', 'inf' and '-5' are valid usernames
FIELDS = ["username", "name", "password"]
TEXT_IDS = [n for n, _ in TEXTS]
USER_CASES = [(field, name, value) for field in FIELDS for name, value in TEXTS]


@pytest.mark.parametrize("field, name, value", USER_CASES, ids=[f"{f} {n}" for f, n, _ in USER_CASES])
def test_a_hostile_new_user_is_refused_naming_the_field_or_added_as_text(users_page: AppTest, site: Settings,
                                                                         field: str, name: str, value: str) -> None:
    before = {u.username for u in users.list_users(site)}
    fresh = f"u{len(before)}"  # a valid username not taken yet
    given = {"username": fresh, "name": "New Person", "password": "a-good-password"} | {field: value}
    at = _add(users_page, given["username"], given["name"], given["password"])
    after = {u.username for u in users.list_users(site)}
    tally("page admin_users", "\n".join(_shown(at)))
    _no_raw_markup(at)
    accepted = {"username": VALID_USERNAMES, "name": set(TEXT_IDS) - {"long", "newline", "nul", "rtl"},
                "password": {"combining", "script", "markdown"}}[field]
    if name in accepted:
        assert not at.error and len(after) == len(before) + 1, _errors(at)
        return
    errors = _errors(at)
    assert after == before, f"added {after - before}"
    assert errors and any(field in e.lower() for e in errors), errors
    assert any(re.search(r"\b(use|give|remove|type)\b", e) for e in errors), errors
    assert max(map(len, errors)) < 600



def test_two_different_passwords_add_nobody(users_page: AppTest, site: Settings) -> None:
    before = len(users.list_users(site))
    at = _add(users_page, "mismatch", password="a-good-password", again="a-good-passworD")
    tally("page admin_users", "\n".join(_shown(at)))
    assert any("The two passwords differ" in e for e in _errors(at)) and len(users.list_users(site)) == before


def test_a_full_name_with_markup_is_shown_as_text_in_the_sidebar(site: Settings) -> None:
    users.add_user(site, "marked", "a-good-password", "dispatcher", name=MARKDOWN)
    at = _run(_signed_in(AppTest.from_file(APP, default_timeout=60), "marked", ["dispatcher"]))
    tally("page sidebar", "\n".join(_shown(at)))
    signed = [m.value for m in at.sidebar.markdown if m.value.startswith("Signed in as")]
    assert signed and "\\*\\*bold\\*\\*" in signed[0] and "**bold**" not in signed[0], signed


# ---- data: uploads through the page ---------------------------------------------------------------------------------


UPLOADS = [
    ("script-name", f"{SCRIPT}.txt", b"a,b\n1,2\n", "is not a .csv or .xlsx file"),
    ("markdown-name", f"{MARKDOWN}.csv", b"\x00\x01binary", "is named .csv but is not text"),
    ("traversal", "../../etc/passwd", b"root:x:0:0\n", "is not a .csv or .xlsx file"),
    ("long-name", f"{LONG}.txt", b"a,b\n", "is not a .csv or .xlsx file"),
    ("zip-as-csv", "records.csv", "zip", "is named .csv but is not text"),
    ("csv-as-xlsx", "records.xlsx", "csv-named-xlsx", "is named .xlsx but is not an Excel workbook"),
    ("empty", "records.csv", b"", "the file is empty"),
]


@pytest.mark.parametrize("name, data, words", [u[1:] for u in UPLOADS], ids=[u[0] for u in UPLOADS])
def test_a_hostile_upload_is_refused_in_one_escaped_line_and_nothing_is_kept(site: Settings, tmp_path, name: str,
                                                                             data: bytes | str, words: str) -> None:
    content = make_file(data, tmp_path).read_bytes() if isinstance(data, str) else data
    queued = len(list_jobs(site, limit=100_000, status=PENDING))
    at = _open("admin_data")
    at.file_uploader(key="data_upload").set_value((name, content, "text/csv"))
    _run(at)
    at.button(key="data_upload_ingest").click()
    _run(at)
    tally("page admin_data (upload)", "\n".join(_shown(at)))
    _no_raw_markup(at)
    errors = _errors(at)
    assert any(e.startswith("Not kept: ") and words in e for e in errors) or (
        not content and any("empty" in e for e in errors)), errors
    assert max(map(len, errors)) < 600
    assert len(list_jobs(site, limit=100_000, status=PENDING)) == queued
    assert not site.uploads_dir.exists() or not any(site.uploads_dir.iterdir())


# ---- pages showing hostile rows -------------------------------------------------------------------------------------


@pytest.fixture
def garbage_jobs(site: Settings) -> Iterator[None]:
    """Pending rows with hostile kinds and unreadable arguments in the jobs table, removed afterwards."""
    rows = [(SCRIPT, "{}"), (MARKDOWN, "{not json"), ("ingest", json.dumps({"path": f"{MARKDOWN}.csv"})),
            ("train", "[1, 2]")]
    with contextlib.closing(sqlite3.connect(site.service_db_path)) as db, db:
        ids = [db.execute("INSERT INTO jobs (kind, args_json, requested_by, requested_at, status) VALUES "
                          "(?, ?, ?, '2024-01-01 00:00:00', 'pending')", [k, a, SCRIPT]).lastrowid for k, a in rows]
    yield
    with contextlib.closing(sqlite3.connect(site.service_db_path)) as db, db:
        db.executemany("DELETE FROM jobs WHERE id = ?", [[i] for i in ids])


@pytest.mark.parametrize("page", ["admin_jobs", "admin_data", "admin_models", "admin_accuracy", "stations"])
def test_a_page_showing_hostile_rows_renders_them_as_text(site: Settings, garbage_jobs: None, page: str) -> None:
    at = _open(page, roles=["admin"])
    tally(f"page {page} (hostile rows)", "\n".join(_shown(at)))
    _no_raw_markup(at)
    if page == "admin_jobs":
        waiting = "\n".join(c.value for c in at.caption)
        assert "\\<script\\>" in waiting and "\\*\\*bold\\*\\*" in waiting, waiting[:1000]


@pytest.fixture(scope="module")
def hostile_records(site: Settings, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Ingest records whose station names and codes carry markup (as a published file could), into the site store."""
    from lfb.data.ingest import ingest_file
    from lfb.service import jobs
    from tests.builders import INCIDENT_HEADER, MOBILISATION_HEADER, incident_row, mobilisation_row, write_csv

    folder = tmp_path_factory.mktemp("hostile-records")
    incidents = write_csv(folder / "incidents.csv", [incident_row("900001-01082024", DateOfCall="2024-08-01",
                                                                  CalYear="2024", IncidentStationGround=MARKDOWN,
                                                                  FirstPumpArriving_DeployedFromStation=SCRIPT)],
                          INCIDENT_HEADER)
    mobilisations = write_csv(folder / "mobilisations.csv", [mobilisation_row(
        "900001-01082024", "990001", CalYear="2024", DateAndTimeMobilised="01/08/2024 10:16:00",
        DateAndTimeMobile="01/08/2024 10:17:10", DateAndTimeArrived="01/08/2024 10:21:00",
        DeployedFromStation_Code="Z9<b>", DeployedFromStation_Name=MARKDOWN)], MOBILISATION_HEADER)
    db = jobs.open_store(site)
    try:
        for path in (incidents, mobilisations):
            report = ingest_file(db, path)
            assert report.status == "ok", report.message
    finally:
        db.close()


@pytest.mark.parametrize("page", ["stations", "admin_data", "admin_accuracy"])
def test_station_names_with_markup_read_from_files_are_shown_as_text(site: Settings, hostile_records: None,
                                                                     page: str) -> None:
    at = _open(page, roles=["admin"])
    tally(f"page {page} (hostile rows)", "\n".join(_shown(at)))
    _no_raw_markup(at)


RESET_ACCEPTED = {"combining", "script", "markdown"}


@pytest.mark.parametrize("name, value", TEXTS, ids=[n for n, _ in TEXTS])
def test_a_hostile_new_password_is_refused_naming_it(users_page: AppTest, site: Settings, name: str,
                                                     value: str) -> None:
    before = users.get_user(site, "disp1")
    at = users_page
    at.selectbox(key="users_password_user").set_value("disp1")
    at.text_input(key="users_password_new").set_value(value)
    at.text_input(key="users_password_again").set_value(value)
    at.button(key="users_password").click()
    _run(at)
    tally("page admin_users", "\n".join(_shown(at)))
    _no_raw_markup(at)
    if name in RESET_ACCEPTED:
        stored = read_credentials(site)["usernames"]["disp1"]["password"]
        assert not at.error and bcrypt.checkpw(value.encode(), stored.encode()), _errors(at)
        return
    errors = _errors(at)
    assert any(e.startswith("Not changed: the password") for e in errors), errors
    assert users.get_user(site, "disp1") == before


@pytest.fixture(scope="module")
def candidate(site: Settings) -> str:
    """A second registered version beside the champion, to promote."""
    from tests.app.test_admin_pages import _candidate

    return _candidate(site, {"promote": False, "text": "not promoted: MAE not lower by at least 1%"})[1]


REASONS_REFUSED = {"long", "nul"}


@pytest.mark.parametrize("name, value", TEXTS, ids=[n for n, _ in TEXTS])
def test_a_hostile_promotion_reason_is_refused_naming_it_or_queued_as_text(site: Settings, candidate: str, name: str,
                                                                           value: str) -> None:
    at = _open("admin_models")
    at.selectbox(key="models_candidate").set_value(candidate)
    at.text_input(key="models_promote_reason").set_value(value)
    at.button(key="models_promote").click()
    _run(at)
    at.button(key="models_promote_pending_yes").click()
    _run(at)
    tally("page admin_models", "\n".join(_shown(at)))
    _no_raw_markup(at)
    waiting = [j for j in list_jobs(site, limit=100_000, status=PENDING) if j["kind"] == "promote"]
    try:
        if name in REASONS_REFUSED:
            assert any(e.startswith("Not queued: reason") and "give the reason as text" in e for e in _errors(at)), \
                _errors(at)
            assert not waiting
            return
        assert [j["args"] for j in waiting] == [{"version": candidate,
                                                 "reason": value.strip() or "promoted from the admin console"}]
    finally:
        with contextlib.closing(sqlite3.connect(site.service_db_path)) as db, db:
            db.execute("DELETE FROM jobs WHERE status = 'pending' AND kind = 'promote'")


# ---- sign-in form ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def login(site: Settings) -> AppTest:
    """The app before sign-in (the sign-in form), with a user 'signer' whose account the tries may lock."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(users, "BCRYPT_ROUNDS", 4)
        mp.setattr(script_runner, "PagesManager", _SteadyStatePages)
        users.add_user(site, "signer", "signer-password", "dispatcher")
        return _run(AppTest.from_file(APP, default_timeout=60))


SIGN_IN_CASES = [("username", name, value) for name, value in TEXTS] + [("password", name, value)
                                                                        for name, value in TEXTS]


@pytest.mark.parametrize("field, name, value", SIGN_IN_CASES, ids=[f"{f} {n}" for f, n, _ in SIGN_IN_CASES])
def test_a_hostile_sign_in_is_refused_without_a_crash(login: AppTest, site: Settings, monkeypatch: pytest.MonkeyPatch,
                                                      field: str, name: str, value: str) -> None:
    from ui import session

    monkeypatch.setattr(session, "pause", lambda _seconds: None)
    username, password = (value, "signer-password") if field == "username" else ("signer", value)
    boxes = login.text_input
    boxes[0].input(username)
    boxes[1].input(password)
    login.button[0].click()
    at = _run(login)
    tally("page sign-in", "\n".join(_shown(at)))
    _no_raw_markup(at)
    assert not at.session_state["authentication_status"]
    said = " ".join(_errors(at) + [w.value for w in at.warning] + [i.value for i in at.info])
    assert re.search(r"username|password|locked", said, re.I), f"a refused sign-in says why: {said!r}"
    assert [box.label for box in at.text_input] == ["Username", "Password"]  # still the sign-in form
