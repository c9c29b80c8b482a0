"""A replica's catalog kept in step with a PostgreSQL store's change log.

With ``STATIONS_DATABASE_URL`` set, every API worker holds the exact in-memory index, as with
the files, and follows the store's change log (`storage.postgres.store`) in sequence order:

- a thread of its own listens on the ``stations`` channel (``LISTEN``), so a write anywhere is
  applied within moments; it also catches up by sequence number every
  ``STATIONS_DATABASE_POLL_S`` and after every reconnect, so a lost notification loses nothing;
- changes are applied as the files' journal lines are (`Catalog.with_changes`: nothing
  re-parsed or re-indexed): read and validated in that thread, swapped in on the event loop,
  so a request never sees a catalog change under its feet; a log that cannot be followed
  (another database, one restored, a log pruned past this replica) reloads the whole
  snapshot in that thread, while the old catalog keeps being served; so does a loop
  replaced in the database (its change-log row, in sequence order with the stations');
- a request never waits on the database: `get` returns the catalog at hand. The worker that
  wrote catches up before it answers (`refresh`), so a client reads its own writes; when
  that catch-up installs first, the thread reads again at once from where it left it;
- a loaded catalog is frozen out of the cyclic collector's scans (`gc.freeze`), at start and
  after each reload: a full collection over it held the GIL ~0.5 s at 186,000 stations;
- when the database is lost, reads go on from memory, `health` says ``degraded`` with the last
  sequence number applied, and the thread reconnects every poll interval until it is back;
- with ``STATIONS_DATABASE_READ_URL`` (a streaming-replication standby) the replica loads and
  follows the standby, by polling alone (``NOTIFY`` does not reach a standby), and catches up
  from the primary after its own writes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import gc
import hashlib
import logging
import threading
import time
from dataclasses import dataclass

import psycopg

from stations.catalog import Catalog
from stations.errors import StationsError, StoreUnavailable
from stations.holder import CatalogHolder
from stations.models import Station
from stations.replica_start import batches, full_load, load_catalog
from stations.settings import Settings
from stations.storage.loading import FeatureCache
from stations.storage.postgres.connect import connect, unavailable
from stations.storage.postgres.store import PostgresStore
from stations.storage.postgres.writes import CHANNEL
from stations.storage.snapshot import LogPosition, file_identity

log = logging.getLogger("stations.api")


class ReplicaHolder(CatalogHolder):
    """The current catalog of a PostgreSQL-backed worker, and the thread that follows the log.

    Parameters
    ----------
    catalog
        The data loaded from the store (its ``position`` a `LogPosition`).
    settings
        The database URL, the loop file and the catch-up interval.
    cache
        Validated stations by digest (this worker's writes are not validated twice).
    loop_version
        The loop file's identity (`file_identity`) taken before ``catalog`` was loaded: an
        edited loop reloads the catalog, as with the files.
    """

    def __init__(
        self,
        catalog: Catalog,
        settings: Settings,
        cache: FeatureCache,
        loop_version: str | None = None,
    ) -> None:
        assert settings.database_url is not None
        self.catalog = catalog
        self.cache = cache
        self.settings = settings
        #: The loop file's identity when the catalog was loaded (taken before loading).
        self.loop_version = loop_version or _loop_file_identity(settings)
        self._url = settings.database_read_url or settings.database_url
        self._standby = settings.database_read_url is not None
        self._store = PostgresStore(self._url, cache)  # what the thread follows
        self._primary = PostgresStore(settings.database_url, cache)  # where writes go
        position = catalog.position
        self.position = position if isinstance(position, LogPosition) else LogPosition("", -1)
        self.version = ""
        self._set_version()
        #: The newest sequence number the database announced (NOTIFY or a read); behind = it - ours.
        self.latest = self.position.seq
        self.error: str | None = None
        # The loaded catalog lives until a reload replaces it: out of the cyclic collector's
        # reach, whose full collections would otherwise scan its millions of objects (~0.5 s
        # at 186,000 stations, holding the GIL: requests and this follower stall meanwhile).
        gc.freeze()
        try:  # catalogs are swapped on the event loop, never under a request's feet
            self._event_loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._event_loop = None  # no loop (a script): the thread swaps them itself
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="stations-replica", daemon=True)
        self._thread.start()

    def _set_version(self) -> None:
        key = f"{self.position.source}|{self.position.seq}"
        self.version = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()

    # -- what requests see -----------------------------------------------------------------

    async def get(self) -> Catalog:
        """The catalog at hand: a request never waits on the database."""
        return self.catalog

    async def refresh(self) -> None:
        """Catch up now from the primary (this worker wrote there): it serves its own write."""
        for _ in range(5):  # a catch-up of the thread may overtake ours: then read again
            try:
                update = await asyncio.to_thread(self._fetch, self._primary)
            except StoreUnavailable as exc:  # the write is stored: the thread will catch up
                log.warning("cannot catch up after a write: %s", exc)
                return
            if self._install(update):
                return

    def health(self) -> dict[str, object]:
        """``ok`` or ``degraded`` (database lost), the last sequence applied, how far behind."""
        return {
            "status": "degraded" if self.error else "ok",
            "sequence": self.position.seq,
            "behind": max(0, self.latest - self.position.seq),
            **({"detail": self.error} if self.error else {}),
        }

    def close(self) -> None:
        """Stop following (the worker shuts down)."""
        self._stop.set()
        self._thread.join(timeout=10)

    # -- following -------------------------------------------------------------------------

    def _loop_now(self) -> str:
        return _loop_file_identity(self.settings, self.loop_version)

    def catch_up(self) -> None:
        """Read what the followed database holds beyond our position, and install it.

        An edited loop file (noticed at each catch-up) reloads the whole catalog; a loop that
        fails to load is logged once and not retried until the file changes again.
        """
        loop = self._loop_now()
        try:
            update = self._fetch(self._store, reload=loop != self.loop_version)
        except StationsError as exc:
            if loop == self.loop_version:
                raise
            log.error("the loop changed but cannot be loaded; still serving the previous: %s", exc)
            self.loop_version = loop
            return
        if update.catalog is not None:
            update = dataclasses.replace(update, loop=loop)
        for _ in range(5):
            if self._install_from_thread(update):
                return
            # Another catch-up (a write's `refresh`) installed first, possibly from an older
            # read than ours: read again from where it left us, at once. The announcements
            # this read answered were consumed; waiting for the next would leave their
            # writes unapplied until the poll.
            update = self._fetch(self._store)

    def _install_from_thread(self, update: _Update) -> bool:
        """Install ``update`` on the event loop (or here, without one); False if we moved on."""
        if self._event_loop is None:
            return self._install(update)
        done = asyncio.run_coroutine_threadsafe(self._install_soon(update), self._event_loop)
        while not self._stop.is_set():  # the loop may be shutting down (it waits for us)
            try:
                return bool(done.result(timeout=0.2))
            except concurrent.futures.TimeoutError:
                continue
        done.cancel()
        return True  # shutting down: nothing more to follow

    def _fetch(self, source: PostgresStore, reload: bool = False) -> _Update:
        """(In a thread) the changes since our position, parsed; or a whole catalog reloaded.

        A standby behind what this worker read on the primary has nothing to tell it yet
        (``ahead_ok``).
        """
        base = self.position
        changes = None if reload else source.changes(base, ahead_ok=self._standby)
        if changes is None:
            if not reload:  # the loop was replaced, or the log cannot be followed from here
                log.info("reloading the stations and the loop from the store")
            catalog = full_load(self.settings, self.cache)  # cached for the next start too
            return _Update(base, catalog, [], base)
        found = batches(changes.entries, self.cache)
        return _Update(base, None, found, changes.position)

    async def _install_soon(self, update: _Update) -> bool:
        return self._install(update)

    def _install(self, update: _Update) -> bool:
        """(On the event loop) swap in what `_fetch` read; False if we moved on meanwhile."""
        if update.base != self.position:
            return False
        if update.catalog is not None:
            self.catalog = update.catalog
            assert isinstance(update.catalog.position, LogPosition)
            if update.catalog.position.source != self.position.source:
                self.latest = -1  # the numbers announced so far were another log's
            self.position = update.catalog.position
            self.loop_version = update.loop or self.loop_version
            gc.freeze()  # as at start (`__init__`): the collector never scans the catalog
        else:
            catalog = self.catalog
            for batch in update.batches:
                catalog = catalog.with_changes(batch)
            self.catalog, self.position = catalog, update.position
        self.latest = max(self.latest, self.position.seq)
        self._set_version()
        return True

    def _follow(self) -> None:
        """The thread: LISTEN, catch up on each notification and every poll interval."""
        poll = self.settings.database_poll_s
        while not self._stop.is_set():
            try:
                with connect(self._url) as conn:
                    if not self._standby:  # NOTIFY does not reach a standby: it polls only
                        conn.execute(f"LISTEN {CHANNEL}")
                    self.catch_up()  # after every (re)connect: whatever we missed meanwhile
                    self._recovered()
                    self._listen(conn, poll)
            except (psycopg.OperationalError, StoreUnavailable) as exc:
                self._lost(exc)
                self._stop.wait(poll)
            except StationsError as exc:
                log.error("cannot follow the store; still serving the previous data: %s", exc)
                self._stop.wait(poll)
            except Exception:  # the thread must outlive any surprise: log it and go on
                log.exception("following the store failed; still serving the previous data")
                self._stop.wait(poll)

    def _listen(self, conn: psycopg.Connection[tuple[object, ...]], poll: float) -> None:
        while not self._stop.is_set():
            deadline = time.monotonic() + poll
            self._notes(conn, poll)
            if time.monotonic() < deadline and self.latest <= self.position.seq:
                continue  # a notification we already applied (our own write)
            self.catch_up()

    def _notes(self, conn: psycopg.Connection[tuple[object, ...]], poll: float) -> None:
        """Wait up to ``poll`` for announcements (NOTIFY); note the newest sequence number."""
        for note in conn.notifies(timeout=poll, stop_after=1):
            if note.payload.isdigit():
                self.latest = max(self.latest, int(note.payload))

    def _lost(self, exc: BaseException) -> None:
        error = str(unavailable(self._url, exc) if not isinstance(exc, StoreUnavailable) else exc)
        if self.error is None:
            log.error("%s; serving the stations held in memory", error)
        self.error = error

    def _recovered(self) -> None:
        if self.error is not None:
            log.warning("the database is back; following the change log again")
        self.error = None


@dataclass(frozen=True, slots=True)
class _Update:
    """What a catch-up read: from which position, and a new catalog or batches of changes."""

    base: LogPosition
    catalog: Catalog | None
    batches: list[dict[str, Station | None]]
    position: LogPosition
    loop: str | None = None  # the loop file's identity a reloaded catalog was read after


def _loop_file_identity(settings: Settings, unknown: str = "") -> str:
    """The loop file's identity; ``unknown`` if it cannot be read.

    It may be being replaced, or absent: a replica whose loop is in the database needs none.
    """
    try:
        return file_identity(settings.loop_path)
    except OSError:
        return unknown


def holder_for(settings: Settings, catalog: Catalog | None = None) -> CatalogHolder:
    """The holder a worker serves from: following the change log, or the files.

    ``catalog``: the data already loaded (``stations serve`` with one worker).
    """
    if not settings.database_url:
        return CatalogHolder.for_settings(settings, catalog)
    cache = FeatureCache()
    loop_version = _loop_file_identity(settings)  # before loading: a change after it shows
    loaded = catalog if catalog is not None else load_catalog(settings, cache)
    return ReplicaHolder(loaded, settings, cache, loop_version)
