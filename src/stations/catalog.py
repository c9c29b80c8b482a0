"""The loaded data: stations, their index and the loop, built once and queried many times."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from stations.index import BoolArray, GeoIndex
from stations.loading import FeatureCache, Station, load_stations
from stations.loop import Loop, Snap, load_loop
from stations.models import Amenity, Kind, Status
from stations.navigation import Place
from stations.settings import Settings

#: Per-station caches hold at most this many entries: riders ask about the same nearby stations
#: again and again, while a national file (1M stations) must not end up copied into every worker.
CACHE_LIMIT = 20_000

K = TypeVar("K")
V = TypeVar("V")


def _remember(cache: dict[K, V], key: K, value: V, limit: int) -> None:
    """Store in a bounded cache; when full, start afresh (O(1), and hot entries return fast)."""
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value


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
        Validated stations (located and unlocated).
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
        self.all: tuple[Station, ...] = tuple(stations)
        self.by_id = {s.id: s for s in self.all}
        self.located: tuple[Station, ...] = tuple(s for s in self.all if s.located)
        self._located_pos = np.array([i for i, s in enumerate(self.all) if s.located], np.intp)
        self._unlocated_pos = [i for i, s in enumerate(self.all) if not s.located]
        self.index = GeoIndex(
            np.array([s.lon for s in self.located], dtype=float),
            np.array([s.lat for s in self.located], dtype=float),
        )
        self.loop = loop
        self.warnings = warnings or []
        self._kind = np.array([s.props.kind.value for s in self.located], dtype=object)
        self._status = np.array([s.props.status.value for s in self.located], dtype=object)
        amenity_bits = {a: 1 << i for i, a in enumerate(Amenity)}
        self._amenity_bit = amenity_bits
        self._amenities = np.array(
            [sum(amenity_bits[a] for a in s.props.amenities) for s in self.located],
            dtype=np.int64,
        )
        self.loop_places: dict[str, LoopPlace] = {}
        #: (position among located stations, place) of every station on the loop.
        self.loop_members: list[tuple[int, LoopPlace]] = []
        self._places: dict[str, Place] = {}
        self._static: dict[str, dict[str, Any]] = {}
        self._masks: dict[tuple[frozenset[Any], ...], BoolArray | None] = {}
        if loop is not None:
            self._place_on_loop(loop, loop_max_offroute_m)

    def _place_on_loop(self, loop: Loop, max_offroute_m: float) -> None:
        # Only stations inside the loop's bounding box grown by max_offroute_m are snapped (a
        # national file has many). A degree of latitude is >= 110.5 km everywhere; a degree of
        # longitude shrinks with cos(latitude), so the margin uses the loop's highest latitude.
        x0, y0, x1, y1 = loop.bbox
        dlat = max_offroute_m / 110_500.0
        cos_max = math.cos(math.radians(min(89.0, max(abs(y0), abs(y1)) + dlat)))
        dlon = max_offroute_m / (111_320.0 * cos_max)
        lons, lats = self.index.lons, self.index.lats
        near = (lons >= x0 - dlon) & (lons <= x1 + dlon) & (lats >= y0 - dlat) & (lats <= y1 + dlat)
        for i in np.flatnonzero(near).tolist():
            snap = loop.snap(float(lons[i]), float(lats[i]))
            if snap.offroute_m <= max_offroute_m:
                place = LoopPlace(snap, loop.km_mark(snap.chainage_m))
                self.loop_places[self.located[i].id] = place
                self.loop_members.append((i, place))

    @classmethod
    def from_settings(cls, settings: Settings, cache: FeatureCache | None = None) -> Catalog:
        """Load and validate the files the settings name (``cache``: stations seen before)."""
        parsed = load_stations(settings.stations_path, cache)
        loop = load_loop(settings.loop_path, calibrate=settings.calibrate_loop)
        return cls(
            parsed.stations,
            loop,
            loop_max_offroute_m=settings.loop_max_offroute_m,
            warnings=parsed.warnings,
        )

    @classmethod
    def from_paths(cls, stations_path: Path, loop_path: Path | None = None) -> Catalog:
        """Load from explicit paths with default settings otherwise."""
        settings = Settings(_env_file=None, stations_path=stations_path)
        if loop_path is not None:
            settings.loop_path = loop_path
        return cls.from_settings(settings)

    def mask(
        self,
        kinds: Iterable[Kind | str] = (),
        amenities: Iterable[Amenity | str] = (),
        statuses: Iterable[Status | str] = (),
    ) -> BoolArray | None:
        """Boolean mask over located stations: any of ``kinds``, all of ``amenities``, statuses.

        None means "every located station". Masks are cached per filter combination (the
        catalog never changes), so a query pays O(n) only the first time it is asked.
        """
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
        out = np.ones(len(self.located), dtype=bool)
        if kinds:
            out &= np.isin(self._kind, [k.value for k in kinds])
        if statuses:
            out &= np.isin(self._status, [s.value for s in statuses])
        bits = sum(self._amenity_bit[a] for a in amenities)
        if bits:
            out &= (self._amenities & bits) == bits
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
        keep = np.ones(len(self.located), bool) if mask is None else mask
        if bbox is not None:
            x0, y0, x1, y1 = bbox
            lons, lats = self.index.lons, self.index.lats
            keep = keep & (lons >= x0) & (lons <= x1) & (lats >= y0) & (lats <= y1)
        positions = self._located_pos[keep].tolist()
        if bbox is None:
            kind_set = {Kind(k) for k in kinds}
            status_set = {Status(s) for s in statuses}
            need = {Amenity(a) for a in amenities}
            for i in self._unlocated_pos:
                p = self.all[i].props
                if (
                    (not kind_set or p.kind in kind_set)
                    and (not status_set or p.status in status_set)
                    and need <= set(p.amenities)
                ):
                    positions.append(i)
            positions.sort()
        return [self.all[i] for i in positions]

    def static_properties(self, station: Station) -> dict[str, Any]:
        """The station's properties as JSON-ready values plus its ``loop_km`` (a fresh copy).

        Both never change for a loaded catalog, so they are serialised once and cached: the
        pydantic dump was the largest cost of building a feature on the query path.
        """
        cached = self._static.get(station.id)
        if cached is None:
            cached = station.props.model_dump(mode="json")
            place = self.loop_places.get(station.id)
            cached["loop_km"] = round(place.loop_km, 3) if place else None
            _remember(self._static, station.id, cached, CACHE_LIMIT)
        return dict(cached)

    def place(self, station: Station) -> Place:
        """The station in GCJ-02/BD-09 for navigation links, converted once and cached."""
        place = self._places.get(station.id)
        if place is None:
            assert station.lon is not None and station.lat is not None
            place = Place.from_wgs84(station.lon, station.lat, station.props.name)
            _remember(self._places, station.id, place, CACHE_LIMIT)
        return place

    def counts_by_kind(self) -> dict[str, int]:
        """How many stations of each kind (located or not)."""
        counts: dict[str, int] = {}
        for s in self.all:
            counts[s.props.kind.value] = counts.get(s.props.kind.value, 0) + 1
        return counts
