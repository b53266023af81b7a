"""Compact map layers for a map with no tile server: London's boroughs, the tidal Thames, the London outline.

The GeoJSON files in lfb/data/tables/ (built by tools/build_reference.py) are WGS84, coordinates rounded to
5 decimals, with top-level "source" and "attribution" members. The outline is derived from the boroughs (their
edges that no two boroughs share), so it is not stored twice. The borough polygons reach into the river (a
point on the water still lies in a borough), so draw the Thames over them. The layers returned here are cached
and shared by every caller: read them, do not modify them.
"""
from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike

from lfb.data.reference import REFERENCE_DIR
from lfb.geo.grid import bng_to_wgs84

LAYER_ATTRIBUTION = ("Borough boundaries and the tidal Thames: London Datastore, Statistical GIS Boundary Files for "
                     "London (London_Borough_Excluding_MHW); GLA, OS and ONS data, Open Government Licence. Contains "
                     "National Statistics data (c) Crown copyright and database right; Contains OS data (c) Crown "
                     "copyright and database right")
BOROUGHS_FILE, THAMES_FILE = "london_boroughs.geojson", "thames.geojson"
_TILE_PX = 512  # deck.gl / pydeck (math.gl web-mercator): the world is 512 * 2**zoom pixels wide


@lru_cache(maxsize=None)
def _layer(name: str) -> dict:
    """Return one shipped GeoJSON layer, parsed once per process."""
    return json.loads((REFERENCE_DIR / name).read_text(encoding="utf-8"))


def borough_layer() -> dict:
    """Return the 33 London boroughs as a GeoJSON FeatureCollection (properties name, gss_code, inner)."""
    return _layer(BOROUGHS_FILE)


def thames_layer() -> dict:
    """Return the tidal Thames within Greater London as a GeoJSON FeatureCollection (draw it over the boroughs)."""
    return _layer(THAMES_FILE)


def _rings(geometry: dict) -> list[list[list[float]]]:
    """Return every linear ring of a Polygon or MultiPolygon geometry."""
    if geometry["type"] == "Polygon":
        return list(geometry["coordinates"])
    if geometry["type"] == "MultiPolygon":
        return [ring for polygon in geometry["coordinates"] for ring in polygon]
    raise ValueError(f"not an area geometry: {geometry['type']}")


def _ring_area(ring: list[list[float]]) -> float:
    """Return the unsigned shoelace area of a ring, in square degrees."""
    xy = np.asarray(ring, float)
    return abs(float(np.dot(xy[:-1, 0], xy[1:, 1]) - np.dot(xy[1:, 0], xy[:-1, 1]))) / 2


def _outer_edge_rings() -> list[list[list[float]]]:
    """Return the closed rings made of the borough edges that no two boroughs share, largest first."""
    count: Counter = Counter()
    for feature in borough_layer()["features"]:
        for ring in _rings(feature["geometry"]):
            count.update(frozenset((tuple(a), tuple(b))) for a, b in zip(ring[:-1], ring[1:]))
    neighbours: dict[tuple, list[tuple]] = defaultdict(list)
    for edge, n in count.items():
        if n == 1:
            a, b = tuple(edge)
            neighbours[a].append(b)
            neighbours[b].append(a)
    rings = []
    while neighbours:
        here = start = min(neighbours)
        ring = [start]
        while True:  # walk the unused edges until back at the start
            step = neighbours[here].pop()
            neighbours[step].remove(here)
            for point in (here, step):
                if not neighbours[point]:
                    del neighbours[point]
            ring.append(step)
            here = step
            if here == start:
                break
        rings.append([list(p) for p in ring])
    return sorted(rings, key=_ring_area, reverse=True)


@lru_cache(maxsize=1)
def london_outline() -> dict:
    """Return the outline of Greater London (the 33 boroughs merged) as a GeoJSON FeatureCollection.

    The largest ring is the outer edge; any other ring would be a hole (London has none).
    """
    boroughs = borough_layer()
    feature = {"type": "Feature", "properties": {"name": "Greater London"},
               "geometry": {"type": "Polygon", "coordinates": _outer_edge_rings()}}
    return {"type": "FeatureCollection", "name": "london_outline",
            "source": f"derived from {BOROUGHS_FILE}: the borough edges that no two boroughs share; "
                      + boroughs["source"], "attribution": boroughs["attribution"], "features": [feature]}


@lru_cache(maxsize=1)
def london_bounds() -> tuple[float, float, float, float]:
    """Return Greater London's bounding box as (west, south, east, north) in degrees."""
    points = np.concatenate([np.asarray(r, float) for f in london_outline()["features"] for r in _rings(f["geometry"])])
    return (float(points[:, 0].min()), float(points[:, 1].min()), float(points[:, 0].max()), float(points[:, 1].max()))


def _mercator_y(latitude: float) -> float:
    """Return the Web Mercator y (radians) of a latitude in degrees."""
    return math.log(math.tan(math.pi / 4 + math.radians(latitude) / 2))


def view_of(bounds: tuple[float, float, float, float], width_px: int = 800, height_px: int = 600,
            padding: float = 0.05, max_zoom: float = 20.0) -> dict[str, float]:
    """Return a pydeck view (latitude, longitude, zoom) that fits a (west, south, east, north) box in a map."""
    west, south, east, north = bounds
    span_x = max(math.radians(east - west), 1e-9) * (1 + 2 * padding)
    span_y = max(_mercator_y(north) - _mercator_y(south), 1e-9) * (1 + 2 * padding)
    zoom = min(math.log2(width_px * 2 * math.pi / (_TILE_PX * span_x)),
               math.log2(height_px * 2 * math.pi / (_TILE_PX * span_y)), max_zoom)
    mid_y = (_mercator_y(north) + _mercator_y(south)) / 2
    latitude = math.degrees(2 * math.atan(math.exp(mid_y)) - math.pi / 2)
    return {"latitude": round(latitude, 5), "longitude": round((west + east) / 2, 5), "zoom": round(zoom, 2)}


def london_view(width_px: int = 800, height_px: int = 600, padding: float = 0.05) -> dict[str, float]:
    """Return a pydeck view (latitude, longitude, zoom) that fits Greater London in a map of the given size."""
    return view_of(london_bounds(), width_px, height_px, padding)


@lru_cache(maxsize=1)
def _borough_shapes() -> tuple[tuple[str, tuple[float, float, float, float], tuple], ...]:
    """Return each borough's GSS code, bounding box and rings as matplotlib paths, for point-in-polygon tests."""
    from matplotlib.path import Path  # a dependency of catboost; imported only when needed

    shapes = []
    for feature in borough_layer()["features"]:
        rings = [np.asarray(r, float) for r in _rings(feature["geometry"])]
        points = np.concatenate(rings)
        box = (points[:, 0].min(), points[:, 1].min(), points[:, 0].max(), points[:, 1].max())
        shapes.append((feature["properties"]["gss_code"], box, tuple(Path(r, closed=True) for r in rings)))
    return tuple(shapes)


def borough_codes_at(latitude: ArrayLike, longitude: ArrayLike) -> np.ndarray:
    """Return the GSS code of the borough each WGS84 point lies in (None outside Greater London)."""
    lat = np.atleast_1d(np.asarray(latitude, float))
    lon = np.atleast_1d(np.asarray(longitude, float))
    points = np.column_stack([lon, lat])
    out = np.full(len(points), None, dtype=object)
    free = np.ones(len(points), dtype=bool)
    for code, (west, south, east, north), paths in _borough_shapes():
        candidates = np.flatnonzero(free & (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north))
        if not len(candidates):
            continue
        inside = np.zeros(len(candidates), dtype=bool)
        for path in paths:  # even-odd over the rings: holes and multipart boroughs alike
            inside ^= path.contains_points(points[candidates])
        out[candidates[inside]] = code
        free[candidates[inside]] = False
    return out


def cell_squares(easting: ArrayLike, northing: ArrayLike, size_m: float = 1000.0) -> np.ndarray:
    """Return each National Grid square (south-west corner, side in metres) as a closed WGS84 ring (n x 5 x [lon, lat]).

    Coordinates are rounded to 5 decimals (about a metre), like the shipped layers.
    """
    e = np.asarray(easting, float)[:, None] + np.array([0.0, size_m, size_m, 0.0, 0.0])[None, :]
    n = np.asarray(northing, float)[:, None] + np.array([0.0, 0.0, size_m, size_m, 0.0])[None, :]
    lat, lon = bng_to_wgs84(e, n)
    return np.round(np.stack([lon, lat], axis=-1), 5)
