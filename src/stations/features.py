"""Stations as GeoJSON Features: built in one place, their static part encoded once.

A station's feature has a static part (its properties, its km mark on the loop and its Point
in a datum) and a part derived per query (``open_now``, distances, navigation links from the
rider). The static part never changes for a station object, so `Encodings` keeps it per
station, with the station's converted `Place` for the links, in LRU caches bounded by
`Settings.station_cache_entries` (riders ask about a handful of stations; a national file must
not end up encoded in every worker); a catalog owns one `Encodings` and hands its caches on to
the catalogs derived from it by writes (a written station is a new object, so nothing cached
goes stale).

`station_feature` builds a feature as objects (the CLI, the maps, the listing routes).
`encode_collection` writes an answer's FeatureCollection straight to JSON bytes for the
riders' routes: each station's `Encoded.head` is ``orjson.dumps(feature)`` cut before the
closing ``}}`` of ``properties`` and of the feature, with a comma after the last member, so
the answer appends the derived members and closes both objects. The result equals
``orjson.dumps`` of the same document built with `station_feature` (a test checks it), while
per station only the derived numbers go through the encoder.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol, TypeVar
from zoneinfo import ZoneInfo

import orjson

from stations import hours
from stations.coords import CRS, from_wgs84
from stations.models import Station, Status
from stations.navigation import JSONTemplate, Links, Place, json_template

#: Per-station caches hold at most this many entries by default (`Settings.station_cache_entries`):
#: riders ask about the same nearby stations again and again, while a national file (1M stations)
#: must not end up copied into every worker.
CACHE_LIMIT = 20_000

K = TypeVar("K")
V = TypeVar("V")

#: An answer's rows: each station with the fields its query derived (distance, bearing...).
Rows = Sequence[tuple[Station, dict[str, Any]]]


def point_geometry(station: Station, crs: CRS) -> dict[str, Any] | None:
    """A station's GeoJSON Point in ``crs`` (7 decimals, ~1 cm), None when unlocated."""
    if station.lon is None or station.lat is None:
        return None
    x, y = from_wgs84(station.lon, station.lat, crs)
    return {"type": "Point", "coordinates": [round(x, 7), round(y, 7)]}


@dataclass(slots=True)
class QueryContext:
    """The moment and zone a query is evaluated at."""

    tz: str = hours.DEFAULT_TZ
    now: datetime | None = None
    _now: datetime | None = field(init=False, default=None)

    def open_now(self, station: Station) -> bool | None:
        """True/False when known, None when the hours are unknown."""
        if station.props.status is not Status.OPEN:
            return False
        if station.props.opening_hours is None:
            return None
        return hours.is_open(station.props.opening_hours, self.moment(), self.tz)

    def moment(self) -> datetime:
        """The moment of the query: ``now``, or the clock, read once and only if needed."""
        if self._now is None:
            self._now = self.now or datetime.now(ZoneInfo(self.tz))
        return self._now


class Encoded(NamedTuple):
    """What an answer needs of a station, computed once per datum (`Encodings.encoder`)."""

    #: The Feature's JSON up to its derived properties (see the module docstring).
    head: bytes
    #: The station for navigation links (None when unlocated), and their `json_template`.
    place: Place | None
    links: JSONTemplate | None
    #: ``open_now`` when the clock cannot change it: False unless open, None (unknown) without
    #: opening hours. ``clock``: it can; ask `QueryContext.open_now`.
    open_now: bool | None
    clock: bool


class OnLoop(Protocol):
    """What a feature reads of a station's place on the loop (`stations.catalog.LoopPlace`)."""

    @property
    def loop_km(self) -> float:
        """The station's km mark."""
        ...


class _LRU(OrderedDict[K, V]):
    """A bounded cache: the least recently used entry goes when a new one would pass ``limit``."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = max(1, limit)

    def hit(self, key: K) -> V | None:
        """The value of ``key`` (now the most recently used), None if absent."""
        value = self.get(key)
        if value is not None:
            try:  # evicted meanwhile by another thread (a page build)
                self.move_to_end(key)
            except KeyError:
                pass
        return value

    def remember(self, key: K, value: V) -> None:
        """Store ``value``; drop the least recently used entry past the limit."""
        self[key] = value
        if len(self) > self.limit:
            try:
                self.popitem(last=False)
            except KeyError:
                pass


class Encodings:
    """A catalog's per-station values for features, computed once and cached.

    The caches are keyed by ``id()`` of the station, which each entry holds (so the id cannot
    be reused while cached); catalogs derived by writes share them (`derived`). Each keeps at
    most ``limit`` stations, the least recently used going first: a rider asks about a handful
    of stations, and a national file must not end up encoded in every worker.

    Parameters
    ----------
    loop_places
        The catalog's stations on the loop, by id (their ``loop_km`` goes into properties).
    limit
        Entries each cache keeps (`Settings.station_cache_entries`).
    """

    __slots__ = ("_heads", "_limit", "_loop_places", "_places", "_static")

    def __init__(self, loop_places: Mapping[str, OnLoop], limit: int = CACHE_LIMIT) -> None:
        self._loop_places = loop_places
        self._limit = limit
        self._places: _LRU[int, tuple[Station, Place]] = _LRU(limit)
        self._static: _LRU[int, tuple[Station, dict[str, Any]]] = _LRU(limit)
        self._heads: dict[CRS, _LRU[int, tuple[Station, Encoded]]] = {
            crs: _LRU(limit) for crs in CRS
        }

    def derived(self, loop_places: Mapping[str, OnLoop]) -> Encodings:
        """The encodings of a catalog derived by writes: the same caches, its loop places."""
        out = Encodings(loop_places, self._limit)
        out._places, out._static, out._heads = self._places, self._static, self._heads
        return out

    def properties(self, station: Station) -> dict[str, Any]:
        """The station's properties as JSON-ready values plus its ``loop_km`` (a fresh copy).

        Serialised once and cached: the pydantic dump is the largest cost of building a feature.
        """
        cached = self._static.hit(id(station))
        if cached is not None and cached[0] is station:
            return dict(cached[1])
        props = self._dumped(station)
        self._static.remember(id(station), (station, props))
        return dict(props)

    def _dumped(self, station: Station) -> dict[str, Any]:
        """The properties as `properties` gives them, not copied (and not cached if new)."""
        cached = self._static.get(id(station))
        if cached is not None and cached[0] is station:
            return cached[1]
        props = station.props.model_dump(mode="json")
        place = self._loop_places.get(station.id)
        props["loop_km"] = round(place.loop_km, 3) if place else None
        return props

    def place(self, station: Station) -> Place:
        """The (located) station in GCJ-02/BD-09 for navigation links, converted once."""
        cached = self._places.hit(id(station))
        if cached is not None and cached[0] is station:
            return cached[1]
        assert station.lon is not None and station.lat is not None
        place = Place.from_wgs84(station.lon, station.lat, station.props.name)
        self._places.remember(id(station), (station, place))
        return place

    def encoder(self, crs: CRS) -> Callable[[Station], Encoded]:
        """A function giving a station's `Encoded` feature in ``crs`` (cached).

        One function per answer: each of its stations then costs one lookup by ``id`` (an enum
        in the key would cost a Python-level ``__hash__`` per station).
        """
        cache = self._heads[crs]
        get, to_end = cache.get, cache.move_to_end

        def encoding(station: Station) -> Encoded:
            key = id(station)
            cached = get(key)
            if cached is not None and cached[0] is station:
                try:
                    to_end(key)
                except KeyError:
                    pass
                return cached[1]
            record = self._encode(station, crs)
            cache.remember(key, (station, record))
            return record

        return encoding

    def _encode(self, station: Station, crs: CRS) -> Encoded:
        # Not kept in the properties' cache: once encoded, an answer needs only the head.
        props = self._dumped(station)
        doc = {
            "type": "Feature",
            "id": station.id,
            "geometry": point_geometry(station, crs),
            "properties": props,
        }
        # Without the closing "}}" of properties and feature; a comma after the last member.
        head = orjson.dumps(doc)[:-2] + (b"," if props else b"")
        located = station.lon is not None and station.lat is not None
        place = self.place(station) if located else None
        is_open = station.props.status is Status.OPEN
        return Encoded(
            head,
            place,
            json_template(place) if place is not None else None,
            None if is_open else False,
            is_open and station.props.opening_hours is not None,
        )


class Source(Protocol):
    """What features read of a catalog (`stations.catalog.Catalog` is one)."""

    @property
    def encodings(self) -> Encodings:
        """The catalog's per-station encodings."""
        ...


def station_feature(
    catalog: Source,
    station: Station,
    crs: CRS = CRS.WGS84,
    ctx: QueryContext | None = None,
    extra: dict[str, Any] | None = None,
    origin: Place | None = None,
    links: bool = True,
) -> dict[str, Any]:
    """A station as a GeoJSON Feature in ``crs``, with derived fields.

    Parameters
    ----------
    catalog
        The catalog holding the station.
    station
        The station.
    crs
        The datum of the geometry.
    ctx
        The moment ``open_now`` is evaluated at (default: now, in the default zone).
    extra
        Fields the query derived (distance, bearing...), after ``open_now``.
    origin
        The rider's position for the navigation links, when known.
    links
        Whether a located station gets navigation links.
    """
    encodings = catalog.encodings
    props = encodings.properties(station)  # a fresh copy: ours to extend
    props["open_now"] = (ctx or QueryContext()).open_now(station)
    if extra:
        props.update(extra)
    if links and station.lon is not None and station.lat is not None:
        props["navigation"] = Links(origin).to(encodings.place(station))
    geometry = point_geometry(station, crs)
    return {"type": "Feature", "id": station.id, "geometry": geometry, "properties": props}


_COLLECTION_HEAD = b'{"type":"FeatureCollection","features":['
_NAVIGATION = b',"navigation":'


def encode_collection(
    catalog: Source,
    crs: CRS,
    ctx: QueryContext,
    origin: Place | None,
    rows: Rows,
    meta: dict[str, Any],
) -> bytes:
    """``orjson.dumps`` of a FeatureCollection of ``rows`` and ``meta`` members, assembled.

    Each station's static part comes from its cached `Encoded.head`; only the derived
    numbers go through orjson, and the links are the station's cached JSON template
    interleaved with the rider's parts, which `Links` puts together once per answer.
    """
    encoding = catalog.encodings.encoder(crs)
    links = Links(origin)
    dumps = orjson.dumps
    out = [_COLLECTION_HEAD]
    for station, extra in rows:
        e = encoding(station)
        derived = {"open_now": ctx.open_now(station) if e.clock else e.open_now}
        if extra:
            derived.update(extra)
        if e.place is None or e.links is None:  # derived members close properties
            out += (e.head, dumps(derived)[1:], b"},")
        else:
            out += (e.head, dumps(derived)[1:-1], _NAVIGATION)
            out += links.parts(e.place, e.links)
            out.append(b"}},")
    if rows:
        out[-1] = out[-1][:-1]  # no comma after the last feature
    out += (b"],", dumps(meta)[1:])
    return b"".join(out)
