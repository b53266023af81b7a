"""Map layers: valid compact GeoJSON, the London view, and which borough a point lies in."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lfb.data import reference
from lfb.data.reference import REFERENCE_DIR
from lfb.geo.grid import bng_to_wgs84
from lfb.geo.layers import (BOROUGHS_FILE, LAYER_ATTRIBUTION, THAMES_FILE, borough_codes_at, borough_layer,
                            london_bounds, london_outline, london_view, thames_layer)
from lfb.geo.postcodes import postcode_table

LONDON_BOX = (-0.6, 51.2, 0.4, 51.8)  # west, south, east, north: generously around Greater London


def _rings(geometry: dict) -> list[list[list[float]]]:
    """Every ring of a Polygon or MultiPolygon."""
    assert geometry["type"] in ("Polygon", "MultiPolygon")
    polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    return [ring for polygon in polygons for ring in polygon]


def _assert_valid_area_layer(layer: dict) -> None:
    """A GeoJSON FeatureCollection of closed rings inside London, with its source and attribution."""
    assert layer["type"] == "FeatureCollection" and layer["features"]
    assert layer["source"] and layer["attribution"] == LAYER_ATTRIBUTION
    west, south, east, north = LONDON_BOX
    for feature in layer["features"]:
        assert feature["type"] == "Feature" and feature["properties"]["name"]
        for ring in _rings(feature["geometry"]):
            assert len(ring) >= 4 and ring[0] == ring[-1]
            assert all(a != b for a, b in zip(ring[:-1], ring[1:]))  # no repeated points
            xy = np.asarray(ring, float)
            assert xy.shape[1] == 2
            assert ((xy[:, 0] > west) & (xy[:, 0] < east) & (xy[:, 1] > south) & (xy[:, 1] < north)).all()
            assert np.allclose(xy, np.round(xy, 5), rtol=0, atol=1e-12)  # 5 decimals at most


@pytest.mark.parametrize("layer", [borough_layer, thames_layer, london_outline])
def test_layers_are_valid_geojson(layer):
    _assert_valid_area_layer(layer())


def test_layer_files_are_compact_json_with_source():
    total = 0
    for name in (BOROUGHS_FILE, THAMES_FILE):
        path = REFERENCE_DIR / name
        text = path.read_text(encoding="utf-8")
        assert json.loads(text)["source"].startswith("London Datastore, Statistical GIS Boundary Files")
        total += path.stat().st_size
    assert total < 200_000


def test_boroughs_layer_has_the_33_boroughs():
    features = borough_layer()["features"]
    table = reference.boroughs().set_index("gss_code")
    assert sorted(f["properties"]["gss_code"] for f in features) == sorted(table.index)
    for f in features:
        row = table.loc[f["properties"]["gss_code"]]
        assert f["properties"]["name"] == row["name"] and f["properties"]["inner"] == bool(row.inner)


def test_outline_is_the_unshared_borough_edges():
    rings = london_outline()["features"][0]["geometry"]["coordinates"]
    assert len(rings) == 1  # Greater London is one piece without holes
    borough_points = {tuple(p) for f in borough_layer()["features"] for r in _rings(f["geometry"]) for p in r}
    assert {tuple(p) for p in rings[0]} <= borough_points
    xy = np.asarray([p for p in borough_points])
    assert london_bounds() == (xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max())


@pytest.mark.parametrize("lat, lon, code", [
    (51.5007, -0.1246, "E09000033"),   # Westminster: the Palace of Westminster
    (51.5033, -0.0196, "E09000030"),   # Tower Hamlets: Canary Wharf
    (51.5081, -0.0759, "E09000030"),   # Tower of London
    (51.5138, -0.0984, "E09000001"),   # City of London: St Paul's
    (51.3762, -0.0982, "E09000008"),   # Croydon town centre
    (51.4700, -0.4543, "E09000017"),   # Heathrow, Hillingdon
    (51.5768, 0.1801, "E09000016"),    # Romford, Havering
    (51.4769, -0.0005, "E09000011"),   # Royal Observatory, Greenwich
    (51.5560, -0.2796, "E09000005"),   # Wembley Stadium, Brent
    (52.2, 0.12, None),                # Cambridge
    (51.6565, -0.3903, None),          # Watford
    (48.8566, 2.3522, None),           # Paris
    (float("nan"), float("nan"), None),
])
def test_borough_of_well_known_points(lat, lon, code):
    assert borough_codes_at(lat, lon).tolist() == [code]


def test_borough_polygons_agree_with_the_postcodes_boroughs():
    table = postcode_table()
    codes = borough_codes_at(table.latitude.to_numpy(), table.longitude.to_numpy())
    assert len(codes) == len(table)
    assert (codes == table.borough_code.to_numpy()).mean() > 0.999


def test_borough_polygons_agree_with_most_london_cells():
    cells = reference.london_cells()
    cells = cells[cells.incidents > 0]
    lat, lon = bng_to_wgs84(cells.easting + 500, cells.northing + 500)  # cell centres
    codes = borough_codes_at(lat, lon)
    assert np.mean([c is not None for c in codes]) > 0.98
    assert (codes == cells.borough_code.to_numpy()).mean() > 0.9  # border cells take their incidents' main borough


def _pixels(west: float, south: float, east: float, north: float, zoom: float) -> tuple[float, float]:
    """Width and height in pixels of a box on a 512-pixel-tile Web Mercator map at `zoom`."""
    y = lambda lat: math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))  # noqa: E731
    scale = 512 * 2 ** zoom / (2 * math.pi)
    return math.radians(east - west) * scale, (y(north) - y(south)) * scale


@pytest.mark.parametrize("width, height", [(800, 600), (400, 700), (1200, 500)])
def test_london_view_fits_london(width, height):
    view = london_view(width, height)
    west, south, east, north = london_bounds()
    assert west < view["longitude"] < east and south < view["latitude"] < north
    w, h = _pixels(west, south, east, north, view["zoom"])
    assert w <= width and h <= height and (w > 0.75 * width or h > 0.75 * height)  # fits, without wasting the map


# ---- checks against the source files (developers and CI only) ------------------------------

def test_outline_matches_the_source_outline(shared_data: Path):
    source = json.loads((shared_data / "greater_london_outline.geojson").read_text(encoding="utf-8"))
    edges = lambda ring: {frozenset((tuple(a), tuple(b))) for a, b in zip(ring[:-1], ring[1:])}  # noqa: E731
    ours = london_outline()["features"][0]["geometry"]["coordinates"][0]
    theirs = [[round(x, 5), round(y, 5)] for x, y in _rings(source["features"][0]["geometry"])[0]]
    assert edges(ours) == edges(theirs)


def test_each_borough_holds_the_centroid_of_its_postcodes(shared_data: Path):
    pc = pd.read_csv(shared_data / "london_postcodes.csv", usecols=["latitude", "longitude", "in_use", "borough_code"])
    centre = pc[pc.in_use == 1].groupby("borough_code")[["latitude", "longitude"]].mean()
    assert len(centre) == 33
    assert borough_codes_at(centre.latitude, centre.longitude).tolist() == centre.index.tolist()


def test_cell_squares_are_closed_national_grid_squares():
    from lfb.geo.grid import wgs84_to_bng
    from lfb.geo.layers import cell_squares

    rings = cell_squares([530000, 502000], [180000, 174000])
    assert rings.shape == (2, 5, 2) and (rings[:, 0] == rings[:, -1]).all()
    e, n = wgs84_to_bng(rings[0, :4, 1], rings[0, :4, 0])
    assert e == pytest.approx([530000, 531000, 531000, 530000], abs=1.5)  # 5 decimals: about a metre
    assert n == pytest.approx([180000, 180000, 181000, 181000], abs=1.5)


def test_a_view_of_a_small_box_zooms_in_on_it_within_a_limit():
    from lfb.geo.layers import view_of

    box = (-0.20, 51.50, -0.16, 51.53)
    view = view_of(box, 500, 400)
    assert view["longitude"] == pytest.approx(-0.18) and 51.50 < view["latitude"] < 51.53
    assert view["zoom"] > london_view(500, 400)["zoom"] + 2
    assert view_of((-0.18, 51.52, -0.18, 51.52), 500, 400, max_zoom=13)["zoom"] == 13  # one point: the limit
