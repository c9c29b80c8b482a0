"""Chinese map datums: WGS84 <-> GCJ-02 ("Mars", Amap/Tencent/WeChat) <-> BD-09 (Baidu).

GCJ-02 is WGS84 plus a deterministic, published-by-reverse-engineering offset
(~300-700 m in China); BD-09 is a further shift of GCJ-02. The forward transforms
are closed-form; the inverses are solved by fixed-point iteration to < 1e-9 degrees
(well under a millimetre), not by the one-step approximation that leaves metres of error.
Outside mainland China's rough bounding box no offset is applied, as the providers do.
All functions take scalars or numpy arrays of longitudes and latitudes (GeoJSON order).
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from stations.errors import InvalidCoordinates

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = math.pi * 3000.0 / 180.0

#: Where the providers apply the GCJ-02 offset: mainland China's rough extent (lon/lat).
CHINA_EXTENT = (72.004, 0.8293, 137.8347, 55.8271)

ArrayOrFloat = TypeVar("ArrayOrFloat", float, npt.NDArray[np.float64])


class CRS(StrEnum):
    """Coordinate systems accepted and returned by queries."""

    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"


def shown(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, for messages that echo what a client sent."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_lonlat(lon: object, lat: object, *, name: str = "") -> tuple[float, float]:
    """Return ``(lon, lat)`` as floats, or raise `InvalidCoordinates` saying what is wrong.

    Parameters
    ----------
    lon, lat
        Longitude in [-180, 180] and latitude in [-90, 90], in degrees.
    name
        Optional prefix for the message (e.g. the parameter or feature name).
    """
    prefix = f"{name}: " if name else ""
    out: list[float] = []
    for label, value, bound in (("lon", lon, 180.0), ("lat", lat, 90.0)):
        if isinstance(value, bool):
            raise InvalidCoordinates(f"{prefix}{label} must be a number, got {shown(value)}")
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            raise InvalidCoordinates(
                f"{prefix}{label} must be a number in degrees, got {shown(value)}"
            ) from None
        if not math.isfinite(number):
            raise InvalidCoordinates(f"{prefix}{label} must be finite, got {shown(value)}")
        if not -bound <= number <= bound:
            raise InvalidCoordinates(
                f"{prefix}{label} must be within [-{bound:g}, {bound:g}], got {number:g}"
            )
        out.append(number)
    return out[0], out[1]


def in_bbox(
    lon: ArrayOrFloat, lat: ArrayOrFloat, bbox: tuple[float, float, float, float]
) -> npt.NDArray[np.bool_]:
    """Whether each point lies inside ``bbox`` = (west, south, east, north), edges included.

    Parameters
    ----------
    lon, lat
        Longitudes and latitudes in degrees (scalars or arrays), in the datum of ``bbox``.
    bbox
        The box as GeoJSON writes it; no wrapping across the antimeridian.
    """
    lon_a = np.asarray(lon, dtype=float)
    lat_a = np.asarray(lat, dtype=float)
    x0, y0, x1, y1 = bbox
    return (lon_a >= x0) & (lon_a <= x1) & (lat_a >= y0) & (lat_a <= y1)


def in_china(lon: ArrayOrFloat, lat: ArrayOrFloat) -> npt.NDArray[np.bool_]:
    """Whether the GCJ-02 offset applies: the rough mainland bounding box the providers use."""
    return in_bbox(lon, lat, CHINA_EXTENT)


def _raw_offset(lon: Any, lat: Any, m: Any) -> tuple[Any, Any]:
    """The GCJ-02 offset in degrees, written once for ``m`` = `math` (scalars) or `numpy`."""
    x = lon - 105.0
    y = lat - 35.0
    pi = m.pi
    common = (20.0 * m.sin(6.0 * x * pi) + 20.0 * m.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * m.sqrt(abs(x))
        + common
        + (20.0 * m.sin(y * pi) + 40.0 * m.sin(y / 3.0 * pi)) * 2.0 / 3.0
        + (160.0 * m.sin(y / 12.0 * pi) + 320.0 * m.sin(y * pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * m.sqrt(abs(x))
        + common
        + (20.0 * m.sin(x * pi) + 40.0 * m.sin(x / 3.0 * pi)) * 2.0 / 3.0
        + (150.0 * m.sin(x / 12.0 * pi) + 300.0 * m.sin(x / 30.0 * pi)) * 2.0 / 3.0
    )
    rad = lat / 180.0 * pi
    magic = 1.0 - _EE * m.sin(rad) ** 2
    sqrt_magic = m.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * m.cos(rad) * pi)
    return dlon, dlat


def _offset(lon: Any, lat: Any) -> tuple[Any, Any]:
    """GCJ-02 offset for floats (plain `math`, far cheaper than numpy on one value) or arrays."""
    if isinstance(lon, float):
        x0, y0, x1, y1 = CHINA_EXTENT
        if not (x0 <= lon <= x1 and y0 <= lat <= y1):
            return 0.0, 0.0
        return _raw_offset(lon, lat, math)
    dlon, dlat = _raw_offset(lon, lat, np)
    inside = in_china(lon, lat)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def _gcj_to_bd(x: Any, y: Any) -> tuple[Any, Any]:
    if isinstance(x, float):
        z = math.sqrt(x * x + y * y) + 0.00002 * math.sin(y * _X_PI)
        theta = math.atan2(y, x) + 0.000003 * math.cos(x * _X_PI)
        return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _prepare(lon: ArrayOrFloat, lat: ArrayOrFloat) -> tuple[Any, Any]:
    """Floats stay floats (fast scalar path); anything else becomes float arrays."""
    if type(lon) is float and type(lat) is float:
        return lon, lat
    if np.ndim(lon) == 0 and np.ndim(lat) == 0:
        return float(lon), float(lat)
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def _converged(ex: Any, ey: Any) -> bool:
    if isinstance(ex, float):
        return abs(ex) < 1e-10 and abs(ey) < 1e-10
    return bool(np.all(np.abs(ex) < 1e-10) and np.all(np.abs(ey) < 1e-10))


def wgs84_to_gcj02(lon: ArrayOrFloat, lat: ArrayOrFloat) -> tuple[ArrayOrFloat, ArrayOrFloat]:
    """Shift WGS84 to GCJ-02 (closed form)."""
    x, y = _prepare(lon, lat)
    dlon, dlat = _offset(x, y)
    return x + dlon, y + dlat


def gcj02_and_bd09(lon: float, lat: float) -> tuple[float, float, float, float]:
    """One WGS84 point in GCJ-02 and in BD-09 (navigation links need both; one call, floats)."""
    lon, lat = float(lon), float(lat)
    dlon, dlat = _offset(lon, lat)
    glon, glat = lon + dlon, lat + dlat
    blon, blat = _gcj_to_bd(glon, glat)
    return glon, glat, blon, blat


def gcj02_to_wgs84(lon: ArrayOrFloat, lat: ArrayOrFloat) -> tuple[ArrayOrFloat, ArrayOrFloat]:
    """Invert the GCJ-02 shift by fixed-point iteration (converges to < 1e-9 degrees)."""
    gx, gy = _prepare(lon, lat)
    wx, wy = gx, gy
    for _ in range(30):
        dlon, dlat = _offset(wx, wy)
        ex, ey = wx + dlon - gx, wy + dlat - gy
        wx, wy = wx - ex, wy - ey
        if _converged(ex, ey):
            break
    return wx, wy


def gcj02_to_bd09(lon: ArrayOrFloat, lat: ArrayOrFloat) -> tuple[ArrayOrFloat, ArrayOrFloat]:
    """Shift GCJ-02 to BD-09 (closed form, as Baidu publishes it)."""
    return _gcj_to_bd(*_prepare(lon, lat))


def bd09_to_gcj02(lon: ArrayOrFloat, lat: ArrayOrFloat) -> tuple[ArrayOrFloat, ArrayOrFloat]:
    """Invert the BD-09 shift by fixed-point iteration (converges to < 1e-9 degrees)."""
    bx, by = _prepare(lon, lat)
    gx, gy = bx - 0.0065, by - 0.006
    for _ in range(30):
        fx, fy = _gcj_to_bd(gx, gy)
        ex, ey = fx - bx, fy - by
        gx, gy = gx - ex, gy - ey
        if _converged(ex, ey):
            break
    return gx, gy


def to_wgs84(
    lon: ArrayOrFloat, lat: ArrayOrFloat, crs: CRS | str
) -> tuple[ArrayOrFloat, ArrayOrFloat]:
    """Convert positions given in ``crs`` to WGS84."""
    crs = crs if type(crs) is CRS else CRS(crs)
    if crs is CRS.WGS84:
        return lon, lat
    if crs is CRS.GCJ02:
        return gcj02_to_wgs84(lon, lat)
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def from_wgs84(
    lon: ArrayOrFloat, lat: ArrayOrFloat, crs: CRS | str
) -> tuple[ArrayOrFloat, ArrayOrFloat]:
    """Convert WGS84 positions to ``crs``."""
    crs = crs if type(crs) is CRS else CRS(crs)
    if crs is CRS.WGS84:
        return lon, lat
    if crs is CRS.GCJ02:
        return wgs84_to_gcj02(lon, lat)
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def _checked(x: float, y: float, name: str, given: tuple[float, float], src: CRS, dst: CRS) -> None:
    """`InvalidCoordinates` unless (x, y), ``given`` in ``src`` converted to ``dst``, is in range.

    The datum shifts are formulas defined for China: near the poles and the antimeridian their
    output leaves the ranges (or is NaN), and nothing downstream may see such a position.
    """
    if math.isfinite(x) and math.isfinite(y) and -180.0 <= x <= 180.0 and -90.0 <= y <= 90.0:
        return
    prefix = f"{name}: " if name else ""
    raise InvalidCoordinates(
        f"{prefix}lon/lat ({given[0]:.10g}, {given[1]:.10g}) in {src.value} converts to "
        f"({x:.10g}, {y:.10g}) in {dst.value}, outside lon [-180, 180] and lat [-90, 90]"
    )


def wgs84_position(
    lon: object, lat: object, crs: CRS | str, *, name: str = ""
) -> tuple[float, float]:
    """A position given in ``crs``, range-checked and converted to WGS84 floats.

    The one way input coordinates enter the package (queries, imports, demand, reports, edits),
    so every front end rejects a bad position with the same message. Both the position given
    and its conversion must be finite and within range.

    Parameters
    ----------
    lon, lat
        The position in ``crs`` (numbers or strings of numbers, degrees, GeoJSON order).
    crs
        The coordinate system they are given in.
    name
        Optional prefix for the message of `InvalidCoordinates` (see `check_lonlat`).
    """
    crs = crs if type(crs) is CRS else CRS(crs)
    x, y = check_lonlat(lon, lat, name=name)
    wx, wy = to_wgs84(x, y, crs)
    wx, wy = float(wx), float(wy)
    _checked(wx, wy, name, (x, y), crs, CRS.WGS84)
    return wx, wy


def position_in(lon: float, lat: float, crs: CRS | str, *, name: str = "") -> tuple[float, float]:
    """A WGS84 position converted to ``crs`` as floats, finite and within range.

    `InvalidCoordinates` (its message prefixed with ``name``) when ``crs`` has no position in
    range for it: the inverse of `wgs84_position`, for answers that show one position.
    """
    crs = crs if type(crs) is CRS else CRS(crs)
    x, y = check_lonlat(lon, lat, name=name)
    cx, cy = from_wgs84(x, y, crs)
    cx, cy = float(cx), float(cy)
    _checked(cx, cy, name, (x, y), CRS.WGS84, crs)
    return cx, cy
