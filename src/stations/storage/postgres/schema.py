"""The PostgreSQL schema, as numbered migrations, and the runner that applies them.

A small versioned SQL runner rather than Alembic: the schema is a handful of tables written by
hand, there is no ORM model for Alembic to compare against, and a list of numbered SQL scripts
applied in order, each in its own transaction and recorded in ``stations_schema``, is all
``stations db upgrade`` needs. Running it again applies nothing (idempotent); two upgraders
at once queue on an advisory lock. A migration is never edited once released: a change is a
new number.

The tables (version 1):

- ``stations``: one row per station, in the order the store lists them (``ord``). The queried
  properties are columns (``kind``, ``status``, and ``geom``, a ``geometry(Point, 4326)`` with
  a GiST index); the whole feature is kept as ``json``, which keeps its text exactly (``jsonb``
  would reorder keys and rewrite numbers, and an export would no longer match its import
  byte for byte).
- ``change_log``: every write, one row per station written: its whole new state, or NULL for
  its removal. ``seq`` is gapless: writers take the one ``store_state`` row's lock, so a
  sequence number is given only to a write that commits, in commit order, and a replica that
  has applied up to ``seq`` knows it has every earlier write.
- ``audit``: who wrote what, when (the token's label, the action, before and after).
- ``store_state``: one row: the store's ``epoch`` (a new database, or one restored elsewhere,
  has another, so replicas reload), the last sequence number, how far the log was folded
  and pruned (`PostgresStore.compact`), and the FeatureCollection's own members (``name``,
  ``attribution``...; ``features`` marks where the stations go) as ``stations db import``
  found them, so that an export gives back the imported file.
- ``reports`` (version 2): riders' problem reports, and the rate limit they share across
  replicas (`storage.postgres.reports`).
- ``audit_stations`` (version 3): which audit rows concern which station (a one-station
  change names one, a bulk import every id it created or updated), so that a station's
  history (`PostgresStore.history`) is read by its index, not by scanning the audit.
- ``loops`` (version 3): the loop, in PostgreSQL mode: every loop stored, the newest one the
  current (the older ones are kept, as the file store keeps backups). A replacement is one
  transaction that also appends a change-log row (station id
  `storage.postgres.store.LOOP_ROW`, no feature), so every replica reloads the loop in
  sequence order with the station changes. A database upgraded from version 2 holds none:
  the loop file (``STATIONS_LOOP_PATH``) serves until one is stored.
"""

from __future__ import annotations

from typing import Any

import psycopg

#: Any number: the advisory lock two concurrent upgrades queue on.
_UPGRADE_LOCK = 178_019

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "stations, change log, audit",
        """
        CREATE EXTENSION IF NOT EXISTS postgis;
        CREATE TABLE stations (
            id text PRIMARY KEY,
            ord bigserial NOT NULL UNIQUE,
            kind text,
            status text,
            geom geometry(Point, 4326),
            feature json NOT NULL
        );
        CREATE INDEX stations_geom ON stations USING gist (geom);
        CREATE INDEX stations_kind_status ON stations (kind, status);
        CREATE TABLE change_log (
            seq bigint PRIMARY KEY,
            station_id text NOT NULL,
            feature json,
            at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE audit (
            id bigserial PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT now(),
            actor text NOT NULL,
            action text NOT NULL,
            entry json NOT NULL
        );
        CREATE TABLE store_state (
            one boolean PRIMARY KEY DEFAULT true CHECK (one),
            epoch uuid NOT NULL DEFAULT gen_random_uuid(),
            last_seq bigint NOT NULL DEFAULT 0,
            folded_seq bigint NOT NULL DEFAULT 0,
            pruned_seq bigint NOT NULL DEFAULT 0,
            last_write timestamptz,
            collection json NOT NULL DEFAULT '{"type": "FeatureCollection", "features": null}'
        );
        INSERT INTO store_state DEFAULT VALUES;
        """,
    ),
    (
        2,
        "rider reports",
        """
        CREATE TABLE reports (
            id bigserial PRIMARY KEY,
            station_id text NOT NULL,
            category text NOT NULL,
            text text,
            lon double precision,
            lat double precision,
            client text NOT NULL,
            created_at text NOT NULL,
            status text NOT NULL DEFAULT 'open',
            resolved_at text,
            resolved_by text,
            resolution text
        );
        CREATE INDEX reports_open ON reports (status, station_id);
        CREATE INDEX reports_client ON reports (client, created_at);
        """,
    ),
    (
        3,
        "station history index, the loop",
        """
        CREATE TABLE audit_stations (
            station_id text NOT NULL,
            audit_id bigint NOT NULL REFERENCES audit (id) ON DELETE CASCADE,
            PRIMARY KEY (station_id, audit_id)
        );
        INSERT INTO audit_stations (station_id, audit_id)
        SELECT entry ->> 'id', id FROM audit WHERE json_typeof(entry -> 'id') = 'string'
        UNION
        SELECT sid, a.id FROM audit a, json_array_elements_text(
            CASE WHEN json_typeof(a.entry -> 'created') = 'array' THEN a.entry -> 'created'
                 ELSE '[]'::json END) AS sid
        UNION
        SELECT sid, a.id FROM audit a, json_array_elements_text(
            CASE WHEN json_typeof(a.entry -> 'updated') = 'array' THEN a.entry -> 'updated'
                 ELSE '[]'::json END) AS sid;
        CREATE TABLE loops (
            id bigserial PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT now(),
            actor text NOT NULL,
            feature json NOT NULL
        );
        """,
    ),
    (
        4,
        "reports sent once per idempotency key",
        """
        ALTER TABLE reports ADD COLUMN idempotency_key text UNIQUE;
        """,
    ),
]

#: The schema version this code reads and writes.
CURRENT = MIGRATIONS[-1][0]


def upgrade(conn: psycopg.Connection[Any]) -> list[int]:
    """Apply the migrations ``conn``'s database lacks, in order; return their numbers.

    ``conn`` must be in autocommit mode: each migration is its own transaction.
    """
    conn.execute("SELECT pg_advisory_lock(%s)", (_UPGRADE_LOCK,))
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS stations_schema (version int PRIMARY KEY, name text NOT "
            "NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM stations_schema")}
        applied = []
        for version, name, sql in MIGRATIONS:
            if version in done:
                continue
            with conn.transaction():
                conn.execute(sql.encode())
                conn.execute(
                    "INSERT INTO stations_schema (version, name) VALUES (%s, %s)", (version, name)
                )
            applied.append(version)
        return applied
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_UPGRADE_LOCK,))


def version_of(conn: psycopg.Connection[Any]) -> int:
    """The schema version of ``conn``'s database (0: never upgraded)."""
    found = conn.execute("SELECT to_regclass('stations_schema') IS NOT NULL").fetchone()
    if not found or not found[0]:
        return 0
    row = conn.execute("SELECT coalesce(max(version), 0) FROM stations_schema").fetchone()
    return int(row[0]) if row else 0
