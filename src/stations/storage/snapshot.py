"""The snapshot/journal protocol: where a reader stands, and what changed since.

A stations file is a snapshot (the GeoJSON file) plus its journal (`storage.journal`). A reader
records how far it read as a `Position`: the snapshot's identity (inode, modification time and
size: it changes whenever the file is replaced) and the journal's inode and offset. From there,
`changes_since` says what the files hold now that the reader does not:

- nothing (the same snapshot, the journal no longer);
- journal lines to apply (the journal grew);
- a compaction folded from the reader's data: the reader adopts the new snapshot without
  reading it, after applying the lines it had not read yet (kept in the retired journal);
- anything else (the file replaced by hand, a backup restored, a fold from data the reader
  never held): None, and the reader reads the files afresh (`read_document`).

The writer (`storage.geojson.GeoJSONStore`, under its lock) and each API worker
(`stations.holder.CatalogHolder`) follow the files through this one function.

A store with a change log (`storage.postgres`) has no files: its readers stand at a
`LogPosition`, a sequence number in one database's log. `StorePosition` is either kind, and
`Changes` carries the kind of position it was asked from.
"""

from __future__ import annotations

import os
import re
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import orjson

from stations.errors import DataError
from stations.storage import journal
from stations.storage.files import read_json

#: A journal's (inode, size).
JournalState = tuple[int, int]

#: Foreign member at the head of a snapshot written by compaction: the position it was folded
#: from. A reader standing exactly there already holds the snapshot's data and need not read it.
COMPACTED = "stations:compacted"
_COMPACTED_RE = re.compile(rb'"stations:compacted":\s*(\{[^{}]*\})')


@dataclass(frozen=True, slots=True)
class Position:
    """How far a reader got: the snapshot it read (file identity) and its journal's offset."""

    snapshot: str
    journal_inode: int | None  # None: there was no journal
    journal_offset: int


@dataclass(frozen=True, slots=True)
class LogPosition:
    """How far a reader got in a store's change log: which log, and its last sequence number.

    ``source`` names the log (a database's store epoch): a reader whose source differs from
    the store's holds data from elsewhere (another database, a restored one) and reads afresh.
    """

    source: str
    seq: int


#: Where a reader of any store stands: in files (`Position`) or in a change log.
StorePosition = Position | LogPosition
P = TypeVar("P", Position, LogPosition)


@dataclass(frozen=True, slots=True)
class Changes(Generic[P]):
    """What a reader must apply to catch up with the store, and where it then stands.

    ``in_journal`` of the ``entries`` (the last ones) are in the current journal; the others
    were folded into a new snapshot that the reader adopts (``position.snapshot`` changed).
    A change log's entries are all ``in_journal``.
    """

    entries: list[journal.Entry]
    position: P
    in_journal: int


def identity_of(st: os.stat_result) -> str:
    """A file's identity from its ``stat``: changes whenever the file is replaced or written."""
    return f"{st.st_ino}-{st.st_mtime_ns}-{st.st_size}"


def file_identity(path: Path) -> str:
    """The identity (`identity_of`) of the file ``path``."""
    return identity_of(path.stat())


def journal_state(path: Path) -> JournalState | None:
    """(inode, size) of the journal of the stations file ``path``; None if there is none."""
    try:
        st = journal.journal_path(path).stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size


def compacted_from(path: Path) -> tuple[str, Position | None]:
    """The snapshot's identity and, if compaction wrote it, the position it was folded from.

    Only the first bytes are read (compaction writes the marker first), from the same open
    file whose identity is returned.
    """
    with open(path, "rb") as handle:
        identity = identity_of(os.fstat(handle.fileno()))
        head = handle.read(512)
    found = _COMPACTED_RE.search(head)
    if found is None:
        return identity, None
    try:
        mark = orjson.loads(found.group(1))
        return identity, Position(str(mark["base"]), int(mark["journal"]), int(mark["offset"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return identity, None


def compaction_mark(position: Position) -> dict[str, Any]:
    """The `COMPACTED` member of a snapshot folded from ``position`` (see `compacted_from`)."""
    return {
        "base": position.snapshot,
        "journal": position.journal_inode,
        "offset": position.journal_offset,
    }


def read_document(path: Path) -> tuple[Any, Position]:
    """The stations document as stored: the snapshot with its journal applied (`read_stored`)."""
    doc, position, _ = read_stored(path)
    return doc, position


def read_stored(path: Path) -> tuple[Any, Position, list[journal.Entry]]:
    """The stations document as stored, its position, and the journal lines applied to it.

    The snapshot is read first and its journal second; if a compaction replaced the snapshot
    meanwhile (its identity changed), the read is repeated, so a reader never pairs an old
    snapshot with a journal that no longer follows it.
    """
    jpath = journal.journal_path(path)
    for _ in range(20):
        try:
            before = file_identity(path)
        except FileNotFoundError:
            raise DataError(str(path), ["file not found"]) from None
        doc = read_json(path)
        state = journal_state(path)
        entries, offset = journal.read_entries(jpath) if state else ([], 0)
        if file_identity(path) != before:
            continue  # compacted while we read: read again
        if entries:
            if not isinstance(doc, dict) or not isinstance(doc.get("features"), list):
                raise DataError(str(path), ["expected a GeoJSON FeatureCollection"])
            journal.apply(doc["features"], entries)
        return doc, Position(before, state[0] if state else None, offset), entries
    raise DataError(str(path), ["the file kept changing while being read; try again"])


def changes_since(
    path: Path, at: Position, snapshot: str, state: JournalState | None
) -> Changes[Position] | None:
    """What a reader standing at ``at`` must apply to hold the stations file ``path``.

    Parameters
    ----------
    path
        The stations file (the snapshot); its journal lies beside it.
    at
        The reader's position.
    snapshot, state
        The snapshot's identity and the journal's state as the reader just observed them
        (`file_identity`, `journal_state`); the caller looks, so that a reader on a hot path
        decides with the ``stat`` calls it already made whether to call this at all.

    Returns
    -------
    Changes | None
        The entries to apply in order and the position reached (no entries and the same
        position: nothing changed), or None when the files cannot be reached from ``at`` and
        must be read afresh. Raises `DataError` if a journal line is broken.
    """
    entries: list[journal.Entry] = []
    jpath = journal.journal_path(path)
    if snapshot != at.snapshot:
        identity, folded = compacted_from(path)
        if identity != snapshot or folded is None:
            return None
        missed = journal.missed_before_fold(jpath, astuple(at), astuple(folded))
        if missed is None:
            return None  # folded from data this reader never held
        entries, at = missed, Position(snapshot, None, 0)
    if state is None:
        return Changes(entries, at, 0) if at.journal_inode is None else None
    inode, size = state
    if at.journal_inode not in (None, inode) or (
        inode == at.journal_inode and size < at.journal_offset
    ):
        return None  # not the journal this reader was reading
    if inode == at.journal_inode and size == at.journal_offset:
        return Changes(entries, at, 0)
    start = at.journal_offset if inode == at.journal_inode else 0
    more, offset = journal.read_entries(jpath, start)
    return Changes(entries + more, Position(at.snapshot, inode, offset), len(more))
