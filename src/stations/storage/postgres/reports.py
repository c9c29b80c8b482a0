"""Riders' problem reports in PostgreSQL: the twin of `storage.reports.ReportStore`.

Same methods, same answers, same limits; the ``reports`` table (`storage.postgres.schema`,
version 2) has the SQLite table's columns. With several replicas the hourly limit per client
holds across all of them: a report counts the client's last hour and inserts in one
transaction that holds an advisory lock on the client's key, so two replicas never both let
the client's last allowed report through.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.rows import dict_row

from stations.errors import Conflict, StationNotFound
from stations.storage.postgres.connect import connection
from stations.storage.reports import Category, ReportStore, TooManyReports, clean_text


class PostgresReportStore(ReportStore):
    """Reports in the store's PostgreSQL database (see the module docstring).

    Parameters
    ----------
    url
        The database (its schema current: `stations db upgrade`).
    per_hour
        Reports one client may send an hour.
    salt
        Mixed into the client key (the address itself is never stored).
    """

    def __init__(self, url: str, per_hour: int = 10, salt: str = "stations") -> None:
        self.url = url
        self.per_hour = per_hour
        self.salt = salt

    def add(
        self,
        station_id: str,
        category: Category,
        text: str | None,
        position: tuple[float, float] | None,
        address: str,
        key: str | None = None,
    ) -> dict[str, Any]:
        """Store a report; `TooManyReports` past the hourly limit for this client.

        ``key`` (the client's idempotency key): a report whose key is already stored is not
        stored again; the stored one is returned (and does not count against the limit).
        """
        client = self.client_key(address)
        now = datetime.now(UTC)
        since = (now - timedelta(hours=1)).isoformat()
        lon, lat = position if position else (None, None)
        with connection(self.url) as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (client,))
            if key is not None:
                # the same key from another address is serialised by the UNIQUE constraint
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("report-key:" + key,))
                with conn.cursor(row_factory=dict_row) as cur:
                    cur.execute("SELECT * FROM reports WHERE idempotency_key = %s", (key,))
                    found = cur.fetchone()
                if found is not None:
                    if found["station_id"] != station_id:
                        raise Conflict(
                            "this Idempotency-Key was already used for a report on another "
                            "station; send a new key with each new report"
                        )
                    return _public(found)
            row = conn.execute(
                "SELECT count(*) FROM reports WHERE client = %s AND created_at > %s",
                (client, since),
            ).fetchone()
            if row is not None and row[0] >= self.per_hour:
                raise TooManyReports(
                    f"at most {self.per_hour} reports an hour from one device; thank you, "
                    "please try again later"
                )
            with conn.cursor(row_factory=dict_row) as cur:
                cur.execute(
                    "INSERT INTO reports (station_id, category, text, lon, lat, client, "
                    "created_at, idempotency_key) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                    "RETURNING *",
                    (station_id, category.value, clean_text(text), lon, lat, client,
                     now.isoformat(), key),
                )  # fmt: skip
                stored = cur.fetchone()
        assert stored is not None
        return _public(stored)

    def list(
        self,
        status: str | None = None,
        station_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
        category: Category | None = None,
    ) -> list[dict[str, Any]]:
        """Reports, newest first; each filter given narrows the list."""
        with connection(self.url) as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT * FROM reports WHERE (%(status)s::text IS NULL OR status = %(status)s) "
                "AND (%(station)s::text IS NULL OR station_id = %(station)s) "
                "AND (%(category)s::text IS NULL OR category = %(category)s) "
                "ORDER BY id DESC LIMIT %(limit)s OFFSET %(offset)s",
                {"status": status or None, "station": station_id or None, "limit": limit,
                 "offset": offset, "category": category.value if category else None},
            )  # fmt: skip
            return [_public(r) for r in cur.fetchall()]

    def resolve(self, report_id: int, by: str, note: str | None) -> dict[str, Any]:
        """Mark an open report resolved; the first resolution stands (`Conflict` after)."""
        with connection(self.url) as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "UPDATE reports SET status = 'resolved', resolved_at = %s, resolved_by = %s, "
                "resolution = %s WHERE id = %s AND status = 'open'",
                (datetime.now(UTC).isoformat(), by, clean_text(note), report_id),
            )
            changed = cur.rowcount
            cur.execute("SELECT * FROM reports WHERE id = %s", (report_id,))
            row = cur.fetchone()
        if row is None:
            raise StationNotFound(f"no report with id {report_id}")
        if changed == 0:
            raise Conflict(
                f"report {report_id} was already resolved by {row['resolved_by']} at "
                f"{row['resolved_at']}; its resolution is kept"
            )
        return _public(row)

    def open_counts(self) -> dict[str, int]:
        """How many open reports each station has."""
        with connection(self.url) as conn:
            rows = conn.execute(
                "SELECT station_id, count(*) FROM reports WHERE status = 'open' GROUP BY station_id"
            ).fetchall()
        return {r[0]: int(r[1]) for r in rows}


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out.pop("client", None)
    out.pop("idempotency_key", None)
    return out
