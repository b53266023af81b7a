"""One selected station shared by the map, the table and the search box (on a plain dict as session state)."""
from ui.selection import SharedSelection


def _map_event(code: str | None) -> dict:
    objects = {"stations": [{"station_code": code, "station_name": "x"}]} if code else {}
    return {"selection": {"indices": {"stations": [0]} if code else {}, "objects": objects}}


def test_a_map_click_selects_everywhere():
    state: dict = {}
    sel = SharedSelection(state, "st")
    sel.default("A21")
    key = sel.map_key("stations")
    state[key] = _map_event("E42")  # what Streamlit stores when the station is clicked
    sel.on_map(key, "stations")
    assert sel.selected == "E42"
    sel.sync_pick(["A21", "E42"])
    sel.sync_table(["A21", "B22", "E42"])
    assert state[sel.pick_key] == "E42" and state[sel.table_key]["selection"]["rows"] == [2]
    assert sel.map_key("stations") == key  # the map shows the same station: it keeps its key (and its view)


def test_a_click_on_empty_ground_keeps_the_selection():
    state: dict = {}
    sel = SharedSelection(state, "st")
    sel.choose("A21")
    key = sel.map_key("stations")
    state[key] = _map_event(None)
    sel.on_map(key, "stations")
    assert sel.selected == "A21"


def test_a_table_row_selects_the_station_shown_in_it_and_clears_the_maps_own_pick():
    state: dict = {}
    sel = SharedSelection(state, "st")
    key = sel.map_key("stations")
    state[key] = _map_event("E42")
    sel.on_map(key, "stations")
    shown = ["F40", "A21", "E42"]
    state[sel.table_key] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    sel.on_table(shown)
    assert sel.selected == "A21"
    new_key = sel.map_key("stations")
    assert new_key != key and new_key not in state  # a fresh map: no stale pick of E42
    sel.sync_table(["A21", "F40"])  # another order (e.g. another measure): the row follows the station
    assert state[sel.table_key]["selection"]["rows"] == [0]


def test_the_search_box_selects_and_an_unknown_option_is_not_forced_on_it():
    state: dict = {}
    sel = SharedSelection(state, "st")
    state[sel.pick_key] = "F40"
    sel.on_pick()
    assert sel.selected == "F40"
    sel.sync_table(["A21", "F40"])
    assert state[sel.table_key]["selection"]["rows"] == [1]
    sel.choose("ZZZ")
    sel.sync_pick(["A21", "F40"])
    assert state[sel.pick_key] == "F40"
    sel.sync_table(["A21", "F40"])
    assert state[sel.table_key]["selection"]["rows"] == []  # a station the table does not show: no row


def test_an_empty_table_event_changes_nothing():
    state: dict = {"st_table": {"selection": {"rows": [], "columns": [], "cells": []}}}
    sel = SharedSelection(state, "st")
    sel.choose("A21")
    sel.on_table(["E42"])
    sel.default("E42")
    assert sel.selected == "A21"
