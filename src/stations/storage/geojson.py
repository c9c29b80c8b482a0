"""The store (`storage.base.Store`) on a GeoJSON file: the bundled format, kept by `GeoJSONStore`.

- every change is validated by the same code as loading (`storage.loading.parse_feature`), and
  ids stay unique; writes hold an exclusive ``fcntl`` lock on ``<file>.lock``, so API workers
  and the CLI can write at once without losing an update;
- a write appends one line to the journal beside the file and fsyncs it (`storage.journal`):
  O(1) whatever the file's size. Every reader applies the journal; API workers and writers
  apply just the lines they have not seen (`storage.snapshot.changes_since`);
- the journal is folded into the file (compaction: a new snapshot written atomically) after
  ``compact_every`` writes, a bulk import, a few quiet seconds of the API, at ``stations serve``
  start-up and by ``stations compact``; the last ``keep_backups`` snapshots stay in ``.backups/``;
  it first checks every journal line as a write would, and removes what one killed midway left;
- each change appends (and fsyncs) a line to ``audit.jsonl``: when, which token label, before and
  after; `history` reads a station's back (`storage.audit`). Under the lock: ``if_match``
  (`storage.revision`), ``surveyed_by`` from the writer (`storage.survey`), the loop's
  replacement (`storage.loopfile`).
"""

from __future__ import annotations

import fcntl
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stations.errors import Conflict, DataError, InvalidInput, StationNotFound
from stations.models import Status
from stations.settings import Settings
from stations.storage import folding, journal, loopfile
from stations.storage.audit import AuditLog
from stations.storage.base import Feature
from stations.storage.files import remove_stale_temps
from stations.storage.folding import Stored
from stations.storage.importing import ImportPlan, plan_import
from stations.storage.loading import (
    FeatureCache,
    check_written_feature,
    with_id,
)
from stations.storage.patching import merged, patch_properties
from stations.storage.revision import check_if_match
from stations.storage.snapshot import (
    COMPACTED,
    Changes,
    Position,
    StorePosition,
    changes_since,
    file_identity,
    journal_state,
    read_document,
)
from stations.storage.survey import stamp_surveyor

log = logging.getLogger("stations.storage")

#: The stored data per data file as this process last read it (under the lock), so that a
#: write reads only the journal lines other processes appended since.
_STORED: dict[str, Stored] = {}


class GeoJSONStore:
    """Stations in one GeoJSON FeatureCollection file and its journal (see the module docstring).

    Parameters
    ----------
    path
        The stations file (the snapshot); its journal is ``<path>.journal``.
    keep_backups
        Snapshots kept in ``.backups/`` (one is taken at each compaction).
    compact_every
        Fold the journal into a new snapshot once it holds this many writes.
    cache
        Stations validated before (see `check_written_feature`): an API worker's.
    columns_min_stations
        A fold of at least this many stations writes their column file (`storage.folding`).
    """

    def __init__(
        self,
        path: Path,
        keep_backups: int = 20,
        compact_every: int = 1000,
        cache: FeatureCache | None = None,
        loop_path: Path | None = None,
        columns_min_stations: int = 10_000,
    ) -> None:
        self.path = path
        self.loop_path = loop_path or path.with_name("loop178.geojson")
        self.journal_path = journal.journal_path(path)
        self.lock_path = path.with_name(path.name + ".lock")
        self.backups = path.parent / ".backups"
        self.audit_path = path.parent / "audit.jsonl"
        self.audit = AuditLog(self.audit_path)
        self.keep_backups = keep_backups
        self.compact_every = compact_every
        self.cache = cache
        self.columns_min_stations = columns_min_stations
        #: The stations a fold wrote, and its position, for `folding.from_memory`.
        self.columns_due: tuple[list[Feature], Position, FeatureCache] | None = None

    @classmethod
    def for_settings(cls, settings: Settings, cache: FeatureCache | None = None) -> GeoJSONStore:
        """The store behind the configured stations file (``cache``: an API worker's)."""
        return cls(
            settings.stations_path,
            keep_backups=settings.keep_backups,
            compact_every=settings.compact_every,
            cache=cache,
            loop_path=settings.loop_path,
            columns_min_stations=settings.columns_min_stations,
        )

    def version(self) -> str:
        """Snapshot identity and journal length: changes on every write."""
        state = journal_state(self.path)
        return f"{file_identity(self.path)}-{state[0] if state else 0}-{state[1] if state else 0}"

    def snapshot(self) -> tuple[Feature, Position]:
        """The FeatureCollection as stored (journal applied, no compaction mark), its position."""
        doc, position = read_document(self.path)
        if not isinstance(doc, dict):
            raise DataError(str(self.path), ["expected a GeoJSON FeatureCollection"])
        return {k: v for k, v in doc.items() if k != COMPACTED}, position

    def changes(self, since: StorePosition) -> Changes[Position] | None:
        """The journal entries written since ``since``; None if the files moved on otherwise."""
        if not isinstance(since, Position):
            return None  # a position in a change log: not these files
        return changes_since(self.path, since, file_identity(self.path), journal_state(self.path))

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _current(self) -> Stored:
        """The stored data (call under the lock): only new journal lines are read if we can."""
        key = str(self.path.resolve())
        stored = _STORED.get(key)
        if stored is not None:
            changes = changes_since(
                self.path, stored.position, file_identity(self.path), journal_state(self.path)
            )
            if changes is not None:
                stored.follow(changes)
                return stored
        doc, position = read_document(self.path)
        where = journal.checked_index(doc, str(self.path))  # refuse to build on a broken file
        entries, _ = journal.read_entries(self.journal_path) if position.journal_inode else ([], 0)
        stored = Stored(doc, where, position, len(entries))
        _STORED[key] = stored
        return stored

    def _write(self, stored: Stored, entries: list[journal.Entry], audit: dict[str, Any]) -> None:
        """Make entries durable (journal append + fsync), then audit them; compact if due."""
        inode_before = stored.position.journal_inode
        size = journal.append(self.journal_path, entries)
        state = journal_state(self.path)
        assert state is not None
        if inode_before is not None and state[0] != inode_before:  # pragma: no cover - lock
            raise DataError(str(self.journal_path), ["journal replaced during a write"])
        written = Position(stored.position.snapshot, state[0], size)
        stored.follow(Changes(entries, written, len(entries)))
        self.audit.append(audit)
        if stored.pending >= self.compact_every:
            self._fold_after_write(stored)

    def _fold_after_write(self, stored: Stored, cache: FeatureCache | None = None) -> None:
        """Compact after a write: it is durable already, so a failure is only logged."""
        try:
            folding.fold(self, stored, cache)
        except DataError as exc:
            log.error("cannot fold the journal (the writes stay in it): %s", exc)

    def compact(self, idle_s: float | None = None) -> int:
        """Fold the journal into a new snapshot; return how many writes it held (0: nothing).

        With ``idle_s``, only if nobody has written for that many seconds. Temp files a killed
        compaction left are removed either way. `DataError` (nothing folded) if a journal line
        is invalid. An empty journal (a loop change's signal, `replace_loop`) is just removed.
        """
        with self._locked():
            self._remove_stale_temps(time.time())
            if journal_state(self.path) is None:
                return 0
            stored = self._current()
            if stored.position.journal_inode is None:
                return 0
            if idle_s is not None:
                age = time.time() - self.journal_path.stat().st_mtime
                if age < idle_s:
                    return 0
            if self.journal_path.stat().st_size == 0:
                folding.drop_empty_journal(self, stored)
                return 0
            folded = folding.fold(self, stored)
        folding.from_memory(self)  # outside the lock: writers need not wait for it
        return folded

    def _remove_stale_temps(self, before: float) -> None:
        """Remove what a compaction killed midway left: temp files of the snapshot and backups."""
        remove_stale_temps(self.path.parent, self.path.name, before)
        if self.backups.is_dir():
            remove_stale_temps(self.backups, f"{self.path.stem}.*.geojson", before)

    def last_backup(self) -> Path | None:
        """The newest backup, if any."""
        kept = sorted(self.backups.glob(f"{self.path.stem}.*.geojson"))
        return kept[-1] if kept else None

    def history(self, station_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The station's last ``limit`` changes from the audit log, newest first."""
        return self.audit.history(station_id, limit)

    def _get(self, stored: Stored, station_id: str) -> Feature:
        at = stored.where.get(station_id)
        if at is None:
            raise StationNotFound(f"no station with id {station_id!r}")
        feature: Feature = stored.doc["features"][at]
        return feature

    def _put(
        self, stored: Stored, action: str, feature: Feature, actor: str, before: Feature | None
    ) -> Feature:
        """Write ``feature`` (``surveyed_by`` set from ``actor``, checked again); return it."""
        feature = check_written_feature(stamp_surveyor(before, feature, actor), cache=self.cache)
        sid = feature["properties"]["id"]
        audit = {"actor": actor, "action": action, "id": sid, "before": before, "after": feature}
        self._write(stored, [journal.Entry(sid, feature)], audit)
        return feature

    def create(self, feature: Feature, actor: str) -> Feature:
        """Add a station; Conflict if its id exists."""
        feature = check_written_feature(with_id(feature), cache=self.cache)
        sid = feature["properties"]["id"]
        with self._locked():
            stored = self._current()
            if sid in stored.where:
                raise Conflict(f"a station with id {sid!r} already exists; use PUT to replace it")
            return self._put(stored, "create", feature, actor, None)

    def replace(
        self, station_id: str, feature: Feature, actor: str, if_match: str | None = None
    ) -> Feature:
        """Replace a station entirely (its id cannot change); ``if_match``: see `Store`."""
        feature = check_written_feature(with_id(feature), cache=self.cache)
        if feature["properties"]["id"] != station_id:
            raise InvalidInput(
                f"properties.id {feature['properties']['id']!r} differs from the URL's "
                f"{station_id!r}; ids cannot change"
            )
        with self._locked():
            stored = self._current()
            before = self._get(stored, station_id)
            check_if_match(before, if_match)
            return self._put(stored, "replace", feature, actor, before)

    def patch(
        self, station_id: str, changes: Feature, actor: str, if_match: str | None = None
    ) -> Feature:
        """Merge ``changes`` (``properties`` and/or ``geometry``) into a station."""
        props = patch_properties(station_id, changes)
        with self._locked():
            stored = self._current()
            current = self._get(stored, station_id)
            check_if_match(current, if_match)
            return self._put(stored, "patch", merged(current, props, changes), actor, current)

    def plan_import(self, features: list[Feature], update: bool = False) -> ImportPlan:
        """What `import_features` would do with these features now (a dry run; no lock)."""
        checked = [check_written_feature(with_id(f)) for f in features]
        return self._plan(self._current(), checked, update)

    @staticmethod
    def _plan(stored: Stored, checked: list[Feature], update: bool) -> ImportPlan:
        features = stored.doc["features"]
        return plan_import({i: features[at] for i, at in stored.where.items()}, checked, update)

    def import_features(
        self, features: list[Feature], actor: str, update: bool = False
    ) -> ImportPlan:
        """Add or replace many stations in one write (one lock, then a new snapshot).

        Stations that would not change are not written; an id that exists without ``update``
        raises Conflict listing the ids, and nothing is written.
        """
        cache = FeatureCache()  # the compaction below need not validate them again
        checked = [check_written_feature(with_id(f), cache=cache) for f in features]
        with self._locked():
            stored = self._current()
            plan = self._plan(stored, checked, update)
            if plan.refused:
                clash = [sid for sid, _ in plan.refused]
                raise Conflict(
                    f"{len(clash)} id(s) already exist ({', '.join(clash[:10])}); use --update "
                    "to replace them"
                )
            if not plan.writes:
                return plan
            current = {sid: self._get(stored, sid) for sid in plan.changed}
            stamped = [stamp_surveyor(current.get(f["id"]), f, actor) for f in plan.writes]
            writes = [check_written_feature(f, cache=cache) for f in stamped]
            entries = [journal.Entry(f["properties"]["id"], f) for f in writes]
            audit = {"actor": actor, "action": "import", "created": plan.created}
            self._write(stored, entries, {**audit, "updated": plan.changed})
            if stored.position.journal_inode is not None:  # a bulk change: fold it in at once
                self._fold_after_write(stored, cache)
        folding.from_memory(self)  # outside the lock
        return plan

    def delete(
        self, station_id: str, actor: str, purge: bool = False, if_match: str | None = None
    ) -> Feature | None:
        """Mark a station closed (kept, with history), or remove it with ``purge``."""
        with self._locked():
            stored = self._current()
            current = self._get(stored, station_id)
            check_if_match(current, if_match)
            if purge:
                audit: dict[str, Any] = {"actor": actor, "action": "purge", "id": station_id}
                audit |= {"before": current, "after": None}
                self._write(stored, [journal.Entry(station_id, None)], audit)
                return None
            closed = {
                **current,
                "properties": {**current["properties"], "status": Status.CLOSED.value},
            }
            return self._put(stored, "close", closed, actor, current)

    def loop_version(self) -> str:
        """The loop file's version (`storage.loopfile.loop_version`)."""
        return loopfile.loop_version(self.loop_path)

    def replace_loop(self, feature: Feature, actor: str, if_version: str | None = None) -> Feature:
        """Replace the loop (`storage.loopfile.replace_loop_file`); every reader sees it at once."""
        with self._locked():
            audit = loopfile.replace_loop_file(
                self.loop_path, feature, if_version, self.keep_backups
            )
            journal.renew(self.journal_path)  # workers trusting the journal look at the loop
            self.audit.append({"actor": actor, **audit})
        return feature
