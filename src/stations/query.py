"""Queries shared by the CLI and the API: nearest stations (straight or along the loop), within.

Inputs are checked here, so every front end raises the same `InvalidInput` messages; answers are
GeoJSON FeatureCollections whose geometry is in the coordinate system the caller asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from math import floor
from typing import Any

from stations.catalog import BBox, Catalog
from stations.coords import CRS, wgs84_position
from stations.errors import InvalidCoordinates, InvalidInput, StationNotFound
from stations.features import QueryContext, encode_collection, station_feature
from stations.geodesy import inverse
from stations.index import BoolArray, Hit, Predicate
from stations.models import Amenity, Kind, Station, Status
from stations.navigation import MY_LOCATION, Place
from stations.notes import FAR_AWAY_M as FAR_AWAY_M
from stations.notes import far_note, nearer_closed, swap_hint, swapped_into_china

#: No two points on Earth are farther apart along the ellipsoid (half a meridian is ~20,004 km).
MAX_EARTH_DISTANCE_M = 20_040_000.0


class By(StrEnum):
    """How "nearest" is measured."""

    STRAIGHT = "straight"  # ellipsoidal geodesic
    LOOP = "loop"  # off-route + along the loop ring + the station's own off-route


@dataclass(frozen=True, slots=True)
class Filters:
    """Which stations may answer: any of ``kinds``, all of ``amenities``, one of ``statuses``.

    ``open_now`` drops stations known to be closed at the moment of the query; stations whose
    hours are unknown stay in, marked ``open_now: null``.
    """

    kinds: Sequence[Kind | str] = ()
    amenities: Sequence[Amenity | str] = ()
    statuses: Sequence[Status | str] = (Status.OPEN,)
    open_now: bool = False

    def __post_init__(self) -> None:
        fields = (
            ("kinds", "kind", Kind),
            ("amenities", "amenity", Amenity),
            ("statuses", "status", Status),
        )
        for name, singular, enum in fields:
            values = []
            for value in getattr(self, name):
                try:
                    values.append(enum(value))
                except ValueError:
                    allowed = ", ".join(e.value for e in enum)
                    raise InvalidInput(
                        f"{singular} {value!r} is unknown; allowed: {allowed}"
                    ) from None
            object.__setattr__(self, name, tuple(values))


def _parse_crs(crs: str | CRS) -> CRS:
    if type(crs) is CRS:
        return crs
    try:
        return CRS(crs)
    except ValueError:
        allowed = ", ".join(c.value for c in CRS)
        raise InvalidInput(f"crs must be one of {allowed}; got {crs!r}") from None


def _parse_by(by: str | By) -> By:
    if type(by) is By:
        return by
    try:
        return By(by)
    except ValueError:
        raise InvalidInput(f"by must be 'straight' or 'loop'; got {by!r}") from None


def query_point(lon: object, lat: object, crs: str | CRS) -> tuple[float, float, CRS]:
    """Validate a query position and return it in WGS84 with the parsed crs.

    A latitude out of range whose swap with the longitude is a position in China (``lon=28.9,
    lat=107.3``) is refused with a message asking whether the two were swapped.
    """
    crs = _parse_crs(crs)
    try:
        wlon, wlat = wgs84_position(lon, lat, crs)
    except InvalidCoordinates as exc:
        if swapped_into_china(lon, lat):
            raise InvalidCoordinates(f"{exc}; {swap_hint(lon, lat)}") from None
        raise
    return wlon, wlat, crs


@dataclass(slots=True)
class Answer:
    """A query's stations with what it derived for each, before rendering.

    `geojson` gives the FeatureCollection as objects (the CLI, the maps); `encode` gives the
    same document's JSON bytes, equal to ``orjson.dumps(answer.geojson())``, but assembled
    from each station's cached encoding (`stations.features.encode_collection`): the API's
    riders' routes answer with it.
    """

    catalog: Catalog
    crs: CRS
    ctx: QueryContext
    origin: Place | None
    query: dict[str, Any]
    rows: list[tuple[Station, dict[str, Any]]]
    note: str | None = None
    nearer_closed: dict[str, Any] | None = None

    def geojson(self) -> dict[str, Any]:
        """The answer as a GeoJSON FeatureCollection."""
        c, crs, ctx, origin = self.catalog, self.crs, self.ctx, self.origin
        features = [station_feature(c, s, crs, ctx, extra, origin) for s, extra in self.rows]
        return {"type": "FeatureCollection", "features": features, **self._meta()}

    def encode(self) -> bytes:
        """``orjson.dumps(self.geojson())``, without re-encoding each station's static part."""
        return encode_collection(
            self.catalog, self.crs, self.ctx, self.origin, self.rows, self._meta()
        )

    def _meta(self) -> dict[str, Any]:
        out: dict[str, Any] = {"numberReturned": len(self.rows), "query": self.query}
        if self.note is not None:
            out["note"] = self.note
        if self.nearer_closed is not None:
            out["nearer_closed"] = self.nearer_closed
        if self.catalog.loop is not None:
            out["loop_calibration"] = self.catalog.loop.calibration()
        return out


def _check_k(k: object, max_k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int):
        raise InvalidInput(f"k must be a whole number from 1 to {max_k}; got {k!r}")
    if not 1 <= k <= max_k:
        raise InvalidInput(f"k must be from 1 to {max_k}; got {k}")
    return k


def _check_distance(value: float | None, name: str, maximum: float) -> float | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or value != value:
        raise InvalidInput(f"{name} must be a number of metres; got {value!r}")
    if not 0 <= value <= maximum:
        raise InvalidInput(f"{name} must be from 0 to {maximum:g} metres; got {value:g}")
    return float(value)


def nearest(catalog: Catalog, lon: object, lat: object, **options: Any) -> dict[str, Any]:
    """`find_nearest` as a GeoJSON FeatureCollection."""
    return find_nearest(catalog, lon, lat, **options).geojson()


def within(
    catalog: Catalog, lon: object, lat: object, radius_m: float, **options: Any
) -> dict[str, Any]:
    """`find_within` as a GeoJSON FeatureCollection."""
    return find_within(catalog, lon, lat, radius_m, **options).geojson()


def _eligible(
    catalog: Catalog, filters: Filters, ctx: QueryContext
) -> tuple[BoolArray | None, Predicate | None]:
    """The filters as the index takes them: a vocabulary mask, and open-now checked per station."""
    mask = catalog.mask(filters.kinds, filters.amenities, filters.statuses)
    if not filters.open_now:
        return mask, None
    at = catalog.station_at

    def predicate(i: int) -> bool:
        return ctx.open_now(at(i)) is not False

    return mask, predicate


def find_nearest(
    catalog: Catalog,
    lon: object,
    lat: object,
    *,
    k: int = 3,
    by: str | By = By.STRAIGHT,
    crs: str | CRS = CRS.WGS84,
    filters: Filters | None = None,
    max_distance_m: float | None = None,
    max_k: int = 100,
    ctx: QueryContext | None = None,
) -> Answer:
    """The ``k`` nearest stations to a point, nearest first.

    Parameters
    ----------
    catalog
        The loaded data.
    lon, lat
        The rider's position in ``crs`` (degrees, GeoJSON order).
    k
        How many stations, 1..``max_k``.
    by
        ``straight``: ellipsoidal geodesic distance. ``loop``: the rider's off-route distance,
        plus the shorter way along the loop, plus the station's off-route distance.
    crs
        ``wgs84``, ``gcj02`` (Amap/Tencent/WeChat) or ``bd09`` (Baidu); for input and output.
    filters
        Kinds, amenities, statuses, open now.
    max_distance_m
        Leave out stations farther than this (straight: geodesic; loop: the route distance).
    """
    k = _check_k(k, max_k)
    by = _parse_by(by)
    max_distance_m = _check_distance(max_distance_m, "max_distance_m", MAX_EARTH_DISTANCE_M)
    wlon, wlat, crs = query_point(lon, lat, crs)
    filters = filters or Filters()
    ctx = ctx or QueryContext()
    mask, pred = _eligible(catalog, filters, ctx)
    at = catalog.station_at
    query = {"lon": lon, "lat": lat, "crs": crs.value, "k": k, "by": by.value}
    origin = Place.from_wgs84(wlon, wlat, MY_LOCATION)
    if by is By.STRAIGHT:
        hits = catalog.index.nearest(
            wlon, wlat, k, mask=mask, predicate=pred, max_distance_m=max_distance_m
        )
        rows = _straight(at, hits)
    else:
        rows = _nearest_by_loop(catalog, wlon, wlat, k, mask, pred, max_distance_m)
    answer = Answer(catalog, crs, ctx, origin, query, rows, far_note(rows, lon, lat))
    if filters.open_now and by is By.STRAIGHT:
        first_m = rows[0][1]["distance_m"] if rows else max_distance_m
        answer.nearer_closed = nearer_closed(catalog.index, at, wlon, wlat, mask, first_m, ctx)
    return answer


def _straight(
    at: Callable[[int], Station], hits: list[Hit]
) -> list[tuple[Station, dict[str, Any]]]:
    """Each hit's station with its straight-line distance (cm) and bearing (0.1°).

    Both are non-negative, so half-up rounding by ``floor`` gives what ``round`` gives (a test
    compares them) without ``round(x, n)``'s detour through a decimal string, on every
    station of every answer.
    """
    return [
        (
            at(i),
            {
                "distance_m": floor(d * 100.0 + 0.5) / 100.0,
                "bearing_deg": floor(b * 10.0 + 0.5) / 10.0,
            },
        )
        for i, d, b in hits
    ]


def _nearest_by_loop(
    catalog: Catalog,
    lon: float,
    lat: float,
    k: int,
    mask: Any,
    pred: Any,
    max_distance_m: float | None,
) -> list[tuple[Station, dict[str, Any]]]:
    loop = catalog.loop
    if loop is None:
        raise InvalidInput("by=loop needs a loop; none is configured")
    here = loop.snap(lon, lat)
    ranked = []
    for i, place in catalog.loop_members:  # only stations on the loop, not the whole file
        if (mask is not None and not mask[i]) or (pred and not pred(i)):
            continue
        along = loop.along(here.chainage_m, place.snap.chainage_m)
        loop_m = along.distance_m * loop.scale
        total = here.offroute_m + loop_m + place.snap.offroute_m
        if max_distance_m is None or total <= max_distance_m:
            ranked.append((total, i, along.direction, loop_m, place.snap.offroute_m))
    ranked.sort(key=lambda r: (r[0], r[1]))
    rows = []
    for total, i, direction, loop_m, station_off in ranked[:k]:
        station = catalog.station_at(i)
        d, b = inverse(lon, lat, catalog.index.lons[i], catalog.index.lats[i])
        extra = {
            "distance_m": round(float(d[0]), 2),
            "bearing_deg": round(float(b[0]), 1),
            "route_distance_m": round(total, 1),
            "loop_distance_m": round(loop_m, 1),
            "direction": direction,
            "offroute_m": round(here.offroute_m, 1),
            "station_offroute_m": round(station_off, 1),
        }
        rows.append((station, extra))
    return rows


def find_within(
    catalog: Catalog,
    lon: object,
    lat: object,
    radius_m: float,
    *,
    crs: str | CRS = CRS.WGS84,
    filters: Filters | None = None,
    max_radius_m: float = 200_000.0,
    limit: int | None = None,
    ctx: QueryContext | None = None,
) -> Answer:
    """Every station within ``radius_m`` metres (ellipsoidal) of a point, nearest first."""
    radius = _check_distance(radius_m, "radius_m", max_radius_m)
    assert radius is not None
    wlon, wlat, crs = query_point(lon, lat, crs)
    origin = Place.from_wgs84(wlon, wlat, MY_LOCATION)
    filters = filters or Filters()
    ctx = ctx or QueryContext()
    mask, pred = _eligible(catalog, filters, ctx)
    at = catalog.station_at
    hits = catalog.index.within(wlon, wlat, radius, mask=mask, predicate=pred, limit=limit)
    rows = _straight(at, hits)
    query = {"lon": lon, "lat": lat, "crs": crs.value, "radius_m": radius}
    return Answer(catalog, crs, ctx, origin, query, rows)


def list_stations(
    catalog: Catalog,
    filters: Filters,
    *,
    bbox: BBox | None = None,
    crs: CRS = CRS.WGS84,
    offset: int = 0,
    limit: int = 100,
    ctx: QueryContext | None = None,
) -> dict[str, Any]:
    """The stations matching ``filters`` (and ``bbox``) in file order, one page of them.

    A FeatureCollection with ``numberMatched`` and ``numberReturned``; unlocated stations have
    null geometry. With ``open_now``, stations known to be closed now are left out.
    """
    ctx = ctx or QueryContext()
    matched = catalog.select(filters.kinds, filters.amenities, filters.statuses, bbox)
    if filters.open_now:
        matched = [s for s in matched if ctx.open_now(s) is not False]
    page = matched[offset : offset + limit]
    return {
        "type": "FeatureCollection",
        "features": [station_feature(catalog, s, crs, ctx) for s in page],
        "numberMatched": len(matched),
        "numberReturned": len(page),
    }


def station_by_id(
    catalog: Catalog, station_id: str, crs: CRS = CRS.WGS84, ctx: QueryContext | None = None
) -> dict[str, Any]:
    """One station as a GeoJSON Feature; `StationNotFound` if there is none with this id."""
    station = catalog.by_id.get(station_id)
    if station is None:
        raise StationNotFound(f"no station with id {station_id!r}")
    return station_feature(catalog, station, crs, ctx or QueryContext())
