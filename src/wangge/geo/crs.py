"""WGS-84 ↔ GCJ-02 conversion, vectorised over NumPy arrays.

Wangge stores every coordinate in WGS-84 (EPSG:4326, as GeoJSON requires). Chinese map data and
tile services use GCJ-02, the officially obfuscated datum; we convert at the edges only. The
forward transform is the published GCJ-02 formula; the inverse has no closed form and is solved by
fixed-point iteration to well below a millimetre.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

CRS = Literal["wgs84", "gcj02"]
_A = 6378245.0  # Krasovsky 1940 semi-major axis
_EE = 0.00669342162296594323  # its eccentricity squared
Array = NDArray[np.float64]
Converter = Callable[[Array, Array], tuple[Array, Array]]


def _in_china(lng: Array, lat: Array) -> NDArray[np.bool_]:
    return (lng >= 72.004) & (lng <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def _offset(lng: Array, lat: Array) -> tuple[Array, Array]:
    x, y = lng - 105.0, lat - 35.0
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
            + common
            + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    dlng = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
            + common
            + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlng = dlng * 180.0 / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    inside = _in_china(lng, lat)
    return np.where(inside, dlng, 0.0), np.where(inside, dlat, 0.0)


def wgs84_to_gcj02(lng: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    x, y = np.asarray(lng, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    dx, dy = _offset(x, y)
    return x + dx, y + dy


def gcj02_to_wgs84(lng: ArrayLike, lat: ArrayLike, tol: float = 1e-10) -> tuple[Array, Array]:
    gx, gy = np.asarray(lng, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    wx, wy = gx.copy(), gy.copy()
    for _ in range(30):
        fx, fy = wgs84_to_gcj02(wx, wy)
        ex, ey = fx - gx, fy - gy
        wx, wy = wx - ex, wy - ey
        if float(np.max(np.abs(ex), initial=0.0)) < tol and float(
            np.max(np.abs(ey), initial=0.0)
        ) < tol:
            break
    return wx, wy


def to_wgs84(lng: ArrayLike, lat: ArrayLike, crs: CRS) -> tuple[Array, Array]:
    """Converts coordinates given in ``crs`` to WGS-84 (the stored system)."""
    if crs == "gcj02":
        return gcj02_to_wgs84(lng, lat)
    return np.asarray(lng, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def from_wgs84(lng: ArrayLike, lat: ArrayLike, crs: CRS) -> tuple[Array, Array]:
    """Converts stored WGS-84 coordinates to ``crs`` for output."""
    if crs == "gcj02":
        return wgs84_to_gcj02(lng, lat)
    return np.asarray(lng, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def transform_geometry(geometry: shapely.Geometry, fn: Converter) -> shapely.Geometry:
    """Applies a vectorised (lng, lat) converter to every vertex of a Shapely geometry."""

    def apply(coords: Array) -> Array:
        x, y = fn(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geometry, apply)
