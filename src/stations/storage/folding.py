"""Compaction of the GeoJSON store: the journal folded into a new snapshot, and its column file.

Folding (under the store's lock) checks every journal line as a write would, writes the new
snapshot atomically, keeps the old one in ``.backups/`` and retires the journal
(`storage.geojson` says when it runs). Once the snapshot is durable, the column file
(`storage.columns`) is written for it, so the next start maps it instead of reading the new file
in full (minutes for a national file):

- *carried forward*, when the column file holds the data the fold started from or an earlier
  point of it (a position `storage.snapshot.changes_since` reaches): its arrays are taken as they
  are and only the stations written since are encoded (O(changes) Python, a few O(n) copies), so
  it costs a second or two at 1,000,000 stations and is done under the lock;
- *from memory* otherwise (no column file yet, e.g. after an import into a new file, or a stale
  one): the stations this process holds are validated (not read again) and encoded, after the
  lock is released, and only by a process that is not an API worker (a worker's fold follows
  writes; its stations are validated by the next start instead).

A column file that cannot be written is logged; the fold itself has succeeded by then.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import orjson

from stations.coords import in_china
from stations.errors import DataError, StationsError
from stations.models import Station, shown
from stations.storage import columns, journal
from stations.storage.files import atomic_write_bytes, keep_backup
from stations.storage.loading import (
    FeatureCache,
    _region_warning,
    check_journal,
    gc_paused,
    parse_stations,
)
from stations.storage.snapshot import (
    COMPACTED,
    Changes,
    Position,
    changes_since,
    compaction_mark,
    file_identity,
)


class FoldingStore(Protocol):
    """What a fold needs of the GeoJSON store (`storage.geojson`, which calls it under its lock)."""

    path: Path
    journal_path: Path
    backups: Path
    keep_backups: int
    cache: FeatureCache | None
    columns_min_stations: int
    columns_due: tuple[list[dict[str, Any]], Position, FeatureCache] | None

    def _remove_stale_temps(self, before: float) -> None: ...


@dataclass
class Stored:
    """The data as this process last read it under the lock, and where it read up to."""

    doc: dict[str, Any]
    where: dict[str, int]  # station id -> index in doc["features"]
    position: Position
    pending: int  # journal lines not yet in the snapshot

    def follow(self, changes: Changes[Position]) -> None:
        """Apply what was written since our position (`changes_since`, or our own write)."""
        if changes.position.snapshot != self.position.snapshot:
            self.pending = 0  # a fold was adopted: the lines before it are in the snapshot
        if changes.entries:
            self.where = journal.apply(self.doc["features"], changes.entries, self.where)
        self.pending += changes.in_journal
        self.position = changes.position


log = logging.getLogger("stations.storage")


@dataclass(frozen=True, slots=True)
class _Carried:
    """A column file behind the fold's data, and the journal entries that bring it there."""

    old: columns.Columns
    entries: list[journal.Entry]


def fold(store: FoldingStore, stored: Stored, cache: FeatureCache | None = None) -> int:
    """Fold the journal (call under the lock); return how many writes it held.

    ``cache`` holds the stations validated by the write that calls this (a bulk import).
    """
    started = time.time()
    folded = stored.pending
    lines, _ = journal.read_entries(store.journal_path)
    checker = cache or store.cache or FeatureCache()
    check_journal(lines, str(store.journal_path), checker)
    head = {"type": "FeatureCollection", COMPACTED: compaction_mark(stored.position)}
    doc = {**head, **{k: v for k, v in stored.doc.items() if k not in head}}
    try:  # as json.dumps(indent=2); each feature is valid, so only a hand edit can fail here
        body = orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"
    except orjson.JSONEncodeError as exc:
        raise DataError(
            str(store.path), [f"cannot be written back as JSON ({exc}); run `stations validate`"]
        ) from None
    carried = _carried(store, stored) if _wanted(store, stored) else None
    store._remove_stale_temps(started)
    if store.path.exists():
        keep_backup(store.path.name, store.path.read_bytes(), store.backups, store.keep_backups)
    atomic_write_bytes(store.path, body)  # first the snapshot holding every line...
    journal.retire(store.journal_path)  # ...then the journal (replaying it would be harmless)
    stored.position = Position(file_identity(store.path), None, 0)
    stored.pending = 0
    after_fold(store, stored, carried, checker)
    return folded


def drop_empty_journal(store: FoldingStore, stored: Stored) -> None:
    """Remove an empty journal (a loop change's signal; under the lock), and carry the column file.

    The data is the same, but the position it is keyed by loses the journal.
    """
    carried = _carried(store, stored) if _wanted(store, stored) else None
    store.journal_path.unlink()
    stored.position = Position(stored.position.snapshot, None, 0)
    if carried is not None:
        after_fold(store, stored, carried, store.cache or FeatureCache())


def _wanted(store: FoldingStore, stored: Stored) -> bool:
    return len(stored.doc["features"]) >= store.columns_min_stations


def _carried(store: FoldingStore, stored: Stored) -> _Carried | None:
    """The column file and the entries from its position to the fold's (before the files change)."""
    try:
        old = columns.load_written(store.path, 1)
        if old is None or not isinstance(old.position, Position):  # a replica's cache
            return None
        at = stored.position
        state = None if at.journal_inode is None else (at.journal_inode, at.journal_offset)
        changes = changes_since(store.path, old.position, at.snapshot, state)
    except (StationsError, OSError) as exc:
        log.warning("column file not carried forward (written from memory instead): %s", exc)
        return None
    if changes is None or changes.position != at:
        return None
    return _Carried(old, changes.entries)


def after_fold(
    store: FoldingStore, stored: Stored, carried: _Carried | None, checker: FeatureCache
) -> None:
    """Write the column file of the snapshot just folded (call under the lock, files durable).

    Carried forward if it can be; else left for `from_memory` (outside the lock), except in an
    API worker (``store.cache`` set).
    """
    if not _wanted(store, stored):
        return
    if carried is not None and carried.old.position == stored.position:
        return  # it holds these files as they are
    if carried is not None:
        try:
            blob = _forward(carried, checker, stored.position)
            atomic_write_bytes(columns.columns_path(store.path), blob)
            return
        except Exception as exc:  # the fold is done: whatever fails here only costs a full read
            log.warning("cannot carry the column file forward: %s", exc)
    if store.cache is None:
        store.columns_due = (list(stored.doc["features"]), stored.position, checker)


def from_memory(store: FoldingStore) -> None:
    """Write the column file a fold left due, validating the stations held (outside the lock).

    Writes made meanwhile only make it stale (its position is the fold's): never wrong.
    """
    due, store.columns_due = store.columns_due, None
    if due is None:
        return
    features, position, checker = due  # checker: the stations the fold (an import) validated
    try:
        with gc_paused():
            parsed = parse_stations(
                {"type": "FeatureCollection", "features": features}, str(store.path), checker
            )
        columns.write(store.path, parsed.stations, position, parsed.warnings)
    except Exception as exc:  # the fold is done: whatever fails here only costs a full read
        log.warning("cannot write the column file of %s: %s", store.path, exc)


_KEPT = object()


def _forward(carried: _Carried, checker: FeatureCache, position: Position) -> bytes:
    """The column file of ``carried.old`` with its entries applied, as `journal.apply` orders.

    A replaced station keeps its place, a new one (or one removed and written again) goes to
    the end, a removed one goes; only the stations written are encoded.
    """
    old, n = carried.old, carried.old.count
    replaced: dict[int, Station | None] = {}
    appended: list[Station | None] = []
    appended_at: dict[str, int] = {}
    for entry in carried.entries:
        station = None if entry.feature is None else _station(entry, checker)
        j = appended_at.get(entry.station_id)
        rank = old.rank_of(entry.station_id) if j is None else None
        if j is not None:
            appended[j] = station
            if station is None:
                del appended_at[entry.station_id]
        elif rank is not None and replaced.get(rank, _KEPT) is not None:
            replaced[rank] = station
        elif station is not None:
            appended_at[entry.station_id] = len(appended)
            appended.append(station)
    keep = np.ones(n, bool)
    keep[np.array([r for r, s in replaced.items() if s is None], np.intp)] = False
    take = np.flatnonzero(keep)
    subs = sorted((r, s) for r, s in replaced.items() if s is not None)  # ranks are unique
    new = [s for _, s in subs] + [s for s in appended if s is not None]
    at = np.searchsorted(take, np.array([r for r, _ in subs], np.intp))
    take[at] = n + np.arange(len(subs), dtype=np.intp)
    take = np.concatenate([take, n + np.arange(len(subs), len(new), dtype=np.intp)])
    rows, blobs = columns.row_arrays(new)
    merged = {
        name: np.concatenate([getattr(old, name), rows[name]])[take] for name in columns.ROW_ARRAYS
    }
    offsets, props = _props(old, blobs, take)
    every_id = old.ids() + [s.id for s in new]
    ids = [every_id[t] for t in take.tolist()]
    warnings = region_warnings(merged["lon"], merged["lat"], ids)
    return columns.pack(merged, offsets, props, ids, position, warnings)


def _station(entry: journal.Entry, checker: FeatureCache) -> Station:
    station, problems, _ = checker.parse(entry.feature, f"journal {entry.station_id}")
    if station is None:  # pragma: no cover - the fold checked every line
        raise DataError("journal", problems)
    return station


def _props(
    old: columns.Columns, blobs: list[bytes], take: npt.NDArray[np.intp]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """The properties JSON in ``take``'s order: runs of unchanged stations copied as one slice."""
    n = old.count
    small = b"".join(blobs)
    small_offsets = np.zeros(len(blobs) + 1, np.int64)
    np.cumsum([len(b) for b in blobs], out=small_offsets[1:])
    lengths = np.concatenate([np.diff(old.props_offsets), np.diff(small_offsets)])[take]
    offsets = np.zeros(take.size + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if not take.size:
        return offsets, np.zeros(0, np.uint8)
    starts = np.flatnonzero((np.diff(take) != 1) | (take[1:] == n)) + 1
    bounds = [0, *starts.tolist(), take.size]
    source = memoryview(old.props.data)
    pieces: list[Any] = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=False):
        first, last = int(take[a]), int(take[b - 1])
        if first < n:
            pieces.append(source[old.props_offsets[first] : old.props_offsets[last + 1]])
        else:
            pieces.append(small[small_offsets[first - n] : small_offsets[last - n + 1]])
    return offsets, np.frombuffer(b"".join(pieces), np.uint8)


def region_warnings(
    lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64], ids: list[str]
) -> list[str]:
    """The warnings a full read gives these stations (`storage.loading`: outside China)."""
    outside = np.flatnonzero(~np.isnan(lon) & ~in_china(lon, lat))
    return [
        f"feature {i} (id {shown(ids[i])}): {_region_warning(float(lon[i]), float(lat[i]))}"
        for i in outside.tolist()
    ]
