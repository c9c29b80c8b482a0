"""The write-ahead journal beside a stations file: what was written since its last snapshot.

Rewriting a national GeoJSON file on every write (and having every API worker re-read it) would
cost seconds; instead a write appends one JSON line to ``<file>.journal`` and fsyncs it: that
line is the write's durability. Readers see the snapshot with the journal applied
(`storage.snapshot.read_document`); API workers and writers apply only the lines they have not
seen (`read_entries` from an offset, via `storage.snapshot.changes_since`). From time
to time the store folds the journal into a new snapshot and starts a new journal (compaction).

Each line carries a station's whole new state, ``{"op": "put", "feature": {...}}``, or its
removal, ``{"op": "remove", "id": "..."}``, so applying a line twice changes nothing, and
replaying the journal over any snapshot that already holds some of it gives the same data.
That is what makes compaction crash-safe without a transaction: the new snapshot is renamed
into place first, the journal set aside second (`retire`); a crash in between leaves a journal
whose lines the snapshot already holds, and replaying them is harmless.

A line is acknowledged only once it ends in a newline and is fsynced. A crash in the middle of
an append leaves a partial last line: readers ignore it (it was never acknowledged) and the
next writer cuts it off before appending.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from stations.errors import DataError
from stations.storage.files import atomic_write_bytes, fsync_dir

SUFFIX = ".journal"


def journal_path(path: Path) -> Path:
    """Where the journal of the stations file ``path`` lives."""
    return path.with_name(path.name + SUFFIX)


@dataclass(frozen=True, slots=True)
class Entry:
    """One journal line: a station's new state (``feature``), or its removal (None)."""

    station_id: str
    feature: dict[str, Any] | None
    #: Its line number in the journal (0: not known), for messages.
    line: int = field(default=0, compare=False)

    def to_line(self) -> bytes:
        """The JSON line (with its newline)."""
        body: dict[str, Any] = (
            {"op": "remove", "id": self.station_id}
            if self.feature is None
            else {"op": "put", "feature": self.feature}
        )
        return orjson.dumps(body) + b"\n"


def _parse_line(raw: bytes, where: str, line: int) -> Entry:
    try:
        item = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DataError(where, [f"not valid JSON: {exc}"]) from None
    op = item.get("op") if isinstance(item, dict) else None
    if op == "remove" and isinstance(item.get("id"), str):
        return Entry(item["id"], None, line)
    if op == "put" and isinstance(item.get("feature"), dict):
        props = item["feature"].get("properties")
        if isinstance(props, dict) and isinstance(props.get("id"), str):
            return Entry(props["id"], item["feature"], line)
    raise DataError(
        where, ["expected {'op': 'put', 'feature': ...} or {'op': 'remove', 'id': ...}"]
    )


def parse_entries(data: bytes, source: str, first_line: int = 1) -> tuple[list[Entry], int]:
    """The complete lines of ``data`` as entries, and how many bytes they span.

    A trailing line without its newline (an append cut short) is left out.
    """
    end = data.rfind(b"\n") + 1
    entries = []
    for n, raw in enumerate(data[:end].splitlines(), start=first_line):
        if raw.strip():
            entries.append(_parse_line(raw, f"{source} line {n}", n))
    return entries, end


def read_entries(path: Path, offset: int = 0) -> tuple[list[Entry], int]:
    """Entries of the journal ``path`` from byte ``offset``, and the offset after them.

    A missing journal has no entries.
    """
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return [], 0
    first_line = 1 if offset == 0 else 0  # line numbers are exact only from the start
    entries, used = parse_entries(data, str(path), first_line)
    return entries, offset + used


def apply(
    features: list[dict[str, Any]], entries: Iterable[Entry], where: dict[str, int] | None = None
) -> dict[str, int]:
    """Apply entries to a FeatureCollection's features in place.

    A put replaces the station with its id where it stands, or appends it; a remove drops it.
    ``where`` (station id -> index in ``features``) saves building it; the map after the change
    is returned, to be passed in next time.
    """
    where = index_by_id(features) if where is None else where
    removed = False
    for entry in entries:
        at = where.get(entry.station_id)
        if entry.feature is None:
            if at is not None:
                features[at] = {}
                del where[entry.station_id]
                removed = True
        elif at is None:
            where[entry.station_id] = len(features)
            features.append(entry.feature)
        else:
            features[at] = entry.feature
    if removed:
        features[:] = [f for f in features if f]
        where = index_by_id(features)
    return where


def index_by_id(features: list[dict[str, Any]]) -> dict[str, int]:
    """Station id -> index of its feature (features without an id are left out)."""
    out = {}
    for i, feature in enumerate(features):
        sid = _feature_id(feature)
        if sid is not None:
            out[sid] = i
    return out


def checked_index(doc: object, source: str) -> dict[str, int]:
    """Station id -> index, for a document whose structure and ids are sound.

    Each station was validated when it was written (and every load validates the file again),
    so a writer's first write does not validate a national file once more.
    """
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise DataError(source, ["expected a GeoJSON FeatureCollection"])
    features = doc.get("features")
    if not isinstance(features, list):
        raise DataError(source, ["'features' must be an array"])
    where = index_by_id(features)
    if len(where) != len(features):
        raise DataError(
            source,
            ["every feature needs a unique properties.id; check the file with `stations validate`"],
        )
    return where


def _feature_id(feature: object) -> str | None:
    if isinstance(feature, dict):
        props = feature.get("properties")
        if isinstance(props, dict) and isinstance(props.get("id"), str):
            return props["id"]
    return None


def append(path: Path, entries: list[Entry]) -> int:
    """Append entries durably (write, fsync); return the journal's size after them.

    The lines are encoded before the journal is touched; if the append fails, what it wrote
    is cut off again and a journal it created is removed (callers hold the writers' lock):
    a failed write leaves no trace. A partial last line left by a crash is cut off first, so
    every line stays whole.
    """
    data = b"".join(e.to_line() for e in entries)
    new = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    start: int | None = None  # where this append's lines begin
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":  # a torn last line: cut it off
            size = _whole_lines(fd)
            os.ftruncate(fd, size)
        start = size
        os.lseek(fd, size, os.SEEK_SET)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        if new:
            path.unlink(missing_ok=True)
        elif start is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
        raise
    finally:
        os.close(fd)
    if new:  # the journal's name must survive a crash too
        fsync_dir(path.parent)
    return size + len(data)


def _whole_lines(fd: int) -> int:
    """Length of the complete lines of a journal (up to its last newline)."""
    end = os.fstat(fd).st_size
    while end > 0:
        start = max(0, end - 65536)
        chunk = os.pread(fd, end - start, start)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        end = start
    return 0


def renew(path: Path) -> None:
    """Give the journal ``path`` a new inode holding the same lines (call under the lock).

    Readers that trust the journal's (inode, size) to tell them nothing changed (API workers
    between their full checks) then look at every file again: a new loop is served at once.
    A reader standing in the old journal reads the files afresh, as after any replacement.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = b""
    atomic_write_bytes(path, data)


def previous_path(path: Path) -> Path:
    """Where a folded journal is kept until the next fold (for readers catching up)."""
    return path.with_name(path.name + ".prev")


def retire(path: Path) -> None:
    """Set the journal aside once its entries are in a snapshot, durably.

    It is renamed to `previous_path` rather than deleted: a reader that had not yet read its
    last lines reads them there (the inode tells it is the same file) instead of the whole
    new snapshot. The journal retired before it is replaced.
    """
    try:
        os.replace(path, previous_path(path))
    except FileNotFoundError:
        return
    fsync_dir(path.parent)


def missed_before_fold(
    path: Path, at: tuple[str, int | None, int], folded: tuple[str, int | None, int]
) -> list[Entry] | None:
    """What a reader standing at ``at`` must apply to hold a snapshot folded from ``folded``.

    Positions are (snapshot identity, journal inode or None, offset). The reader must stand on
    the snapshot the fold started from and on its journal; the lines it had not read yet come
    from the retired journal. None: the fold is not from the reader's data.
    """
    if folded == at:
        return []
    snapshot, inode, offset = at
    if folded[0] != snapshot or folded[1] is None or inode not in (None, folded[1]):
        return None
    return read_retired(path, folded[1], offset if inode == folded[1] else 0)


def read_retired(path: Path, inode: int, offset: int) -> list[Entry] | None:
    """Entries of the retired journal from ``offset`` if it is the file ``inode``; else None."""
    prev = previous_path(path)
    try:
        with open(prev, "rb") as handle:
            if os.fstat(handle.fileno()).st_ino != inode:
                return None
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return None
    entries, _ = parse_entries(data, str(prev), 0)
    return entries
