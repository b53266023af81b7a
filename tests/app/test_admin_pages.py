"""The admin console's pages, run by Streamlit's AppTest through the router, signed in as admin `chief`: each renders on
the trained demo store and on an empty data folder; every action becomes a request for the sidecar (or a users
change), behind a confirmation where it matters, and is refused when the credentials file no longer says admin."""
from __future__ import annotations

import shutil

import bcrypt
import pytest
from streamlit.testing.v1 import AppTest

from lfb.config import PROJECT_ROOT, Settings
from lfb.model import registry
from lfb.service import jobs as store_jobs
from lfb.service import requests, users
from lfb.service.predictions import LoggedEstimate, log_estimate
from tests.app.conftest import nav_titles, new_app, preset, texts
from tests.builders import incident_row, write_csv

ESTIMATE_HEADING = "When will the pump arrive?"
NOT_RUNNING = "The scheduler sidecar is not running: requests wait until it starts (`python scheduler.py`)"
NO_LONGER_ADMIN = "You are no longer an admin (checked in the credentials file just now): nothing was done."
ADMIN_FILES = ["admin_data", "admin_models", "admin_accuracy", "admin_jobs", "admin_users"]
TITLES = {"admin_data": "Data", "admin_models": "Models", "admin_accuracy": "Live accuracy", "admin_jobs": "Jobs",
          "admin_users": "Users"}


@pytest.fixture
def stocked(app_settings: Settings, trained) -> Settings:
    """The page tests' data folder (users chief and disp1) holding a copy of the trained demo store and its model."""
    source, _result = trained
    shutil.copytree(source.models_dir, app_settings.models_dir)
    for suffix in ("", "-wal", "-shm"):
        path = source.db_path.with_name(source.db_path.name + suffix)
        if path.exists():
            shutil.copy(path, app_settings.db_path.with_name(app_settings.db_path.name + suffix))
    return app_settings


def run(at: AppTest) -> AppTest:
    """Run the app once more and check that no exception reached the page."""
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_page(name: str, username: str = "chief", roles: list[str] | None = None) -> AppTest:
    """Open an admin page through the router, signed in."""
    at = preset(new_app(), username, roles if roles is not None else ["admin"])
    at.switch_page(f"pages/{name}.py")
    return run(at)


def errors(at: AppTest) -> list[str]:
    """Return the one-line errors of the last run, as shown (markdown escapes of what a user typed removed)."""
    import re

    return [re.sub(r"\\(.)", r"\1", e.value) for e in at.error]


def sidecar_line(at: AppTest) -> str:
    """Return what the page says about the scheduler sidecar (under its title)."""
    return next(e.value for e in [*at.warning, *at.success] if "scheduler sidecar" in e.value)


def table(at: AppTest, column: str):
    """Return the first table (st.dataframe) of the page that has this column."""
    frames = [d.value for d in [*at.dataframe, *at.table]]
    return next(f.reset_index() if column == f.index.name else f for f in frames
                if column in f.columns or column == f.index.name)


def uploads(settings: Settings) -> list:
    """Return the files kept in data/uploads/ (none when it does not exist)."""
    return list(settings.uploads_dir.iterdir()) if settings.uploads_dir.exists() else []


def pending(settings: Settings) -> list[dict]:
    """Return the requests waiting for the sidecar, oldest first."""
    return list(reversed(requests.list_jobs(settings, status=requests.PENDING)))


# ---- every page ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ADMIN_FILES)
def test_each_page_renders_on_the_trained_store_with_the_sidecar_status_on_top(stocked, name):
    at = open_page(name)
    assert at.title[0].value == TITLES[name] and not errors(at)
    assert sidecar_line(at).startswith(NOT_RUNNING) and "never seen with this data folder" in sidecar_line(at)


@pytest.mark.parametrize("name", ADMIN_FILES)
def test_each_page_renders_on_an_empty_data_folder_with_a_clear_message(app_settings, name):
    at = open_page(name)
    assert at.title[0].value == TITLES[name] and not errors(at)
    assert sidecar_line(at).startswith(NOT_RUNNING)
    if name in ("admin_data", "admin_models", "admin_accuracy"):
        assert "No data" in "\n".join(i.value for i in at.info)
    assert not app_settings.db_path.exists()  # looking creates no store


def test_a_store_without_a_model_says_how_to_get_one(app_settings):
    store_jobs.open_store(app_settings).close()  # a store, no data, no model
    at = open_page("admin_models")
    assert "No model has been trained yet: press **Train now**." in texts(at) and at.button(key="models_train")
    at = open_page("admin_accuracy")
    assert "No model to judge: no model in service yet" in texts(at)
    at = open_page("admin_data")
    assert "The store holds no records yet" in texts(at) and not at.get("plotly_chart")


@pytest.mark.parametrize("name", ADMIN_FILES)
def test_a_dispatcher_cannot_open_an_admin_page_through_the_router(stocked, name):
    at = open_page(name, "disp1", ["dispatcher"])
    assert nav_titles(at) == ["Estimate", "Station map"]
    assert at.header[0].value == ESTIMATE_HEADING and TITLES[name] not in [t.value for t in at.title]
    assert "scheduler sidecar" not in texts(at) and not at.get("file_uploader")


def test_a_running_sidecar_is_said_to_run(stocked):
    requests.beat(stocked, "host1", 4242, "2026-01-01 00:00:00", {})
    at = open_page("admin_jobs")
    assert sidecar_line(at).startswith("The scheduler sidecar is running (process 4242 on host1")
    assert not any(NOT_RUNNING in w.value for w in at.warning)


# ---- Data ----------------------------------------------------------------------------------------------------------

def test_the_data_page_shows_rows_per_month_and_the_ingests(stocked):
    at = open_page("admin_data")
    assert len(at.get("plotly_chart")) == 1
    assert "2024-01 to 2024-10" in texts(at) and "demo" in texts(at)
    ingests = table(at, "Refused")
    assert len(ingests) >= 2 and set(ingests["Status"]) == {"ok"} and (ingests["Demo"] == "demo").all()


def _records(tmp_path) -> bytes:
    """Return a small incident-records CSV."""
    return write_csv(tmp_path / "r.csv", [incident_row("000001-01012023"), incident_row("000002-01012023")]
                     ).read_bytes()


def _upload(at: AppTest, name: str, data: bytes) -> AppTest:
    """Choose a file in the uploader, then press Ingest this file."""
    at.file_uploader(key="data_upload").set_value((name, data, "text/csv"))
    run(at)
    at.button(key="data_upload_ingest").click()
    return run(at)


def test_an_upload_is_kept_with_a_safe_name_and_an_ingest_request_waits_with_its_path(stocked, tmp_path):
    data = _records(tmp_path)
    at = _upload(open_page("admin_data"), "LFB incidents 2023.csv", data)
    (kept,) = stocked.uploads_dir.iterdir()
    assert kept.read_bytes() == data and kept.name.endswith("-LFB_incidents_2023.csv")
    (job,) = pending(stocked)
    assert (job["kind"], job["args"], job["requested_by"]) == ("ingest", {"path": str(kept)}, "chief")
    from ui.admin import plain

    assert any(f"request #{job['id']} queued by chief" in s.value and plain(kept.name) in s.value for s in at.success)
    assert NOT_RUNNING.split(":")[0] in texts(at)
    assert f"#{job['id']} ingest" in "\n".join(c.value for c in at.caption)  # waiting, shown with the data jobs


def test_a_name_with_a_path_is_stored_safely_inside_uploads(stocked, tmp_path):
    _upload(open_page("admin_data"), "../../etc/passwd.csv", _records(tmp_path))
    (kept,) = stocked.uploads_dir.iterdir()
    assert kept.name.endswith("-passwd.csv") and ".." not in kept.name
    assert pending(stocked)[0]["args"] == {"path": str(kept)}
    assert not (stocked.data_dir.parent / "etc").exists()


@pytest.mark.parametrize(("name", "data", "why"), [
    ("records.txt", b"IncidentNumber,DateOfCall\n1,2\n", "Not kept: 'records.txt' is not a .csv or .xlsx file"),
    ("records.csv", b"\x7fELF\x02\x01\x01" + b"\x00" * 64, "Not kept: the file is named .csv but is not text"),
    ("records.xlsx", b"IncidentNumber,DateOfCall\n", "Not kept: the file is named .xlsx but is not an Excel workbook"),
])
def test_a_file_of_the_wrong_type_is_refused_in_one_line(stocked, name, data, why):
    at = _upload(open_page("admin_data"), name, data)
    assert [e for e in errors(at) if e.startswith(why)]
    assert not pending(stocked) and not uploads(stocked)


def test_a_file_over_the_upload_limit_is_refused(stocked, monkeypatch):
    monkeypatch.setenv("LFB_UPLOAD_MAX_MB", "1")
    at = open_page("admin_data")
    assert at.file_uploader(key="data_upload").proto.max_upload_size_mb == 1  # the browser refuses it too
    at = _upload(at, "big.csv", b"IncidentNumber,DateOfCall\n" + b"1,2\n" * 300_000)
    assert [e for e in errors(at) if "over the limit of 1 MB (LFB_UPLOAD_MAX_MB)" in e]
    assert not pending(stocked) and not uploads(stocked)


def test_streamlit_accepts_uploads_as_large_as_the_default_limit():
    import tomllib

    config = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] >= Settings.upload_max_mb == 300


def test_a_limit_above_streamlit_s_own_says_so(stocked, monkeypatch):
    import streamlit as st

    monkeypatch.setenv("LFB_UPLOAD_MAX_MB", "100000")
    at = open_page("admin_data")
    cap = int(st.get_option("server.maxUploadSize"))
    assert at.file_uploader(key="data_upload").proto.max_upload_size_mb == cap
    assert f"LFB_UPLOAD_MAX_MB is 100,000 MB but Streamlit accepts {cap:,} MB" in texts(at)


def test_fetch_queues_a_fetch_request(stocked):
    at = open_page("admin_data")
    at.button(key="data_fetch").click()
    run(at)
    (job,) = pending(stocked)
    assert (job["kind"], job["args"], job["requested_by"]) == ("fetch", {}, "chief")
    at.button(key="data_fetch").click()  # the same request twice: refused, naming the first
    run(at)
    assert [e for e in errors(at) if e.startswith("Not queued: the same fetch request is already waiting")]


def test_a_running_data_job_shows_its_progress(stocked):
    job_id = requests.submit(stocked, "fetch", {}, who="chief")
    requests.claim_next(stocked, "test-runner")
    requests.report_progress(stocked, job_id, "downloading incidents 2024.csv", 0.4)
    at = open_page("admin_data")
    (bar,) = at.get("progress")
    assert bar.value == 40 and f"#{job_id} fetch: downloading incidents 2024" in bar.text


def test_refused_rows_are_shown_as_text_never_as_markup(stocked, tmp_path):
    db = store_jobs.open_store(stocked)
    rows = [incident_row("000001-01012023"),
            incident_row("000002-01012023", DateOfCall="<script>alert(1)</script>", IncidentGroup="**bold**")]
    from lfb.data.ingest import ingest_file

    report = ingest_file(db, write_csv(tmp_path / "**x**<b>y.csv", rows))
    db.close()
    at = open_page("admin_data")
    (expander,) = [e for e in at.expander if e.label.startswith(f"Ingest #{report.ingest_id}")]
    assert r"\*\*x\*\*\<b\>y\.csv" in expander.label and "1 rows refused" in expander.label
    (code,) = expander.code
    assert "<script>alert(1)</script>" in code.value and "**bold**" in code.value and code.language == "plaintext"


# ---- Models --------------------------------------------------------------------------------------------------------

def _candidate(settings: Settings, decision: dict) -> tuple[str, str]:
    """Register a copy of the champion as a candidate with a stored decision; return (champion, candidate)."""
    import json

    db = store_jobs.open_store(settings)
    v1 = registry.champion(db)
    v2 = f"{v1}-b"
    shutil.copytree(settings.models_dir / v1, settings.models_dir / v2)
    meta = registry.read_metadata(settings.models_dir, v2) | {"version": v2, "created": "2099-01-01 00:00:00",
                                                              "decision": decision | {"champion": v1}}
    (settings.models_dir / v2 / "metadata.json").write_text(json.dumps(meta))
    registry.register(db, meta, settings.models_dir / v2)
    db.close()
    return v1, v2


def test_the_models_page_lists_the_versions_with_their_status_and_figures(stocked):
    v1, v2 = _candidate(stocked, {"promote": False, "text": "not promoted: MAE not lower by at least 1%"})
    at = open_page("admin_models")
    history = table(at, "Status")
    assert list(history["Version"]) == [v2, v1] and list(history["Status"]) == ["candidate", "champion"]
    assert history["Distance baseline MAE"].notna().all() and history["Training s"].notna().all()
    assert "first model goes into service" in history["Decision"].iloc[1]
    assert history["Last change"].iloc[1].startswith("promote by cli")
    assert at.selectbox(key="models_candidate").value == v2
    figures = next(d.value for d in at.dataframe if v1 in d.value.columns)
    assert list(figures.columns) == [v1, v2] and "flag: late when flagged" in figures.index
    assert len(at.get("plotly_chart")) == 2  # error by month and by station


def test_train_now_queues_a_train_request_by_the_admin(stocked):
    at = open_page("admin_models")
    at.button(key="models_train").click()
    run(at)
    (job,) = pending(stocked)
    assert (job["kind"], job["args"], job["requested_by"]) == ("train", {}, "chief")
    assert any(f"Train now: request #{job['id']} queued by chief" in s.value for s in at.success)


def test_promote_shows_the_rule_s_verdict_and_needs_a_confirmation(stocked):
    _v1, v2 = _candidate(stocked, {"promote": False, "text": "not promoted: MAE not lower by at least 1%"})
    at = open_page("admin_models")
    assert any(w.value.startswith(f"The promotion rule's verdict on {v2}: not promoted: MAE not lower")
               for w in at.warning)
    at.button(key="models_promote").click()
    run(at)
    assert not pending(stocked)  # nothing yet: a confirmation first
    assert any("you are overriding it" in w.value for w in at.warning)
    at.button(key="models_promote_pending_cancel").click()
    run(at)
    assert not pending(stocked) and not any("overriding" in w.value for w in at.warning)
    at.text_input(key="models_promote_reason").set_value("storm season")
    at.button(key="models_promote").click()
    run(at)
    at.button(key="models_promote_pending_yes").click()
    run(at)
    (job,) = pending(stocked)
    assert (job["kind"], job["args"], job["requested_by"]) == ("promote", {"version": v2, "reason": "storm season"},
                                                              "chief")


def test_rollback_shows_where_it_goes_and_needs_a_confirmation(stocked):
    v1, v2 = _candidate(stocked, {"promote": True, "text": "promoted: on 2024-07..2024-08"})
    db = store_jobs.open_store(stocked)
    registry.set_champion(db, stocked.models_dir, v2, who="chief", action="manual promote", reason="test")
    db.close()
    at = open_page("admin_models")
    assert at.button(key="models_rollback").label == f"Roll back to {v1}"
    at.button(key="models_rollback").click()
    run(at)
    assert not pending(stocked) and any(f"Roll back from {v2} to {v1}?" in w.value for w in at.warning)
    at.button(key="models_rollback_pending_yes").click()
    run(at)
    (job,) = pending(stocked)
    assert job["kind"] == "rollback" and job["requested_by"] == "chief" and v1 in job["args"]["reason"]


def test_with_a_single_version_there_is_nothing_to_roll_back_to(stocked):
    at = open_page("admin_models")
    assert not [b for b in at.button if b.key == "models_rollback"]
    assert "nothing to roll back to" in texts(at)


# ---- the admin role, checked again when an action is taken ----------------------------------------------------------

def _demote_chief(settings: Settings) -> None:
    """Make disp1 the admin and chief a dispatcher, in the credentials file."""
    users.set_role(settings, "disp1", "admin")
    users.set_role(settings, "chief", "dispatcher")


def test_an_admin_demoted_between_two_runs_is_refused_when_pressing_an_action(stocked):
    at = open_page("admin_models")
    _demote_chief(stocked)
    at.button(key="models_train").click()
    run(at)
    assert not pending(stocked)
    assert "Your account no longer has the admin role" in texts(at) and "nothing you pressed" in texts(at)
    assert at.header[0].value == ESTIMATE_HEADING and nav_titles(at) == ["Estimate", "Station map"]


@pytest.fixture
def unguarded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let admin pages run past their guard, to show that each action checks the admin role again by itself."""
    import ui.navigation

    monkeypatch.setattr(ui.navigation, "page_guard", lambda _file: None)


def _page_file(name: str) -> AppTest:
    """Open a page file directly as chief (the guard is off in these tests)."""
    at = preset(AppTest.from_file(str(PROJECT_ROOT / "pages" / f"{name}.py"), default_timeout=60), "chief", ["admin"])
    return run(at)


def test_train_now_checks_the_admin_role_at_the_moment_it_acts(stocked, unguarded):
    at = _page_file("admin_models")
    _demote_chief(stocked)
    at.button(key="models_train").click()
    run(at)
    assert NO_LONGER_ADMIN in "\n".join(errors(at)) and not pending(stocked)


def test_an_upload_checks_the_admin_role_before_keeping_anything(stocked, unguarded, tmp_path):
    at = _page_file("admin_data")
    _demote_chief(stocked)
    _upload(at, "r.csv", _records(tmp_path))
    assert NO_LONGER_ADMIN in "\n".join(errors(at))
    assert not pending(stocked) and not stocked.uploads_dir.exists()


def test_a_promotion_confirmed_after_a_demotion_is_refused(stocked, unguarded):
    _candidate(stocked, {"promote": True, "text": "promoted: on 2024-07..2024-08"})
    at = _page_file("admin_models")
    at.button(key="models_promote").click()
    run(at)
    _demote_chief(stocked)
    at.button(key="models_promote_pending_yes").click()
    run(at)
    assert NO_LONGER_ADMIN in "\n".join(errors(at)) and not pending(stocked)


def test_a_users_change_checks_the_admin_role_at_the_moment_it_acts(stocked, unguarded):
    at = _page_file("admin_users")
    _demote_chief(stocked)
    _add(at, "newbie", "newbie-password")
    assert NO_LONGER_ADMIN in "\n".join(errors(at)) and users.get_user(stocked, "newbie") is None


# ---- Live accuracy -------------------------------------------------------------------------------------------------

def test_live_accuracy_shows_the_months_after_the_champion_s_data(stocked):
    at = open_page("admin_accuracy")
    months = table(at, "Verdict")
    assert list(months["Month"]) == ["2024-09", "2024-10"]
    assert set(months["Verdict"]) == {"within tolerance"}
    assert at.success[0].value.startswith("No drift: every judged month") and len(at.get("plotly_chart")) == 1
    assert "demo records" in texts(at) and "LFB_DRIFT_TOLERANCE" in texts(at)


def test_live_accuracy_shows_drift_beyond_the_tolerance(stocked):
    db = store_jobs.open_store(stocked)  # a constructed case: October's pumps arrive far later than estimated
    db.execute("UPDATE mobilisations SET attendance_seconds = MIN(1200, attendance_seconds * 1.6) "
               "WHERE month = '2024-10'")
    db.close()
    at = open_page("admin_accuracy")
    months = table(at, "Verdict")
    assert list(months["Verdict"]) == ["within tolerance", "drift"]
    (drift,) = at.error
    assert drift.value.startswith("Drift:") and "2024-10" in drift.value and "more than 15%" in drift.value


def test_live_accuracy_matches_the_estimates_dispatchers_received(stocked):
    db = store_jobs.open_store(stocked)
    number, station, seconds = db.execute(
        "SELECT incident_number, station_code, attendance_seconds FROM mobilisations WHERE month = '2024-09' AND "
        "derived = 0 ORDER BY incident_number LIMIT 1").fetchone()
    db.close()
    log_estimate(stocked, LoggedEstimate(username="disp1", station_code=station, location_text="SE1 7PB",
                                         call_time="2024-09-16 14:30", incident_group="Fire", median_s=seconds - 90,
                                         p90_s=seconds + 60, model_version="v1", flag=True, incident_number=number))
    at = open_page("admin_accuracy")
    matched = table(at, "Incident")
    assert list(matched["Incident"]) == [number] and list(matched["Error s"]) == [90]
    assert list(matched["Late"]) == ["late"] and list(matched["From"]) == ["chosen station's pump"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Matched estimates"] == "1" and metrics["Flagged, then late"] == "1 of 1"
    assert "1 of 1 estimates matched: MAE 90.0 s" in texts(at)


# ---- Jobs ----------------------------------------------------------------------------------------------------------

def test_the_jobs_page_shows_plans_queue_running_and_history(stocked):
    requests.beat(stocked, "host1", 99, "2026-01-01 00:00:00",
                  {"next_runs": {"fetch": "2026-12-01 03:00 UTC", "train": "2026-12-01 04:00 UTC"},
                   "current": None})
    done_id = requests.submit(stocked, "evaluate", {}, who="chief")
    requests.claim_next(stocked, "r1")
    requests.finish(stocked, done_id, True, "scored v1: MAE 70.1 s", log="line one\n<b>line two</b>")
    running_id = requests.submit(stocked, "train", {}, who="chief")
    requests.claim_next(stocked, "r1")
    requests.report_progress(stocked, running_id, "fitting", 0.25)
    waiting_id = requests.submit(stocked, "fetch", {}, who="chief")
    at = open_page("admin_jobs")
    plans = table(at, "Run")
    assert list(plans["Run"]) == ["fetch", "train"] and plans["Next (UTC)"].iloc[0] == "2026-12-01 03:00 UTC"
    history = table(at, "Outcome")
    assert list(history["#"]) == [waiting_id, running_id, done_id]
    assert list(history["Status"]) == ["pending", "running", "done"]
    assert history["Outcome"].iloc[2] == "scored v1: MAE 70.1 s" and history["Took"].iloc[2]
    (bar,) = at.get("progress")
    assert bar.value == 25 and f"#{running_id} train: fitting" in bar.text
    assert f"#{waiting_id} fetch: waiting for the sidecar" in "\n".join(c.value for c in at.caption)
    (log,) = at.expander
    assert log.label.startswith(f"Log of \\#{done_id} evaluate") and log.code[0].value.endswith("<b>line two</b>")


def test_the_jobs_view_refreshes_only_while_something_waits_or_runs():
    from ui.admin import REFRESH_S, refresh_every

    assert refresh_every([]) is None
    assert refresh_every([{"status": "done"}, {"status": "failed"}]) is None
    assert refresh_every([{"status": "done"}, {"status": "pending"}]) == REFRESH_S
    assert refresh_every([{"status": "running"}]) == REFRESH_S


# ---- Users ---------------------------------------------------------------------------------------------------------

def _add(at: AppTest, username: str, password: str, again: str | None = None, role: str = "dispatcher") -> AppTest:
    """Fill in and submit the add-user form."""
    at.text_input(key="users_add_username").set_value(username)
    at.text_input(key="users_add_name").set_value("New Person")
    at.selectbox(key="users_add_role").set_value(role)
    at.text_input(key="users_add_password").set_value(password)
    at.text_input(key="users_add_again").set_value(password if again is None else again)
    at.button(key="users_add").click()
    return run(at)


def test_an_admin_adds_a_user(stocked):
    at = _add(open_page("admin_users"), "newbie", "newbie-password")
    user = users.get_user(stocked, "newbie")
    assert user is not None and user.roles == ("dispatcher",) and user.name == "New Person"
    assert "newbie" in list(table(at, "Username")["Username"])
    assert any(s.value == "Added newbie (dispatcher)." for s in at.success)


def test_two_different_passwords_add_nobody(stocked):
    at = _add(open_page("admin_users"), "newbie", "newbie-password", again="other-password")
    assert "The two passwords differ: type the same password twice." in errors(at)
    assert users.get_user(stocked, "newbie") is None


def test_removing_a_user_needs_a_confirmation(stocked):
    at = open_page("admin_users")
    at.selectbox(key="users_remove_user").set_value("disp1")
    run(at)
    at.button(key="users_remove").click()
    run(at)
    assert users.get_user(stocked, "disp1") is not None
    assert any(w.value.startswith("Remove **disp1**?") for w in at.warning)
    at.button(key="users_remove_pending_yes").click()
    run(at)
    assert users.get_user(stocked, "disp1") is None and "disp1" not in list(table(at, "Username")["Username"])


def test_the_last_admin_can_be_neither_removed_nor_demoted(stocked):
    at = open_page("admin_users")
    at.selectbox(key="users_remove_user").set_value("chief")
    run(at)
    at.button(key="users_remove").click()
    run(at)
    assert any("This is your own account" in w.value for w in at.warning)
    at.button(key="users_remove_pending_yes").click()
    run(at)
    assert [e for e in errors(at) if e.startswith("Not removed: 'chief' is the last admin and cannot be removed")]
    at.selectbox(key="users_role_user").set_value("chief")
    at.selectbox(key="users_role_role").set_value("dispatcher")
    at.button(key="users_role").click()
    run(at)
    assert [e for e in errors(at) if e.startswith("Not changed: 'chief' is the last admin and cannot stop being one")]
    assert users.get_user(stocked, "chief").roles == ("admin",)


def test_an_admin_sets_a_role_and_resets_a_password(stocked):
    at = open_page("admin_users")
    at.selectbox(key="users_role_user").set_value("disp1")
    at.selectbox(key="users_role_role").set_value("admin")
    at.button(key="users_role").click()
    run(at)
    assert users.get_user(stocked, "disp1").roles == ("admin",)
    at.selectbox(key="users_password_user").set_value("disp1")
    at.text_input(key="users_password_new").set_value("a-brand-new-password")
    at.text_input(key="users_password_again").set_value("a-brand-new-password")
    at.button(key="users_password").click()
    run(at)
    stored = users.read_credentials(stocked)["usernames"]["disp1"]["password"]
    assert bcrypt.checkpw(b"a-brand-new-password", stored.encode())
    assert any(s.value == "disp1 has a new password: give it to them." for s in at.success)
