"""The loaded data: stations, their index and the loop, built once and queried many times."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt

from stations.index import BoolArray, GeoIndex
from stations.loading import FeatureCache, Position, Station, load_stations
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


AMENITY_BIT = {a: 1 << i for i, a in enumerate(Amenity)}


def _vocabularies(
    stations: Sequence[Station],
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.object_], npt.NDArray[np.int64]]:
    """Kind, status and amenity bits of each station, as arrays for vectorised filters."""
    kind = np.array([s.props.kind.value for s in stations], dtype=object)
    status = np.array([s.props.status.value for s in stations], dtype=object)
    amenities = np.array(
        [sum(AMENITY_BIT[a] for a in s.props.amenities) for s in stations], dtype=np.int64
    )
    return kind, status, amenities


def _vocabulary_mask(
    kind: npt.NDArray[np.object_],
    status: npt.NDArray[np.object_],
    amenity_bits: npt.NDArray[np.int64],
    kinds: frozenset[Kind],
    amenities: frozenset[Amenity],
    statuses: frozenset[Status],
) -> BoolArray:
    """Any of ``kinds``, one of ``statuses``, all of ``amenities`` (empty: no condition)."""
    out = np.ones(len(kind), dtype=bool)
    if kinds:
        out &= np.isin(kind, [k.value for k in kinds])
    if statuses:
        out &= np.isin(status, [s.value for s in statuses])
    bits = sum(AMENITY_BIT[a] for a in amenities)
    if bits:
        out &= (amenity_bits & bits) == bits
    return out


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
        #: id -> position in `all`
        self._pos = {s.id: i for i, s in enumerate(self.all)}
        self.located: tuple[Station, ...] = tuple(s for s in self.all if s.located)
        self._located_pos = np.array([i for i, s in enumerate(self.all) if s.located], np.intp)
        self._unlocated_pos = [i for i, s in enumerate(self.all) if not s.located]
        self._index_located()
        # Ties between equally distant stations go by their place in the file.
        self.index = GeoIndex(
            np.array([s.lon for s in self.located], dtype=float),
            np.array([s.lat for s in self.located], dtype=float),
            self._located_pos,
        )
        self.loop = loop
        self.warnings = warnings or []
        #: How far into the data files this catalog was read (set by `from_settings`).
        self.position: Position | None = None
        self._loop_max_offroute_m = loop_max_offroute_m
        self._kind, self._status, self._amenities = _vocabularies(self.located)
        self.loop_places: dict[str, LoopPlace] = {}
        #: (position among located stations, place) of every station on the loop.
        self.loop_members: list[tuple[int, LoopPlace]] = []
        self._places: dict[str, Place] = {}
        self._static: dict[str, dict[str, Any]] = {}
        self._masks: dict[tuple[frozenset[Any], ...], BoolArray | None] = {}
        if loop is not None:
            self._place_on_loop(loop, loop_max_offroute_m)

    def _place_on_loop(self, loop: Loop, max_offroute_m: float, start: int = 0) -> None:
        # Only stations inside the loop's bounding box grown by max_offroute_m are snapped (a
        # national file has many). A degree of latitude is >= 110.5 km everywhere; a degree of
        # longitude shrinks with cos(latitude), so the margin uses the loop's highest latitude.
        x0, y0, x1, y1 = loop.bbox
        dlat = max_offroute_m / 110_500.0
        cos_max = math.cos(math.radians(min(89.0, max(abs(y0), abs(y1)) + dlat)))
        dlon = max_offroute_m / (111_320.0 * cos_max)
        lons, lats = self.index.lons[start:], self.index.lats[start:]
        near = (lons >= x0 - dlon) & (lons <= x1 + dlon) & (lats >= y0 - dlat) & (lats <= y1 + dlat)
        for j in np.flatnonzero(near).tolist():
            snap = loop.snap(float(lons[j]), float(lats[j]))
            if snap.offroute_m <= max_offroute_m:
                place = LoopPlace(snap, loop.km_mark(snap.chainage_m))
                self.loop_places[self.located[start + j].id] = place
                self.loop_members.append((start + j, place))

    def with_changes(self, changes: dict[str, Station | None]) -> Catalog:
        """The catalog after some stations were written: id -> new station, or None (removed).

        The riders' index is derived, not rebuilt (`GeoIndex.changed`), and nothing is parsed or
        validated again, so a worker follows a write in milliseconds even at 186,000 stations;
        `from_settings` on the written data gives the same answers. Stations keep their place
        in the file; new ones are appended (as the store writes them).
        """
        if not changes:
            return self
        out = object.__new__(Catalog)
        out.loop, out.warnings, out.position = self.loop, self.warnings, None
        out._loop_max_offroute_m = self._loop_max_offroute_m
        # Every station, in file order.
        stations: list[Station | None] = list(self.all)
        appended: list[Station] = []
        for sid, station in changes.items():
            at = self._pos.get(sid)
            if at is not None:
                stations[at] = station
            elif station is not None:
                appended.append(station)
        removed = sorted(
            self._pos[sid] for sid, st in changes.items() if st is None and sid in self._pos
        )
        kept_all = [s for s in stations if s is not None] if removed else stations
        out.all = cast(tuple[Station, ...], tuple(kept_all)) + tuple(appended)
        out.by_id = dict(self.by_id)
        for sid, station in changes.items():
            if station is None:
                out.by_id.pop(sid, None)
            else:
                out.by_id[sid] = station
        if removed:
            out._pos = {s.id: i for i, s in enumerate(out.all)}
        else:
            out._pos = dict(self._pos)
            base = len(self.all)
            for j, station in enumerate(appended):
                out._pos[station.id] = base + j
        gone = np.asarray(removed, np.intp)

        def shifted(positions: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
            return positions - np.searchsorted(gone, positions) if gone.size else positions

        # Located stations: unchanged ones keep their order, written ones go last.
        keep = np.ones(len(self.located), bool)
        for sid in changes:
            at = self._pos.get(sid)
            if at is not None and self._located_of[at] >= 0:
                keep[self._located_of[at]] = False
        fresh = [s for s in changes.values() if s is not None and s.located]
        located = list(self.located)
        for i in np.flatnonzero(~keep)[::-1].tolist():
            del located[i]
        out.located = tuple(located) + tuple(fresh)
        out._located_pos = np.concatenate(
            [shifted(self._located_pos[keep]), np.array([out._pos[s.id] for s in fresh], np.intp)]
        )
        unlocated = [p for p in self._unlocated_pos if self.all[p].id not in changes]
        out._unlocated_pos = sorted(
            [int(p) for p in shifted(np.array(unlocated, np.intp))]
            + [out._pos[s.id] for s in changes.values() if s is not None and not s.located]
        )
        out._index_located()
        out.index = self.index.changed(
            keep,
            np.array([s.lon for s in fresh], dtype=float),
            np.array([s.lat for s in fresh], dtype=float),
            out._located_pos,
        )
        kind, status, amenities = _vocabularies(fresh)
        out._kind = np.concatenate([self._kind[keep], kind])
        out._status = np.concatenate([self._status[keep], status])
        out._amenities = np.concatenate([self._amenities[keep], amenities])
        # The loop: unchanged stations keep their snaps; written ones are snapped.
        remap = np.cumsum(keep) - 1
        out.loop_places = {k: v for k, v in self.loop_places.items() if k not in changes}
        out.loop_members = [(int(remap[i]), p) for i, p in self.loop_members if keep[i]]
        if self.loop is not None and fresh:
            out._place_on_loop(self.loop, self._loop_max_offroute_m, start=int(keep.sum()))
        # Caches: drop what the write made stale; derive the vocabulary masks.
        out._places, out._static = dict(self._places), dict(self._static)
        for sid in changes:
            out._places.pop(sid, None)
            out._static.pop(sid, None)
        out._masks = {}
        for key, mask in self._masks.items():
            part = _vocabulary_mask(kind, status, amenities, *key)
            before = np.ones(int(keep.sum()), bool) if mask is None else mask[keep]
            whole = np.concatenate([before, part])
            out._masks[key] = None if whole.all() else whole
        return out

    def _index_located(self) -> None:
        """`_located_of`: position in `all` -> position among located stations, or -1."""
        self._located_of = np.full(len(self.all), -1, np.intp)
        self._located_of[self._located_pos] = np.arange(len(self.located))

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
        out = _vocabulary_mask(
            self._kind, self._status, self._amenities, kinds, amenities, statuses
        )
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
        # File order (written stations sit at the end of the located arrays).
        positions = np.sort(self._located_pos[keep]).tolist()
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
