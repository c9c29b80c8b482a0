"""How a PostgreSQL-backed replica starts: from its cache, caught up, or from the database.

Reading and validating the whole database at each start costs seconds at 186,000 stations and
most of a minute at 1,000,000. A replica therefore keeps the column file of what it loaded
(`storage.postgres.cache`, in ``STATIONS_REPLICA_CACHE_DIR``): the next start maps it (no
parsing, no validation), checks that it is this database's and that the change log still
reaches its sequence number, and applies the changes made since, as a running replica follows
the log (`batches`, `Catalog.with_changes`). Anything else loads from the database, as
without a cache, writes the cache again and then serves the file it wrote: a catalog of
mapped columns holds a tenth of the memory of the same stations as objects (315 MiB against
3.3 GiB per worker at 1,000,000 stations), and answers from the same code as a file-backed
worker. Workers starting together take turns (a lock beside the cache file), so one reads
the database and the others map what it wrote.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stations.catalog import Catalog
from stations.errors import StationsError
from stations.models import Station
from stations.settings import Settings
from stations.storage import journal
from stations.storage.loading import FeatureCache
from stations.storage.postgres import cache as replica_cache
from stations.storage.postgres.store import PostgresStore
from stations.storage.snapshot import LogPosition
from stations.storage.store import read_loop

log = logging.getLogger("stations.replica")


def load_catalog(settings: Settings, cache: FeatureCache | None = None) -> Catalog:
    """The catalog a replica starts from: its cache caught up, else the database (then cached).

    ``cache``: validated stations by digest (the worker's, so its writes are not validated
    twice).
    """
    cache = cache if cache is not None else FeatureCache()
    with _turn(settings):
        started = from_cache(settings, cache)
        if started is not None:
            return started
        return full_load(settings, cache)


def full_load(settings: Settings, cache: FeatureCache) -> Catalog:
    """Every station and the loop read from the database; cached and then served from the cache.

    The stations read are dropped once the cache file is mapped (and ``cache`` emptied of
    them: it would keep every station alive). Without a cache (caching off, small data, a
    cache that cannot be written) the catalog read is served.
    """
    catalog = Catalog.from_settings(settings, cache)
    target = _target(settings)
    if target is None or not save(settings, catalog):
        return catalog
    mapped = _caught_up(settings, target, cache)
    if mapped is None:
        return catalog
    cache.clear()
    log.info("serving the replica cache %s just written", target)
    return mapped


@contextmanager
def _turn(settings: Settings) -> Iterator[None]:
    """Workers starting on the same database, one at a time (caching off: all at once).

    The first reads the database and writes the cache; the next ones then map it.
    """
    target = _target(settings)
    if target is None:
        yield
        return
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(target.with_name(target.name + ".start"), os.O_CREAT | os.O_WRONLY, 0o600)
    except OSError:
        yield
        return
    with os.fdopen(fd, "w") as turn:
        try:
            fcntl.flock(turn, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another worker is loading %s; waiting for its cache", target.name)
            fcntl.flock(turn, fcntl.LOCK_EX)  # released when closed, or when a worker dies
        yield


def _followed(settings: Settings) -> str:
    url = settings.database_read_url or settings.database_url
    assert url is not None
    return url


def _target(settings: Settings) -> Path | None:
    """The cache file of the followed database; None if caching is off (or no database)."""
    if settings.replica_cache_dir is None or not settings.database_url:
        return None
    return replica_cache.cache_path(settings.replica_cache_dir, _followed(settings))


def save(settings: Settings, catalog: Catalog) -> bool:
    """Write the cache of ``catalog``, loaded in full from the database (if large enough).

    Small data loads in well under a second: below ``columns_min_stations`` nothing is kept.
    True if the file was written.
    """
    target = _target(settings)
    position = catalog.position
    if target is None or not isinstance(position, LogPosition):
        return False
    if catalog.count < max(1, settings.columns_min_stations):
        return False
    return replica_cache.write(target, catalog.all, position, catalog.warnings)


def from_cache(settings: Settings, cache: FeatureCache) -> Catalog | None:
    """The cached catalog with the change log applied since; None (logged) if unusable."""
    target = _target(settings)
    if target is None:
        return None
    return _caught_up(settings, target, cache, started=True)


def _caught_up(
    settings: Settings, target: Path, cache: FeatureCache, started: bool = False
) -> Catalog | None:
    """The catalog of the cache file ``target`` with the changes since; None (logged) if not."""
    columns = replica_cache.load(target, settings.station_cache_entries)
    if columns is None:
        return None
    position = columns.position
    assert isinstance(position, LogPosition)
    url = _followed(settings)
    why = replica_cache.unusable(url, position)
    changes = None if why else PostgresStore(url, cache).changes(position)
    if changes is None:
        why = why or "the loop was replaced since"
        log.warning("replica cache %s ignored, loading from the database: %s", target, why)
        return None
    catalog = Catalog.from_columns(columns, read_loop(settings), settings)
    for batch in batches(changes.entries, cache):
        catalog = catalog.with_changes(batch)
    catalog.position = changes.position
    if started:
        log.info(
            "started from the replica cache %s (sequence %d, %d changes since)",
            target,
            position.seq,
            len(changes.entries),
        )
    return catalog


def batches(entries: list[journal.Entry], cache: FeatureCache) -> list[dict[str, Station | None]]:
    """Change-log entries as `Catalog.with_changes` batches, in order, stations validated.

    A station removed and then written again starts a new batch (it goes to the end, as the
    store lists it). `StationsError` if a row is invalid (the store never writes one).
    """
    out: list[dict[str, Station | None]] = [{}]
    for entry in entries:
        if entry.feature is None:
            out[-1][entry.station_id] = None
            continue
        if out[-1].get(entry.station_id, False) is None:
            out.append({})
        station, problems, _ = cache.parse(entry.feature, f"change {entry.line}")
        if station is None:
            raise StationsError("invalid change-log row: " + "; ".join(problems))
        out[-1][entry.station_id] = station
    return [b for b in out if b]
