"""Riders' problem reports: a station locked in the daytime, no water, broken, dirty, not found.

Stored durably in SQLite beside the data file (WAL mode, synchronous=FULL: a report acknowledged
is on disk), shared by every worker. A connection per call keeps it safe across threads; SQLite's
own locking serialises writers across processes. Riders are rate-limited per client (a salted hash
of the address, never the address itself), also in the database so every worker counts the same.
"""

from __future__ import annotations

import hashlib
import random
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from stations.errors import Conflict, InvalidInput, StationNotFound, StationsError


class TooManyReports(StationsError):
    """A client sent more reports than allowed in the window."""


class Category(StrEnum):
    """What is wrong at the station."""

    LOCKED = "locked_during_hours"
    NO_WATER = "no_water"
    BROKEN = "broken_equipment"
    DIRTY = "dirty"
    MISSING = "moved_or_not_found"
    OTHER = "other"


CATEGORY_LABELS: dict[Category, tuple[str, str]] = {
    Category.LOCKED: ("开放时间内锁门", "locked during opening hours"),
    Category.NO_WATER: ("没有水", "no water"),
    Category.BROKEN: ("设备损坏", "broken equipment"),
    Category.DIRTY: ("不干净", "dirty"),
    Category.MISSING: ("搬走了/找不到", "moved or not found"),
    Category.OTHER: ("其他", "other"),
}
MAX_TEXT = 500
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

#: Bumped with every change to `SCHEMA`; kept in the file's ``PRAGMA user_version``.
#: 2: ``idempotency_key`` (a report sent again, say from an offline queue, is stored once).
SCHEMA_VERSION = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id TEXT NOT NULL,
    category TEXT NOT NULL,
    text TEXT,
    lon REAL,
    lat REAL,
    client TEXT NOT NULL,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    resolved_at TEXT,
    resolved_by TEXT,
    resolution TEXT,
    idempotency_key TEXT
);
CREATE INDEX IF NOT EXISTS reports_open ON reports (status, station_id);
CREATE INDEX IF NOT EXISTS reports_client ON reports (client, created_at);
"""


def ensure_schema(db: sqlite3.Connection) -> None:
    """Bring a connection's database to `SCHEMA_VERSION`, whoever else is opening it.

    Cheap when the schema is there (one pragma read). Otherwise the tables are made in one
    ``BEGIN IMMEDIATE`` transaction together with the version, so of several processes opening a
    new file at once one creates them and the others wait, then find them; a crash midway leaves
    the version unset and the next connection creates them again (every statement is idempotent).
    WAL is set outside the transaction (SQLite requires it) and only when not already set: the
    mode is stored in the file, and switching it needs a lock that a busy database may refuse.
    """
    if db.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
        return
    _use_wal(db)
    db.execute("BEGIN IMMEDIATE")
    try:
        if db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            columns = {row[1] for row in db.execute("PRAGMA table_info(reports)")}
            if "idempotency_key" not in columns:  # a version 1 file
                db.execute("ALTER TABLE reports ADD COLUMN idempotency_key TEXT")
            db.execute("CREATE UNIQUE INDEX IF NOT EXISTS reports_key ON reports (idempotency_key)")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _use_wal(db: sqlite3.Connection, wait_s: float = 10.0) -> None:
    """Put the file in WAL mode, waiting for other connections as a transaction would.

    Switching the journal mode needs an exclusive lock, and SQLite answers "database is locked"
    at once instead of calling the busy handler while another connection holds the file (as when
    several workers open a new file together), so the switch is retried here up to ``wait_s``.
    """
    deadline = time.monotonic() + wait_s
    while True:
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.005, 0.05))


def clean_text(text: str | None) -> str | None:
    """Trimmed, control characters removed, at most `MAX_TEXT` characters; None if empty."""
    if text is None:
        return None
    text = _CONTROL.sub("", text).strip()
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"text must be at most {MAX_TEXT} characters; got {len(text)}")
    return text or None


class ReportStore:
    """Reports in one SQLite file."""

    def __init__(self, path: Path, per_hour: int = 10, salt: str = "stations") -> None:
        self.path = path
        self.per_hour = per_hour
        self.salt = salt

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A connection whose database has the schema (reads never make the file, see callers)."""
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA synchronous=FULL")
            ensure_schema(db)
            yield db
        finally:
            db.close()

    def client_key(self, address: str) -> str:
        """A salted hash of the client address (the address is never stored)."""
        return hashlib.sha256(f"{self.salt}|{address}".encode()).hexdigest()[:16]

    def add(
        self,
        station_id: str,
        category: Category,
        text: str | None,
        position: tuple[float, float] | None,
        address: str,
        key: str | None = None,
    ) -> dict[str, Any]:
        """Store a report; TooManyReports past the hourly limit for this client.

        ``key`` (the client's idempotency key): a report whose key is already stored is not
        stored again; the stored one is returned (and does not count against the limit).
        """
        client = self.client_key(address)
        now = datetime.now(UTC)
        since = (now - timedelta(hours=1)).isoformat()
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")  # count and insert as one step across processes
            if key is not None:
                stored = db.execute(
                    "SELECT * FROM reports WHERE idempotency_key = ?", (key,)
                ).fetchone()
                if stored is not None:
                    db.execute("ROLLBACK")
                    if stored["station_id"] != station_id:
                        raise Conflict(
                            "this Idempotency-Key was already used for a report on another "
                            "station; send a new key with each new report"
                        )
                    return _public(stored)
            (recent,) = db.execute(
                "SELECT count(*) FROM reports WHERE client = ? AND created_at > ?", (client, since)
            ).fetchone()
            if recent >= self.per_hour:
                db.execute("ROLLBACK")
                raise TooManyReports(
                    f"at most {self.per_hour} reports an hour from one device; thank you, "
                    "please try again later"
                )
            lon, lat = position if position else (None, None)
            cur = db.execute(
                "INSERT INTO reports (station_id, category, text, lon, lat, client, created_at, "
                "idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    station_id,
                    category.value,
                    clean_text(text),
                    lon,
                    lat,
                    client,
                    now.isoformat(),
                    key,
                ),
            )
            db.execute("COMMIT")
            row = db.execute("SELECT * FROM reports WHERE id = ?", (cur.lastrowid,)).fetchone()
        return _public(row)

    def list(
        self,
        status: str | None = None,
        station_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
        category: Category | None = None,
    ) -> list[dict[str, Any]]:
        """Reports, newest first; each filter given narrows the list."""
        if not self.path.exists():
            return []
        where: list[str] = []
        args: list[Any] = []
        if status:
            where.append("status = ?")
            args.append(status)
        if station_id:
            where.append("station_id = ?")
            args.append(station_id)
        if category:
            where.append("category = ?")
            args.append(category.value)
        sql = "SELECT * FROM reports"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ? OFFSET ?"
        with self._db() as db:
            rows = db.execute(sql, (*args, limit, offset)).fetchall()
        return [_public(r) for r in rows]

    def resolve(self, report_id: int, by: str, note: str | None) -> dict[str, Any]:
        """Mark an open report resolved (who, when, how).

        The first resolution stands: resolving a resolved report raises `Conflict` naming who
        resolved it and when, so one clerk never silently overwrites another's note.
        """
        if not self.path.exists():
            raise StationNotFound(f"no report with id {report_id}")
        with self._db() as db:
            cur = db.execute(
                "UPDATE reports SET status = 'resolved', resolved_at = ?, resolved_by = ?, "
                "resolution = ? WHERE id = ? AND status = 'open'",
                (datetime.now(UTC).isoformat(), by, clean_text(note), report_id),
            )
            row = db.execute("SELECT * FROM reports WHERE id = ?", (report_id,)).fetchone()
        if row is None:
            raise StationNotFound(f"no report with id {report_id}")
        if cur.rowcount == 0:
            raise Conflict(
                f"report {report_id} was already resolved by {row['resolved_by']} at "
                f"{row['resolved_at']}; its resolution is kept"
            )
        return _public(row)

    def open_counts(self) -> dict[str, int]:
        """How many open reports each station has."""
        if not self.path.exists():
            return {}
        with self._db() as db:
            rows = db.execute(
                "SELECT station_id, count(*) FROM reports WHERE status = 'open' GROUP BY station_id"
            ).fetchall()
        return {r[0]: r[1] for r in rows}


def _public(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    out.pop("client", None)
    out.pop("idempotency_key", None)
    return out
