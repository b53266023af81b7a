"""Where an incident is: parse a postcode, 'lat,lon' or 'easting,northing', and check it is in London."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from lfb.geo.grid import bng_to_wgs84
from lfb.data.reference import cell_keys, cells_by_key, in_london, postcode_districts

_POSTCODE = re.compile(r"^([A-Z]{1,2}\d[A-Z\d]?)(?:\s*(\d[A-Z]{2}))?$")
_PAIR = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*[,; ]\s*(-?\d+(?:\.\d+)?)\s*$")


class LocationError(ValueError):
    """A location that cannot be read, or that is not in Greater London."""


@dataclass(frozen=True)
class Location:
    """A point in London with what is known about its area."""

    latitude: float
    longitude: float
    postcode_district: str | None
    borough: str | None
    precision: str  # 'point' or 'postcode district centroid'
    text: str


def _area(latitude: float, longitude: float) -> tuple[str | None, str | None]:
    """Return the usual postcode district and borough of a point's 1-km cell."""
    cell = cells_by_key().get(cell_keys(latitude, longitude)[0])
    return (cell.postcode_district, cell.borough_name) if cell else (None, None)


def _point(latitude: float, longitude: float, text: str) -> Location:
    """Return a located point, or raise LocationError when it is outside Greater London."""
    if not (np.isfinite(latitude) and np.isfinite(longitude)):
        raise LocationError(f"location {text!r} has no coordinates")
    if not in_london(latitude, longitude)[0]:
        raise LocationError(f"location {text!r} ({latitude:.5f}, {longitude:.5f}) is not in Greater London")
    district, borough = _area(latitude, longitude)
    return Location(float(latitude), float(longitude), district, borough, "point", text)


def parse_location(text: str) -> Location:
    """Read a location given as a London postcode (or district), 'lat,lon' or 'easting,northing'."""
    raw = str(text).strip()
    pair = _PAIR.match(raw)
    if pair:
        a, b = float(pair.group(1)), float(pair.group(2))
        if abs(a) <= 90 and abs(b) <= 180:
            return _point(a, b, raw)
        if 0 <= a <= 700_000 and 0 <= b <= 1_300_000:
            lat, lon = bng_to_wgs84(a, b)
            return _point(float(lat), float(lon), raw)
        raise LocationError(f"location {raw!r}: neither latitude,longitude nor British National Grid easting,northing")
    code = _POSTCODE.match(raw.upper().replace("  ", " "))
    if code:
        district = code.group(1)
        table = postcode_districts()
        if district not in table.index:
            raise LocationError(f"postcode district {district} is not a London district known to the LFB data")
        row = table.loc[district]
        return Location(float(row.latitude), float(row.longitude), district, row.borough_name,
                        "postcode district centroid", raw)
    raise LocationError(f"cannot read location {raw!r}: give a London postcode (e.g. 'SE1 7SG' or 'SE1'), "
                        "'latitude,longitude' (e.g. '51.5034,-0.1195') or 'easting,northing' (e.g. '530450,179050')")
