"""The router (app.py): nothing but the sign-in form until signed in; pages by role, re-read from the credentials file
on every run; sign-out; the first admin."""
from __future__ import annotations

import bcrypt
import pytest
import yaml
from streamlit.testing.v1 import AppTest

from lfb.service import users
from tests.app.conftest import PASSWORDS, new_app, nav_titles, preset, texts

ADMIN_MARK = "scheduler sidecar"  # every admin page says whether it runs; no other page mentions it
ADMIN_PAGES = ["Data", "Models", "Live accuracy", "Jobs", "Users"]

ESTIMATE_HEADING = "When will the pump arrive?"  # the estimate page's heading


def _sign_in_with_form(at: AppTest, username: str, password: str) -> AppTest:
    """Fill in and submit the sign-in form."""
    username_box, password_box = at.text_input
    username_box.input(username)
    password_box.input(password)
    at.button[0].click()
    return at.run()


def test_without_sign_in_only_the_login_form_shows(app_settings):
    at = new_app().run()
    assert not at.exception
    assert [box.label for box in at.text_input] == ["Username", "Password"]
    assert nav_titles(at) == ["Sign in"]
    assert len(at.sidebar) == 0 and not at.title and not at.header and not at.table
    assert "Estimate" not in texts(at) and ADMIN_MARK not in texts(at)


def test_a_page_path_before_sign_in_shows_only_the_login_form(app_settings):
    at = new_app().switch_page("pages/admin_users.py").run()
    assert not at.title and not at.header and not at.table and ADMIN_MARK not in texts(at)
    assert [box.label for box in at.text_input] == ["Username", "Password"]


def test_dispatcher_navigation_has_estimate_and_station_map_but_no_admin(open_as):
    at = open_as("disp1")
    assert not at.exception
    assert nav_titles(at) == ["Estimate", "Station map"]
    assert at.header[0].value == ESTIMATE_HEADING
    assert "Signed in as **Dee Spatcher** (`disp1`)" in at.sidebar.markdown[0].value
    assert at.sidebar.caption[0].value == "Role: dispatcher"


def test_dispatcher_switching_to_the_admin_path_does_not_open_it(app_settings):
    at = preset(new_app(), "disp1", ["dispatcher"])
    at.switch_page("pages/admin_users.py").run()  # before a first run the path maps to the admin page's URL, as typed
    assert not at.exception
    assert at.header[0].value == ESTIMATE_HEADING and ADMIN_MARK not in texts(at) and not at.table
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/admin_users.py")  # once the navigation is known, the page is not even in it


def test_admin_path_opens_the_admin_page_for_an_admin(app_settings):
    at = preset(new_app(), "chief", ["admin"])
    at.switch_page("pages/admin_users.py").run()
    assert not at.exception
    assert nav_titles(at) == ["Estimate", "Station map", *ADMIN_PAGES]
    assert at.title[0].value == "Users" and ADMIN_MARK in texts(at)
    table = at.table[0].value
    assert list(table.index) == ["chief", "disp1"] and list(table["Role"]) == ["admin", "dispatcher"]
    assert not any("password" in column.lower() for column in table.columns)


def test_the_admin_pages_are_under_their_own_section(app_settings, monkeypatch):
    import streamlit as st

    given = []
    real = st.navigation

    def recording(pages, **kwargs):
        """Note the sections and page titles the router gives st.navigation."""
        given.append({section: [p.title for p in listed] for section, listed in pages.items()})
        return real(pages, **kwargs)

    monkeypatch.setattr(st, "navigation", recording)
    preset(new_app(), "chief", ["admin"]).run()
    preset(new_app(), "disp1", ["dispatcher"]).run()
    assert given == [{"": ["Estimate", "Station map"], "Admin": ADMIN_PAGES}, {"": ["Estimate", "Station map"]}]


def test_station_map_opens_from_the_navigation(open_as):
    at = open_as("disp1")
    at.switch_page("pages/stations.py").run()
    assert at.title[0].value == "Station map"


def test_roles_in_the_session_are_not_trusted(app_settings):
    at = preset(new_app(), "disp1", ["admin"])
    at.switch_page("pages/admin_users.py").run()
    assert nav_titles(at) == ["Estimate", "Station map"] and ADMIN_MARK not in texts(at)
    assert at.session_state["roles"] == ["dispatcher"]


def test_a_role_change_in_the_credentials_file_takes_effect_on_the_next_run(app_settings):
    at = preset(new_app(), "chief", ["admin"])
    at.switch_page("pages/admin_users.py").run()
    assert at.title[0].value == "Users"
    users.set_role(app_settings, "disp1", "admin")
    users.set_role(app_settings, "chief", "dispatcher")
    at.run()
    assert nav_titles(at) == ["Estimate", "Station map"]
    assert at.header[0].value == ESTIMATE_HEADING and ADMIN_MARK not in texts(at)
    assert at.sidebar.caption[0].value == "Role: dispatcher"
    assert "Your account no longer has the admin role" in texts(at)  # said once, plainly
    at.run()
    assert "no longer has the admin role" not in texts(at)


def test_a_removed_user_is_signed_out_on_the_next_run(open_as, app_settings):
    at = open_as("disp1")
    users.remove_user(app_settings, "disp1")
    at.run()
    assert nav_titles(at) == ["Sign in"] and not at.title
    assert "Your account no longer exists" in texts(at)
    assert not at.session_state["authentication_status"]
    at.run()
    assert "Your account no longer exists" in texts(at) and nav_titles(at) == ["Sign in"]


def test_an_unknown_username_in_the_session_is_signed_out(app_settings):
    at = preset(new_app(), "mallory", ["admin"]).run()
    assert nav_titles(at) == ["Sign in"] and not at.title and not at.header and not at.session_state["authentication_status"]


def test_sign_out_shows_the_login_form_again(open_as):
    at = open_as("chief")
    at.sidebar.button[0].click().run()
    assert not at.exception
    assert nav_titles(at) == ["Sign in"] and not at.title and not at.header and len(at.sidebar) == 0
    assert "You have signed out." in texts(at)
    assert at.session_state["authentication_status"] is None and at.session_state["username"] is None
    at.run()  # in a browser the cookie's deletion asks for this rerun: the notice stays
    assert nav_titles(at) == ["Sign in"] and "You have signed out." in texts(at)


def test_sign_in_with_the_form_opens_the_estimate_page(app_settings):
    at = _sign_in_with_form(new_app().run(), "DISP1", PASSWORDS["disp1"])
    at.run()  # in a browser the sign-in cookie's component asks for this rerun
    assert nav_titles(at) == ["Estimate", "Station map"]
    assert at.header[0].value == ESTIMATE_HEADING and not at.text_input


def test_a_wrong_password_shows_a_clear_error(app_settings):
    at = _sign_in_with_form(new_app().run(), "disp1", "not-the-password")
    assert [e.value for e in at.error] == ["Wrong username or password. Try again; if you have forgotten your "
                                           "password, ask an admin to set a new one."]
    assert nav_titles(at) == ["Sign in"] and not at.title


def test_first_start_creates_the_admin_and_prints_its_password_once(settings, capsys):
    at = new_app().run()
    out = capsys.readouterr().out
    password = out.split("password: ")[1].split()[0]
    stored = users.read_credentials(settings)["usernames"]["admin"]["password"]
    assert bcrypt.checkpw(password.encode(), stored.encode())
    assert "First start: the admin account **admin** was created" in texts(at)
    new_app().run()
    assert password not in capsys.readouterr().out
    assert users.get_user(settings, "admin").roles == ("admin",)


def test_a_user_without_a_role_gets_no_page(app_settings):
    data = yaml.safe_load(app_settings.credentials_path.read_text())
    data["credentials"]["usernames"]["disp1"]["roles"] = []
    app_settings.credentials_path.write_text(yaml.safe_dump(data))
    at = preset(new_app(), "disp1", ["dispatcher"]).run()
    assert nav_titles(at) == ["No access"] and "no role that opens a page" in texts(at)


def test_a_damaged_credentials_file_is_one_line_not_a_traceback(app_settings):
    app_settings.credentials_path.write_text("credentials: [1, 2")
    at = new_app().run()
    assert not at.exception
    path = app_settings.credentials_path
    assert [e.value for e in at.error] == [f"Sign-in is unavailable: the credentials file {path}"
                                           " is not usable (not valid YAML: while parsing a flow sequence); fix it, or "
                                           "move it away and restart to create a new admin"]
    assert nav_titles(at) == ["Sign in"] and not at.title


def test_a_malformed_setting_is_one_line_not_a_traceback(app_settings, monkeypatch):
    monkeypatch.setenv("LFB_PORT", "eighty")
    at = new_app().run()
    assert not at.exception and not at.text_input
    assert [e.value for e in at.error] == ["The app's settings are wrong: LFB_PORT='eighty' is not a port number: use 1 "
                                           "to 65535 (default 8501). Fix the variable and restart the app."]
