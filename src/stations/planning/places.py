"""The loop as a planning ring, and planning answers put back on the map as GeoJSON.

Positions on the ring are in the loop's reported metres (calibrated to the official length when the
loop is); geometry goes back through the loop's geometric chainage. The site feature and the
suggestion envelope are shared by the ring answers (`stations.planning.sites`) and the off-loop
siting (`stations.planning.offloop`), so both answers have one shape.
"""

from __future__ import annotations

from typing import Any

from stations.catalog import Catalog
from stations.errors import InvalidInput
from stations.geodesy import GEOD
from stations.loop import Loop
from stations.models import Status
from stations.planning.ring import Ring, Site


def require_loop(catalog: Catalog) -> Loop:
    """The catalog's loop, or `InvalidInput` when none is configured."""
    if catalog.loop is None:
        raise InvalidInput("no loop is configured; planning works along the loop")
    return catalog.loop


def statuses_for(include_planned: bool) -> tuple[Status, ...]:
    """Stations that count: in service, and planned ones when asked."""
    return (Status.OPEN, Status.PLANNED) if include_planned else (Status.OPEN,)


def ring_of(catalog: Catalog, include_planned: bool = False) -> Ring:
    """The loop as a planning ring with the stations on it (reported metres)."""
    loop = require_loop(catalog)
    wanted = set(statuses_for(include_planned))
    sites = tuple(
        Site(place.snap.chainage_m * loop.scale, place.snap.offroute_m)
        for i, place in catalog.loop_members
        if catalog.station_at(i).props.status in wanted
    )
    return Ring(loop.length_m * loop.scale, sites)


def point_at(loop: Loop, u: float) -> tuple[float, float]:
    """WGS84 (lon, lat) of a ring position."""
    return loop.point_at(u / loop.scale)


def km_mark(u: float, length: float) -> float:
    """A ring position as a km mark (0 <= km < the ring's length), to the metre."""
    return round((u % length) / 1000.0, 3)


def stretch(loop: Loop, a: float, b: float, properties: dict[str, Any]) -> dict[str, Any]:
    """A stretch of the ring (ring metres, may run past the end) as a GeoJSON LineString."""
    coords = [[round(x, 7), round(y, 7)] for x, y in loop.slice(a / loop.scale, b / loop.scale)]
    return {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": coords},
        "properties": properties,
    }


def nearest_town(loop: Loop, lon: float, lat: float) -> dict[str, Any] | None:
    """The nearest town seat among the loop's waypoints (GeoNames), with the distance."""
    best = None
    for w in loop.properties.get("waypoints", []) or []:
        if not isinstance(w, dict) or "lon" not in w or "lat" not in w:
            continue
        _, _, d = GEOD.inv(lon, lat, float(w["lon"]), float(w["lat"]))
        if best is None or d < best["distance_m"]:
            best = {"name": w.get("name"), "name_en": w.get("name_en"), "distance_m": round(d, 1)}
    return best


def site_feature(
    loop: Loop, lon: float, lat: float, before: dict[str, Any], after: dict[str, Any]
) -> dict[str, Any]:
    """A suggested site as a GeoJSON Point feature.

    Parameters
    ----------
    loop
        The loop, for the nearest town among its waypoints.
    lon, lat
        The site in WGS84 degrees; written to 7 decimals (about 1 cm).
    before, after
        Properties written ahead of and after the site's position and nearest town.
    """
    x, y = round(lon, 7), round(lat, 7)
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [x, y]},
        "properties": {
            **before,
            "lon": x,
            "lat": y,
            "nearest_town": nearest_town(loop, lon, lat),
            **after,
        },
    }


def suggestion_collection(
    loop: Loop,
    features: list[dict[str, Any]],
    count: int,
    radius_m: float | None,
    stations_counted: int,
    answer: dict[str, Any],
) -> dict[str, Any]:
    """The suggested sites as a FeatureCollection, with the request and the loop's calibration.

    ``answer`` (method, solver, objective or demand figures) comes between them, in its order.
    """
    return {
        "type": "FeatureCollection",
        "features": features,
        "count": count,
        "radius_m": radius_m,
        "stations_counted": stations_counted,
        **answer,
        "loop_calibration": loop.calibration(),
    }
