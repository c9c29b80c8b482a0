"""What one write transaction of the PostgreSQL store appends (`storage.postgres.store`).

Station rows, their change-log rows under gapless sequence numbers, the loop's change-log row,
audit rows indexed by station, and the ``NOTIFY`` sent once the transaction commits.
"""

from __future__ import annotations

from typing import Any

import orjson

from stations.storage.base import Feature
from stations.storage.postgres.connect import Connection

#: The channel writers notify and replicas listen on; the payload is the last sequence number.
CHANNEL = "stations"
#: Change-log rows a fold keeps at least (a replica whose cache is within them starts from it).
KEEP_CHANGES = 100_000
#: The ``station_id`` of a change-log row that replaced the loop (no station id can be this).
LOOP_ROW = "#loop"

_UPSERT = """
INSERT INTO stations (id, kind, status, geom, feature)
VALUES (%(id)s, %(kind)s, %(status)s,
        CASE WHEN %(lon)s::float8 IS NULL THEN NULL
             ELSE ST_SetSRID(ST_MakePoint(%(lon)s::float8, %(lat)s::float8), 4326) END,
        %(feature)s::json)
ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, status = EXCLUDED.status,
    geom = EXCLUDED.geom, feature = EXCLUDED.feature
"""


def row_of(feature: Feature) -> dict[str, Any]:
    """The ``stations`` row of a valid feature: its queried properties and its exact JSON."""
    props = feature["properties"]
    coords = (feature.get("geometry") or {}).get("coordinates") or [None, None]
    return {
        "id": props["id"],
        "kind": props.get("kind"),
        "status": props.get("status"),
        "lon": coords[0],
        "lat": coords[1],
        "feature": orjson.dumps(feature).decode(),
    }


class Write:
    """What one write transaction appends: station rows, change-log rows, audit, NOTIFY."""

    def __init__(self, conn: Connection, seq: int) -> None:
        self.conn = conn
        self.start = seq
        self.seq = seq

    def put(self, feature: Feature) -> None:
        """Write one station (`put_many`)."""
        self.put_many([feature])

    def put_many(self, features: list[Feature]) -> None:
        """Upsert the stations' rows and log each one's new state under the next numbers."""
        rows = [row_of(f) for f in features]
        with self.conn.cursor() as cur:
            cur.executemany(_UPSERT, rows)
            logged = []
            for row in rows:
                self.seq += 1
                logged.append((self.seq, row["id"], row["feature"]))
            cur.executemany(
                "INSERT INTO change_log (seq, station_id, feature) VALUES (%s, %s, %s::json)",
                logged,
            )

    def remove(self, station_id: str) -> None:
        """Delete a station's row and log its removal (a NULL feature)."""
        self.conn.execute("DELETE FROM stations WHERE id = %s", (station_id,))
        self.seq += 1
        self.conn.execute(
            "INSERT INTO change_log (seq, station_id, feature) VALUES (%s, %s, NULL)",
            (self.seq, station_id),
        )

    def loop_replaced(self) -> None:
        """Log that the loop was replaced: readers reload (`PostgresStore.changes`)."""
        self.seq += 1
        self.conn.execute(
            "INSERT INTO change_log (seq, station_id, feature) VALUES (%s, %s, NULL)",
            (self.seq, LOOP_ROW),
        )

    def audit(self, actor: str, action: str, entry: dict[str, Any]) -> None:
        """Append to ``audit``, and index it by the stations it concerns (``audit_stations``)."""
        row = self.conn.execute(
            "INSERT INTO audit (actor, action, entry) VALUES (%s, %s, %s::json) RETURNING id",
            (actor, action, orjson.dumps(entry).decode()),
        ).fetchone()
        assert row is not None
        ids = [entry["id"]] if isinstance(entry.get("id"), str) else []
        ids += [*entry.get("created", []), *entry.get("updated", [])]
        if ids:
            with self.conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO audit_stations (station_id, audit_id) VALUES (%s, %s) "
                    "ON CONFLICT DO NOTHING",
                    [(sid, row[0]) for sid in ids],
                )

    def fold(self, idle_s: float | None, keep: int) -> int:
        """Fold the log (`PostgresStore.compact`); how many writes since the last fold.

        Deletes the rows of the fold before this one, but for the last ``keep`` rows.
        """
        row = self.conn.execute(
            "SELECT folded_seq, pruned_seq, "
            "coalesce(extract(epoch FROM now() - last_write), 1e9) FROM store_state"
        ).fetchone()
        assert row is not None
        folded, pruned, idle = int(row[0]), int(row[1]), float(row[2])
        count = self.seq - folded
        if count == 0 or (idle_s is not None and idle < idle_s):
            return 0
        prune = max(pruned, min(folded, self.seq - max(0, keep)))
        self.conn.execute("DELETE FROM change_log WHERE seq <= %s", (prune,))
        self.conn.execute("UPDATE store_state SET pruned_seq = %s, folded_seq = last_seq", (prune,))
        return count

    def finish(self) -> None:
        """Record the last sequence number and notify (delivered when the transaction commits)."""
        if self.seq == self.start:
            return
        self.conn.execute("UPDATE store_state SET last_seq = %s, last_write = now()", (self.seq,))
        self.conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(self.seq)))
