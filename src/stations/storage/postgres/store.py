"""The store (`storage.base.Store`) on PostgreSQL/PostGIS, for several API replicas.

- every change is validated by the same code as the GeoJSON store's
  (`storage.loading.check_written_feature`), so both refuse the same input with the same
  messages, and nothing invalid is ever stored;
- every write is one transaction: it takes the ``store_state`` row's lock (writers queue, as
  on the GeoJSON store's file lock, so an id is checked and written as one step), writes the
  ``stations`` rows, appends each station's whole new state (or its removal) to ``change_log``
  under the next sequence number, appends to ``audit``, and sends ``NOTIFY stations`` with
  the last sequence number, which PostgreSQL delivers only once the transaction commits.
  A write is acknowledged once it committed; a failed one leaves every table as it was;
- readers take a `snapshot` (every station and the sequence number it holds, read in one
  repeatable-read transaction) and then apply the change log from there (`changes`), as
  `stations.holder` does for the files' journal;
- `compact` folds the log: the rows of the fold before the last one are deleted, but for the
  last ``keep_changes``, so a reader one fold (or that many changes) behind still catches up
  by sequence number, a replica's cache too, and one further behind reads afresh;
- under that lock, as on the GeoJSON store: ``if_match`` is checked against the locked row
  (`storage.revision.check_if_match`), ``surveyed_by`` is set from the writer
  (`storage.survey.stamp_surveyor`); `history` reads the ``audit`` rows of a station by the
  ``audit_stations`` index;
- the loop lives in the ``loops`` table (the newest row; until one is stored, the loop file
  ``loop_path``); `replace_loop` is one write transaction that appends a `LOOP_ROW` to the
  change log, which `changes` answers with None: every reader reloads, loop included.

Schema and migrations: `storage.postgres.schema`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import Any

import orjson

from stations.errors import Conflict, DataError, InvalidInput, StationNotFound
from stations.models import Status
from stations.storage.base import Feature
from stations.storage.importing import ImportPlan, plan_import
from stations.storage.journal import Entry
from stations.storage.loading import FeatureCache, check_written_feature, with_id
from stations.storage.loopfile import (
    check_loop,
    check_loop_version,
    encode_loop,
    feature_of,
    loop_version,
    summary,
    version_of,
)
from stations.storage.patching import merged, patch_properties
from stations.storage.postgres.connect import Connection, check_schema, connection, redacted
from stations.storage.postgres.writes import KEEP_CHANGES, LOOP_ROW, Write
from stations.storage.revision import check_if_match
from stations.storage.snapshot import Changes, LogPosition, StorePosition
from stations.storage.survey import stamp_imported, stamp_surveyor


class PostgresStore:
    """Stations in a PostgreSQL/PostGIS database (see the module docstring).

    Parameters
    ----------
    url
        ``postgresql://user:password@host:port/database``; its schema must be current
        (`stations db upgrade`).
    cache
        Stations validated before (an API worker's, see `check_written_feature`).
    loop_path
        The loop file that serves until the database holds a loop (``STATIONS_LOOP_PATH``).
    keep_changes
        Change-log rows a fold keeps at least (``STATIONS_DATABASE_KEEP_CHANGES``).
    """

    def __init__(
        self,
        url: str,
        cache: FeatureCache | None = None,
        loop_path: Path | None = None,
        keep_changes: int = KEEP_CHANGES,
    ) -> None:
        self.url = url
        self.cache = cache
        self.loop_path = loop_path
        self.keep_changes = keep_changes
        self._checked = False

    def __repr__(self) -> str:
        return f"PostgresStore({redacted(self.url)!r})"

    @contextmanager
    def _conn(self) -> Iterator[Connection]:
        """A connection in a transaction, to a database whose schema is this code's."""
        with connection(self.url) as conn:
            if not self._checked:
                check_schema(conn, self.url)
                conn.commit()  # each use starts its own transaction
                self._checked = True
            yield conn

    @contextmanager
    def _writing(self) -> Iterator[Write]:
        """One write transaction, holding the writers' lock (the ``store_state`` row)."""
        with self._conn() as conn, conn.transaction():
            row = conn.execute("SELECT last_seq FROM store_state FOR UPDATE").fetchone()
            if row is None:
                raise DataError(redacted(self.url), ["store_state is empty: restore the database"])
            write = Write(conn, int(row[0]))
            yield write
            write.finish()

    # -- reading ---------------------------------------------------------------------------

    def version(self) -> str:
        """The store's epoch, last sequence number and last fold: changes on every write."""
        with self._conn() as conn:
            row = conn.execute("SELECT epoch, last_seq, folded_seq FROM store_state").fetchone()
        assert row is not None
        return f"{row[0]}-{row[1]}-{row[2]}"

    def snapshot(self) -> tuple[Feature, LogPosition]:
        """Every station in order, and the sequence number they hold (one consistent read)."""
        with self._conn() as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            row = conn.execute("SELECT epoch, last_seq, collection FROM store_state").fetchone()
            assert row is not None
            cur = conn.execute("SELECT feature FROM stations ORDER BY ord")
            features = [r[0] for r in cur]
        doc = {**row[2], "features": features}
        return doc, LogPosition(str(row[0]), int(row[1]))

    def changes(self, since: StorePosition, ahead_ok: bool = False) -> Changes[LogPosition] | None:
        """The change log after ``since``; None if it cannot be told (read `snapshot`).

        None too if the loop was replaced since: the reader reloads (the loop with it).

        ``ahead_ok``: a reader ahead of this database is not told to reload but that nothing
        changed (a standby that has not replayed what the reader read on the primary).
        """
        if not isinstance(since, LogPosition):
            return None
        with self._conn() as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            row = conn.execute("SELECT epoch, last_seq, pruned_seq FROM store_state").fetchone()
            assert row is not None
            epoch, last, pruned = str(row[0]), int(row[1]), int(row[2])
            if ahead_ok and epoch == since.source and since.seq >= last:
                return Changes([], since, 0)
            if epoch != since.source or not pruned <= since.seq <= last:
                return None  # another database, a restored one, or a log pruned past us
            rows = conn.execute(
                "SELECT seq, station_id, feature FROM change_log WHERE seq > %s ORDER BY seq",
                (since.seq,),
            ).fetchall()
        if len(rows) != last - since.seq:  # pragma: no cover - the log is gapless
            return None
        if any(sid == LOOP_ROW for _, sid, _ in rows):
            return None
        entries = [Entry(sid, feature, seq) for seq, sid, feature in rows]
        return Changes(entries, LogPosition(epoch, last), len(entries))

    def _current(self, conn: Connection, station_id: str, if_match: str | None = None) -> Feature:
        """The stored station, its row locked; `PreconditionFailed` if ``if_match`` fails."""
        row = conn.execute(
            "SELECT feature FROM stations WHERE id = %s FOR UPDATE", (station_id,)
        ).fetchone()
        if row is None:
            raise StationNotFound(f"no station with id {station_id!r}")
        feature: Feature = row[0]
        check_if_match(feature, if_match)
        return feature

    def history(self, station_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The station's last ``limit`` changes from the audit, newest first (see `Store`)."""
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT a.at, a.actor, a.action, a.entry FROM audit_stations s "
                "JOIN audit a ON a.id = s.audit_id WHERE s.station_id = %s "
                "ORDER BY s.audit_id DESC LIMIT %s",
                (station_id, max(0, limit)),
            ).fetchall()
        return [
            {
                "at": at.astimezone(UTC).isoformat(timespec="milliseconds"),
                "actor": actor,
                "action": action,
                "before": entry.get("before"),
                "after": entry.get("after"),
            }
            for at, actor, action, entry in rows
        ]

    @staticmethod
    def _all(conn: Connection) -> dict[str, Feature]:
        return dict(conn.execute("SELECT id, feature FROM stations ORDER BY ord"))

    # -- writing ---------------------------------------------------------------------------

    def create(self, feature: Feature, actor: str) -> Feature:
        """Add a station; `Conflict` if its id exists."""
        feature = check_written_feature(with_id(feature), cache=self.cache)
        sid = feature["properties"]["id"]
        with self._writing() as write:
            found = write.conn.execute("SELECT 1 FROM stations WHERE id = %s", (sid,)).fetchone()
            if found is not None:
                raise Conflict(f"a station with id {sid!r} already exists; use PUT to replace it")
            return self._put(write, "create", feature, actor, None)

    def _put(
        self, write: Write, action: str, feature: Feature, actor: str, before: Feature | None
    ) -> Feature:
        """Write ``feature`` (``surveyed_by`` set from ``actor``, checked again); return it."""
        feature = check_written_feature(stamp_surveyor(before, feature, actor), cache=self.cache)
        sid = feature["properties"]["id"]
        write.put(feature)
        write.audit(actor, action, {"id": sid, "before": before, "after": feature})
        return feature

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
        with self._writing() as write:
            before = self._current(write.conn, station_id, if_match)
            return self._put(write, "replace", feature, actor, before)

    def patch(
        self, station_id: str, changes: Feature, actor: str, if_match: str | None = None
    ) -> Feature:
        """Merge ``changes`` (``properties`` and/or ``geometry``) into a station."""
        props = patch_properties(station_id, changes)
        with self._writing() as write:
            current = self._current(write.conn, station_id, if_match)
            return self._put(write, "patch", merged(current, props, changes), actor, current)

    def delete(
        self, station_id: str, actor: str, purge: bool = False, if_match: str | None = None
    ) -> Feature | None:
        """Mark a station closed (kept, with history), or remove it with ``purge``."""
        with self._writing() as write:
            current = self._current(write.conn, station_id, if_match)
            if purge:
                write.remove(station_id)
                write.audit(actor, "purge", {"id": station_id, "before": current, "after": None})
                return None
            closed = {
                **current,
                "properties": {**current["properties"], "status": Status.CLOSED.value},
            }
            return self._put(write, "close", closed, actor, current)

    def plan_import(self, features: list[Feature], update: bool = False) -> ImportPlan:
        """What `import_features` would do with these features now (a dry run)."""
        checked = [check_written_feature(with_id(f)) for f in features]
        with self._conn() as conn:
            return plan_import(self._all(conn), checked, update)

    def import_features(
        self, features: list[Feature], actor: str, update: bool = False
    ) -> ImportPlan:
        """Add or replace many stations in one transaction (unchanged ones are not written).

        An id that exists and differs, without ``update``, raises `Conflict` listing the ids,
        and nothing is written.
        """
        return self.import_collection({"features": features}, actor, update)

    def import_collection(
        self, doc: Feature, actor: str, update: bool = False, keep_surveyors: bool = False
    ) -> ImportPlan:
        """`import_features` of a FeatureCollection's features, keeping its own members too.

        The collection's other members (``name``, ``attribution``...) replace the stored ones
        (`stations db import`), in the same transaction, so an export gives the file back.
        ``keep_surveyors``: a move between stores keeps the file's ``surveyed_by``.
        """
        features = doc.get("features")
        if not isinstance(features, list):
            raise InvalidInput("expected a FeatureCollection with a 'features' array")
        checked = [check_written_feature(with_id(f), cache=self.cache) for f in features]
        members = {k: (None if k == "features" else v) for k, v in doc.items()}
        with self._writing() as write:
            if set(members) > {"features"}:
                write.conn.execute(
                    "UPDATE store_state SET collection = %s::json",
                    (orjson.dumps(members).decode(),),
                )
            stored = self._all(write.conn)
            plan = plan_import(stored, checked, update)
            if plan.refused:
                clash = [sid for sid, _ in plan.refused]
                raise Conflict(
                    f"{len(clash)} id(s) already exist ({', '.join(clash[:10])}); use --update "
                    "to replace them"
                )
            if not plan.writes:
                return plan
            stamp = stamp_imported if keep_surveyors else stamp_surveyor
            stamped = [stamp(stored.get(f["id"]), f, actor) for f in plan.writes]
            write.put_many([check_written_feature(f, cache=self.cache) for f in stamped])
            write.audit(actor, "import", {"created": plan.created, "updated": plan.changed})
        return plan

    def compact(self, idle_s: float | None = None) -> int:
        """Fold the change log; return how many writes were made since the last fold.

        The rows of the fold before this one are deleted, but for the last ``keep_changes``
        (a replica's cache within them still starts from it). With ``idle_s``, only if nobody
        has written for that many seconds.
        """
        with self._writing() as write:
            return write.fold(idle_s, self.keep_changes)

    # -- the loop --------------------------------------------------------------------------

    def loop(self) -> Feature | None:
        """The loop the database holds (the newest stored); None if it holds none yet."""
        with self._conn() as conn:
            return self._loop(conn)

    @staticmethod
    def _loop(conn: Connection) -> Feature | None:
        row = conn.execute("SELECT feature FROM loops ORDER BY id DESC LIMIT 1").fetchone()
        return None if row is None else dict(row[0])

    def _loop_version(self, loop: Feature | None) -> str:
        """The version of ``loop`` as stored (`encode_loop`), or of the loop file if None."""
        if loop is not None:
            return version_of(encode_loop(loop))
        if self.loop_path is None:
            raise DataError(
                redacted(self.url),
                ["the database holds no loop: store one (`stations loop import`, "
                 "`stations db import --loop`)"],
            )  # fmt: skip
        return loop_version(self.loop_path)

    def loop_version(self) -> str:
        """The current loop's version (`storage.loopfile.version_of` its file form)."""
        return self._loop_version(self.loop())

    def replace_loop(self, feature: Feature, actor: str, if_version: str | None = None) -> Feature:
        """Store ``feature`` as the loop (validated; ``if_version``: see `Store.replace_loop`).

        One transaction: the ``loops`` row, a `LOOP_ROW` in the change log (every replica
        reloads), the audit row. The loops it replaces stay in ``loops``.
        """
        check_loop(feature)
        with self._writing() as write:
            before = self._loop(write.conn)
            if if_version is not None:
                check_loop_version(self._loop_version(before), if_version)
            write.conn.execute(
                "INSERT INTO loops (actor, feature) VALUES (%s, %s::json)",
                (actor, orjson.dumps(feature).decode()),
            )
            write.loop_replaced()
            if before is None and self.loop_path is not None and self.loop_path.is_file():
                before = feature_of(self.loop_path.read_bytes())  # the file served until now
            write.audit(
                actor, "replace_loop", {"before": summary(before), "after": summary(feature)}
            )
        return feature
