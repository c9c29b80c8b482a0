"""Which station is where in a catalog: index positions, file ranks, liveness, ids.

A catalog gives each located station a *position* (its row in the index and the filter arrays).
`Rows` records them; `Rows.changed` derives the rows after a write in O(changes): written
stations take new positions at the end, their old ones die, and the id mappings are `Overlay`s
of the few changed ids over the shared dicts of the catalog first loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

import numpy as np

from stations.index import BoolArray, IntArray
from stations.models import Station
from stations.storage.columns import Columns

#: Past this many changed ids, a derived catalog's overlays are folded into plain dicts.
OVERLAY_LIMIT = 4096

V = TypeVar("V")

_GONE: Any = object()


class Overlay(Mapping[str, V], Generic[V]):
    """A read-only mapping: a shared base dict under a small dict of changes (O(1) to derive)."""

    def __init__(
        self, base: Mapping[str, V], top: dict[str, Any] | None = None, length: int | None = None
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
        if len(top) > OVERLAY_LIMIT and isinstance(self._base, dict):  # a lazy base stays
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


class Records(Sequence[Station]):
    """Stations by position, made from a column file on demand, then those appended since.

    ``ranks``: the file rank of each position the column file gives (the located stations).
    Derived catalogs share the columns, and the stations made so far, and extend their own list
    of appended stations.

    `at` is the query path's way in (`Catalog.station_at`): a station asked for before is one
    lookup in a plain dict by position, as a list index was when every station was an object.
    Going through ``ranks`` (a NumPy scalar), the column file's LRU and its reordering on every
    hit cost ~1 µs a station, ~5 µs per nearest answer, measurable over HTTP
    (docs/benchmarks.md, the lean-replica section). The dict keeps at most ``limit`` stations
    (`Settings.station_cache_entries`), the first made going first: no reordering on a hit.
    """

    def __init__(
        self,
        columns: Columns,
        ranks: IntArray,
        added: list[Station] | None = None,
        *,
        limit: int = 20_000,
        made: dict[int, Station] | None = None,
    ) -> None:
        self._columns = columns
        self._ranks = ranks
        self._base = int(ranks.size)
        self._added = added if added is not None else []
        self._limit = max(1, limit)
        self._made: dict[int, Station] = made if made is not None else {}

    def at(self, i: int) -> Station:
        """The station at position ``i`` (the query path's `__getitem__`)."""
        found = self._made.get(i)
        if found is not None:
            return found
        if i >= self._base:
            return self._added[i - self._base]
        station = self._columns.station(int(self._ranks[i]))
        made = self._made
        made[int(i)] = station
        if len(made) > self._limit:
            try:  # the first made goes (another thread may have taken it meanwhile)
                del made[next(iter(made))]
            except (KeyError, RuntimeError, StopIteration):
                pass
        return station

    @overload
    def __getitem__(self, i: int) -> Station: ...
    @overload
    def __getitem__(self, i: slice) -> Records: ...
    def __getitem__(self, i: int | slice) -> Station | Records:
        if isinstance(i, slice):  # only a head, as `Rows.changed` takes it
            assert i.start is None and i.step is None and i.stop is not None
            return Records(
                self._columns,
                self._ranks,
                self._added[: i.stop - self._base],
                limit=self._limit,
                made=self._made,
            )
        return self.at(i)

    def __len__(self) -> int:
        return self._base + len(self._added)

    def extend(self, stations: Iterable[Station]) -> None:
        """Append stations (at the next positions)."""
        self._added.extend(stations)


class Picked(Sequence[Station]):
    """Some of a catalog's stations in a given order, each made only when read.

    ``order`` holds index positions, or ``-k - 1`` for the k-th of ``extra`` (unlocated
    stations, which have no position). A page of a national listing then makes only its page.
    """

    def __init__(
        self, at: Sequence[Station], order: IntArray, extra: Sequence[Station] = ()
    ) -> None:
        self._at, self._order, self._extra = at, order, extra

    def _one(self, code: int) -> Station:
        return self._at[code] if code >= 0 else self._extra[-code - 1]

    @overload
    def __getitem__(self, i: int) -> Station: ...
    @overload
    def __getitem__(self, i: slice) -> list[Station]: ...
    def __getitem__(self, i: int | slice) -> Station | list[Station]:
        if isinstance(i, slice):
            return [self._one(code) for code in self._order[i].tolist()]
        return self._one(int(self._order[i]))

    def __len__(self) -> int:
        return int(self._order.size)

    def __iter__(self) -> Iterator[Station]:
        for code in self._order.tolist():
            yield self._one(code)


def picked(
    at: Sequence[Station],
    positions: IntArray,
    ranks: IntArray,
    unlocated: Sequence[tuple[int, Station]] = (),
) -> Picked:
    """The stations at ``positions`` and the ``unlocated`` ones, in the order of their ranks."""
    codes = np.concatenate([positions, -1 - np.arange(len(unlocated), dtype=np.intp)])
    every = np.concatenate([ranks, np.array([r for r, _ in unlocated], np.intp)])
    order = codes[np.argsort(every, kind="stable")]
    return Picked(at, order, [s for _, s in unlocated])


class _ById(Mapping[str, Station]):
    """Every station of a column file by id, made on demand."""

    def __init__(self, columns: Columns) -> None:
        self._columns = columns

    def get(self, key: str, default: Any = None) -> Any:
        """The station ``key``, or ``default``."""
        rank = self._columns.rank_of(key)
        return default if rank is None else self._columns.station(rank)

    def __getitem__(self, key: str) -> Station:
        rank = self._columns.rank_of(key)
        if rank is None:
            raise KeyError(key)
        return self._columns.station(rank)

    def __contains__(self, key: object) -> bool:
        return self._columns.rank_of(key) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns.ids())

    def __len__(self) -> int:
        return self._columns.count


class _Where(Mapping[str, tuple[int, int]]):
    """File rank and position (-1: unlocated) of every station of a column file, by id."""

    def __init__(self, columns: Columns, position_of: IntArray) -> None:
        self._columns, self._position_of = columns, position_of

    def get(self, key: str, default: Any = None) -> Any:
        """(rank, position) of ``key``, or ``default``."""
        rank = self._columns.rank_of(key)
        return default if rank is None else (rank, int(self._position_of[rank]))

    def __getitem__(self, key: str) -> tuple[int, int]:
        found = self.get(key)
        if found is None:
            raise KeyError(key)
        return found

    def __contains__(self, key: object) -> bool:
        return self._columns.rank_of(key) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns.ids())

    def __len__(self) -> int:
        return self._columns.count


@dataclass(frozen=True, slots=True)
class Rows:
    """Which station is where: index positions, file ranks, liveness, and every station by id."""

    #: Station at each position (shared, append-only, with the catalogs derived from this).
    at: list[Station] | Records
    #: Positions this catalog uses (``at`` may be longer: another derived catalog's).
    n: int
    #: Live positions; None when none is dead.
    alive: BoolArray | None
    dead: int
    #: File rank and position (-1: unlocated) of every station, by id.
    where: Overlay[tuple[int, int]]
    by_id: Overlay[Station]
    unlocated: dict[str, tuple[int, Station]]
    #: The file rank a new station gets.
    next_rank: int

    @classmethod
    def of(cls, listed: Sequence[Station]) -> Rows:
        """The rows of stations in file order (located ones take positions in that order)."""
        where: dict[str, tuple[int, int]] = {}
        located: list[Station] = []
        for rank, s in enumerate(listed):
            where[s.id] = (rank, len(located)) if s.located else (rank, -1)
            if s.located:
                located.append(s)
        unlocated = {s.id: (i, s) for i, s in enumerate(listed) if not s.located}
        by_id = Overlay({s.id: s for s in listed})
        return cls(located, len(located), None, 0, Overlay(where), by_id, unlocated, len(listed))

    @classmethod
    def from_columns(cls, columns: Columns, cache_entries: int) -> tuple[Rows, IntArray]:
        """The rows of a column file's stations, and the file rank of each position.

        Nothing is made per station (but the few unlocated stations): ids are looked up in
        the column file. ``cache_entries``: stations `Records` keeps made.
        """
        unlocated_at = np.isnan(columns.lon)
        located = np.flatnonzero(~unlocated_at)
        position_of = np.full(columns.count, -1, np.intp)
        position_of[located] = np.arange(located.size)
        unlocated = {}
        for rank in np.flatnonzero(unlocated_at).tolist():
            station = columns.station(rank)
            unlocated[station.id] = (rank, station)
        at = Records(columns, located, limit=cache_entries)
        where = Overlay(_Where(columns, position_of))
        by_id = Overlay(_ById(columns))
        rows = cls(at, len(at), None, 0, where, by_id, unlocated, columns.count)
        return rows, located

    def live(self) -> IntArray:
        """The live positions, ascending."""
        if self.alive is None:
            return np.arange(self.n, dtype=np.intp)
        return np.flatnonzero(self.alive)

    def positions(self, ids: Iterable[str]) -> list[int]:
        """The positions of those of ``ids`` that have one."""
        found = (self.where.get(k) for k in ids)
        return [w[1] for w in found if w is not None and w[1] >= 0]

    def changed(
        self, changes: Mapping[str, Station | None], dead: list[int]
    ) -> tuple[Rows, list[Station], IntArray]:
        """The rows after ``changes``, the stations given new positions, and their file ranks.

        ``dead``: the changed stations' old positions. New positions are appended in the
        order of ``changes``. A station keeps its file rank when rewritten; new ones come last.
        """
        fresh = [s for s in changes.values() if s is not None and s.located]
        at = self.at if len(self.at) == self.n else self.at[: self.n]  # extended by another
        at.extend(fresh)
        alive = np.ones(self.n + len(fresh), bool)
        if self.alive is not None:
            alive[: self.n] = self.alive
        alive[dead] = False
        where: dict[str, tuple[int, int] | None] = {}
        unlocated = dict(self.unlocated)
        next_rank, ranks, position = self.next_rank, [], self.n
        for sid, station in changes.items():
            old = self.where.get(sid)
            rank, next_rank = (next_rank, next_rank + 1) if old is None else (old[0], next_rank)
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
        total = self.dead + len(dead)
        rows = Rows(
            at,
            len(at),
            alive if total else None,
            total,
            self.where.changed(where),
            self.by_id.changed(changes),
            unlocated,
            next_rank,
        )
        return rows, fresh, np.array(ranks, np.intp)
