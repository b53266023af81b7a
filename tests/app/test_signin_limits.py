"""Sign-in failures slow the next try and lock an account for a while; idle sessions are signed out."""
import pytest

from lfb.cli import EXIT_OK, main
from lfb.service import signin
from tests.app.conftest import PASSWORDS, new_app, preset, texts
from tests.app.test_router import _sign_in_with_form
from ui import session


@pytest.fixture
def delays(monkeypatch):
    """Record the waits after failed sign-ins instead of sleeping."""
    waited = []
    monkeypatch.setattr(session, "pause", waited.append)
    return waited


def test_each_failed_sign_in_waits_longer_than_the_one_before(app_settings, delays):
    at = new_app().run()
    for _ in range(3):
        at = _sign_in_with_form(at, "nobody-here", "wrong-password")
    assert delays == [1.0, 2.0, 4.0]
    assert signin.lockout(app_settings, "nobody-here").failures == 0  # an unknown name locks no account


def test_too_many_failures_lock_the_account_even_against_the_right_password(app_settings, delays):
    at = new_app().run()
    for _ in range(app_settings.signin_max_failures):
        at = _sign_in_with_form(at, "disp1", "wrong-password")
    assert "This account is locked after 5 failed sign-ins" in texts(at)
    at = _sign_in_with_form(new_app().run(), "disp1", PASSWORDS["disp1"])
    at.run()
    assert not at.session_state["authentication_status"] and "This account is locked" in texts(at)
    assert main(["users", "unlock", "disp1"]) == EXIT_OK
    at = _sign_in_with_form(new_app().run(), "disp1", PASSWORDS["disp1"])
    at.run()
    assert at.session_state["authentication_status"] and signin.lockout(app_settings, "disp1").failures == 0


def test_a_good_sign_in_forgets_earlier_failures(app_settings, delays):
    at = _sign_in_with_form(new_app().run(), "disp1", "wrong-password")
    assert signin.lockout(app_settings, "disp1").failures == 1
    at = _sign_in_with_form(at, "disp1", PASSWORDS["disp1"])
    at.run()
    assert at.session_state["authentication_status"] and signin.lockout(app_settings, "disp1").failures == 0


def test_failures_older_than_the_window_no_longer_count(app_settings):
    import time

    long_ago = time.time() - app_settings.signin_window_s - 1
    for _ in range(app_settings.signin_max_failures):
        signin.record_failure(app_settings, "disp1", now=long_ago)
    assert signin.lockout(app_settings, "disp1").locked_until is None


def test_a_session_idle_too_long_is_signed_out(app_settings):
    import time

    at = preset(new_app(), "disp1", ["dispatcher"])
    at.session_state[session.LAST_SEEN] = time.time() - app_settings.session_idle_s - 60
    at.run()
    assert not at.session_state["authentication_status"]
    assert "You were signed out after 12 h without activity" in texts(at)
    fresh = preset(new_app(), "disp1", ["dispatcher"]).run()
    assert fresh.session_state["authentication_status"]
