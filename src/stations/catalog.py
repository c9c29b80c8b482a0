"""The loaded data: stations, their index and the loop, built once and queried many times.

Located stations have a *position* (their row in the index and the filter arrays) that never
changes for the life of a catalog and of the catalogs derived from it by `Catalog.with_changes`:
a written station gets a new position at the end and its old one is marked dead, so following a
write costs O(changes) Python work plus a few O(n) numpy copies (about a millisecond at 186,000
stations) instead of rebuilding everything. Queries see only live positions through the masks
(`Catalog.mask`); `located` and `all` list the live stations in file order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Generic, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt
import orjson

from stations.coords import CRS, from_wgs84
from stations.index import BoolArray, GeoIndex, IntArray
from stations.loop import Loop, Snap, load_loop
from stations.models import Amenity, Kind, Station, Status
from stations.navigation import JSONTemplate, Place, json_template
from stations.settings import Settings
from stations.storage.loading import FeatureCache, load_stations
from stations.storage.snapshot import Position

#: Per-station caches hold at most this many entries: riders ask about the same nearby stations
#: again and again, while a national file (1M stations) must not end up copied into every worker.
CACHE_LIMIT = 20_000
#: Past this many changed ids, a derived catalog's overlays are folded into plain dicts.
OVERLAY_LIMIT = 4096
#: Past this share of dead positions, `with_changes` builds a compact catalog afresh.
MAX_DEAD_SHARE = 0.25

K = TypeVar("K")
V = TypeVar("V")


def point_geometry(station: Station, crs: CRS) -> dict[str, Any] | None:
    """A station's GeoJSON Point in ``crs`` (7 decimals, ~1 cm), None when unlocated."""
    if station.lon is None or station.lat is None:
        return None
    x, y = from_wgs84(station.lon, station.lat, crs)
    return {"type": "Point", "coordinates": [round(x, 7), round(y, 7)]}


class Encoded(NamedTuple):
    """What an answer needs of a station, computed once (`Catalog.encoder`)."""

    #: The Feature encoded up to its derived properties (see `Catalog.encoder`).
    head: bytes
    #: The station for navigation links (None when unlocated), and their `json_template`.
    place: Place | None
    links: JSONTemplate | None
    #: ``open_now`` when the clock cannot change it: False unless open, None (unknown) without
    #: opening hours. ``clock``: it can; ask `stations.query.QueryContext.open_now`.
    open_now: bool | None
    clock: bool


def _remember(cache: dict[K, V], key: K, value: V, limit: int) -> None:
    """Store in a bounded cache; when full, start afresh (O(1), and hot entries return fast)."""
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value


_GONE: Any = object()


class Overlay(Mapping[str, V], Generic[V]):
    """A read-only mapping: a shared base dict under a small dict of changes (O(1) to derive)."""

    def __init__(
        self, base: dict[str, V], top: dict[str, Any] | None = None, length: int | None = None
    ) -> None:
        self._base = base
        self._top: dict[str, Any] = top or {}
        self._len = len(base) if length is None else length

    def changed(self, changes: Mapping[str, V | None]) -> Overlay[V]:
        """The mapping with ``changes`` applied (None removes a key)."""
        length = self._len
        for key, value in changes.items():
            length += (value is not None) - (key in self)
        top = {**self._top, **{k: _GONE if v is None else v for k, v in changes.items()}}
        if len(top) > OVERLAY_LIMIT:
            return Overlay(dict(Overlay(self._base, top, length).items()))
        return Overlay(self._base, top, length)

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default``."""
        value = self._top[key] if key in self._top else self._base.get(key, _GONE)
        return default if value is _GONE else value

    def __getitem__(self, key: str) -> V:
        value = self._top[key] if key in self._top else self._base.get(key, _GONE)
        if value is _GONE:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        if key in self._top:
            return self._top[key] is not _GONE
        return key in self._base

    def __iter__(self) -> Iterator[str]:
        for k in self._base:
            if k not in self._top:
                yield k
        for k, v in self._top.items():
            if v is not _GONE:
                yield k

    def __len__(self) -> int:
        return self._len


KIND_CODE = {k: i for i, k in enumerate(Kind)}
STATUS_CODE = {s: i for i, s in enumerate(Status)}
AMENITY_BIT = {a: 1 << i for i, a in enumerate(Amenity)}


def _vocabularies(
    stations: Sequence[Station],
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int8], npt.NDArray[np.int64]]:
    """Kind and status codes and amenity bits of each station, for vectorised filters."""
    kind = np.array([KIND_CODE[s.props.kind] for s in stations], dtype=np.int8)
    status = np.array([STATUS_CODE[s.props.status] for s in stations], dtype=np.int8)
    amenities = np.array(
        [sum(AMENITY_BIT[a] for a in s.props.amenities) for s in stations], dtype=np.int64
    )
    return kind, status, amenities


def _vocabulary_mask(
    kind: npt.NDArray[np.int8],
    status: npt.NDArray[np.int8],
    amenity_bits: npt.NDArray[np.int64],
    kinds: frozenset[Kind],
    amenities: frozenset[Amenity],
    statuses: frozenset[Status],
) -> BoolArray:
    """Any of ``kinds``, one of ``statuses``, all of ``amenities`` (empty: no condition)."""
    out = np.ones(len(kind), dtype=bool)
    if kinds:
        out &= np.isin(kind, [KIND_CODE[k] for k in kinds])
    if statuses:
        out &= np.isin(status, [STATUS_CODE[s] for s in statuses])
    bits = sum(AMENITY_BIT[a] for a in amenities)
    if bits:
        out &= (amenity_bits & bits) == bits
    return out


MaskKey = tuple[frozenset[Kind], frozenset[Amenity], frozenset[Status]]
_OPEN = (Status.OPEN,)
_OPEN_KEY: MaskKey = (frozenset(), frozenset(), frozenset(_OPEN))


@dataclass(frozen=True, slots=True)
class LoopPlace:
    """A station's place on the loop: its snap and km mark (calibrated per the loop)."""

    snap: Snap
    loop_km: float


class Catalog:
    """Stations with a spatial index, masks for the fixed vocabularies, and the loop.

    Parameters
    ----------
    stations
        Validated stations (located and unlocated), in file order.
    loop
        The loop ring, or None when no loop is configured.
    loop_max_offroute_m
        Stations farther than this from the loop get no km mark and are not ranked by loop.
    warnings
        Non-blocking remarks from loading (shown by ``validate`` and ``info``).
    """

    def __init__(
        self,
        stations: Iterable[Station],
        loop: Loop | None = None,
        *,
        loop_max_offroute_m: float = 5_000.0,
        warnings: list[str] | None = None,
    ) -> None:
        listed = list(stations)
        located = [s for s in listed if s.located]
        #: Station at each position (shared, append-only, with the catalogs derived from this).
        self._at: list[Station] = located
        self._n = len(located)
        self._alive: BoolArray | None = None  # None: no dead positions
        self._dead = 0
        rank = np.array([i for i, s in enumerate(listed) if s.located], np.intp)
        where: dict[str, tuple[int, int]] = {}
        position = 0
        for i, s in enumerate(listed):
            if s.located:
                where[s.id] = (i, position)
                position += 1
            else:
                where[s.id] = (i, -1)
        #: file rank and position (-1: unlocated) of every station, by id
        self._where: Overlay[tuple[int, int]] = Overlay(where)
        self.by_id: Mapping[str, Station] = Overlay({s.id: s for s in listed})
        self._unlocated: dict[str, tuple[int, Station]] = {
            s.id: (i, s) for i, s in enumerate(listed) if not s.located
        }
        self._next_rank = len(listed)
        # Ties between equally distant stations go by their place in the file.
        self.index = GeoIndex(
            np.array([s.lon for s in located], dtype=float),
            np.array([s.lat for s in located], dtype=float),
            rank,
        )
        self.loop = loop
        self.warnings = warnings or []
        #: How far into the data files this catalog was read (set by `from_settings`).
        self.position: Position | None = None
        self._loop_max_offroute_m = loop_max_offroute_m
        self._kind, self._status, self._amenities = _vocabularies(located)
        self.loop_places: dict[str, LoopPlace] = {}
        #: (position, place) of every live station on the loop.
        self.loop_members: list[tuple[int, LoopPlace]] = []
        # Per-station caches by id() of the Station, which each entry holds (so the id cannot be
        # reused while cached); derived catalogs share them, written stations are new objects.
        self._places: dict[int, tuple[Station, Place]] = {}
        self._static: dict[int, tuple[Station, dict[str, Any]]] = {}
        self._heads: dict[CRS, dict[int, tuple[Station, Encoded]]] = {crs: {} for crs in CRS}
        self._masks: dict[MaskKey, BoolArray | None] = {}
        if loop is not None:
            self._place_on_loop(loop, loop_max_offroute_m)

    # -- what the catalog holds ------------------------------------------------------------

    def station_at(self, position: int) -> Station:
        """The station at an index position (as the index and `mask` number them)."""
        return self._at[position]

    @cached_property
    def located(self) -> tuple[Station, ...]:
        """The stations with a position, in file order."""
        live = self._live_positions()
        order = live[np.argsort(self.index.rank[live], kind="stable")]
        return tuple(self._at[i] for i in order.tolist())

    @cached_property
    def all(self) -> tuple[Station, ...]:
        """Every station, in file order."""
        live = self._live_positions()
        ranked = [(int(r), self._at[i]) for i, r in zip(live, self.index.rank[live], strict=True)]
        ranked += list(self._unlocated.values())
        ranked.sort(key=lambda pair: pair[0])
        return tuple(s for _, s in ranked)

    @property
    def count(self) -> int:
        """How many stations (located or not)."""
        return len(self.by_id)

    def lonlat(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Longitudes and latitudes of the located stations (WGS84; any order)."""
        live = self._live_positions()
        return self.index.lons[live], self.index.lats[live]

    def _live_positions(self) -> IntArray:
        if self._alive is None:
            return np.arange(self._n, dtype=np.intp)
        return np.flatnonzero(self._alive)

    def _place_on_loop(
        self,
        loop: Loop,
        max_offroute_m: float,
        start: int = 0,
        lons: npt.NDArray[np.float64] | None = None,
        lats: npt.NDArray[np.float64] | None = None,
    ) -> None:
        """Snap the stations at positions ``start``.. (coordinates ``lons, lats``) to the loop."""
        # Only stations inside the loop's bounding box grown by max_offroute_m are snapped (a
        # national file has many). A degree of latitude is >= 110.5 km everywhere; a degree of
        # longitude shrinks with cos(latitude), so the margin uses the loop's highest latitude.
        x0, y0, x1, y1 = loop.bbox
        dlat = max_offroute_m / 110_500.0
        cos_max = math.cos(math.radians(min(89.0, max(abs(y0), abs(y1)) + dlat)))
        dlon = max_offroute_m / (111_320.0 * cos_max)
        if lons is None or lats is None:
            lons, lats = self.index.lons[start:], self.index.lats[start:]
        near = (lons >= x0 - dlon) & (lons <= x1 + dlon) & (lats >= y0 - dlat) & (lats <= y1 + dlat)
        for j in np.flatnonzero(near).tolist():
            snap = loop.snap(float(lons[j]), float(lats[j]))
            if snap.offroute_m <= max_offroute_m:
                place = LoopPlace(snap, loop.km_mark(snap.chainage_m))
                self.loop_places[self._at[start + j].id] = place
                self.loop_members.append((start + j, place))

    # -- following writes ------------------------------------------------------------------

    def with_changes(self, changes: Mapping[str, Station | None]) -> Catalog:
        """The catalog after some stations were written: id -> new station, or None (removed).

        Nothing is parsed, validated or indexed again: written stations take new positions at
        the end (their old ones die), so a worker follows a write in about a millisecond even
        at 186,000 stations; `from_settings` on the written data gives the same answers.
        Stations keep their place in the file; new ones are appended (as the store writes them).
        """
        changes = {k: v for k, v in changes.items() if v is not None or k in self._where}
        if not changes:
            return self
        dead = [self._where[k][1] for k in changes if k in self._where and self._where[k][1] >= 0]
        if (self._dead + len(dead)) > MAX_DEAD_SHARE * max(self._n, 1) and self._n > 64:
            return self._rebuilt(changes)
        out = object.__new__(Catalog)
        out.loop, out.warnings, out.position = self.loop, self.warnings, None
        out._loop_max_offroute_m = self._loop_max_offroute_m
        fresh = [s for s in changes.values() if s is not None and s.located]
        if len(self._at) != self._n:  # another catalog was derived from ours: do not share
            self._at = self._at[: self._n]
        out._at = self._at
        out._at.extend(fresh)
        start = self._n
        out._n = self._n + len(fresh)
        out._dead = self._dead + len(dead)
        alive = np.ones(out._n, bool)
        if self._alive is not None:
            alive[:start] = self._alive
        alive[dead] = False
        out._alive = alive if out._dead else None
        # File ranks: a station keeps its rank when rewritten; new ones come last.
        where: dict[str, tuple[int, int] | None] = {}
        unlocated = dict(self._unlocated)
        next_rank = self._next_rank
        ranks = []
        position = start
        for sid, station in changes.items():
            old = self._where.get(sid)
            if old is None:
                rank, next_rank = next_rank, next_rank + 1
            else:
                rank = old[0]
            unlocated.pop(sid, None)
            if station is None:
                where[sid] = None
            elif station.located:
                where[sid] = (rank, position)
                ranks.append(rank)
                position += 1
            else:
                where[sid] = (rank, -1)
                unlocated[sid] = (rank, station)
        out._where = self._where.changed(where)
        out._unlocated = unlocated
        out._next_rank = next_rank
        out.by_id = self._by_id().changed(changes)
        out.index = self.index.changed(
            np.array([s.lon for s in fresh], dtype=float),
            np.array([s.lat for s in fresh], dtype=float),
            np.array(ranks, np.intp),
        )
        kind, status, amenities = _vocabularies(fresh)
        out._kind = np.concatenate([self._kind, kind])
        out._status = np.concatenate([self._status, status])
        out._amenities = np.concatenate([self._amenities, amenities])
        # The loop: unchanged stations keep their snaps; written ones are snapped.
        out.loop_places = {k: v for k, v in self.loop_places.items() if k not in changes}
        out.loop_members = [(i, p) for i, p in self.loop_members if self._at[i].id not in changes]
        if self.loop is not None and fresh:
            out._place_on_loop(
                self.loop,
                self._loop_max_offroute_m,
                start,
                np.array([s.lon for s in fresh], dtype=float),
                np.array([s.lat for s in fresh], dtype=float),
            )
        # Caches: drop what the write made stale; derive the masks.
        # Caches are keyed by the station object itself: shared, and never stale.
        out._places, out._static, out._heads = self._places, self._static, self._heads
        out._masks = {}
        for key, mask in self._masks.items():
            part = _vocabulary_mask(kind, status, amenities, *key)
            whole = np.concatenate([np.ones(start, bool) if mask is None else mask, part])
            whole[dead] = False
            out._masks[key] = None if whole.all() else whole
        return out

    def _by_id(self) -> Overlay[Station]:
        assert isinstance(self.by_id, Overlay)
        return self.by_id

    def _rebuilt(self, changes: Mapping[str, Station | None]) -> Catalog:
        """A compact catalog of the data after ``changes`` (when many positions are dead)."""
        stations = [changes.get(s.id, s) for s in self.all]
        known = set(self._where)
        stations += [s for k, s in changes.items() if k not in known]
        return Catalog(
            [s for s in stations if s is not None],
            self.loop,
            loop_max_offroute_m=self._loop_max_offroute_m,
            warnings=self.warnings,
        )

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Settings, cache: FeatureCache | None = None) -> Catalog:
        """Load and validate the files the settings name (``cache``: stations seen before)."""
        parsed = load_stations(settings.stations_path, cache)
        loop = load_loop(settings.loop_path, calibrate=settings.calibrate_loop)
        catalog = cls(
            parsed.stations,
            loop,
            loop_max_offroute_m=settings.loop_max_offroute_m,
            warnings=parsed.warnings,
        )
        catalog.position = parsed.position
        return catalog

    @classmethod
    def from_paths(cls, stations_path: Path, loop_path: Path | None = None) -> Catalog:
        """Load from explicit paths with default settings otherwise."""
        settings = Settings(_env_file=None, stations_path=stations_path)
        if loop_path is not None:
            settings.loop_path = loop_path
        return cls.from_settings(settings)

    # -- filters ---------------------------------------------------------------------------

    def mask(
        self,
        kinds: Iterable[Kind | str] = (),
        amenities: Iterable[Amenity | str] = (),
        statuses: Iterable[Status | str] = (),
    ) -> BoolArray | None:
        """Boolean mask over index positions: live, any of ``kinds``, all of ``amenities``...

        None means "every position". Masks are cached per filter combination (and carried
        over to derived catalogs), so a query pays O(n) only the first time it is asked.
        """
        if not kinds and not amenities and statuses == _OPEN:
            key = _OPEN_KEY  # the riders' default, without building and hashing enum sets
        else:
            key = (
                frozenset(Kind(k) for k in kinds),
                frozenset(Amenity(a) for a in amenities),
                frozenset(Status(s) for s in statuses),
            )
        if key not in self._masks:
            _remember(self._masks, key, self._build_mask(*key), limit=256)
        return self._masks[key]

    def _build_mask(
        self, kinds: frozenset[Kind], amenities: frozenset[Amenity], statuses: frozenset[Status]
    ) -> BoolArray | None:
        out = _vocabulary_mask(
            self._kind, self._status, self._amenities, kinds, amenities, statuses
        )
        if self._alive is not None:
            out &= self._alive
        return None if out.all() else out

    def select(
        self,
        kinds: Iterable[Kind | str] = (),
        amenities: Iterable[Amenity | str] = (),
        statuses: Iterable[Status | str] = (),
        bbox: tuple[float, float, float, float] | None = None,
    ) -> list[Station]:
        """Stations matching the filters (and inside ``bbox``, which unlocated ones never are).

        Order is the file's order, so paging with offsets is stable.
        """
        kinds, amenities, statuses = list(kinds), list(amenities), list(statuses)
        mask = self.mask(kinds, amenities, statuses)
        keep = np.ones(self._n, bool) if mask is None else mask
        if bbox is not None:
            x0, y0, x1, y1 = bbox
            lons, lats = self.index.lons, self.index.lats
            keep = keep & (lons >= x0) & (lons <= x1) & (lats >= y0) & (lats <= y1)
        positions = np.flatnonzero(keep)
        ranks = self.index.rank[positions]
        ranked = list(zip(ranks.tolist(), positions.tolist(), strict=True))
        found: list[tuple[int, Station]] = [(r, self._at[i]) for r, i in ranked]
        if bbox is None and self._unlocated:
            kind_set = {Kind(k) for k in kinds}
            status_set = {Status(s) for s in statuses}
            need = {Amenity(a) for a in amenities}
            for rank, s in self._unlocated.values():
                p = s.props
                if (
                    (not kind_set or p.kind in kind_set)
                    and (not status_set or p.status in status_set)
                    and need <= set(p.amenities)
                ):
                    found.append((rank, s))
        found.sort(key=lambda pair: pair[0])
        return [s for _, s in found]

    # -- per-station derived values ----------------------------------------------------------

    def static_properties(self, station: Station) -> dict[str, Any]:
        """The station's properties as JSON-ready values plus its ``loop_km`` (a fresh copy).

        Both never change for a loaded catalog, so they are serialised once and cached: the
        pydantic dump was the largest cost of building a feature on the query path.
        """
        cached = self._static.get(id(station))
        if cached is not None and cached[0] is station:
            return dict(cached[1])
        props = station.props.model_dump(mode="json")
        place = self.loop_places.get(station.id)
        props["loop_km"] = round(place.loop_km, 3) if place else None
        _remember(self._static, id(station), (station, props), CACHE_LIMIT)
        return dict(props)

    def encoder(self, crs: CRS) -> Callable[[Station], Encoded]:
        """A function giving a station's `Encoded` feature in ``crs`` (cached).

        The bytes end inside ``properties``, ready for a next member: an answer appends the
        fields it derives per query (``open_now``, distances, links) and closes both objects,
        so the static part of a feature is serialised once per coordinate system, not once per
        answer (`stations.query.Answer.encode`). The navigation links' template and whether
        ``open_now`` depends on the clock come in the same lookup. One function per answer:
        each of its stations then costs one lookup by ``id`` (an enum in a key would cost a
        Python-level ``__hash__`` per station).
        """
        cache = self._heads[crs]

        def encoding(station: Station) -> Encoded:
            cached = cache.get(id(station))
            if cached is not None and cached[0] is station:
                return cached[1]
            record = self._encode(station, crs)
            _remember(cache, id(station), (station, record), CACHE_LIMIT)
            return record

        return encoding

    def _encode(self, station: Station, crs: CRS) -> Encoded:
        props = self.static_properties(station)
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

    def place(self, station: Station) -> Place:
        """The station in GCJ-02/BD-09 for navigation links, converted once and cached."""
        cached = self._places.get(id(station))
        if cached is not None and cached[0] is station:
            return cached[1]
        assert station.lon is not None and station.lat is not None
        place = Place.from_wgs84(station.lon, station.lat, station.props.name)
        _remember(self._places, id(station), (station, place), CACHE_LIMIT)
        return place

    def counts_by_kind(self) -> dict[str, int]:
        """How many stations of each kind (located or not)."""
        counts: dict[str, int] = {}
        for s in self.by_id.values():
            counts[s.props.kind.value] = counts.get(s.props.kind.value, 0) + 1
        return counts
