"""Maps for the app's pages, drawn with pydeck and no tile server: London's boroughs and the Thames are the base.

Nothing here imports Streamlit: pages pass the decks to st.pydeck_chart. A tile basemap is used only when
LFB_MAP_STYLE names one (a pydeck style name such as 'light', a style URL, or a mapbox:// style).

Colours: the seconds scale runs bluish green (at or under 5 minutes), amber (6 minutes, the LFB target), red (8)
and dark crimson (10 and over). It is read by lightness as well as hue, so it survives the common colour-vision
deficiencies (green and red are never the only difference: amber is the lightest, crimson the darkest).
"""
from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pydeck as pdk
from numpy.typing import ArrayLike
from pydeck.bindings.json_tools import default_serialize

from lfb.config import get_settings
from lfb.geo.layers import LAYER_ATTRIBUTION, borough_layer, london_outline, london_view, thames_layer, view_of

RGB = tuple[int, int, int]
Stops = Sequence[tuple[float, RGB]]

NO_DATA: RGB = (170, 170, 170)
SECONDS_STOPS: Stops = ((300.0, (0, 158, 115)), (360.0, (240, 178, 0)), (480.0, (213, 62, 40)),
                        (600.0, (110, 18, 60)))
SHARE_STOPS: Stops = ((0.45, (110, 18, 60)), (0.6, (213, 62, 40)), (0.75, (240, 178, 0)), (0.9, (0, 158, 115)))
ERROR_STOPS: Stops = ((40.0, (0, 158, 115)), (70.0, (240, 178, 0)), (100.0, (213, 62, 40)), (140.0, (110, 18, 60)))
BIAS_STOPS: Stops = ((-60.0, (0, 114, 178)), (0.0, (225, 225, 225)), (60.0, (213, 62, 40)))
INCREASE_STOPS: Stops = ((0.0, (254, 232, 200)), (60.0, (240, 150, 40)), (180.0, (200, 40, 40)),
                         (300.0, (90, 10, 50)))

BOROUGH_FILL: list[int] = [236, 234, 226, 255]
BOROUGH_LINE: list[int] = [255, 255, 255, 255]
THAMES_FILL: list[int] = [110, 165, 215, 255]
OUTLINE_LINE: list[int] = [110, 110, 110, 255]
CARTO_ATTRIBUTION = "Basemap (c) OpenStreetMap contributors (c) CARTO"
MAPBOX_ATTRIBUTION = "Basemap (c) Mapbox (c) OpenStreetMap contributors"


def boroughs_layer() -> pdk.Layer:
    """Return the 33 boroughs as a light filled layer with thin white edges."""
    return pdk.Layer("GeoJsonLayer", borough_layer(), id="boroughs", pickable=False, filled=True, stroked=True,
                     get_fill_color=BOROUGH_FILL, get_line_color=BOROUGH_LINE, line_width_min_pixels=1,
                     get_line_width=0)


def thames() -> pdk.Layer:
    """Return the tidal Thames in blue (draw it over anything that covers the river)."""
    return pdk.Layer("GeoJsonLayer", thames_layer(), id="thames", pickable=False, filled=True, stroked=False,
                     get_fill_color=THAMES_FILL)


def outline() -> pdk.Layer:
    """Return Greater London's outline as a thin grey line."""
    return pdk.Layer("GeoJsonLayer", london_outline(), id="outline", pickable=False, filled=False, stroked=True,
                     get_line_color=OUTLINE_LINE, line_width_min_pixels=1.5, get_line_width=0)


def base_layers() -> list[pdk.Layer]:
    """Return the map base with no tile server: boroughs, the Thames over them, London's outline."""
    return [boroughs_layer(), thames(), outline()]


def _provider(style: str) -> str:
    """Return the pydeck map provider that serves a map style."""
    return "mapbox" if style.startswith("mapbox://") else "carto"


class CompactDeck(pdk.Deck):
    """A pydeck Deck whose JSON has no indentation (pydeck indents it, which triples a map's size on the wire)."""

    def to_json(self) -> str:
        """Return the deck as compact JSON."""
        return json.dumps(self, sort_keys=True, default=default_serialize, separators=(",", ":"))


def london_view_state(width_px: int = 640, height_px: int = 450) -> pdk.ViewState:
    """Return a view that fits Greater London in a map of about this size (err on the small side)."""
    return pdk.ViewState(**london_view(width_px, height_px))


def view_around(longitudes: ArrayLike, latitudes: ArrayLike, width_px: int = 640, height_px: int = 450,
                max_zoom: float = 11.0) -> pdk.ViewState:
    """Return a view that fits these points (with a margin), no closer than `max_zoom`; London if there are none."""
    lon, lat = np.asarray(longitudes, float), np.asarray(latitudes, float)
    if not len(lon):
        return london_view_state(width_px, height_px)
    bounds = (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))
    return pdk.ViewState(**view_of(bounds, width_px, height_px, padding=0.25, max_zoom=max_zoom))


def make_deck(layers: Sequence[pdk.Layer], view: pdk.ViewState | None = None, tooltip: Mapping[str, Any] | None = None,
              map_style: str | None = None) -> pdk.Deck:
    """Return a deck of `layers` over London; a tile basemap only when `map_style` (default LFB_MAP_STYLE) is set."""
    style = get_settings().map_style if map_style is None else map_style
    view = view or london_view_state()
    tip: Any = dict(tooltip) if tooltip else False
    if not style:
        # Leave map_style unset: pydeck then writes its "no style" marker, which Streamlit honours. An explicit
        # map_style=None makes Streamlit put a CARTO basemap under the deck.
        return CompactDeck(layers=list(layers), initial_view_state=view, tooltip=tip, map_provider=None)
    return CompactDeck(layers=list(layers), initial_view_state=view, tooltip=tip, map_provider=_provider(style),
                       map_style=style)


def attribution(map_style: str | None = None) -> str:
    """Return the text to show under a map: the layers' sources, and the basemap's when one is used."""
    style = get_settings().map_style if map_style is None else map_style
    if not style:
        return LAYER_ATTRIBUTION
    return f"{LAYER_ATTRIBUTION}. {MAPBOX_ATTRIBUTION if _provider(style) == 'mapbox' else CARTO_ATTRIBUTION}"


def ramp(values: ArrayLike, stops: Stops) -> np.ndarray:
    """Return an RGB colour (n x 3 ints) for each value, interpolated between the stops; grey where missing."""
    v = np.asarray(values, dtype=float)
    xs = np.array([s[0] for s in stops], float)
    colours = np.array([s[1] for s in stops], float)
    out = np.column_stack([np.interp(v, xs, colours[:, i]) for i in range(3)])
    out[~np.isfinite(v)] = NO_DATA
    return np.rint(out).astype(int)


def seconds_colours(seconds: ArrayLike) -> np.ndarray:
    """Return the colour of each attendance time in seconds (green fast, amber at 6 minutes, red slow)."""
    return ramp(seconds, SECONDS_STOPS)


def minutes_text(seconds: float) -> str:
    """Return seconds as m:ss (or '-' when missing)."""
    if seconds is None or not np.isfinite(seconds):
        return "-"
    total = int(round(float(seconds)))
    sign = "-" if total < 0 else ""
    return f"{sign}{abs(total) // 60}:{abs(total) % 60:02d}"


def legend_items(stops: Stops, label: Callable[[float], str]) -> list[tuple[RGB, str]]:
    """Return one legend entry per stop of a colour scale, the ends marked as 'or less' / 'or more'."""
    items = []
    for i, (value, colour) in enumerate(stops):
        text = label(value)
        if i == 0:
            text = f"≤ {text}"
        elif i == len(stops) - 1:
            text = f"≥ {text}"
        items.append((colour, text))
    return items


def legend_html(items: Sequence[tuple[RGB, str]], title: str = "", ring: str = "",
                ring_colour: RGB = (120, 40, 160)) -> str:
    """Return a one-line HTML legend: coloured swatches with labels, and optionally the meaning of a ring."""
    parts = [f"<b>{html.escape(title)}</b>"] if title else []
    for (r, g, b), text in items:
        parts.append(f'<span><span style="display:inline-block;width:0.9em;height:0.9em;border-radius:2px;'
                     f'background:rgb({r},{g},{b});vertical-align:-0.1em;margin-right:0.25em"></span>'
                     f'{html.escape(text)}</span>')
    if ring:
        parts.append('<span><span style="display:inline-block;width:0.8em;height:0.8em;border-radius:50%;'
                     f'border:2px solid rgb{tuple(ring_colour)};vertical-align:-0.1em;margin-right:0.25em"></span>'
                     f'{html.escape(ring)}</span>')
    return ('<div style="display:flex;flex-wrap:wrap;gap:0.3em 0.9em;font-size:0.8rem;align-items:center">'
            + "".join(parts) + "</div>")


def picked(selection: Mapping[str, Any] | None, layer_id: str) -> dict[str, Any] | None:
    """Return the object picked in layer `layer_id` of a pydeck selection event (None when nothing is)."""
    if not selection:
        return None
    objects = (selection.get("selection") or {}).get("objects") or {}
    found = objects.get(layer_id) or []
    return dict(found[0]) if found else None
