"""A PostgreSQL replica's cache: the column file of the stations it loaded, for its next start.

A replica on the database reads and validates the whole snapshot at each start (seconds at
186,000 stations, most of a minute at 1,000,000), while a replica of the files maps its column
file (`storage.columns`) in a fraction of a second. So after a full load from the database a
replica writes the same column file into ``STATIONS_REPLICA_CACHE_DIR``, recording where in
the change log its data stands (`LogPosition`: the store's epoch and sequence number). The next
start maps it and catches up from that sequence number through the change log, as a running
replica follows it.

- One file per database (named by a digest of its URL without the password), written
  atomically (a temp file of its own, fsync, rename): workers starting together never see
  half of one, and a worker that finds another writing it (an advisory lock) leaves it be.
- The files are trusted (their stations are not validated again): the folder is made private
  (0700) and the files 0600.
- A file of another database (its epoch differs: another database, or one restored at the same
  address), truncated, corrupt, of another format, or whose sequence number the change log no
  longer reaches (pruned by compaction, or the loop replaced since) is ignored with a log line,
  and the replica loads from the database, which writes the file anew.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

from stations.models import Station
from stations.storage import columns
from stations.storage.files import atomic_write_bytes
from stations.storage.postgres.connect import connection, redacted
from stations.storage.snapshot import LogPosition

log = logging.getLogger("stations.replica")

SUFFIX = ".columns"


def cache_path(folder: Path, url: str) -> Path:
    """The cache file of the database at ``url`` in ``folder``."""
    key = hashlib.blake2b(redacted(url).encode(), digest_size=8).hexdigest()
    return folder / f"replica-{key}{SUFFIX}"


def write(
    target: Path, stations: Sequence[Station], position: LogPosition, warnings: list[str]
) -> bool:
    """Write the cache file ``target`` atomically; False if it cannot (logged) or need not.

    Need not: another process (a worker starting beside this one) holds its lock and is
    writing the same database's data.
    """
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(target.with_name(target.name + ".lock"), "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            data = columns.encode(stations, position, warnings)
            atomic_write_bytes(target, data, mode=0o600)
    except OSError as exc:
        log.warning("cannot write the replica cache %s (the next start reads the database): %s",
                    target, exc)  # fmt: skip
        return False
    log.info("wrote the replica cache %s at sequence %d", target, position.seq)
    return True


def load(target: Path, cache_entries: int) -> columns.Columns | None:
    """The cache file ``target``, mapped and checked (format, size, CRC); None if unusable.

    Whether the database can be followed from it is for `usable` to say.
    """
    found = columns.open_columns(target, None, cache_entries, "loading from the database")
    if found is not None and not isinstance(found.position, LogPosition):
        log.warning("replica cache %s ignored: it is a stations file's column file", target)
        return None
    return found


def unusable(url: str, position: LogPosition) -> str | None:
    """Why the database at ``url`` cannot be followed from ``position`` (None: it can).

    The same conditions as `PostgresStore.changes` answering None, said in words for the log.
    """
    with connection(url) as conn:
        row = conn.execute("SELECT epoch, last_seq, pruned_seq FROM store_state").fetchone()
    if row is None:
        return "the database holds no store state"
    epoch, last, pruned = str(row[0]), int(row[1]), int(row[2])
    if epoch != position.source:
        return f"written from another database (epoch {position.source}, this one is {epoch})"
    if position.seq > last:
        return f"at sequence {position.seq}, ahead of the database ({last}): restored?"
    if position.seq < pruned:
        return f"at sequence {position.seq}, the change log starts after {pruned} (compacted)"
    return None
