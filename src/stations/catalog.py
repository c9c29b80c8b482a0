"""The loaded data: stations, their index, filter masks and places on the loop.

Located stations have a *position* (their row in the index and the filter arrays) that never
changes for the life of a catalog and of the catalogs derived from it by `Catalog.with_changes`:
a written station gets a new position at the end and its old one is marked dead, so following a
write costs O(changes) Python work plus a few O(n) numpy copies instead of a reload. Queries see
only live positions through the masks (`Catalog.mask`); `located` and `all` list the live
stations in file order. How stations become Features is `stations.features`' job. From a column
file (`from_columns`) stations stay mapped arrays, a record made only when asked for.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from stations.coords import in_bbox
from stations.features import CACHE_LIMIT, Encodings
from stations.index import BoolArray, GeoIndex
from stations.loop import Loop, Snap
from stations.masks import OPEN, OPEN_KEY, Vocabulary
from stations.models import Amenity, Kind, Station, Status
from stations.rows import Records, Rows, picked
from stations.settings import Settings
from stations.storage import columns as column_file
from stations.storage.loading import FeatureCache
from stations.storage.snapshot import Position, StorePosition
from stations.storage.store import read_loop, read_stations

#: Past this share of dead positions, `with_changes` builds a compact catalog afresh.
MAX_DEAD_SHARE = 0.25

BBox = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class LoopPlace:
    """A station's place on the loop: its snap and km mark (calibrated per the loop)."""

    snap: Snap
    loop_km: float


def _snap_to_loop(
    loop: Loop,
    max_offroute_m: float,
    lons: npt.NDArray[np.float64],
    lats: npt.NDArray[np.float64],
    start: int = 0,
) -> list[tuple[int, LoopPlace]]:
    """(position, place) of the stations near the loop, from position ``start`` on.

    ``lons, lats``: the coordinates of the stations at positions ``start``, ``start + 1``...
    A station is on the loop within ``max_offroute_m`` of it. Only stations inside the loop's
    bounding box grown by ``max_offroute_m`` are snapped (a national file has many). A degree
    of latitude is >= 110.5 km everywhere; a degree of longitude shrinks with cos(latitude),
    so the margin uses the loop's highest latitude.
    """
    x0, y0, x1, y1 = loop.bbox
    dlat = max_offroute_m / 110_500.0
    cos_max = math.cos(math.radians(min(89.0, max(abs(y0), abs(y1)) + dlat)))
    dlon = max_offroute_m / (111_320.0 * cos_max)
    near = in_bbox(lons, lats, (x0 - dlon, y0 - dlat, x1 + dlon, y1 + dlat))
    out = []
    for j in np.flatnonzero(near).tolist():
        snap = loop.snap(float(lons[j]), float(lats[j]))
        if snap.offroute_m <= max_offroute_m:
            out.append((start + j, LoopPlace(snap, loop.km_mark(snap.chainage_m))))
    return out


@dataclass(frozen=True, slots=True)
class _Parts:
    """What a catalog is made of, as `with_changes` derives it from another catalog."""

    rows: Rows
    index: GeoIndex
    vocabulary: Vocabulary
    loop_members: list[tuple[int, LoopPlace]]
    #: The caches of the catalog derived from (None: new ones).
    encodings: Encodings | None


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
    cache_entries
        Stations whose encoded features are kept (`Settings.station_cache_entries`).
    parts
        Only for `with_changes` and `from_columns`: the parts it derived (``stations`` is then
        not read).
    """

    def __init__(
        self,
        stations: Iterable[Station] = (),
        loop: Loop | None = None,
        *,
        loop_max_offroute_m: float = 5_000.0,
        warnings: list[str] | None = None,
        cache_entries: int = CACHE_LIMIT,
        parts: _Parts | None = None,
    ) -> None:
        self.loop = loop
        self.warnings = warnings or []
        self._cache_entries = cache_entries
        #: How far into the data files this catalog was read (set by `from_settings`).
        self.position: StorePosition | None = None
        self._loop_max_offroute_m = loop_max_offroute_m
        if parts is None:
            parts = self._load(list(stations))
        self._rows = parts.rows
        self.index = parts.index
        self._vocabulary = parts.vocabulary
        #: (position, place) of every live station on the loop, and the places by id.
        self.loop_members = parts.loop_members
        self.loop_places = {self._rows.at[i].id: place for i, place in self.loop_members}
        if parts.encodings is None:
            self.encodings = Encodings(self.loop_places, cache_entries)
        else:
            self.encodings = parts.encodings.derived(self.loop_places)

    def _load(self, listed: list[Station]) -> _Parts:
        """The parts of a catalog of ``listed`` stations, built from scratch."""
        rows = Rows.of(listed)
        located = rows.at
        rank = np.array([i for i, s in enumerate(listed) if s.located], np.intp)
        # Ties between equally distant stations go by their place in the file.
        lons, lats = _coordinates(located)
        index = GeoIndex(lons, lats, rank)
        members = []
        if self.loop is not None:
            members = _snap_to_loop(self.loop, self._loop_max_offroute_m, lons, lats)
        return _Parts(rows, index, Vocabulary.of(located), members, None)

    # -- what the catalog holds ------------------------------------------------------------

    @property
    def by_id(self) -> Mapping[str, Station]:
        """Every station, by id."""
        return self._rows.by_id

    def station_at(self, position: int) -> Station:
        """The station at an index position (as the index and `mask` number them)."""
        return a.at(position) if isinstance(a := self._rows.at, Records) else a[position]

    @cached_property
    def located(self) -> Sequence[Station]:
        """The stations with a position, in file order (from a column file: made when read)."""
        live = self._rows.live()
        order = live[np.argsort(self.index.rank[live], kind="stable")]
        if isinstance(self._rows.at, Records):
            return picked(self._rows.at, order, self.index.rank[order])
        return tuple(self._rows.at[i] for i in order.tolist())

    @cached_property
    def all(self) -> Sequence[Station]:
        """Every station, in file order (from a column file: made when read)."""
        live = self._rows.live()
        at = self._rows.at
        if isinstance(at, Records):
            return picked(at, live, self.index.rank[live], list(self._rows.unlocated.values()))
        ranked = [(int(r), at[i]) for i, r in zip(live, self.index.rank[live], strict=True)]
        ranked += list(self._rows.unlocated.values())
        ranked.sort(key=lambda pair: pair[0])
        return tuple(s for _, s in ranked)

    @property
    def count(self) -> int:
        """How many stations (located or not)."""
        return len(self._rows.by_id)

    def lonlat(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Longitudes and latitudes of the located stations (WGS84; any order)."""
        live = self._rows.live()
        return self.index.lons[live], self.index.lats[live]

    def extent(self) -> BBox | None:
        """The WGS84 box (west, south, east, north) around the located stations; None if none."""
        lons, lats = self.lonlat()
        if not lons.size:
            return None
        return float(lons.min()), float(lats.min()), float(lons.max()), float(lats.max())

    def counts_by_kind(self) -> dict[str, int]:
        """How many stations of each kind (located or not)."""
        counts: dict[str, int] = {}
        for s in self.by_id.values():
            counts[s.props.kind.value] = counts.get(s.props.kind.value, 0) + 1
        return counts

    # -- following writes ------------------------------------------------------------------

    def with_changes(self, changes: Mapping[str, Station | None]) -> Catalog:
        """The catalog after some stations were written: id -> new station, or None (removed).

        Nothing is parsed, validated or indexed again: written stations take new positions at
        the end (their old ones die), and `from_settings` on the written data gives the same
        answers. Stations keep their place in the file; new ones are appended (as the store
        writes them). Past `MAX_DEAD_SHARE` dead positions the catalog is built afresh.
        """
        changes = {k: v for k, v in changes.items() if v is not None or k in self._rows.where}
        if not changes:
            return self
        dead = self._rows.positions(changes)
        n = self._rows.n
        if (self._rows.dead + len(dead)) > MAX_DEAD_SHARE * max(n, 1) and n > 64:
            return self._rebuilt(changes)
        rows, fresh, ranks = self._rows.changed(changes, dead)
        lons, lats = _coordinates(fresh)
        # The loop: unchanged stations keep their snaps; written ones are snapped.
        members = [(i, p) for i, p in self.loop_members if rows.at[i].id not in changes]
        if self.loop is not None and fresh:
            members += _snap_to_loop(self.loop, self._loop_max_offroute_m, lons, lats, start=n)
        parts = _Parts(
            rows,
            self.index.changed(lons, lats, ranks),
            self._vocabulary.changed(fresh, dead),
            members,
            self.encodings,  # keyed by the station objects: shared, and never stale
        )
        return Catalog(
            loop=self.loop,
            loop_max_offroute_m=self._loop_max_offroute_m,
            warnings=self.warnings,
            cache_entries=self._cache_entries,
            parts=parts,
        )

    def _rebuilt(self, changes: Mapping[str, Station | None]) -> Catalog:
        """A compact catalog of the data after ``changes`` (when many positions are dead)."""
        stations = [changes.get(s.id, s) for s in self.all]
        known = set(self._rows.where)
        stations += [s for k, s in changes.items() if k not in known]
        return Catalog(
            [s for s in stations if s is not None],
            self.loop,
            loop_max_offroute_m=self._loop_max_offroute_m,
            warnings=self.warnings,
            cache_entries=self._cache_entries,
        )

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Settings, cache: FeatureCache | None = None) -> Catalog:
        """Load and validate the stations and loop the settings name (``cache``: seen before).

        A current column file (`storage.columns`) is mapped instead of the GeoJSON files: its
        stations passed validation when written; a large file read gets one for the next start.
        """
        path = settings.stations_path
        if not settings.database_url:
            columns = column_file.load(path, settings.station_cache_entries)
            if columns is not None:
                return cls.from_columns(columns, read_loop(settings), settings)
        parsed = read_stations(settings, cache)
        # After the stations: a loop replaced in between is newer than their position, so a
        # replica meets its change-log row and reloads once more (never an older loop).
        loop = read_loop(settings)
        catalog = cls(
            parsed.stations,
            loop,
            loop_max_offroute_m=settings.loop_max_offroute_m,
            warnings=parsed.warnings,
            cache_entries=settings.station_cache_entries,
        )
        catalog.position = parsed.position
        big = len(parsed.stations) >= settings.columns_min_stations
        if big and isinstance(parsed.position, Position):  # the files (not a database)
            column_file.write(path, parsed.stations, parsed.position, parsed.warnings)
        return catalog

    @classmethod
    def from_columns(
        cls, columns: column_file.Columns, loop: Loop | None, settings: Settings
    ) -> Catalog:
        """A column file's stations, arrays as they are, no record made.

        Positions are numbered in file order as `_load` does: the answers are the GeoJSON's.
        """
        rows, located = Rows.from_columns(columns, settings.station_cache_entries)
        every = located.size == columns.count  # then the mapped arrays serve as they are

        def pick(array: Any) -> Any:
            return array if every else array[located]

        lons, lats = pick(columns.lon), pick(columns.lat)
        index = GeoIndex(lons, lats, located, xyz=pick(columns.xyz))
        vocabulary = Vocabulary(pick(columns.kind), pick(columns.status), pick(columns.amenities))
        members = []
        if loop is not None:
            members = _snap_to_loop(loop, settings.loop_max_offroute_m, lons, lats)
        catalog = cls(
            loop=loop,
            loop_max_offroute_m=settings.loop_max_offroute_m,
            warnings=columns.warnings,
            cache_entries=settings.station_cache_entries,
            parts=_Parts(rows, index, vocabulary, members, None),
        )
        catalog.position = columns.position
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

        None means "every position" (cached per filter combination, see `Vocabulary`).
        """
        if not kinds and not amenities and statuses == OPEN:
            key = OPEN_KEY  # the riders' default, without building and hashing enum sets
        else:
            key = (
                frozenset(Kind(k) for k in kinds),
                frozenset(Amenity(a) for a in amenities),
                frozenset(Status(s) for s in statuses),
            )
        return self._vocabulary.mask(key, self._rows.alive)

    def select(
        self,
        kinds: Iterable[Kind | str] = (),
        amenities: Iterable[Amenity | str] = (),
        statuses: Iterable[Status | str] = (),
        bbox: BBox | None = None,
    ) -> Sequence[Station]:
        """Stations matching the filters (and inside ``bbox``, which unlocated ones never are).

        Order is the file's order, so paging with offsets is stable. From a column file, a
        station is made only when read (a page of a long listing makes only its page).
        """
        kinds, amenities, statuses = list(kinds), list(amenities), list(statuses)
        mask = self.mask(kinds, amenities, statuses)
        keep = np.ones(self._rows.n, bool) if mask is None else mask
        if bbox is not None:
            keep = keep & in_bbox(self.index.lons, self.index.lats, bbox)
        positions = np.flatnonzero(keep)
        ranks = self.index.rank[positions]
        at = self._rows.at
        if isinstance(at, Records):
            found: list[tuple[int, Station]] = []
        else:
            found = [(r, at[i]) for r, i in zip(ranks.tolist(), positions.tolist(), strict=True)]
        if bbox is None and self._rows.unlocated:
            kind_set = {Kind(k) for k in kinds}
            status_set = {Status(s) for s in statuses}
            need = {Amenity(a) for a in amenities}
            for rank, s in self._rows.unlocated.values():
                p = s.props
                if (
                    (not kind_set or p.kind in kind_set)
                    and (not status_set or p.status in status_set)
                    and need <= set(p.amenities)
                ):
                    found.append((rank, s))
        if isinstance(at, Records):
            return picked(at, positions, ranks, found)
        found.sort(key=lambda pair: pair[0])
        return [s for _, s in found]


def _coordinates(
    stations: Sequence[Station],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Longitudes and latitudes of located stations, as float arrays."""
    return (
        np.array([s.lon for s in stations], dtype=float),
        np.array([s.lat for s in stations], dtype=float),
    )
