"""Map helpers: no tile server unless configured, London's base layers, the colour scales and legends."""
import json

import numpy as np
import pytest

from lfb.config import get_settings
from lfb.geo.layers import LAYER_ATTRIBUTION
from ui import maps


def _spec(deck) -> dict:
    return json.loads(deck.to_json())


def test_no_basemap_unless_one_is_configured(monkeypatch):
    monkeypatch.delenv("LFB_MAP_STYLE", raising=False)
    spec = _spec(maps.make_deck(maps.base_layers()))
    # pydeck's "no style" marker: Streamlit then draws no basemap (an absent or null style makes it add CARTO's)
    assert spec["mapStyle"] == "__MAP_STYLE__" and "mapProvider" not in spec
    assert "cartocdn" not in json.dumps(spec) and "mapbox" not in json.dumps(spec)
    assert maps.attribution() == LAYER_ATTRIBUTION


def test_a_configured_basemap_is_used_with_its_provider(monkeypatch):
    monkeypatch.setenv("LFB_MAP_STYLE", "light")
    assert get_settings().map_style == "light"
    spec = _spec(maps.make_deck([]))
    assert spec["mapProvider"] == "carto" and "positron" in spec["mapStyle"]
    assert "CARTO" in maps.attribution() and maps.attribution().startswith(LAYER_ATTRIBUTION)
    mapbox = _spec(maps.make_deck([], map_style="mapbox://styles/mapbox/light-v9"))
    assert mapbox["mapProvider"] == "mapbox" and mapbox["mapStyle"] == "mapbox://styles/mapbox/light-v9"
    assert "Mapbox" in maps.attribution("mapbox://styles/mapbox/light-v9")


def test_base_layers_draw_boroughs_then_the_thames_then_the_outline():
    spec = _spec(maps.make_deck(maps.base_layers()))
    layers = spec["layers"]
    assert [layer["id"] for layer in layers] == ["boroughs", "thames", "outline"]
    assert all(layer["@@type"] == "GeoJsonLayer" and layer["pickable"] is False for layer in layers)
    assert len(layers[0]["data"]["features"]) == 33 and layers[0]["filled"] is True
    blue = layers[1]["getFillColor"]
    assert blue[2] > blue[0] and blue[2] > blue[1]  # the river is blue
    assert 51.3 < spec["initialViewState"]["latitude"] < 51.7 and 8 < spec["initialViewState"]["zoom"] < 12


def test_tooltips_are_passed_on_and_off_by_default():
    with_tip = maps.make_deck([], tooltip={"text": "{tip}"})
    assert with_tip._tooltip == {"text": "{tip}"} and maps.make_deck([])._tooltip is False


def test_seconds_colours_run_green_amber_red_and_grey_when_missing():
    green, amber, red, dark, none = maps.seconds_colours([200, 360, 480, 900, np.nan]).tolist()
    assert green == [0, 158, 115] and amber == [240, 178, 0] and red == [213, 62, 40]
    assert sum(dark) < sum(red) < sum(amber)  # darker as it gets slower, readable without hue
    assert none == list(maps.NO_DATA)
    mid = maps.seconds_colours([330]).tolist()[0]
    assert mid == [120, 168, 58]  # halfway between green and amber


def test_every_scale_is_ordered():
    for stops in (maps.SECONDS_STOPS, maps.SHARE_STOPS, maps.ERROR_STOPS, maps.BIAS_STOPS, maps.INCREASE_STOPS):
        values = [v for v, _ in stops]
        assert values == sorted(values)


def test_minutes_text():
    assert [maps.minutes_text(v) for v in (0, 59.6, 360, 425, -75, np.nan)] == \
        ["0:00", "1:00", "6:00", "7:05", "-1:15", "-"]


def test_legend_lists_each_stop_and_the_ring():
    items = maps.legend_items(maps.SECONDS_STOPS, maps.minutes_text)
    assert [text for _, text in items] == ["≤ 5:00", "6:00", "8:00", "≥ 10:00"]
    html = maps.legend_html(items, "Median <attendance>", ring="flagged")
    assert "rgb(240,178,0)" in html and "≥ 10:00" in html and "flagged" in html
    assert "&lt;attendance&gt;" in html  # text is escaped


def test_picked_reads_a_pydeck_selection_event():
    event = {"selection": {"indices": {"stations": [3]},
                           "objects": {"stations": [{"station_code": "A21", "station_name": "Paddington"}]}}}
    assert maps.picked(event, "stations") == {"station_code": "A21", "station_name": "Paddington"}
    assert maps.picked(event, "cells") is None
    assert maps.picked({"selection": {"indices": {}, "objects": {}}}, "stations") is None
    assert maps.picked(None, "stations") is None


@pytest.mark.parametrize("module", ["ui.maps", "lfb.data.station_stats", "lfb.model.coverage",
                                    "lfb.model.station_errors"])
def test_helpers_and_library_do_not_import_streamlit(module):
    import subprocess
    import sys
    from pathlib import Path

    code = f"import sys, {module}; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "False"


def test_decks_travel_as_compact_json():
    deck = maps.make_deck(maps.base_layers(), tooltip={"text": "{tip}"})
    compact = deck.to_json()
    indented = json.dumps(json.loads(compact), indent=2)
    assert "\n" not in compact and len(compact) < len(indented) / 2
    assert json.loads(compact)["layers"][0]["id"] == "boroughs"


def test_a_view_around_points_fits_them_and_falls_back_to_london():
    view = maps.view_around([-0.20, -0.16], [51.50, 51.53], 500, 400)
    assert -0.20 < view.longitude < -0.16 and 51.50 < view.latitude < 51.53
    assert view.zoom > maps.london_view_state(500, 400).zoom
    assert maps.view_around([], [], 500, 400).zoom == maps.london_view_state(500, 400).zoom


def test_a_ring_in_the_legend_takes_its_colour():
    assert "rgb(0, 90, 200)" in maps.legend_html([], ring="unavailable", ring_colour=(0, 90, 200))
