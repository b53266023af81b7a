"""British National Grid <-> WGS84 conversion and distances (Ordnance Survey formulae)."""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

# Airy 1830 ellipsoid (OSGB36) and GRS80/WGS84 ellipsoid.
_AIRY_A, _AIRY_B = 6377563.396, 6356256.909
_WGS_A, _WGS_B = 6378137.000, 6356752.3141
# National Grid transverse Mercator projection.
_F0 = 0.9996012717
_LAT0, _LON0 = np.radians(49.0), np.radians(-2.0)
_E0, _N0 = 400000.0, -100000.0
# Helmert transformation WGS84 -> OSGB36 (OS guide, accurate to a few metres).
_TX, _TY, _TZ = -446.448, 125.157, -542.060
_S_PPM = 20.4894
_RX, _RY, _RZ = (np.radians(v / 3600.0) for v in (-0.1502, -0.2470, -0.8421))
EARTH_RADIUS_M = 6371008.8


def _meridional_arc(lat: np.ndarray) -> np.ndarray:
    """Return the meridional arc M from the true origin to latitude `lat` (radians)."""
    a, b = _AIRY_A, _AIRY_B
    n = (a - b) / (a + b)
    dl, sl = lat - _LAT0, lat + _LAT0
    return b * _F0 * (
        (1 + n + 1.25 * n**2 + 1.25 * n**3) * dl
        - (3 * n + 3 * n**2 + 21 / 8 * n**3) * np.sin(dl) * np.cos(sl)
        + (15 / 8 * n**2 + 15 / 8 * n**3) * np.sin(2 * dl) * np.cos(2 * sl)
        - 35 / 24 * n**3 * np.sin(3 * dl) * np.cos(3 * sl)
    )


def _to_cartesian(lat: np.ndarray, lon: np.ndarray, a: float, b: float) -> tuple[np.ndarray, ...]:
    """Return geocentric x, y, z for latitude/longitude (radians) at height 0."""
    e2 = 1 - b**2 / a**2
    nu = a / np.sqrt(1 - e2 * np.sin(lat) ** 2)
    return nu * np.cos(lat) * np.cos(lon), nu * np.cos(lat) * np.sin(lon), (1 - e2) * nu * np.sin(lat)


def _from_cartesian(x: np.ndarray, y: np.ndarray, z: np.ndarray, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Return latitude/longitude (radians) of geocentric x, y, z on an ellipsoid."""
    e2 = 1 - b**2 / a**2
    p = np.hypot(x, y)
    lat = np.arctan2(z, p * (1 - e2))
    for _ in range(6):
        nu = a / np.sqrt(1 - e2 * np.sin(lat) ** 2)
        lat = np.arctan2(z + e2 * nu * np.sin(lat), p)
    return lat, np.arctan2(y, x)


def _helmert(x: np.ndarray, y: np.ndarray, z: np.ndarray, sign: float) -> tuple[np.ndarray, ...]:
    """Apply the WGS84->OSGB36 Helmert transform (sign=+1) or its inverse (sign=-1)."""
    s = 1 + sign * _S_PPM * 1e-6
    tx, ty, tz, rx, ry, rz = (sign * v for v in (_TX, _TY, _TZ, _RX, _RY, _RZ))
    return (
        tx + s * x - rz * y + ry * z,
        ty + rz * x + s * y - rx * z,
        tz - ry * x + rx * y + s * z,
    )


def bng_to_wgs84(easting: ArrayLike, northing: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Convert British National Grid easting/northing (m) to WGS84 latitude/longitude (degrees)."""
    e = np.asarray(easting, dtype=float)
    n = np.asarray(northing, dtype=float)
    a, b = _AIRY_A, _AIRY_B
    e2 = 1 - b**2 / a**2
    lat = (n - _N0) / (a * _F0) + _LAT0
    for _ in range(10):
        lat = lat + (n - _N0 - _meridional_arc(lat)) / (a * _F0)
    sin, cos, tan = np.sin(lat), np.cos(lat), np.tan(lat)
    nu = a * _F0 / np.sqrt(1 - e2 * sin**2)
    rho = a * _F0 * (1 - e2) / (1 - e2 * sin**2) ** 1.5
    eta2 = nu / rho - 1
    de = e - _E0
    vii = tan / (2 * rho * nu)
    viii = tan / (24 * rho * nu**3) * (5 + 3 * tan**2 + eta2 - 9 * tan**2 * eta2)
    ix = tan / (720 * rho * nu**5) * (61 + 90 * tan**2 + 45 * tan**4)
    x_ = 1 / (cos * nu)
    xi = 1 / (cos * 6 * nu**3) * (nu / rho + 2 * tan**2)
    xii = 1 / (cos * 120 * nu**5) * (5 + 28 * tan**2 + 24 * tan**4)
    xiia = 1 / (cos * 5040 * nu**7) * (61 + 662 * tan**2 + 1320 * tan**4 + 720 * tan**6)
    lat_osgb = lat - vii * de**2 + viii * de**4 - ix * de**6
    lon_osgb = _LON0 + x_ * de - xi * de**3 + xii * de**5 - xiia * de**7
    x, y, z = _helmert(*_to_cartesian(lat_osgb, lon_osgb, _AIRY_A, _AIRY_B), sign=-1.0)
    lat_w, lon_w = _from_cartesian(x, y, z, _WGS_A, _WGS_B)
    return np.degrees(lat_w), np.degrees(lon_w)


def wgs84_to_bng(latitude: ArrayLike, longitude: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS84 latitude/longitude (degrees) to British National Grid easting/northing (m)."""
    lat_w = np.radians(np.asarray(latitude, dtype=float))
    lon_w = np.radians(np.asarray(longitude, dtype=float))
    x, y, z = _helmert(*_to_cartesian(lat_w, lon_w, _WGS_A, _WGS_B), sign=1.0)
    lat, lon = _from_cartesian(x, y, z, _AIRY_A, _AIRY_B)
    a, b = _AIRY_A, _AIRY_B
    e2 = 1 - b**2 / a**2
    sin, cos, tan = np.sin(lat), np.cos(lat), np.tan(lat)
    nu = a * _F0 / np.sqrt(1 - e2 * sin**2)
    rho = a * _F0 * (1 - e2) / (1 - e2 * sin**2) ** 1.5
    eta2 = nu / rho - 1
    m = _meridional_arc(lat)
    i = m + _N0
    ii = nu / 2 * sin * cos
    iii = nu / 24 * sin * cos**3 * (5 - tan**2 + 9 * eta2)
    iiia = nu / 720 * sin * cos**5 * (61 - 58 * tan**2 + tan**4)
    iv = nu * cos
    v = nu / 6 * cos**3 * (nu / rho - tan**2)
    vi = nu / 120 * cos**5 * (5 - 18 * tan**2 + tan**4 + 14 * eta2 - 58 * tan**2 * eta2)
    dl = lon - _LON0
    northing = i + ii * dl**2 + iii * dl**4 + iiia * dl**6
    easting = _E0 + iv * dl + v * dl**3 + vi * dl**5
    return easting, northing


def haversine_m(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike) -> np.ndarray:
    """Return the great-circle distance in metres between WGS84 points (degrees)."""
    p1, p2 = np.radians(np.asarray(lat1, float)), np.radians(np.asarray(lat2, float))
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2, float) - np.asarray(lon1, float))
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def bearing_deg(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike) -> np.ndarray:
    """Return the initial bearing in degrees (0 = north, clockwise) from point 1 to point 2."""
    p1, p2 = np.radians(np.asarray(lat1, float)), np.radians(np.asarray(lat2, float))
    dl = np.radians(np.asarray(lon2, float) - np.asarray(lon1, float))
    y = np.sin(dl) * np.cos(p2)
    x = np.cos(p1) * np.sin(p2) - np.sin(p1) * np.cos(p2) * np.cos(dl)
    return (np.degrees(np.arctan2(y, x)) + 360.0) % 360.0
