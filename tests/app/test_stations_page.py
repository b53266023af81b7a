"""The station map page, run by Streamlit's AppTest against the trained demo store (no sign-in: the router does it)."""
import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "stations.py")


def _page(monkeypatch, settings, models_dir=None) -> AppTest:
    import tempfile

    from lfb.config import get_settings
    from lfb.service import users
    from tests.app.conftest import preset

    monkeypatch.setenv("LFB_DATA_DIR", str(settings.db_path.parent))
    monkeypatch.setenv("LFB_MODELS_DIR", str(models_dir or settings.models_dir))
    monkeypatch.setenv("LFB_CREDENTIALS", str(Path(tempfile.mkdtemp(prefix="lfb-users-")) / "credentials.yaml"))
    monkeypatch.delenv("LFB_DB", raising=False)
    monkeypatch.delenv("LFB_MAP_STYLE", raising=False)
    users.add_user(get_settings(), "chief", "chief-password", "admin")
    users.add_user(get_settings(), "disp1", "disp1-password", "dispatcher")
    at = preset(AppTest.from_file(PAGE, default_timeout=120), "disp1", ["dispatcher"])
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _decks(at: AppTest) -> list[dict]:
    return [json.loads(d.proto.json) for d in at.get("deck_gl_json_chart")]


def _layer(deck: dict, layer_id: str) -> dict:
    return next(layer for layer in deck["layers"] if layer["id"] == layer_id)


def _texts(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


@pytest.fixture
def page(trained, monkeypatch) -> AppTest:
    settings, _ = trained
    return _page(monkeypatch, settings)


def _coverage(at: AppTest) -> AppTest:
    """Switch the page to London's coverage."""
    at.get("button_group")[0].set_value("London's coverage").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_page_shows_the_map_the_ranking_and_the_coverage(page):
    assert not page.error, [e.value for e in page.error]
    assert any("DEMO" in w.value for w in page.warning)
    (station_map,) = _decks(page)  # one view at a time
    stations = _layer(station_map, "stations")
    assert len(stations["data"]) == 102 and stations["pickable"] is True
    assert station_map["mapStyle"] == "__MAP_STYLE__"  # no tile server
    assert [layer["id"] for layer in station_map["layers"][:3]] == ["boroughs", "thames", "outline"]
    table = page.dataframe[0].value
    assert len(table) == 102 and table["Median s"].dropna().is_monotonic_decreasing
    assert len(page.get("plotly_chart")) == 2  # the selected station's distribution and the ranking
    assert "Borough boundaries" in "\n".join(c.value for c in page.caption)
    (coverage_map,) = _decks(_coverage(page))  # the what-if map waits for a station to be picked
    assert len(_layer(coverage_map, "coverage")["data"]) == 1728
    assert "over 6 minutes" in _texts(page)


def test_changing_the_measure_changes_the_ranking(page):
    before = page.dataframe[0].value["Code"].tolist()
    page.selectbox(key="stations_measure").set_value("Share within 6 minutes").run()
    table = page.dataframe[0].value
    assert table["Code"].tolist() != before
    assert table["Within 6 min"].dropna().is_monotonic_increasing  # worst (lowest share) first
    colours = [s["colour"] for s in _layer(_decks(page)[0], "stations")["data"]]
    page.selectbox(key="stations_measure").set_value("Model's mean error (MAE)").run()
    assert not page.exception and page.dataframe[0].value["MAE s"].dropna().is_monotonic_decreasing
    assert [s["colour"] for s in _layer(_decks(page)[0], "stations")["data"]] != colours


def test_filters_change_the_figures(page):
    pumps = page.dataframe[0].value["Pumps"].sum()
    page.toggle(key="stations_first").set_value(True).run()
    first = page.dataframe[0].value["Pumps"].sum()
    page.selectbox(key="stations_group").set_value("Fire").run()
    fire = page.dataframe[0].value["Pumps"].sum()
    assert pumps > first > fire > 0 and not page.exception


def test_a_station_searched_is_selected_on_the_map_in_the_table_and_in_the_chart(page):
    page.selectbox(key="stations_pick").set_value("A21").run()
    assert page.session_state["stations_selected"] == "A21"
    assert [s["station_code"] for s in _layer(_decks(page)[0], "selected")["data"]] == ["A21"]
    codes = page.dataframe[0].value["Code"].tolist()
    assert page.session_state["stations_table"]["selection"]["rows"] == [codes.index("A21")]
    assert "**Paddington** (A21)" in _texts(page)
    page.selectbox(key="stations_measure").set_value("Share within 6 minutes").run()  # the row follows
    codes = page.dataframe[0].value["Code"].tolist()
    assert page.session_state["stations_table"]["selection"]["rows"] == [codes.index("A21")]


def test_the_what_if_shows_what_london_loses(page):
    page = _coverage(page)
    assert any("Pick a station made unavailable" in i.value for i in page.info)
    page.selectbox(key="coverage_removed").set_value("A21")
    page.button[0].click().run()
    assert not page.exception and not page.error
    text = _texts(page)
    assert "**Without Paddington (A21)**" in text and "cells get slower" in text and "newly over 6 minutes" in text
    slower = int(re.search(r"\*\*: ([\d,]+) cells get slower", text).group(1).replace(",", ""))
    assert 0 < slower == len(_layer(_decks(page)[0], "what_if")["data"])  # on the page's one map
    page.radio(key="coverage_shows").set_value("arrival times").run()
    assert len(_layer(_decks(page)[0], "coverage")["data"]) == 1728  # only the cells that get slower are drawn


def test_without_a_model_the_page_says_how_to_get_one(trained_copy, monkeypatch):
    settings, db, _ = trained_copy
    db.execute("DELETE FROM aliases")  # no champion
    db.close()
    at = _page(monkeypatch, settings)
    assert len(_decks(at)) == 1 and len(at.dataframe[0].value) == 102  # the records still show
    at.selectbox(key="stations_measure").set_value("Model's bias (actual − estimate)").run()
    assert not at.exception and "python -m lfb train" in "\n".join(e.value for e in at.error)
    at = _coverage(at)
    assert "python -m lfb train" in "\n".join(e.value for e in at.error) and not _decks(at)


def test_an_empty_store_says_how_to_load_data(settings, monkeypatch):
    at = _page(monkeypatch, settings)
    assert "python -m lfb setup" in "\n".join(e.value for e in at.error)
    assert not at.get("deck_gl_json_chart")
    at = _coverage(at)
    assert "python -m lfb train" in "\n".join(e.value for e in at.error) and not at.get("deck_gl_json_chart")
