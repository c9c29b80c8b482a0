"""The words a nearest answer may carry beside its stations.

- ``note``: even the nearest station is far (`FAR_AWAY_M`), most likely a mistyped or swapped
  position;
- ``nearer_closed``: a rider asking for stations open now, standing nearer to one that is
  closed now (or of unknown hours), is told it exists and when it next opens.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from math import floor
from typing import Any

from stations import hours
from stations.coords import check_lonlat, in_china
from stations.errors import InvalidCoordinates
from stations.features import QueryContext
from stations.index import BoolArray, GeoIndex
from stations.models import Station

#: A nearest answer whose every station is farther than this carries a `note` saying so: a
#: rider that far away has most likely typed a wrong or swapped position.
FAR_AWAY_M = 200_000.0


def swapped_into_china(lon: object, lat: object) -> bool:
    """Whether (``lat``, ``lon``) is a valid position in China while (``lon``, ``lat``) is not."""
    return _valid_in_china(lat, lon) and not _valid_in_china(lon, lat)


def _valid_in_china(lon: object, lat: object) -> bool:
    try:
        return bool(in_china(*check_lonlat(lon, lat)))
    except InvalidCoordinates:
        return False


def swap_hint(lon: object, lat: object) -> str:
    """The question to ask when the position looks swapped."""
    return f"did you swap longitude and latitude? lon={lat}, lat={lon} is in China"


def far_note(rows: list[tuple[Station, dict[str, Any]]], lon: object, lat: object) -> str | None:
    """A note when even the nearest station is more than `FAR_AWAY_M` away; None otherwise."""
    nearest_m = min((extra["distance_m"] for _, extra in rows), default=0.0)
    if nearest_m <= FAR_AWAY_M:
        return None
    note = (
        f"no station within {FAR_AWAY_M / 1000:.0f} km: the nearest is "
        f"{nearest_m / 1000:,.0f} km away; check the position (longitude first)"
    )
    return f"{note}; {swap_hint(lon, lat)}" if swapped_into_china(lon, lat) else note


def next_opening(station: Station, ctx: QueryContext) -> datetime | None:
    """When a station closed now next opens (local time), or None if unknown or never."""
    expression = station.props.opening_hours
    if expression is None:
        return None
    return hours.next_opening(expression, ctx.moment(), ctx.tz)


def nearer_closed(
    index: GeoIndex,
    at: Callable[[int], Station],
    lon: float,
    lat: float,
    mask: BoolArray | None,
    first_m: float | None,
    ctx: QueryContext,
) -> dict[str, Any] | None:
    """The nearest station when it is not known to be open and nearer than the first answer.

    ``first_m``: the first open answer's distance (None: there is none); ties go to the answer.

    ``{"id", "name", "name_en", "distance_m", "open_now", "opens_at"}``: ``opens_at`` is when
    it next opens, ISO 8601 in the hours' zone, null when unknown.
    """
    hits = index.nearest(lon, lat, 1, mask=mask)
    if not hits:
        return None
    i, d, _ = hits[0]
    distance_m = floor(d * 100.0 + 0.5) / 100.0
    station = at(i)
    open_now = ctx.open_now(station)
    if open_now is True or (first_m is not None and distance_m >= first_m):
        return None
    opens = next_opening(station, ctx) if open_now is False else None
    return {
        "id": station.id,
        "name": station.props.name,
        "name_en": station.props.name_en,
        "distance_m": distance_m,
        "open_now": open_now,
        "opens_at": opens.isoformat() if opens is not None else None,
    }
