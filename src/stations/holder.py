"""The catalog a worker serves, kept current while other processes (or this one) write.

Writes append to the stations file's journal (`storage.journal`). Every request looks at the
journal (one ``stat``) and compares it with the position the catalog was read up to; the
snapshot and the loop are looked at too (two more) when the journal changed or a second has
passed since they were (each ``stat`` costs several microseconds on a busy machine: a sizeable
share of a rider's query). New journal lines are applied right there
(`Catalog.with_changes`: nothing re-parsed or re-indexed), so a write is served by every worker
on its next request and a stream of writes does not stall reads. A compaction retires the
journal, so it is noticed at once too; a snapshot it folded from this worker's data is adopted
without reading it. What changed since the worker's position is decided by
`storage.snapshot.changes_since`, the same function the writer follows the files with.

Anything else (the file replaced by hand, a backup restored, the loop edited: noticed within
`FULL_CHECK_S`; or a compaction this worker had not caught up with) rebuilds the catalog in a
thread, once however many requests notice. After a quiet spell, requests wait up to
`RELOAD_WAIT_S` for it (a small file reloads within that); during a stream of changes at most
`BUSY_WAIT_S`, and are otherwise answered from the data of a moment ago. Data that fails
validation is not loaded: the previous data stays in service and the error is logged. A
reloaded catalog is frozen out of the cyclic collector's scans, as the first one is (see
`api.app`'s lifespan).
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

from stations.catalog import Catalog
from stations.errors import StationsError
from stations.models import Station
from stations.settings import Settings
from stations.storage import journal
from stations.storage.loading import FeatureCache
from stations.storage.snapshot import Position, changes_since, file_identity, identity_of

log = logging.getLogger("stations.api")
RELOAD_WAIT_S = 0.1
BUSY_WINDOW_S = 1.0
BUSY_WAIT_S = 0.02
#: How long the journal alone is trusted to say the files have not changed.
FULL_CHECK_S = 1.0

#: (snapshot identity, loop identity, journal (inode, size) or None)
FilesState = tuple[str, str, tuple[int, int] | None]


def _warmed(catalog: Catalog) -> Catalog:
    """``catalog`` with its index's lazily built parts built (in the reloading thread)."""
    catalog.index.warm()
    return catalog


class CatalogHolder:
    """The current catalog, the position it was read up to, and how to follow the files.

    Parameters
    ----------
    catalog
        The loaded data; its ``position`` says how far into the files it was read.
    stations_path, loop_path
        The files it was loaded from.
    load
        Loads the files afresh (returns a catalog with its position).
    cache
        Validated stations by digest, shared with ``load`` (journal lines use it too).
    """

    @classmethod
    def for_settings(cls, settings: Settings, catalog: Catalog | None = None) -> CatalogHolder:
        """Load the files the settings name (or take ``catalog``, loaded) and follow them."""
        loop_version = file_identity(settings.loop_path)  # before loading: a change after it shows
        cache = FeatureCache()  # a reload validates only the stations that changed
        loaded = catalog if catalog is not None else Catalog.from_settings(settings, cache)
        loaded.index.warm()  # a rider's first radius query does not build the tree
        if not isinstance(loaded.position, Position):  # handed over by `stations serve`
            loaded.position = Position(file_identity(settings.stations_path), None, 0)
        return cls(
            loaded,
            settings.stations_path,
            settings.loop_path,
            lambda: _warmed(Catalog.from_settings(settings, cache)),
            cache,
            loop_version,
        )

    def __init__(
        self,
        catalog: Catalog,
        stations_path: Path,
        loop_path: Path,
        load: Callable[[], Catalog],
        cache: FeatureCache,
        loop_version: str,
    ) -> None:
        self.catalog = catalog
        self._stations_path = stations_path
        self._journal_path = journal.journal_path(stations_path)
        self._loop_path = loop_path
        self._stat_paths = (str(stations_path), str(loop_path), str(self._journal_path))
        self._load = load
        self.cache = cache
        at = catalog.position
        self._position = at if isinstance(at, Position) else Position("", None, 0)
        self._loop = loop_version
        self._task: asyncio.Future[None] | None = None
        self._failed: FilesState | None = None
        self._changed_at = -math.inf
        # The journal's state when the files were last found current, and until when that
        # alone may vouch for them (see the module's docstring).
        self._quiet: tuple[int, int] | None = None
        self._quiet_until = -math.inf
        self.version = ""
        self._set_version()

    def health(self) -> dict[str, object]:
        """What ``/healthz`` adds about following the store (files: nothing can be lost)."""
        return {"status": "ok"}

    def close(self) -> None:
        """Stop following the store (a holder of files has nothing running)."""

    def _set_version(self) -> None:
        """A short ETag component naming the data served."""
        pos = self._position
        key = f"{pos.snapshot}|{pos.journal_inode}|{pos.journal_offset}|{self._loop}"
        self.version = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()

    def _journal_state(self) -> tuple[int, int] | None:
        """The journal's (inode, size), None while there is none.

        With no journal (no write yet) `os.access` asks without the exception a failed
        ``stat`` raises, which would cost more than the check itself on every request.
        """
        path = self._stat_paths[2]
        if self._quiet is None and not os.access(path, os.F_OK):
            return None
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size)

    def _state(self) -> FilesState:
        """The files' state, from three ``stat`` calls."""
        stations = os.stat(self._stat_paths[0])
        loop = os.stat(self._stat_paths[1])
        return identity_of(stations), identity_of(loop), self._journal_state()

    def _current(self, state: FilesState) -> bool:
        """Bring the catalog up to ``state`` without a reload if possible; True if done."""
        snapshot, loop, jstate = state
        if loop != self._loop:
            return False
        try:
            changes = changes_since(self._stations_path, self._position, snapshot, jstate)
        except (StationsError, OSError) as exc:
            log.error("cannot follow the journal; reloading: %s", exc)
            return False
        if changes is None:
            return False
        if changes.position == self._position and not changes.entries:
            return True
        if not self._apply(changes.entries):
            return False
        self._position = changes.position
        self._set_version()
        return True

    def _apply(self, entries: list[journal.Entry]) -> bool:
        """Apply journal entries to the catalog; False if one is invalid."""
        catalog = self.catalog
        batch: dict[str, Station | None] = {}
        for entry in entries:
            if entry.feature is None:
                batch[entry.station_id] = None
                continue
            if batch.get(entry.station_id, False) is None:
                # removed, then written again: it goes to the end, as in the file
                catalog, batch = catalog.with_changes(batch), {}
            station, problems, _ = self.cache.parse(entry.feature, f"journal {entry.station_id}")
            if station is None:
                log.error("invalid journal line; reloading: %s", "; ".join(problems))
                return False
            batch[entry.station_id] = station
        self.catalog = catalog.with_changes(batch)
        self._changed_at = time.monotonic()
        return True

    async def get(self) -> Catalog:
        """The catalog, brought up to date with the files first."""
        try:
            if self._journal_state() == self._quiet and time.monotonic() < self._quiet_until:
                return self.catalog  # the journal did not move, the rest was checked just now
            state = self._state()
        except OSError:
            return self.catalog  # a file is being replaced; keep serving what we have
        if self._current(state) or state == self._failed:  # up to date, or known to be bad
            self._quiet, self._quiet_until = state[2], time.monotonic() + FULL_CHECK_S
            return self.catalog
        self._quiet_until = -math.inf  # something moved: look at every file until current
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._reload(state))
        busy = time.monotonic() - self._changed_at < BUSY_WINDOW_S  # changes are streaming in
        try:
            await asyncio.wait_for(
                asyncio.shield(self._task), timeout=BUSY_WAIT_S if busy else RELOAD_WAIT_S
            )
        except TimeoutError:
            pass
        return self.catalog

    async def refresh(self) -> None:
        """Catch up with the files now, waiting for a reload if one is needed (after a write)."""
        for _ in range(3):
            state = self._state()
            if self._current(state) or state == self._failed:
                return
            if self._task is None or self._task.done():
                self._task = asyncio.ensure_future(self._reload(state))
            await asyncio.shield(self._task)

    async def _reload(self, state: FilesState) -> None:
        try:
            catalog = await asyncio.to_thread(self._load)
        except StationsError as exc:
            log.error("data changed but is invalid; still serving the previous data: %s", exc)
            self._failed = state  # do not retry on every request; the next change retries
            return
        self.catalog = catalog
        gc.freeze()  # as at start: full collections would scan its millions of objects
        at = catalog.position
        self._position = at if isinstance(at, Position) else Position(state[0], None, 0)
        self._loop = state[1]
        self._failed = None
        self._set_version()
        self._changed_at = time.monotonic()
