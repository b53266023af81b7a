"""One selected item shared by a pydeck map, a table and a search box, kept in session state.

Streamlit-free: it works on any mutable mapping, so pages pass st.session_state and tests a dict. The map and the
table report clicks through their callbacks (on_map, on_table), the search box through on_pick; before drawing,
the page lines each element up with the selection: the search box's value and the table's selected row are set
through session state; a map's own selection cannot be set, so a map that still shows another item is given a new
key, which clears it.
"""
from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from ui.maps import picked


@dataclass
class SharedSelection:
    """The selected item (e.g. a station code) of one page, under session keys starting with `name`."""

    state: MutableMapping[str, Any]
    name: str
    field: str = "station_code"  # the property of a map object that names the item

    @property
    def selected(self) -> str | None:
        """Return the selected item, or None."""
        return self.state.get(f"{self.name}_selected")

    @property
    def pick_key(self) -> str:
        """Return the session key of the search box."""
        return f"{self.name}_pick"

    @property
    def table_key(self) -> str:
        """Return the session key of the table."""
        return f"{self.name}_table"

    def choose(self, item: str | None) -> None:
        """Make `item` the selection (nothing happens for None or '')."""
        if item:
            self.state[f"{self.name}_selected"] = item

    def default(self, item: str) -> None:
        """Select `item` if nothing is selected yet."""
        if not self.selected:
            self.choose(item)

    def on_map(self, key: str, layer_id: str) -> None:
        """Select the object picked in a map layer (a click on empty ground keeps the selection)."""
        obj = picked(self.state.get(key), layer_id)
        self.choose(str(obj[self.field]) if obj and obj.get(self.field) else None)

    def on_table(self, items: Sequence[str]) -> None:
        """Select the item of the table row picked; `items` are the table's rows in the order shown."""
        event = self.state.get(self.table_key) or {}
        rows = list((event.get("selection") or {}).get("rows") or [])
        self.choose(items[rows[0]] if rows and 0 <= rows[0] < len(items) else None)

    def on_pick(self) -> None:
        """Select the item chosen in the search box."""
        self.choose(self.state.get(self.pick_key))

    def sync_pick(self, options: Sequence[str]) -> None:
        """Show the selection in the search box (when it is one of its options)."""
        if self.selected in options and self.state.get(self.pick_key) != self.selected:
            self.state[self.pick_key] = self.selected

    def sync_table(self, items: Sequence[str]) -> None:
        """Select the selection's row in a table about to show `items` in that order."""
        rows = [list(items).index(self.selected)] if self.selected in items else []
        event = self.state.get(self.table_key) or {}
        if list((event.get("selection") or {}).get("rows") or []) != rows:
            self.state[self.table_key] = {"selection": {"rows": rows, "columns": [], "cells": []}}

    def map_key(self, layer_id: str) -> str:
        """Return the key to draw the map with: a new one when the map still shows another item as picked."""
        generation_key = f"{self.name}_map_generation"
        generation = int(self.state.get(generation_key, 0))
        obj = picked(self.state.get(f"{self.name}_map_{generation}"), layer_id)
        if obj and str(obj.get(self.field)) != self.selected:
            generation += 1
            self.state[generation_key] = generation
        return f"{self.name}_map_{generation}"
