"""Distances and bearings on the WGS84 ellipsoid, and the sphere used only for indexing."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from pyproj import Geod

#: The WGS84 ellipsoid; every distance this package reports comes from it (Karney's algorithm).
GEOD = Geod(ellps="WGS84")

#: One geodesic between two points in degrees: (azimuth, back azimuth, distance). pyproj's scalar
#: routine, which `Geod.inv` tries behind a Python-level wrapper that costs about as much again
#: (a few per query); `Geod.inv` itself should a pyproj release drop it. Tested against it.
INV_POINT: Callable[[float, float, float, float], tuple[float, float, float]] = getattr(
    GEOD, "_inv_point", GEOD.inv
)

#: Radius of the unit-vector sphere used for index look-ups (IUGG mean radius, metres).
SPHERE_R = 6_371_008.8

#: Lower bound of (ellipsoidal geodesic length) / (SPHERE_R * central angle between the
#: geodetic unit vectors). The true minimum is ~0.9944 (meridional radius of curvature at the
#: equator, 6,335 km, over 6,371 km); 0.99 leaves margin. Index candidates are widened by it
#: so that the sphere never hides the ellipsoid's true nearest station.
SPHERE_LOWER_BOUND = 0.99

FloatArray = npt.NDArray[np.float64]


def unit_vectors(lons: npt.ArrayLike, lats: npt.ArrayLike) -> FloatArray:
    """Return an (n, 3) array of unit vectors for geodetic longitudes/latitudes in degrees."""
    lon = np.radians(np.asarray(lons, dtype=float))
    lat = np.radians(np.asarray(lats, dtype=float))
    cos_lat = np.cos(lat)
    return np.column_stack((cos_lat * np.cos(lon), cos_lat * np.sin(lon), np.sin(lat)))


def unit_xyz(lon: float, lat: float) -> tuple[float, float, float]:
    """The unit vector of one geodetic position (degrees) as three floats."""
    lam, phi = math.radians(lon), math.radians(lat)
    cos_phi = math.cos(phi)
    return cos_phi * math.cos(lam), cos_phi * math.sin(lam), math.sin(phi)


def unit_vector(lon: float, lat: float) -> FloatArray:
    """The unit vector of one geodetic position (degrees); the scalar fast path."""
    return np.array(unit_xyz(lon, lat))


#: Added to every chord bound (~6 mm on Earth): a position's unit vector computed by numpy
#: for the tree and by `math` for a query may differ in the last bit, so a station exactly
#: at the query point (geodesic 0 m) can sit at a chord of ~1e-16, outside a ball of radius 0.
CHORD_SLACK = 1e-9


def chord_for_distance(distance_m: float) -> float:
    """Chord length on the unit sphere that surely contains every point within ``distance_m``.

    Uses `SPHERE_LOWER_BOUND`, so the ball is slightly larger than the geodesic disc, and
    `CHORD_SLACK` for rounding.
    """
    theta = distance_m / (SPHERE_R * SPHERE_LOWER_BOUND)
    return float(2.0 * np.sin(min(theta, np.pi) / 2.0)) + CHORD_SLACK


def distance_lower_bound(chord: float) -> float:
    """The smallest ellipsoidal distance a point at this unit-sphere chord can have."""
    return 2.0 * math.asin(min(max(chord / 2.0, 0.0), 1.0)) * SPHERE_R * SPHERE_LOWER_BOUND


def inverse_from(
    lon: float, lat: float, lons: FloatArray, lats: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """`inverse` from one point to arrays of points (the hot path of every query)."""
    n = lons.shape[0]
    az_raw, _, dist_raw = GEOD.inv(np.full(n, lon), np.full(n, lat), lons, lats)
    az, dist = np.asarray(az_raw), np.asarray(dist_raw)
    az[az < 0] += 360.0
    return dist, az


def inverse(
    lon1: npt.ArrayLike, lat1: npt.ArrayLike, lon2: npt.ArrayLike, lat2: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Geodesic distance (m) and initial bearing (degrees clockwise from north, [0, 360)).

    Parameters
    ----------
    lon1, lat1
        Start point(s) in WGS84 degrees; broadcast against the end points.
    lon2, lat2
        End point(s) in WGS84 degrees.
    """
    lon2_a = np.atleast_1d(np.asarray(lon2, dtype=float))
    lat2_a = np.atleast_1d(np.asarray(lat2, dtype=float))
    lon1_a = np.broadcast_to(np.asarray(lon1, dtype=float), lon2_a.shape)
    lat1_a = np.broadcast_to(np.asarray(lat1, dtype=float), lat2_a.shape)
    az, _, dist = GEOD.inv(lon1_a, lat1_a, lon2_a, lat2_a)
    return np.asarray(dist, dtype=float), np.mod(np.asarray(az, dtype=float), 360.0)
