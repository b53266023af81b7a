"""The estimate page, run by Streamlit's AppTest against the trained demo store, signed in as a dispatcher."""
import datetime as dt
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lfb.config import get_settings
from lfb.service import users
from lfb.service.predictions import recent_estimates
from tests.app.conftest import preset

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "estimate.py")


@pytest.fixture
def page(trained, monkeypatch, tmp_path):
    """The estimate page of the trained store, signed in as dispatcher disp1 (its own log and users)."""
    settings, _ = trained
    monkeypatch.setenv("LFB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LFB_DB", str(settings.db_path))
    monkeypatch.setenv("LFB_MODELS_DIR", str(settings.models_dir))
    monkeypatch.setattr(users, "BCRYPT_ROUNDS", 4)
    users.add_user(get_settings(), "chief", "chief-password", "admin")
    users.add_user(get_settings(), "disp1", "disp1-password", "dispatcher")
    at = preset(AppTest.from_file(PAGE, default_timeout=60), "disp1", ["dispatcher"])
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _ask(at: AppTest, location: str, when: dt.datetime = dt.datetime(2024, 9, 16, 14, 30), number: str = "",
         group: str = "Fire") -> AppTest:
    """Fill the form and press Estimate."""
    at.text_input(key="estimate_location").set_value(location)
    at.date_input(key="estimate_date").set_value(when.date())
    at.time_input(key="estimate_time").set_value(when.time())
    at.selectbox(key="estimate_group").set_value(group)
    at.text_input(key="estimate_incident_number").set_value(number)
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_form_defaults_to_now_in_london_and_the_fastest_station(page):
    from lfb.service.estimates import now_london

    assert page.selectbox(key="estimate_station").value.startswith("Fastest")
    assert any("Contains OS data" in c.value and "Royal Mail" in c.value for c in page.caption)  # Code-Point credit
    assert page.date_input(key="estimate_date").value == now_london().date()
    (overview,) = [json.loads(d.proto.json) for d in page.get("deck_gl_json_chart")]  # nothing estimated yet
    layers = {layer["id"]: layer for layer in overview["layers"]}
    assert len(layers["stations"]["data"]) == 102 and "incident" not in layers and not page.metric


def test_a_full_postcode_gets_an_estimate_a_map_a_ranking_and_a_day_chart_and_is_logged(page):
    at = _ask(page, "SE1 7PB", number="123456-16092024")
    assert not at.error, [e.value for e in at.error]
    labels = [m.label for m in at.metric]
    assert labels[0].startswith("Arrives in (median, ") and labels[1].startswith("Upper bound (P90, ")
    assert labels[2] == "Chance over 6 minutes"
    assert ":" in at.metric[0].value  # m:ss
    deck = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    ids = [layer["id"] for layer in deck["layers"]]
    assert ids[:3] == ["boroughs", "thames", "outline"] and {"route", "stations", "chosen", "incident"} <= set(ids)
    assert "mapStyle" not in deck or deck["mapStyle"] == "__MAP_STYLE__"  # no tile server
    ranking = at.dataframe[0].value
    assert len(ranking) == 10 and ranking["Station"].str.startswith("▶ ").sum() == 1
    assert ranking["Station"].iloc[0].startswith("▶ ")  # the default station is the fastest
    assert len(at.get("plotly_chart")) == 1
    logged = recent_estimates(get_settings(), "disp1")
    assert len(logged) == 1 and logged[0]["incident_number"] == "123456-16092024"
    assert logged[0]["location_text"] == "SE1 7PB" and logged[0]["precision"] == "postcode"
    assert logged[0]["details"]["station_chosen"] == "fastest"


def test_a_chosen_station_is_estimated_and_a_sooner_one_is_named(page):
    page.selectbox(key="estimate_station").set_value("E35")  # far from W2
    at = _ask(page, "W2")
    heading = [m.value for m in at.markdown if m.value.startswith("#### ")][0]
    assert "→ W2" in heading and "(E35)" in heading
    assert any("would likely arrive sooner" in i.value for i in at.info)
    assert any("whole postcode district" in c.value for c in at.caption)  # the precision is part of the answer


@pytest.mark.parametrize(("location", "when", "message"), [
    ("behind the bakery", dt.datetime(2024, 9, 16, 14, 30), "cannot read location"),
    ("52.2, 0.12", dt.datetime(2024, 9, 16, 14, 30), "not in Greater London"),
    ("CB2 1TN", dt.datetime(2024, 9, 16, 14, 30), "is not in Greater London"),
    ("SE1 7PB", dt.datetime(2031, 1, 1, 9, 0), "after the data this model learned from"),
])
def test_a_bad_request_gets_a_clear_message_and_is_not_logged(page, location, when, message):
    at = _ask(page, location, when)
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert not at.metric
    assert all("incident" not in d.proto.json for d in at.get("deck_gl_json_chart"))  # no answer drawn
    assert recent_estimates(get_settings(), "disp1") == []


def test_an_empty_location_says_what_to_type(page):
    at = _ask(page, "   ")
    assert any("Give the location" in e.value for e in at.error)


def test_the_dispatcher_sees_their_own_recent_estimates(page):
    at = _ask(page, "SE1 7PB")
    at = _ask(at, "W2")
    table = at.dataframe[-1].value
    assert table["Location"].tolist() == ["W2", "SE1 7PB"]
