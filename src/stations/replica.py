"""A replica's catalog kept in step with a PostgreSQL store's change log.

With ``STATIONS_DATABASE_URL`` set, every API worker holds the exact in-memory index, as with
the files, and follows the store's change log (`storage.postgres.store`) in sequence order:

- a thread of its own listens on the ``stations`` channel (``LISTEN``), so a write anywhere is
  applied within moments; it also catches up by sequence number every
  ``STATIONS_DATABASE_POLL_S`` and after every reconnect, so a lost notification loses nothing;
- changes are applied as the files' journal lines are (`Catalog.with_changes`: nothing
  re-parsed or re-indexed); a log that cannot be followed (another database, one restored, a
  log pruned past this replica) reloads the whole snapshot in that thread, while the old
  catalog keeps being served;
- a request never waits on the database: `get` returns the catalog at hand. The worker that
  wrote catches up before it answers (`refresh`), so a client reads its own writes;
- when the database is lost, reads go on from memory, `health` says ``degraded`` with the last
  sequence number applied, and the thread reconnects every poll interval until it is back;
- with ``STATIONS_DATABASE_READ_URL`` (a streaming-replication standby) the replica loads and
  follows the standby, by polling alone (``NOTIFY`` does not reach a standby), and catches up
  from the primary after its own writes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time

import psycopg

from stations.catalog import Catalog
from stations.errors import StationsError, StoreUnavailable
from stations.holder import CatalogHolder
from stations.models import Station
from stations.settings import Settings
from stations.storage import journal
from stations.storage.loading import FeatureCache
from stations.storage.postgres.connect import connect, unavailable
from stations.storage.postgres.store import CHANNEL, PostgresStore
from stations.storage.snapshot import LogPosition

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
    """

    def __init__(self, catalog: Catalog, settings: Settings, cache: FeatureCache) -> None:
        assert settings.database_url is not None
        self.catalog = catalog
        self.cache = cache
        self.settings = settings
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
        self._lock = threading.Lock()  # one catch-up at a time (the thread, or a writer)
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
        await asyncio.to_thread(self.catch_up, self._primary)

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

    def catch_up(self, source: PostgresStore | None = None) -> None:
        """Apply the change log since our position, or reload the snapshot if we cannot.

        ``source``: the database to read (default: the one followed). A standby behind what
        this worker read on the primary has nothing to tell it yet (``ahead_ok``).
        """
        with self._lock:
            changes = (source or self._store).changes(self.position, ahead_ok=self._standby)
            if changes is None:
                catalog = Catalog.from_settings(self.settings, self.cache)
                log.warning("the change log cannot be followed from here; reloaded the stations")
                self.catalog = catalog
                assert isinstance(catalog.position, LogPosition)
                self.position = catalog.position
            elif changes.entries:
                self.catalog = _applied(self.catalog, changes.entries, self.cache)
                self.position = changes.position
            self.latest = max(self.latest, self.position.seq)
            self._set_version()

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

    def _listen(self, conn: psycopg.Connection[tuple[object, ...]], poll: float) -> None:
        while not self._stop.is_set():
            deadline = time.monotonic() + poll
            for note in conn.notifies(timeout=poll, stop_after=1):
                if note.payload.isdigit():
                    self.latest = max(self.latest, int(note.payload))
            if time.monotonic() < deadline and self.latest <= self.position.seq:
                continue  # a notification we already applied (our own write)
            self.catch_up()

    def _lost(self, exc: BaseException) -> None:
        error = str(unavailable(self._url, exc) if not isinstance(exc, StoreUnavailable) else exc)
        if self.error is None:
            log.error("%s; serving the stations held in memory", error)
        self.error = error

    def _recovered(self) -> None:
        if self.error is not None:
            log.warning("the database is back; following the change log again")
        self.error = None


def _applied(catalog: Catalog, entries: list[journal.Entry], cache: FeatureCache) -> Catalog:
    """``catalog`` with change-log entries applied in order (as the journal's, see `holder`)."""
    batch: dict[str, Station | None] = {}
    for entry in entries:
        if entry.feature is None:
            batch[entry.station_id] = None
            continue
        if batch.get(entry.station_id, False) is None:
            catalog, batch = catalog.with_changes(batch), {}  # removed, then written again
        station, problems, _ = cache.parse(entry.feature, f"change {entry.line}")
        if station is None:
            raise StationsError("invalid change-log row: " + "; ".join(problems))
        batch[entry.station_id] = station
    return catalog.with_changes(batch)


def holder_for(settings: Settings, catalog: Catalog | None = None) -> CatalogHolder:
    """The holder a worker serves from: following the change log, or the files.

    ``catalog``: the data already loaded (``stations serve`` with one worker).
    """
    if not settings.database_url:
        return CatalogHolder.for_settings(settings, catalog)
    cache = FeatureCache()
    loaded = catalog if catalog is not None else Catalog.from_settings(settings, cache)
    return ReplicaHolder(loaded, settings, cache)
